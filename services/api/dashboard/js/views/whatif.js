/**
 * The shadow card (a candidate config folded on live traffic beside the real breaker, docs/shadow-config.md)
 * and the what-if panel (a candidate config folded on the retained log, docs/whatif.md).
 */
import { ApiError } from "../api.js";
import { clear, h, setText, STATE_ICON } from "../dom.js";
import { formatCount, formatDateTime, formatDuration } from "../format.js";
import { transitionMarks } from "./timeline.js";
import { circuitSegments, WHATIF_RANGES, whatifErrorText, whatifFigures, whatifRequest } from "../whatif.js";

/** A modal asking to confirm one admin action; `run` answers the message to show, or throws. */
function confirmDialog(id, title, hint, actionLabel, run, onDone) {
  const message = h("div", { class: "form-message", role: "status", "aria-live": "polite" });
  const confirm = h("button", { type: "submit", class: "danger" }, actionLabel);
  const dialog = h("dialog", { class: "reset-dialog", "aria-labelledby": `${id}-title` },
    h("form", { method: "dialog", onsubmit: async (e) => {
      e.preventDefault();
      confirm.disabled = true;
      setText(message, "Sending…");
      message.className = "form-message";
      try {
        const [className, text] = await run();
        message.className = `form-message ${className}`;
        setText(message, text);
      } catch (error) {
        message.className = "form-message error";
        setText(message, error instanceof ApiError ? `${error.code}: ${error.message}` : String(error));
      } finally {
        confirm.disabled = false;
        onDone();
      }
    } },
      h("h2", { id: `${id}-title` }, title),
      h("p", { class: "hint" }, hint),
      message,
      h("div", { class: "form-actions" }, confirm, h("button", { type: "button", onclick: () => dialog.close() }, "Close"))));
  return {
    dialog,
    open() {
      setText(message, "");
      message.className = "form-message";
      dialog.showModal();
    },
  };
}

const accepted = (answer, done) => answer.status === 202
  ? ["pending", "Accepted, applying: the aggregator has not confirmed it yet; the card will show it."]
  : ["success", done(answer.body)];

/**
 * A <details> whose form is built the first time it is opened: until then the page has one config form,
 * and each field's label names one input.
 */
function lazyForm(summary, className, build) {
  const holder = { form: null };
  const details = h("details", { class: className, ontoggle: () => {
    if (details.open && !holder.form) {
      holder.form = build();
      details.append(holder.form.element);
      holder.onBuilt?.();
    }
  } }, h("summary", {}, summary));
  return { details, holder };
}

