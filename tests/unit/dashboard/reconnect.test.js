import assert from "node:assert/strict";
import { test } from "node:test";

import { DEFAULT_BACKOFF, MAX_RECONNECT_ATTEMPTS, nextReconnect, reconnectDelay }
  from "../../../services/api/dashboard/js/reconnect.js";

test("without jitter the delay doubles from the base with every attempt", () => {
  const delays = [1, 2, 3, 4, 5].map((n) => reconnectDelay(n, () => 0));
  assert.deepEqual(delays, [1000, 2000, 4000, 8000, 16000]);
});

test("jitter takes off at most half of the delay", () => {
  assert.equal(reconnectDelay(3, () => 0.999999), 2000);
  for (let i = 0; i < 200; i++) {
    const delay = reconnectDelay(4, Math.random);
    assert.ok(delay >= 4000 && delay <= 8000, `${delay}`);
  }
});

test("the delay never exceeds the cap", () => {
  assert.equal(reconnectDelay(12, () => 0), DEFAULT_BACKOFF.capMs);
});

test("five attempts are made in a row, then the client gives up", () => {
  assert.equal(MAX_RECONNECT_ATTEMPTS, 5);
  const attempts = [0, 1, 2, 3, 4].map((failed) => nextReconnect(failed, () => 0));
  assert.deepEqual(attempts.map((a) => a.attempt), [1, 2, 3, 4, 5]);
  assert.ok(attempts.every((a) => !a.gaveUp));
  assert.deepEqual(nextReconnect(5, () => 0), { gaveUp: true });
});
