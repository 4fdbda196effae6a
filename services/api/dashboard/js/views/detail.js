/** A service's own page: live state, the config form, the reset dialog, its timeline, charts and audit trail. */
import { ApiError } from "../api.js";
import { auditSummary } from "../audit.js";
import { causeSummary } from "../cause.js";
import { clear, h, setText, STATE_ICON, STATUS_ICON } from "../dom.js";
import { formatCount, formatCountdown, formatDateTime, formatRate } from "../format.js";
import { renderCharts, TIMEFRAMES } from "./charts.js";
import { RANGES, renderTimeline, TIMELINE_DAYS } from "./timeline.js";
import { mountShadow, mountWhatif } from "./whatif.js";

// The seed's fields, then the trip rules (docs/trip-rules.md). A PUT replaces the whole config, so an
// optional field left empty is not sent: the rule is off and its default applies.
export const CONFIG_FIELDS = [
  { name: "failureThreshold", label: "Failure threshold", hint: "consecutive failures that open it", min: 1, max: 10000 },
  { name: "resetTimeoutMs", label: "Reset timeout (ms)", hint: "open → half-open trial", min: 100, max: 86400000 },
  { name: "minHealthyPeriodMs", label: "Min. healthy period (ms)", hint: "degraded after a recovery", min: 0, max: 86400000 },
  { name: "requestLimit", label: "Request limit", hint: "half-open trial calls; empty = 1", min: 1, max: 10000,
    optional: true },
  { name: "failureRateThreshold", label: "Failure rate (%)", hint: "open at or above this rate; empty = off", min: 1,
    max: 100, optional: true, rule: true },
  { name: "slowCallRateThreshold", label: "Slow-call rate (%)", hint: "open at or above this rate; empty = off", min: 1,
    max: 100, optional: true, rule: true },
  { name: "slowCallDurationMs", label: "Slow call above (ms)", hint: "empty = 60000", min: 1, max: 86400000,
    optional: true, rule: true },
  { name: "slidingWindowType", label: "Window type", hint: "last N calls, or last N seconds", optional: true, rule: true,
    choices: [["", "count (default)"], ["count", "count"], ["time", "time"]] },
  { name: "slidingWindowSize", label: "Window size", hint: "calls (1–1000) or seconds (1–3600); empty = 100", min: 1,
    max: 3600, optional: true, rule: true },
  { name: "minimumNumberOfCalls", label: "Minimum calls", hint: "before a rate is judged; empty = 100", min: 1,
    max: 10000, optional: true, rule: true },
  { name: "minFailingInstances", label: "Min. failing instances", hint: "quorum to open; empty = none", min: 1,
    max: 1000, optional: true, rule: true },
];

const path = (service, rest = "") => `${encodeURIComponent(service)}${rest}`;

/**
 * A config form of CONFIG_FIELDS, with each VALIDATION_FAILED detail beside its field. Used by the
 * configuration panel and by the what-if panel's candidate.
 */