export function mountShadow({ service, api, configForm, path, onChange }) {
  const editor = lazyForm("Set a shadow config…", "shadow-editor",
    () => configForm("shadow", { onsubmit: () => submit(), submitLabel: "Set shadow config" }));
  let lastState = null;
  editor.holder.onBuilt = () => editor.holder.form.fill((lastState?.shadow ?? lastState)?.config ?? {});
  const live = {};
  const ref = (key, el) => (live[key] = el);
  const clearAction = confirmDialog("shadow-clear", `Clear the shadow config of ${service}`,
    "The shadow breaker stops; the real breaker is not touched.", "Clear shadow",
    async () => accepted(await api.delete(path(service, "/shadow-config")),
      (body) => (body.cleared ? `Cleared at ${formatDateTime(body.appliedAt)}.` : "No shadow config was set.")),
    onChange);
  const promoteAction = confirmDialog("shadow-promote", `Promote the shadow config of ${service}`,
    "The shadow's config becomes the live config of the real breaker, in one command, and the shadow is cleared.",
    "Promote to live", async () => accepted(await api.post(path(service, "/shadow-config/promote")),
      (body) => `Promoted: live config applied at ${formatDateTime(body.appliedAt)}.`), onChange);
  const buttons = h("div", { class: "form-actions shadow-actions" },
    ref("clear", h("button", { type: "button", onclick: () => clearAction.open() }, "Clear shadow…")),
    ref("promote", h("button", { type: "button", class: "danger", onclick: () => promoteAction.open() }, "Promote…")));
  const element = h("section", { class: "panel shadow", "aria-labelledby": "shadow-title", dataset: { shadow: "none" } },
    h("h2", { id: "shadow-title" }, "Shadow breaker"),
    h("p", { class: "hint" }, "A candidate config folded on live traffic beside the real breaker, never enforced."),
    h("div", { class: "shadow-compare" },
      h("div", {}, h("span", { class: "hint" }, "Real "), ref("real", h("span", { class: "circuit shadow-real" }))),
      h("div", {}, h("span", { class: "hint" }, "Shadow "), ref("state", h("span", { class: "circuit shadow-state" })))),
    ref("facts", h("dl", { class: "facts" },
      h("dt", {}, "Failures"), h("dd", {}, ref("failures", h("span", {}))),
      h("dt", {}, "Last transition"), h("dd", {}, ref("last", h("span", {}))))),
    buttons, editor.details, clearAction.dialog, promoteAction.dialog);

  async function submit() {
    const form = editor.holder.form;
    form.begin("Setting…");
    try {
      const answer = await api.put(path(service, "/shadow-config"), form.body());
      form.state.dirty = false;
      const [className, text] = accepted(answer, (body) => `Shadow set at ${formatDateTime(body.appliedAt)}.`);
      form.message.className = `form-message ${className}`;
      setText(form.message, text);
    } catch (error) {
      form.message.className = "form-message error";
      const placed = error instanceof ApiError && error.code === "VALIDATION_FAILED" ? form.showErrors(error.details) : 0;
      setText(form.message, placed ? "Fix the marked fields." : error instanceof ApiError
        ? `${error.code}: ${error.message}` : String(error));
    } finally {
      form.submit.disabled = false;
      onChange();
    }
  }

  return {
    element,
    update(state) {
      if (!state) return;
      lastState = state;
      const form = editor.holder.form;
      const shadow = state.shadow ?? null;
      setText(live.real, `${STATE_ICON[state.circuit.state]} ${state.circuit.state}`);
      live.real.className = `circuit shadow-real circuit-${state.circuit.state}`;
      element.dataset.shadow = shadow ? shadow.state : "none";
      live.facts.hidden = !shadow;
      live.clear.disabled = !shadow;
      live.promote.disabled = !shadow;
      if (!shadow) {
        live.state.className = "circuit shadow-state";
        setText(live.state, "none set");
        return;
      }
      live.state.className = `circuit shadow-state circuit-${shadow.state}`;
      setText(live.state, `${STATE_ICON[shadow.state]} ${shadow.state}`);
      setText(live.failures, `${shadow.failureCount} of ${shadow.config.failureThreshold}`);
      const t = shadow.lastTransition;
      setText(live.last, t ? `${t.from} → ${t.to} (${t.cause.rule}) at ${formatDateTime(t.at)}` : "none yet");
      if (form && !form.state.dirty) form.fill(shadow.config);
    },
  };
}

function drawSide(name, result, from, to) {
  const bar = h("div", { class: "timeline-bar whatif-bar", role: "list", "aria-label": `${name} circuit, whole range` });
  for (const s of circuitSegments(result.timeline, from, to)) {
    const label = `${s.circuit} from ${formatDateTime(new Date(s.start).toISOString())} for ${formatDuration(s.end - s.start)}`;
    const segment = h("div", { class: `timeline-segment circuit-bg-${s.circuit}`, role: "listitem", title: label,
                               "aria-label": label, dataset: { circuit: s.circuit } });
    segment.style.left = `${s.left}%`;
    segment.style.width = `${Math.max(0.15, s.width)}%`;
    bar.append(segment);
  }
  // Marked as on the health timeline: a short open period is a sliver of the bar, its transition is not.
  const marks = transitionMarks(result.transitions, from, to);
  for (const mark of marks) {
    const marker = h("div", { class: `timeline-transition to-${mark.to}`, title: mark.label, role: "img",
                              "aria-label": mark.label, dataset: { seq: String(mark.seq), to: mark.to } });
    marker.style.left = `${mark.left}%`;
    bar.append(marker);
  }
  return h("div", { class: "whatif-side", dataset: { side: name, segments: String(result.timeline.length),
                                                     transitions: String(marks.length) } },
    h("div", { class: "whatif-side-label" }, name, result.truncated ? " (first 1,000 entries)" : ""), bar);
}

