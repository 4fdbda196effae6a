import assert from "node:assert/strict";
import { test } from "node:test";

import { busiestFirst, stayingItems, worstFirst } from "../../../services/api/dashboard/js/order.js";

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

test("moving one item far down keeps every other item in place", () => {
  // current order a b c d e; new order b c d e a: only a moves
  const keep = stayingItems([1, 2, 3, 4, 0]);
  assert.deepEqual(keep, [true, true, true, true, false]);
});

test("an unchanged order keeps everything and new items are never kept", () => {
  assert.deepEqual(stayingItems([0, 1, 2]), [true, true, true]);
  assert.deepEqual(stayingItems([0, -1, 1]), [true, false, true]);
  assert.deepEqual(stayingItems([]), []);
});

test("a reversed order keeps one item", () => {
  assert.equal(stayingItems([3, 2, 1, 0]).filter(Boolean).length, 1);
});
