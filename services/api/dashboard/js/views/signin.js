/** Sign-in: paste an admin token (or arrive through the link `make demo` prints, which carries one). */
import { h } from "../dom.js";

export function mountSignIn(root, { message, onToken }) {
  const input = h("textarea", { id: "token", name: "token", rows: "4", required: true, spellcheck: "false",
                                autocomplete: "off", "aria-describedby": "signin-message signin-hint" });
  const note = h("p", { id: "signin-message", class: message ? "form-message error" : "form-message", role: "alert" },
    message || "");
  const button = h("button", { type: "submit", class: "primary" }, "Sign in");
  const form = h("form", { class: "signin", onsubmit: async (event) => {
    event.preventDefault();
    const token = input.value.trim();
    if (!token) {
      note.className = "form-message error";
      note.textContent = "Paste an admin token first.";
      input.focus();
      return;
    }
    button.disabled = true;
    note.className = "form-message";
    note.textContent = "Checking the token…";
    try {
      await onToken(token);
    } finally {
      button.disabled = false;
    }
  } },
  h("h1", {}, h("img", { class: "brand-mark", src: "/dashboard/favicon.svg", alt: "" }), "Fusebox"),
  h("p", { class: "lead" }, "Circuit-breaker control plane — operator console"),
  h("label", { for: "token" }, "Admin token"), input,
  h("p", { id: "signin-hint", class: "hint" },
    "Print one with ", h("code", {}, "fusebox token --sub YOUR-NAME --role admin"),
    ", or open the link ", h("code", {}, "make demo"), " prints. The token stays in this tab only."),
  note, button);
  root.append(h("section", { class: "signin-page" }, form));
  input.focus();
  return { fail(text) { note.className = "form-message error"; note.textContent = text; input.focus(); } };
}
