import assert from "node:assert/strict";
import { test } from "node:test";

import { periods, transitionMarks } from "../../../services/api/dashboard/js/views/timeline.js";

const T0 = Date.parse("2026-12-01T10:00:00.000Z");
const iso = (ms) => new Date(T0 + ms).toISOString();
const transition = (seq, from, to, ms, rule) => ({ seq, from, to, at: iso(ms), cause: { rule } });

test("transitions inside the range are placed at their share of it, by target state, naming the rule", () => {
  const marks = transitionMarks([transition(1, "closed", "open", 250, "failure-rate"),
                                 transition(2, "open", "half-open", 750, "reset-timeout-elapsed")], T0, T0 + 1000);
  assert.deepEqual(marks.map((m) => [m.seq, m.to, m.left]), [[1, "open", 25], [2, "half-open", 75]]);
  assert.match(marks[0].label, /^closed → open \(failure-rate\) at /);
});

test("transitions outside the range are not marked", () => {
  assert.deepEqual(transitionMarks([transition(1, "closed", "open", -1, "failure-rate"),
                                    transition(2, "open", "closed", 1001, "manual-reset")], T0, T0 + 1000), []);
});

test("a failed period keeps the seq of the transition that began it; others have none", () => {
  const list = periods([{ timestamp: iso(0), status: "degraded", duration: 100, incidents: 0 },
                        { timestamp: iso(100), status: "failed", duration: 500, incidents: 1, transitionSeq: 4 }],
                       null, T0, T0 + 1000);
  assert.deepEqual(list.map((p) => [p.status, p.transitionSeq]), [["degraded", null], ["failed", 4]]);
});
