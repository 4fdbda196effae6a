/**
 * The WebSocket protocol (docs/api.md) as pure functions: what a server message means for the session
 * (sessionId, lastSeq, round-trip time) and what the client answers. No socket, no clock of its own.
 */

export const SUBPROTOCOL = "fusebox.v1";
export const CLIENT_PING_INTERVAL_MS = 5000;
/** Silence for this long means the connection is dead even if the socket has not noticed. */
export const SILENCE_LIMIT_MS = 3 * CLIENT_PING_INTERVAL_MS;

/**
 * @typedef {{sessionId: string | null, lastSeq: number | null, rttMs: number | null,
 *            pendingPing: number | null, serverClosing: boolean}} Session
 */

/** @returns {Session} */
export function newSession() {
  return { sessionId: null, lastSeq: null, rttMs: null, pendingPing: null, serverClosing: false };
}

/** The subprotocols that authenticate the browser's socket: the token never appears in a URL. */
export function subprotocols(token) {
  return [SUBPROTOCOL, `bearer.${token}`];
}

/**
 * The socket URL: a resume of `session` when it has one.
 * @param {string} base ws:// or wss:// URL of /api/admin/ws
 * @param {Session} session
 * @param {number} reconnectAttempts
 */
export function socketUrl(base, session, reconnectAttempts) {
  const params = new URLSearchParams();
  if (session.sessionId !== null && session.lastSeq !== null) {
    params.set("sessionId", session.sessionId);
    params.set("lastSeq", String(session.lastSeq));
  }
  if (reconnectAttempts > 0) params.set("reconnectAttempts", String(reconnectAttempts));
  const query = params.toString();
  return query ? `${base}?${query}` : base;
}

/**
 * @typedef {{type: "services", message: object}
 *         | {type: "connected", resumed: boolean, snapshotSize: number, replayed: number}
 *         | {type: "closing"}
 *         | {type: "refused", error: {code: string, message: string}}} Effect
 */

/**
 * Fold one server message into the session.
 * @param {Session} session
 * @param {any} message parsed JSON
 * @param {number} nowMs
 * @returns {{session: Session, reply: object | null, effect: Effect | null}}
 */
export function onServerMessage(session, message, nowMs) {
  if (message && message.error && !message.type) {
    return { session, reply: null, effect: { type: "refused", error: message.error } };
  }
  switch (message && message.type) {
    case "ping":
      return { session, reply: { type: "pong", timestamp: message.timestamp }, effect: null };
    case "pong":
      if (message.timestamp !== session.pendingPing) return { session, reply: null, effect: null };
      return { session: { ...session, rttMs: nowMs - message.timestamp, pendingPing: null }, reply: null, effect: null };
    case "connection:status":
      if (message.status === "disconnected") {
        return { session: { ...session, serverClosing: true }, reply: null, effect: { type: "closing" } };
      }
      return {
        session: { ...session, sessionId: message.sessionId ?? null, lastSeq: message.seq ?? null, serverClosing: false },
        reply: null,
        effect: { type: "connected", resumed: Boolean(message.resumed), snapshotSize: message.snapshotSize ?? 0,
                  replayed: message.replayed ?? 0 },
      };
    case "service:update":
    case "service:remove":
      return {
        session: { ...session, lastSeq: typeof message.seq === "number" ? message.seq : session.lastSeq },
        reply: null,
        effect: { type: "services", message },
      };
    case "service:transition":
      // The state that shows it follows as a service:update; the transition only moves the sequence on.
      return {
        session: { ...session, lastSeq: typeof message.seq === "number" ? message.seq : session.lastSeq },
        reply: null,
        effect: null,
      };
    default:
      return { session, reply: null, effect: null };
  }
}

/** The client's own heartbeat: a ping whose answer gives the round-trip time. */
export function clientPing(session, nowMs) {
  return { session: { ...session, pendingPing: nowMs }, ping: { type: "ping", timestamp: nowMs } };
}
