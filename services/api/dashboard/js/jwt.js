/**
 * The token's claims, decoded for display only (who is signed in, until when). The browser cannot check
 * the signature; the server's 401/403 decides whether the token is good.
 */

function base64UrlDecode(part) {
  const base64 = part.replace(/-/g, "+").replace(/_/g, "/");
  const padded = base64 + "=".repeat((4 - (base64.length % 4)) % 4);
  const binary = atob(padded);
  const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
  return new TextDecoder().decode(bytes);
}

/**
 * @param {string} token
 * @returns {{sub: string | null, exp: number | null, roles: string[]} | null} null when it is not a JWT
 */
export function decodeClaims(token) {
  const parts = token.trim().split(".");
  if (parts.length !== 3) return null;
  try {
    const claims = JSON.parse(base64UrlDecode(parts[1]));
    if (typeof claims !== "object" || claims === null) return null;
    return {
      sub: typeof claims.sub === "string" ? claims.sub : null,
      exp: typeof claims.exp === "number" ? claims.exp : null,
      roles: Array.isArray(claims.roles) ? claims.roles.filter((r) => typeof r === "string") : [],
    };
  } catch {
    return null;
  }
}

/** The token passed in the URL fragment (`#token=…`), or null. */
export function tokenFromFragment(hash) {
  const params = new URLSearchParams(hash.startsWith("#") ? hash.slice(1) : hash);
  const token = params.get("token");
  return token && token.trim() ? token.trim() : null;
}
