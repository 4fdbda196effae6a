/** A BreakerTransition's cause in words (docs/trip-rules.md). Pure. */

const percent = (value) => `${Number(value).toFixed(1).replace(/\.0$/, "")}%`;

/** A transition's cause in words: the figures the rule judged, or what happened; null when only the rule's name says it. */
export function causeSummary(cause) {
  const w = cause.window;
  switch (cause.rule) {
    case "consecutive-failures":
      return `${cause.consecutiveFailures} consecutive failures (threshold ${cause.threshold})`;
    case "failure-rate":
      return `failure rate ${percent(w.failureRate)} ≥ ${cause.threshold}%: ${w.failures} of ${w.calls} calls ` +
        `in a ${w.type} window of ${w.size}${w.type === "time" ? " s" : ""}`;
    case "slow-call-rate":
      return `slow-call rate ${percent(w.slowCallRate)} ≥ ${cause.threshold}%: ${w.slowCalls} of ${w.calls} calls ` +
        `in a ${w.type} window of ${w.size}${w.type === "time" ? " s" : ""}`;
    case "trial-failed":
      return cause.trialRule ? `trial calls failed the ${cause.trialRule} rule (${cause.threshold}%)` : "a trial call failed";
    case "reset-timeout-elapsed":
      return "the reset timeout elapsed: trial calls are let through";
    case "trial-succeeded":
      return "the trial calls succeeded";
    case "manual-reset":
      return "an operator reset it";
    case "forced-reset":
      return "an operator forced a reset";
    default:
      // A rule without figures to show: the card names it once, as the rule.
      return null;
  }
}
