/**
 * The 7-day health timeline: the status periods of /history as one bar (a state timeline), with each
 * period that began with incidents marked. The current period runs from the live state's statusSince.
 */
import { clear, h, STATUS_ICON } from "../dom.js";
import { formatDateTime, formatDuration } from "../format.js";

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;
export const TIMELINE_DAYS = 7;

/** The ranges the bar can show: the full 7 days, or a zoom on the recent past. */
export const RANGES = {
  "7d": { spanMs: 7 * DAY_MS, tickMs: DAY_MS, unit: "d", unitMs: DAY_MS },
  "24h": { spanMs: DAY_MS, tickMs: 3 * HOUR_MS, unit: "h", unitMs: HOUR_MS },
  "1h": { spanMs: HOUR_MS, tickMs: 10 * 60_000, unit: "m", unitMs: 60_000 },
};

/**
 * Periods clipped to [from, to], oldest first.
 * @param {{timestamp: string, status: string, duration: number, incidents?: number}[]} entries
 */
export function periods(entries, current, from, to) {
  const out = [];
  for (const entry of entries) {
    const start = Date.parse(entry.timestamp);
    const end = start + entry.duration;
    if (end <= from || start >= to) continue;
    out.push({ start: Math.max(start, from), end: Math.min(end, to), status: entry.status,
               incidents: entry.incidents ?? 0, began: start, transitionSeq: entry.transitionSeq ?? null });
  }
  if (current && current.statusSince) {
    const since = Date.parse(current.statusSince);
    const lastEnd = out.length ? out[out.length - 1].end : from;
    const start = Math.max(since, lastEnd, from);
    if (start < to) out.push({ start, end: to, status: current.status, incidents: 0, began: since, ongoing: true });
  }
  return out;
}

/**
 * The transitions with `at` in [from, to], each at its share of the span (0–100), oldest first.
 * @param {{seq: number, from: string, to: string, at: string, cause: {rule: string}}[]} transitions
 */
export function transitionMarks(transitions, from, to) {
  const out = [];
  for (const transition of transitions) {
    const at = Date.parse(transition.at);
    if (at < from || at > to) continue;
    out.push({ seq: transition.seq, to: transition.to, left: ((at - from) / (to - from)) * 100,
               label: `${transition.from} → ${transition.to} (${transition.cause.rule}) at ${formatDateTime(transition.at)}` });
  }
  return out;
}

/**
 * Draws the bar; `transitions` are marked on it by target state, and a failed period that names the
 * transition that began it (`transitionSeq`) calls `onCause(seq)` when chosen.
 */
export function renderTimeline(container, entries, current, range = "7d", now = Date.now(), transitions = [],
                               onCause = null) {
  const { spanMs, tickMs, unit, unitMs } = RANGES[range];
  const to = now;
  const from = to - spanMs;
  const span = to - from;
  const list = periods(entries, current, from, to);
  clear(container);
  const bar = h("div", { class: "timeline-bar", role: "list", "aria-label": `Status periods, last ${range}` });
  let incidents = 0;
  for (const period of list) {
    const label = `${period.status} from ${formatDateTime(new Date(period.began).toISOString())} for ` +
      `${formatDuration(period.end - period.began)}${period.ongoing ? " (now)" : ""}` +
      (period.incidents ? `, ${period.incidents} incident${period.incidents > 1 ? "s" : ""}` : "");
    const why = period.transitionSeq !== null && period.transitionSeq !== undefined && onCause;
    const segment = why
      ? h("button", { type: "button", class: `timeline-segment status-${period.status} has-cause`, role: "listitem",
                      title: `${label}: why it opened`, "aria-label": `${label}: show why it opened`,
                      dataset: { status: period.status, transitionSeq: String(period.transitionSeq) },
                      onclick: () => onCause(period.transitionSeq) })
      : h("div", { class: `timeline-segment status-${period.status}`, role: "listitem", title: label,
                   "aria-label": label, tabindex: "0", dataset: { status: period.status } });
    segment.style.left = `${((period.start - from) / span) * 100}%`;
    segment.style.width = `${Math.max(0.15, ((period.end - period.start) / span) * 100)}%`;
    bar.append(segment);
    if (period.incidents) {
      incidents += period.incidents;
      const marker = h("div", { class: "timeline-incident", title: label, "aria-hidden": "true" }, "▼");
      marker.style.left = `${((period.start - from) / span) * 100}%`;
      bar.append(marker);
    }
  }
  const marks = transitionMarks(transitions, from, to);
  for (const mark of marks) {
    const marker = h("div", { class: `timeline-transition to-${mark.to}`, title: mark.label, role: "img",
                              "aria-label": mark.label, dataset: { seq: String(mark.seq), to: mark.to } });
    marker.style.left = `${mark.left}%`;
    bar.append(marker);
  }
  container.dataset.transitions = String(marks.length);
  const axis = h("div", { class: "timeline-axis", "aria-hidden": "true" });
  const ticks = Math.round(spanMs / tickMs);
  for (let i = ticks; i >= 0; i--) {
    const tick = h("span", {}, i === 0 ? "now" : `-${Math.round((i * tickMs) / unitMs)}${unit}`);
    tick.style.left = `${((ticks - i) / ticks) * 100}%`;
    axis.append(tick);
  }
  const totals = { healthy: 0, degraded: 0, failed: 0 };
  for (const p of list) totals[p.status] = (totals[p.status] ?? 0) + (p.end - p.start);
  const legend = h("div", { class: "timeline-legend" },
    ...Object.entries(totals).map(([status, ms]) => h("span", { class: `legend status-${status}` },
      h("span", { "aria-hidden": "true" }, STATUS_ICON[status]), ` ${status} ${formatDuration(ms)}`)),
    h("span", { class: "legend" }, `▼ ${incidents} incident${incidents === 1 ? "" : "s"}`),
    h("span", { class: "legend" }, h("span", { class: "mark-key to-open", "aria-hidden": "true" }), " opened ",
      h("span", { class: "mark-key to-half-open", "aria-hidden": "true" }), " half-open ",
      h("span", { class: "mark-key to-closed", "aria-hidden": "true" }), ` closed (${marks.length})`));
  container.dataset.range = range;
  container.dataset.periods = String(list.length);
  container.dataset.incidents = String(incidents);
  container.append(bar, axis, legend);
}
