import assert from "node:assert/strict";
import { test } from "node:test";

import { busiestFirst, worstFirst } from "../../../services/api/dashboard/js/order.js";

const state = (service, status, circuitState, successRate, total = 10) =>
  ({ service, status, circuit: { state: circuitState }, operations: { successRate, total } });

test("worst first: failed, then degraded, then healthy", () => {
  const fleet = [state("a", "healthy", "closed", 0.5), state("b", "failed", "open", 1),
                 state("c", "degraded", "closed", 0.99)];
  assert.deepEqual(fleet.sort(worstFirst).map((s) => s.service), ["b", "c", "a"]);
});

test("within a status an open breaker comes before a half-open one, then the lower success rate", () => {
  const fleet = [state("half", "degraded", "half-open", 0.2), state("low", "degraded", "closed", 0.8),
                 state("lower", "degraded", "closed", 0.7), state("open", "degraded", "open", 0.99)];
  assert.deepEqual(fleet.sort(worstFirst).map((s) => s.service), ["open", "half", "lower", "low"]);
});

test("ties fall back to the name, so the order is stable", () => {
  const fleet = [state("zeta", "healthy", "closed", 1), state("alpha", "healthy", "closed", 1)];
  assert.deepEqual(fleet.sort(worstFirst).map((s) => s.service), ["alpha", "zeta"]);
});

test("busiest first orders by calls", () => {
  const fleet = [state("quiet", "healthy", "closed", 1, 5), state("busy", "healthy", "closed", 1, 500)];
  assert.deepEqual(fleet.sort(busiestFirst).map((s) => s.service), ["busy", "quiet"]);
});
