/**
 * The dashboard's entry point: sign-in, the one store and connection, the header, and routing between
 * the fleet (/dashboard/) and a service's page (/dashboard/services/<name>) with the History API.
 */
import { authFailureMessage, BASE, createApi } from "./api.js";
import { adoptTokenFromLocation, currentToken, forgetToken, principal, storeToken } from "./auth.js";
import { LiveConnection } from "./connection.js";
import { clear, h, setText } from "./dom.js";
import { formatClock } from "./format.js";
import { Store } from "./store.js";
import { mountDetail } from "./views/detail.js";
import { mountFleet } from "./views/fleet.js";
import { mountSignIn } from "./views/signin.js";

const header = document.getElementById("topbar");
const view = document.getElementById("view");
const store = new Store();
let connection = null;
let unmount = null;
let signedOutMessage = "";

const api = createApi(currentToken, (error) => signOut(authFailureMessage(error)));

function socketBase() {
  const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${window.location.host}/api/admin/ws`;
}

// ---- header: who, the connection, sign out
const link = {
  box: h("div", { class: "link", role: "status", "aria-live": "polite", dataset: { phase: "connecting" } }),
  dot: h("span", { class: "link-dot", "aria-hidden": "true" }),
  text: h("span", { class: "link-text" }, "connecting"),
  rtt: h("span", { class: "link-rtt" }),
  button: h("button", { type: "button", class: "small", hidden: true, onclick: () => connection?.reconnect() }, "Reconnect"),
};
link.box.append(link.dot, link.text, link.rtt, link.button);
const who = h("span", { class: "who" });

function renderHeader(signedIn) {
  clear(header);
  header.append(h("a", { class: "brand", href: "/dashboard/" },
    h("img", { class: "brand-mark", src: "/dashboard/favicon.svg", alt: "" }), "Fusebox"));
  if (!signedIn) return;
  const me = principal(currentToken());
  setText(who, `${me.sub} · ${me.roles.join(", ") || "no roles"}` +
    (me.expiresAt ? ` · until ${formatClock(me.expiresAt.toISOString())}` : ""));
  header.append(h("span", { class: "spacer" }), link.box, who,
    h("button", { type: "button", class: "small", onclick: () => signOut("Signed out.") }, "Sign out"));
}

function showLink(status) {
  link.box.dataset.phase = status.phase;
  let text = status.phase;
  if (status.phase === "reconnecting") text = `reconnecting (attempt ${status.attempt} of ${status.maxAttempts})`;
  if (status.phase === "disconnected") text = `disconnected${status.reason ? `: ${status.reason}` : ""}`;
  setText(link.text, text);
  setText(link.rtt, status.phase === "connected" && status.rttMs !== null ? `RTT ${status.rttMs} ms` : "");
  link.button.hidden = !(status.phase === "disconnected" && status.reason.startsWith("gave up"));
}

// ---- routing
function route() {
  if (unmount) unmount();
  unmount = null;
  clear(view);
  if (!currentToken()) {
    renderHeader(false);
    const signIn = mountSignIn(view, { message: signedOutMessage, onToken: async (token) => {
      storeToken(token);
      try {
        await api.get(`${BASE}/status`);
      } catch (error) {
        forgetToken();
        signIn.fail(error.status === 401 || error.status === 403 ? authFailureMessage(error)
          : `The API could not check the token: ${error.message}`);
        return;
      }
      signedOutMessage = "";
      start();
    } });
    return;
  }
  const match = /^\/dashboard\/services\/([^/]+)\/?$/.exec(window.location.pathname);
  if (match) {
    const service = decodeURIComponent(match[1]);
    document.title = `${service} · Fusebox`;
    unmount = mountDetail(view, { service, store, api, principal: principal(currentToken()) });
  } else {
    document.title = "Fleet · Fusebox";
    unmount = mountFleet(view, { store });
  }
}

function navigate(url) {
  history.pushState(null, "", url);
  route();
  window.scrollTo(0, 0);
}

document.addEventListener("click", (event) => {
  const anchor = event.target instanceof Element ? event.target.closest("a[href^='/dashboard/']") : null;
  if (!anchor || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
  event.preventDefault();
  navigate(anchor.getAttribute("href"));
});
window.addEventListener("popstate", route);

function start() {
  renderHeader(true);
  connection?.stop();
  store.clear();
  connection = new LiveConnection({
    url: socketBase(),
    token: currentToken,
    onServices: (message) => store.receive(message),
    onConnected: (info) => { if (!info.resumed) store.beginSnapshot(info.snapshotSize); },
    onStatus: showLink,
    onRefused: (error) => signOut(authFailureMessage({ status: error.code === "FORBIDDEN" ? 403 : 401, ...error })),
  });
  connection.start();
  route();
}

function signOut(message) {
  if (!currentToken()) return;
  forgetToken();
  connection?.stop();
  connection = null;
  store.clear();
  signedOutMessage = message;
  history.replaceState(null, "", "/dashboard/");
  route();
}

adoptTokenFromLocation();
if (currentToken()) start(); else route();
