/** REST calls to the gateway. Every request carries the token; a 401 or 403 ends the session. */

export const BASE = "/api/admin/circuit-breaker";

export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {string} code the envelope's stable code, or NETWORK when no answer came
   * @param {string} message
   * @param {{field: string, issue: string}[]} details
   * @param {number | null} retryAfterS
   */
  constructor(status, code, message, details = [], retryAfterS = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
    this.retryAfterS = retryAfterS;
  }
}

/**
 * @param {() => string | null} token
 * @param {(error: ApiError) => void} onAuthFailure called for 401 and 403, before the error is thrown
 */
export function createApi(token, onAuthFailure) {
  async function request(method, path, body) {
    const headers = { Authorization: `Bearer ${token()}`, Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(path.startsWith("/") ? path : `${BASE}/${path}`, {
        method, headers, body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch {
      throw new ApiError(0, "NETWORK", "the API did not answer", []);
    }
    const text = await response.text();
    let payload = null;
    try {
      payload = text ? JSON.parse(text) : null;
    } catch {
      payload = null;
    }
    if (response.ok) return { status: response.status, body: payload };
    const envelope = payload && payload.error ? payload.error : {};
    const retryAfter = Number(response.headers.get("Retry-After"));
    const error = new ApiError(response.status, envelope.code || `HTTP_${response.status}`,
      envelope.message || response.statusText, envelope.details || [],
      Number.isFinite(retryAfter) && response.headers.has("Retry-After") ? retryAfter : null);
    if (response.status === 401 || response.status === 403) onAuthFailure(error);
    throw error;
  }
  return {
    get: (path) => request("GET", path),
    put: (path, body) => request("PUT", path, body),
    post: (path, body) => request("POST", path, body),
    delete: (path) => request("DELETE", path),
  };
}

/** The message an operator reads for a refused token. */
export function authFailureMessage(error) {
  if (error.status === 403) return "This token is valid but has no admin role. Sign in with an admin token.";
  if (error.code === "UNAUTHORIZED") {
    return `The token was refused (${error.message}). It may have expired: get a new one with fusebox token.`;
  }
  return `Signed out: ${error.message}`;
}
