import assert from "node:assert/strict";
import { test } from "node:test";

import { formatCount, formatCountdown, formatDuration, formatRate }
  from "../../../services/api/dashboard/js/format.js";

test("a countdown shows seconds, then minutes and seconds, then hours and minutes", () => {
  assert.equal(formatCountdown(4200), "5s");
  assert.equal(formatCountdown(1), "1s");
  assert.equal(formatCountdown(65_000), "1m 05s");
  assert.equal(formatCountdown(3_720_000), "1h 02m");
});

test("a countdown that has run out says it is due", () => {
  assert.equal(formatCountdown(0), "due");
  assert.equal(formatCountdown(-500), "due");
});

test("a success rate is never rounded up to 100 %", () => {
  assert.equal(formatRate(0.9999), "99.9%");
  assert.equal(formatRate(1), "100.0%");
  assert.equal(formatRate(0.875), "87.5%");
});

test("counts stay short on a tile", () => {
  assert.equal(formatCount(1234), "1,234");
  assert.equal(formatCount(123_456), "123k");
  assert.equal(formatCount(12_345_678), "12.3M");
});

test("durations read in the largest sensible units", () => {
  assert.equal(formatDuration(45_000), "45s");
  assert.equal(formatDuration(12 * 60_000), "12m");
  assert.equal(formatDuration(200 * 60_000), "3h 20m");
  assert.equal(formatDuration(52 * 3_600_000), "2d 4h");
});
