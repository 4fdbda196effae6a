/** Building DOM without markup strings: text is always text, and no inline script or style can slip in. */

/**
 * h("button", {class: "primary", type: "button", onclick: fn}, "Apply")
 * @param {string} tag
 * @param {Record<string, any>} [attrs] `class`, `dataset`, `on<event>` handlers, booleans, other attributes
 * @param {...(Node | string | null | undefined | false)} children
 */
export function h(tag, attrs = {}, ...children) {
  const el = tag.startsWith("svg:")
    ? document.createElementNS("http://www.w3.org/2000/svg", tag.slice(4))
    : document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.setAttribute("class", value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return el;
}

/** Sets text only when it differs: a DOM write costs more than the comparison. */
export function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
}

/** Status and circuit words with the symbol that carries them without colour. */
export const STATUS_ICON = { healthy: "✓", degraded: "▲", failed: "✕" };
export const STATE_ICON = { closed: "●", "half-open": "◐", open: "○" };

export function statusBadge(status) {
  return h("span", { class: `badge status-${status}` },
    h("span", { class: "badge-icon", "aria-hidden": "true" }, STATUS_ICON[status] ?? "?"),
    h("span", { class: "badge-text" }, status));
}
