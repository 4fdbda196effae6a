/**
 * The live connection: one WebSocket to /api/admin/ws, its heartbeat, and reconnection with backoff.
 * The rules live in protocol.js and reconnect.js; this module only owns the socket and the timers.
 *
 *   connecting ──connected──► connected ──drop──► reconnecting (attempt n of 5) ──► connected
 *        ▲                                              │ 5 failed
 *        └──────────── reconnect() ◄── disconnected ◄───┘
 */
import { CLIENT_PING_INTERVAL_MS, SILENCE_LIMIT_MS, clientPing, newSession, onServerMessage, socketUrl, subprotocols }
  from "./protocol.js";
import { MAX_RECONNECT_ATTEMPTS, nextReconnect } from "./reconnect.js";

/**
 * @typedef {{phase: "connecting" | "connected" | "reconnecting" | "disconnected", attempt: number,
 *            maxAttempts: number, rttMs: number | null, reason: string, retryInMs: number | null}} LinkStatus
 */

export class LiveConnection {
  /**
   * @param {{url: string, token: () => string | null, onServices: (message: any) => void,
   *          onConnected: (info: any) => void, onStatus: (status: LinkStatus) => void,
   *          onRefused: (error: any) => void}} options
   */
  constructor(options) {
    this.options = options;
    this.session = newSession();
    this.failedAttempts = 0;
    this.socket = null;
    this.stopped = false;
    this.timers = { retry: 0, ping: 0 };
    this.lastMessageAt = 0;
    this.refused = null;
    /** @type {LinkStatus} */
    this.status = { phase: "connecting", attempt: 0, maxAttempts: MAX_RECONNECT_ATTEMPTS, rttMs: null, reason: "",
                    retryInMs: null };
  }

  start() {
    this.stopped = false;
    this.open();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timers.retry);
    clearInterval(this.timers.ping);
    if (this.socket) this.socket.close(1000, "signed out");
    this.socket = null;
  }

  /** The operator's "Reconnect" after the client gave up: a fresh count of attempts. */
  reconnect() {
    clearTimeout(this.timers.retry);
    this.failedAttempts = 0;
    this.setStatus({ phase: "connecting", attempt: 0, reason: "", retryInMs: null });
    this.open();
  }

  setStatus(changes) {
    this.status = { ...this.status, ...changes };
    this.options.onStatus(this.status);
  }

  open() {
    const url = socketUrl(this.options.url, this.session, this.failedAttempts);
    const socket = new WebSocket(url, subprotocols(this.options.token() ?? ""));
    this.socket = socket;
    this.refused = null;
    socket.addEventListener("message", (event) => this.onMessage(socket, event));
    socket.addEventListener("close", (event) => this.onClose(socket, event));
  }

  onMessage(socket, event) {
    if (socket !== this.socket) return;
    this.lastMessageAt = performance.now();
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      return;
    }
    const { session, reply, effect } = onServerMessage(this.session, message, Date.now());
    const rttChanged = session.rttMs !== this.session.rttMs;
    this.session = session;
    if (reply) socket.send(JSON.stringify(reply));
    if (rttChanged) this.setStatus({ rttMs: session.rttMs });
    if (!effect) return;
    switch (effect.type) {
      case "services":
        this.options.onServices(effect.message);
        break;
      case "connected":
        this.failedAttempts = 0;
        this.startHeartbeat(socket);
        this.setStatus({ phase: "connected", attempt: 0, reason: "", retryInMs: null });
        this.options.onConnected(effect);
        break;
      case "closing":
        this.setStatus({ phase: "disconnected", reason: "the server is shutting down", retryInMs: null });
        break;
      case "refused":
        this.refused = effect.error;
        break;
    }
  }

  startHeartbeat(socket) {
    clearInterval(this.timers.ping);
    const beat = () => {
      if (socket !== this.socket || socket.readyState !== WebSocket.OPEN) return;
      if (performance.now() - this.lastMessageAt > SILENCE_LIMIT_MS) {
        socket.close(4000, "no message from the server");
        return;
      }
      const { session, ping } = clientPing(this.session, Date.now());
      this.session = session;
      socket.send(JSON.stringify(ping));
    };
    beat(); // a round-trip time from the start, not five seconds later
    this.timers.ping = setInterval(beat, CLIENT_PING_INTERVAL_MS);
  }

  onClose(socket, event) {
    if (socket !== this.socket) return;
    clearInterval(this.timers.ping);
    this.socket = null;
    if (this.stopped) return;
    if (event.code === 1008 || this.refused) {
      this.options.onRefused(this.refused ?? { code: "UNAUTHORIZED", message: event.reason || "refused" });
      return;
    }
    const next = nextReconnect(this.failedAttempts, Math.random);
    if (next.gaveUp) {
      this.setStatus({ phase: "disconnected", reason: `gave up after ${MAX_RECONNECT_ATTEMPTS} attempts`,
                       retryInMs: null });
      return;
    }
    this.failedAttempts = next.attempt;
    const reason = this.session.serverClosing ? "the server shut down" : "connection lost";
    this.setStatus({ phase: "reconnecting", attempt: next.attempt, reason, retryInMs: next.delayMs });
    this.timers.retry = setTimeout(() => this.open(), next.delayMs);
  }
}
