/**
 * When to try the WebSocket again after it dropped: exponential backoff with jitter, at most five
 * attempts in a row (a successful connect starts the count again), then the operator decides.
 *
 *   attempt   1     2     3     4     5     6
 *   ceiling   1 s   2 s   4 s   8 s   16 s  gave up -> "Reconnect" button
 *   delay     ceiling minus up to half of it, at random, so a fleet of browsers does not reconnect in step
 */

export const MAX_RECONNECT_ATTEMPTS = 5;

/** @typedef {{baseMs: number, capMs: number, jitter: number}} Backoff */

/** @type {Backoff} */
export const DEFAULT_BACKOFF = Object.freeze({ baseMs: 1000, capMs: 30000, jitter: 0.5 });

/**
 * Delay before reconnection attempt `attempt` (1-based): base·2^(attempt-1), capped, minus up to `jitter` of it.
 * @param {number} attempt
 * @param {() => number} random a number in [0, 1)
 * @param {Backoff} [backoff]
 */
export function reconnectDelay(attempt, random, backoff = DEFAULT_BACKOFF) {
  const ceiling = Math.min(backoff.capMs, backoff.baseMs * 2 ** (attempt - 1));
  return Math.round(ceiling * (1 - backoff.jitter * random()));
}

/**
 * The next step after a connection was lost, given how many attempts in a row already failed.
 * @param {number} failedAttempts
 * @param {() => number} random
 * @returns {{gaveUp: true} | {gaveUp: false, attempt: number, delayMs: number}}
 */
export function nextReconnect(failedAttempts, random, backoff = DEFAULT_BACKOFF) {
  const attempt = failedAttempts + 1;
  if (attempt > MAX_RECONNECT_ATTEMPTS) return { gaveUp: true };
  return { gaveUp: false, attempt, delayMs: reconnectDelay(attempt, random, backoff) };
}