export function configForm(prefix, { onsubmit, submitLabel }) {
  const inputs = {};
  const errors = {};
  const message = h("p", { class: "form-message", role: "status", "aria-live": "polite" });
  const submit = h("button", { type: "submit", class: "primary" }, submitLabel);
  const row = (f) => {
    const id = `${prefix}-${f.name}`;
    const attrs = { id, name: f.name, "aria-describedby": `${id}-error ${id}-hint` };
    inputs[f.name] = f.choices
      ? h("select", attrs, ...f.choices.map(([value, label]) => h("option", { value }, label)))
      : h("input", { ...attrs, type: "number", inputmode: "numeric", step: "1" });
    errors[f.name] = h("span", { id: `${id}-error`, class: "field-error", dataset: { field: f.name } });
    return h("div", { class: "form-row" },
      h("label", { for: id }, f.label), inputs[f.name],
      h("span", { id: `${id}-hint`, class: "hint" }, f.hint), errors[f.name]);
  };
  const state = { dirty: false };
  // Folded while the service has no trip rule, so the seed's four fields stay in view.
  const rules = h("details", { class: "trip-rules" },
    h("summary", {}, "Trip rules (rates over a window, quorum)"),
    ...CONFIG_FIELDS.filter((f) => f.rule).map(row));
  const element = h("form", { class: "config-form", novalidate: true,
                              onsubmit: (e) => { e.preventDefault(); onsubmit(); },
                              oninput: () => { state.dirty = true; } },
    ...CONFIG_FIELDS.filter((f) => !f.rule).map(row),
    rules,
    h("div", { class: "form-actions" }, submit, message));
  return {
    element, inputs, message, submit, state,
    fill(config) {
      for (const f of CONFIG_FIELDS) {
        const value = config[f.name];
        inputs[f.name].value = value === null || value === undefined ? "" : String(value);
        if (f.rule && inputs[f.name].value !== "") rules.open = true;
      }
    },
    body() {
      const body = {};
      for (const f of CONFIG_FIELDS) {
        const raw = inputs[f.name].value.trim();
        if (raw === "" && f.optional) continue;
        // Sent as typed: the API's validation is the one that decides, and its errors land beside the field.
        body[f.name] = f.choices ? raw : raw === "" ? null : Number(raw);
      }
      return body;
    },
    clearErrors() {
      Object.values(errors).forEach((el) => setText(el, ""));
      Object.values(inputs).forEach((el) => el.removeAttribute("aria-invalid"));
    },
    /** A submit begins: earlier refusals cleared, `text` shown, the button held until the answer. */
    begin(text) {
      this.clearErrors();
      message.className = "form-message";
      setText(message, text);
      submit.disabled = true;
    },
    /** Places each detail beside its field; the number placed. */
    showErrors(details) {
      let placed = 0;
      for (const detail of details) {
        const name = detail.field.replace(/^\$\.?/, "").replace(/^config\./, "");
        if (errors[name]) {
          if (CONFIG_FIELDS.some((f) => f.rule && f.name === name)) rules.open = true;
          setText(errors[name], detail.issue);
          inputs[name].setAttribute("aria-invalid", "true");
          placed++;
        }
      }
      return placed;
    },
  };
}


function errorText(error) {
  if (!(error instanceof ApiError)) return String(error);
  switch (error.code) {
    case "RATE_LIMITED":
      return `Rate limited: too many config changes. Try again in ${error.retryAfterS ?? "a few"} s.`;
    case "DEPENDENCY_UNAVAILABLE":
      return `A dependency of the API is unavailable (${error.message}).` +
        (error.retryAfterS !== null ? ` Retry in ${error.retryAfterS} s.` : "");
    case "VALIDATION_FAILED":
      return `Refused: ${error.message}`;
    case "NETWORK":
      return "The API did not answer. Check the connection and try again.";
    default:
      return `${error.code}: ${error.message}`;
  }
}

const ENVIRONMENT_KEY = "fusebox.resetEnvironment";

function lastEnvironment() {
  try {
    return localStorage.getItem(ENVIRONMENT_KEY) ?? "";
  } catch {
    return "";
  }
}

function rememberEnvironment(environment) {
  try {
    localStorage.setItem(ENVIRONMENT_KEY, environment);
  } catch {
    // Storage refused (private mode, quota): the field is empty next time, nothing else changes.
  }
}

function field(label, value, attrs = {}) {
  return [h("dt", {}, label), h("dd", attrs, value)];
}

