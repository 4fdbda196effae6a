/** The admin token of this tab: kept in sessionStorage, taken once from a `#token=` link and wiped from the URL. */
import { decodeClaims, tokenFromFragment } from "./jwt.js";

const KEY = "fusebox.token";

/** Moves a token from the URL fragment into this tab's storage, so it is neither logged nor bookmarked. */
export function adoptTokenFromLocation() {
  const token = tokenFromFragment(window.location.hash);
  if (!token) return;
  sessionStorage.setItem(KEY, token);
  history.replaceState(history.state, "", window.location.pathname + window.location.search);
}

export function currentToken() {
  return sessionStorage.getItem(KEY);
}

export function storeToken(token) {
  sessionStorage.setItem(KEY, token.trim());
}

export function forgetToken() {
  sessionStorage.removeItem(KEY);
}

/** Who the token says it is, for display: the server decides whether it holds. */
export function principal(token) {
  const claims = token ? decodeClaims(token) : null;
  return {
    sub: claims?.sub ?? "unknown",
    roles: claims?.roles ?? [],
    expiresAt: claims?.exp ? new Date(claims.exp * 1000) : null,
  };
}