export function mountWhatif({ service, api, configForm, path, currentConfig }) {
  const range = h("select", { id: "whatif-range", name: "range" },
    ...Object.entries(WHATIF_RANGES).map(([value, r]) => h("option", { value, selected: value === "24h" }, r.label)));
  const editor = lazyForm("Candidate config…", "whatif-editor", () => {
    const built = configForm("whatif", { onsubmit: () => run(), submitLabel: "Run what-if" });
    built.submit.before(h("label", { for: "whatif-range" }, "Range"), range);
    return built;
  });
  editor.holder.onBuilt = () => editor.holder.form.fill(currentConfig() ?? {});
  const result = h("div", { class: "whatif-result", dataset: { ran: "no" } });
  const element = h("section", { class: "panel whatif", "aria-labelledby": "whatif-title" },
    h("h2", { id: "whatif-title" }, "What-if"),
    h("p", { class: "hint" }, "A candidate config folded on the retained log beside what actually happened. Changes nothing live."),
    h("div", { class: "whatif-grid" }, editor.details, result));

  async function run() {
    const form = editor.holder.form;
    form.begin("Folding the log…");
    try {
      const answer = await api.post(path(service, "/whatif"), whatifRequest(form.body(), range.value, Date.now()));
      setText(form.message, `${formatCount(answer.body.eventsFolded)} events folded.`);
      show(answer.body);
    } catch (error) {
      form.message.className = "form-message error";
      if (!(error instanceof ApiError)) {
        setText(form.message, String(error));
      } else {
        const unplaced = error.code === "VALIDATION_FAILED"
          ? error.details.filter((d) => form.showErrors([d]) === 0) : [];
        setText(form.message, whatifErrorText(error, unplaced));
      }
      result.dataset.ran = "error";
    } finally {
      form.submit.disabled = false;
    }
  }

  function show(answer) {
    clear(result);
    const text = (key, value) => (key === "timeOpenMs" ? formatDuration(value) : formatCount(value));
    const rows = whatifFigures(answer).map((f) => h("tr", { dataset: { figure: f.key } },
      h("th", { scope: "row" }, f.label), h("td", { dataset: { side: "actual" } }, text(f.key, f.actual)),
      h("td", { class: f.candidate === f.actual ? null : "differs", dataset: { side: "candidate" } },
        text(f.key, f.candidate))));
    const from = Date.parse(answer.since);
    const to = Date.parse(answer.until);
    result.append(
      h("table", { class: "whatif-figures" },
        h("thead", {}, h("tr", {}, h("th", {}, ""), h("th", { scope: "col" }, "Actual"), h("th", { scope: "col" }, "Candidate"))),
        h("tbody", {}, ...rows)),
      drawSide("actual", answer.actual, from, to),
      drawSide("candidate", answer.candidate, from, to),
      h("div", { class: "timeline-legend" },
        h("span", { class: "legend" }, h("span", { class: "mark-key circuit-bg-closed", "aria-hidden": "true" }), " closed ",
          h("span", { class: "mark-key circuit-bg-half-open", "aria-hidden": "true" }), " half-open ",
          h("span", { class: "mark-key circuit-bg-open", "aria-hidden": "true" }), " open"),
        h("span", { class: "legend" }, `${formatDateTime(answer.since)} → ${formatDateTime(answer.until)}`)));
    result.dataset.ran = "yes";
  }

  return { element };
}