export function mountDetail(root, { service, store, api, principal }) {
  const disposers = [];
  const live = {};
  const ref = (key, el) => (live[key] = el);

  const header = h("div", { class: "detail-head" },
    h("a", { href: "/dashboard/", class: "back" }, "← Fleet"),
    h("h1", {}, service),
    ref("badge", h("span", { class: "badge" },
      ref("statusIcon", h("span", { class: "badge-icon", "aria-hidden": "true" })),
      ref("statusText", h("span", { class: "badge-text" })))),
    ref("circuitBadge", h("span", { class: "circuit" })),
    ref("countdown", h("span", { class: "countdown" })),
    h("span", { class: "spacer" }),
    h("button", { type: "button", class: "danger", onclick: () => openReset() }, "Reset breaker…"));

  const stateList = h("dl", { class: "facts" },
    ...field("Failures", ref("failures", h("span", {}))),
    ...field("Recovery attempts", ref("attempts", h("span", {}))),
    ...field("Incidents (lifetime)", ref("incidents", h("span", {}))),
    ...field("Opened at", ref("openedAt", h("span", {}))),
    ...field("Last failure", ref("lastFailure", h("span", {}))),
    ...field("Status since", ref("statusSince", h("span", {}))),
    ...field("Calls", ref("total", h("span", {}))),
    ...field("Successful / failed", ref("okFailed", h("span", {}))),
    ...field("Rejected", ref("rejected", h("span", {}))),
    ...field("Success rate", ref("rate", h("span", {}))),
    ...field("Last operation", ref("lastOperation", h("span", {}))),
    ...field("Version", ref("version", h("span", {}))));

  // ---- config form
  const config = configForm("cfg", { onsubmit: () => submitConfig(), submitLabel: "Apply config" });
  const form = config.element;
  const configMessage = config.message;
  const applyButton = config.submit;

  let retryTimer = 0;
  function holdFor(seconds, text) {
    clearInterval(retryTimer);
    let left = seconds;
    applyButton.disabled = true;
    const tick = () => {
      if (left <= 0) {
        clearInterval(retryTimer);
        applyButton.disabled = false;
        return;
      }
      setText(configMessage, `${text} Try again in ${left} s.`);
      left--;
    };
    tick();
    retryTimer = setInterval(tick, 1000);
  }

  async function submitConfig() {
    config.begin("Applying…");
    try {
      const answer = await api.put(path(service, "/config"), config.body());
      config.state.dirty = false;
      if (answer.status === 202) {
        configMessage.className = "form-message pending";
        setText(configMessage, "Accepted, applying: the aggregator has not confirmed it yet; the live state will show it.");
      } else {
        configMessage.className = "form-message success";
        setText(configMessage, `Applied at ${formatDateTime(answer.body.appliedAt)}.`);
        config.fill(answer.body.config);
      }
      applyButton.disabled = false;
      refreshAudit();
    } catch (error) {
      applyButton.disabled = false;
      configMessage.className = "form-message error";
      if (error instanceof ApiError && error.code === "VALIDATION_FAILED") {
        const placed = config.showErrors(error.details);
        setText(configMessage, placed ? "Fix the marked fields." : errorText(error));
      } else if (error instanceof ApiError && error.code === "RATE_LIMITED") {
        holdFor(error.retryAfterS ?? 1, "Rate limited: too many config changes.");
      } else {
        setText(configMessage, errorText(error));
      }
      refreshAudit();
    }
  }

  // ---- reset dialog
  const resetReason = h("input", { id: "reset-reason", name: "reason", required: true, maxlength: "500",
                                   "aria-describedby": "reset-reason-error" });
  const resetReasonError = h("span", { id: "reset-reason-error", class: "field-error" });
  const resetForce = h("input", { id: "reset-force", type: "checkbox", name: "force" });
  const resetBy = h("input", { id: "reset-by", name: "triggeredBy", value: principal.sub, required: true });
  // The environment this operator named last time, in this browser; empty the first time, never guessed.
  const resetEnv = h("input", { id: "reset-env", name: "environment", value: lastEnvironment(), required: true,
                                maxlength: "100", placeholder: "e.g. production, staging",
                                "aria-describedby": "reset-env-error" });
  const resetEnvError = h("span", { id: "reset-env-error", class: "field-error" });
  const resetNotes = h("textarea", { id: "reset-notes", name: "notes", rows: "2" });
  const resetMessage = h("div", { class: "form-message", role: "status", "aria-live": "polite" });
  const resetSubmit = h("button", { type: "submit", class: "danger" }, "Reset");
  const resetClose = h("button", { type: "button", onclick: () => dialog.close() }, "Close");
  const dialog = h("dialog", { class: "reset-dialog", "aria-labelledby": "reset-title" },
    h("form", { method: "dialog", novalidate: true, onsubmit: (e) => { e.preventDefault(); submitReset(); } },
      h("h2", { id: "reset-title" }, `Reset ${service}`),
      h("p", { class: "hint" }, "Closes the breaker and clears its failure count. Without force, a breaker that is not open is left alone."),
      h("div", { class: "form-row" }, h("label", { for: "reset-reason" }, "Reason (required)"), resetReason, resetReasonError),
      h("div", { class: "form-row checkbox" }, resetForce, h("label", { for: "reset-force" }, "Force, even if not open")),
      h("div", { class: "form-row" }, h("label", { for: "reset-by" }, "Triggered by"), resetBy),
      h("div", { class: "form-row" }, h("label", { for: "reset-env" }, "Environment (required)"), resetEnv, resetEnvError),
      h("div", { class: "form-row" }, h("label", { for: "reset-notes" }, "Notes"), resetNotes),
      resetMessage,
      h("div", { class: "form-actions" }, resetSubmit, resetClose)));

  function openReset() {
    setText(resetMessage, "");
    setText(resetReasonError, "");
    setText(resetEnvError, "");
    if (!resetEnv.value.trim()) resetEnv.value = lastEnvironment();
    resetMessage.className = "form-message";
    resetSubmit.disabled = false;
    dialog.showModal();
    resetReason.focus();
  }

  async function submitReset() {
    setText(resetReasonError, "");
    setText(resetEnvError, "");
    resetReason.removeAttribute("aria-invalid");
    resetEnv.removeAttribute("aria-invalid");
    const missingFields = [[resetReason, resetReasonError, "a reason is required"],
      [resetEnv, resetEnvError, "the environment is required"]].filter(([input]) => !input.value.trim());
    for (const [input, error, text] of missingFields) {
      setText(error, text);
      input.setAttribute("aria-invalid", "true");
    }
    if (missingFields.length) {
      missingFields[0][0].focus();
      return;
    }
    rememberEnvironment(resetEnv.value.trim());
    const metadata = { triggeredBy: resetBy.value.trim(), environment: resetEnv.value.trim() };
    if (resetNotes.value.trim()) metadata.notes = resetNotes.value.trim();
    resetSubmit.disabled = true;
    setText(resetMessage, "Resetting…");
    try {
      const answer = await api.post(path(service, "/reset"),
        { reason: resetReason.value.trim(), force: resetForce.checked, metadata });
      clear(resetMessage);
      if (answer.status === 202) {
        resetMessage.className = "form-message pending";
        resetMessage.append("Accepted, applying: the aggregator has not confirmed it yet.");
      } else {
        const previous = answer.body.previousState;
        resetMessage.className = "form-message success";
        resetMessage.append(h("p", {}, `Reset at ${formatDateTime(answer.body.resetTime)}. Previous state:`),
          h("dl", { class: "facts previous-state" },
            ...field("Failure count", String(previous.failureCount), { dataset: { previous: "failureCount" } }),
            ...field("Last failure", formatDateTime(previous.lastFailure), { dataset: { previous: "lastFailure" } }),
            ...field("Total incidents", String(previous.totalIncidents), { dataset: { previous: "totalIncidents" } })));
      }
      resetReason.value = "";
      resetNotes.value = "";
      refreshAudit();
    } catch (error) {
      resetMessage.className = "form-message error";
      if (error instanceof ApiError && error.code === "VALIDATION_FAILED" && error.details.length) {
        setText(resetMessage, error.details.map((d) => `${d.field}: ${d.issue}`).join("; "));
      } else {
        setText(resetMessage, errorText(error));
      }
      refreshAudit();
    } finally {
      resetSubmit.disabled = false;
    }
  }

  // ---- timeline, charts, audit
  const timeline = h("div", { class: "timeline", dataset: { periods: "0" } }, h("p", { class: "hint" }, "Loading…"));
  const timelineError = h("p", { class: "form-message error", role: "status" });
  const chartBox = h("div", { class: "charts" }, h("p", { class: "hint" }, "Loading…"));
  const chartError = h("p", { class: "form-message error", role: "status" });
  let timeframe = "1h";
  let range = "7d";
  let historyEntries = null;
  const rangeTabs = Object.keys(RANGES).map((r) => h("button", {
    type: "button", role: "tab", class: "tab", dataset: { range: r }, "aria-selected": String(r === range),
    onclick: () => {
      range = r;
      rangeTabs.forEach((t) => t.setAttribute("aria-selected", String(t.dataset.range === r)));
      if (historyEntries) drawTimeline();
    },
  }, r));
  const tabs = TIMEFRAMES.map((tf) => h("button", {
    type: "button", role: "tab", class: "tab", dataset: { timeframe: tf }, "aria-selected": String(tf === timeframe),
    onclick: () => { timeframe = tf; tabs.forEach((t) => t.setAttribute("aria-selected", String(t.dataset.timeframe === tf))); loadCharts(); },
  }, tf));
  const auditBody = h("tbody", {});
  const auditTable = h("table", { class: "audit", dataset: { rows: "0" } },
    h("thead", {}, h("tr", {}, ...["When", "Admin", "Action", "Outcome", "Request and result"].map((t) => h("th", { scope: "col" }, t)))),
    auditBody);
  const auditError = h("p", { class: "form-message error", role: "status" });

  const shadow = mountShadow({ service, api, configForm, path, onChange: () => refreshAudit() });
  const whatif = mountWhatif({ service, api, configForm, path,
                               currentConfig: () => store.get(service)?.config });

  const missing = h("section", { class: "panel missing", hidden: true, "aria-labelledby": "missing-title" },
    h("h1", { id: "missing-title" }, "No such service"),
    h("p", {}, "No breaker named ", h("code", {}, service), " has reported to this Fusebox. A service appears once it reports " +
      "call outcomes; this page shows it as soon as it does."),
    h("a", { href: "/dashboard/", class: "back" }, "← Back to the fleet"));
  const detail = h("section", { class: "detail" },
    header,
    h("div", { class: "detail-grid" },
      h("section", { class: "panel", "aria-labelledby": "state-title" }, h("h2", { id: "state-title" }, "Live state"), stateList),
      h("section", { class: "panel", "aria-labelledby": "config-title" }, h("h2", { id: "config-title" }, "Configuration"), form),
      shadow.element),
    ref("why", h("section", { class: "panel why", "aria-labelledby": "why-title", hidden: true },
      ref("whyTitle", h("h2", { id: "why-title", tabindex: "-1" }, "Why it opened")),
      h("dl", { class: "facts" },
        ...field("Rule", ref("whyRule", h("span", { class: "why-rule" }))),
        ...field("Because", ref("whySummary", h("span", { class: "why-summary" })), { dataset: { because: "" } }),
        ...field("At", ref("whyAt", h("span", {}))),
        ...field("Errors", ref("whyErrors", h("span", { class: "why-errors" }))),
        ...field("Failing instances", ref("whyInstances", h("span", { class: "why-instances" }))),
        ...field("Triggered by", ref("whyTrigger", h("span", {})))))),
    h("section", { class: "panel", "aria-labelledby": "timeline-title" },
      h("div", { class: "panel-head" }, h("h2", { id: "timeline-title" }, "Health timeline"),
        h("div", { class: "tabs", role: "tablist", "aria-label": "Timeline range" }, ...rangeTabs)),
      timeline, timelineError),
    whatif.element,
    h("section", { class: "panel", "aria-labelledby": "metrics-title" },
      h("div", { class: "panel-head" }, h("h2", { id: "metrics-title" }, "Metrics"),
        h("div", { class: "tabs", role: "tablist", "aria-label": "Timeframe" }, ...tabs)),
      chartBox, chartError),
    h("section", { class: "panel", "aria-labelledby": "audit-title" },
      h("h2", { id: "audit-title" }, "Audit trail"), auditTable, auditError),
    dialog);
  root.append(missing, detail);

  function writeState(state) {
    if (!state) return;
    live.badge.className = `badge status-${state.status}`;
    setText(live.statusIcon, STATUS_ICON[state.status]);
    setText(live.statusText, state.status);
    live.circuitBadge.className = `circuit circuit-${state.circuit.state}`;
    setText(live.circuitBadge, `${STATE_ICON[state.circuit.state]} ${state.circuit.state}`);
    detail.dataset.status = state.status;
    detail.dataset.state = state.circuit.state;
    const c = state.circuit;
    const o = state.operations;
    setText(live.failures, `${c.failureCount} of ${state.config.failureThreshold}`);
    setText(live.attempts, String(c.recoveryAttempts));
    setText(live.incidents, String(c.totalIncidents));
    setText(live.openedAt, formatDateTime(c.openedAt));
    setText(live.lastFailure, formatDateTime(c.lastFailure));
    setText(live.statusSince, formatDateTime(state.statusSince));
    setText(live.total, formatCount(o.total));
    setText(live.okFailed, `${formatCount(o.successful)} / ${formatCount(o.failed)}`);
    setText(live.rejected, formatCount(o.rejected));
    setText(live.rate, formatRate(o.successRate));
    setText(live.lastOperation, formatDateTime(o.lastOperation));
    setText(live.version, String(state.version));
    if (!config.state.dirty) config.fill(state.config);
    shadow.update(state);
    writeCountdown(state);
    writeWhy(state.lastTransition);
  }

  // The last change of circuit state and its cause: "why it opened" while it is open.
  function writeWhy(transition) {
    live.why.hidden = !transition;
    if (!transition) return;
    const cause = transition.cause;
    setText(live.whyTitle, transition.to === "open" ? "Why it opened" : `Why it is ${transition.to}`);
    setText(live.whyRule, cause.rule);
    const summary = causeSummary(cause);
    setText(live.whySummary, summary ?? "");
    // Without figures the rule says it all: no "Because" line repeating it.
    const because = live.whySummary.parentElement;
    because.hidden = summary === null;
    because.previousElementSibling.hidden = summary === null;
    setText(live.whyAt, `${formatDateTime(transition.at)} (${transition.from} → ${transition.to})`);
    setText(live.whyErrors, cause.errors.length ? cause.errors.join(", ") : "none reported");
    setText(live.whyInstances, cause.failingInstances.length
      ? cause.failingInstances.map((name) => name ?? "(no instance)").join(", ") : "none reported");
    setText(live.whyTrigger, cause.eventId ? `call ${cause.eventId} (${cause.input.source}@${cause.input.offset})`
      : `command ${cause.commandId}`);
  }

  function writeCountdown(state) {
    let text = "";
    if (state && state.nextDeadline) {
      const left = formatCountdown(state.nextDeadline - Date.now());
      text = state.circuit.state === "open" ? `half-open trial in ${left}` : state.status === "degraded" ? `healthy in ${left}` : "";
    }
    setText(live.countdown, text);
  }

  // The transitions of the timeline's 7 days: marked on the timeline and the charts, and the cause a
  // failed period links to.
  let transitions = [];
  const drawTimeline = () => renderTimeline(timeline, historyEntries, store.get(service), range, Date.now(),
                                            transitions, showCause);

  function showCause(seq) {
    const transition = transitions.find((t) => t.seq === seq);
    if (!transition) return;
    writeWhy(transition);
    live.why.dataset.seq = String(seq);
    live.why.scrollIntoView({ block: "nearest" });
    live.whyTitle.focus();
  }

  async function loadTimeline() {
    const since = new Date(Date.now() - TIMELINE_DAYS * 86_400_000).toISOString();
    try {
      const [answer, changes] = await Promise.all([
        api.get(path(service, `/history?since=${encodeURIComponent(since)}&limit=1000`)),
        api.get(path(service, `/transitions?since=${encodeURIComponent(since)}&limit=1000`))]);
      historyEntries = answer.body;
      // The real breaker's only: a shadow breaker's transitions (`"shadow": true`) were never enforced.
      transitions = changes.body.filter((t) => !t.shadow);
      drawTimeline();
      setText(timelineError, "");
    } catch (error) {
      setText(timelineError, errorText(error));
    }
  }

  let freeCharts = null;
  async function loadCharts() {
    try {
      const answer = await api.get(path(service, `/metrics/series?timeframe=${timeframe}`));
      if (freeCharts) freeCharts();
      freeCharts = await renderCharts(chartBox, answer.body, transitions);
      setText(chartError, "");
    } catch (error) {
      setText(chartError, errorText(error));
    }
  }

  async function refreshAudit() {
    try {
      const answer = await api.get(path(service, "/audit?limit=50"));
      clear(auditBody);
      for (const row of answer.body) {
        const reason = auditSummary(row);
        auditBody.append(h("tr", { dataset: { action: row.action, outcome: row.outcome } },
          h("td", {}, formatDateTime(row.at)), h("td", {}, row.adminId), h("td", {}, row.action),
          h("td", {}, h("span", { class: `outcome outcome-${row.outcome}` }, row.outcome)), h("td", {}, reason)));
      }
      if (!answer.body.length) auditBody.append(h("tr", {}, h("td", { colspan: "5", class: "hint" }, "No resets or config changes yet.")));
      auditTable.dataset.rows = String(answer.body.length);
      setText(auditError, "");
    } catch (error) {
      setText(auditError, errorText(error));
    }
  }

  // History, charts and audit are fetched once the service is known: a name no service has is "no such service".
  let loaded = false;
  function showPresence() {
    const state = store.get(service);
    missing.hidden = Boolean(state) || !store.complete;
    detail.hidden = !missing.hidden;
    if (!state || loaded) return;
    loaded = true;
    // The charts mark the transitions the timeline fetched.
    loadTimeline().then(loadCharts);
    refreshAudit();
  }

  writeState(store.get(service));
  showPresence();
  disposers.push(store.subscribe((changed, removed) => {
    if (changed.has(service)) writeState(store.get(service));
    if (changed.has(service) || removed.has(service) || !loaded) showPresence();
  }));
  const countdown = setInterval(() => writeCountdown(store.get(service)), 250);
  disposers.push(() => clearInterval(countdown));
  // The timeline's current period grows and closes while the page is open.
  const timelineTimer = setInterval(() => loaded && loadTimeline(), 15_000);
  disposers.push(() => clearInterval(timelineTimer), () => clearInterval(retryTimer), () => freeCharts && freeCharts());
  return () => disposers.forEach((dispose) => dispose());
}
