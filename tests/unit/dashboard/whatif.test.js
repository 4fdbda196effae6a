import assert from "node:assert/strict";
import { test } from "node:test";

import { circuitSegments, whatifErrorText, whatifFigures, whatifRequest } from "../../../services/api/dashboard/js/whatif.js";

const T0 = Date.parse("2026-12-01T10:00:00.000Z");
const iso = (ms) => new Date(T0 + ms).toISOString();
const side = (over) => ({ incidents: 0, timeOpenMs: 0, rejectedCalls: 0, transitions: [], timeline: [], ...over });

test("a range's request ends now and starts its span earlier, with the candidate as typed", () => {
  const body = whatifRequest({ failureThreshold: 3 }, "1h", T0 + 3_600_000);
  assert.deepEqual(body, { config: { failureThreshold: 3 }, since: iso(0), until: iso(3_600_000) });
  assert.equal(whatifRequest({}, "7d", T0).since, iso(-7 * 86_400_000));
});

test("the figures pair each side's count, transitions counted by their list", () => {
  const figures = whatifFigures({
    actual: side({ incidents: 1, timeOpenMs: 5000, rejectedCalls: 7, transitions: [{}, {}] }),
    candidate: side({ incidents: 2, timeOpenMs: 9000, rejectedCalls: 0, transitions: [{}, {}, {}, {}] }),
  });
  assert.deepEqual(figures.map((f) => [f.key, f.actual, f.candidate]),
    [["incidents", 1, 2], ["timeOpenMs", 5000, 9000], ["rejectedCalls", 7, 0], ["transitions", 2, 4]]);
});

test("timeline segments are clipped to the range and placed at their share of it", () => {
  const timeline = [{ from: iso(-500), to: iso(250), circuit: "closed" }, { from: iso(250), to: iso(750), circuit: "open" },
                    { from: iso(750), to: iso(750), circuit: "half-open" }, { from: iso(750), to: iso(1500), circuit: "closed" }];
  const segments = circuitSegments(timeline, T0, T0 + 1000);
  assert.deepEqual(segments.map((s) => [s.circuit, s.left, s.width]), [["closed", 0, 25], ["open", 25, 50], ["closed", 75, 25]]);
  assert.deepEqual(circuitSegments(timeline, T0, T0), []);
});

test("a refused what-if names retention, lists details no field took, or asks to fix the marked fields", () => {
  assert.match(whatifErrorText({ code: "RANGE_BEYOND_RETENTION", message: "since is older than 2026-12-01" }),
    /^The range starts before the oldest retained record: since is older than 2026-12-01\. Pick a shorter range\.$/);
  assert.equal(whatifErrorText({ code: "VALIDATION_FAILED", message: "x" }, [{ field: "since", issue: "not a time" }]),
    "Refused: since: not a time");
  assert.equal(whatifErrorText({ code: "VALIDATION_FAILED", message: "x" }, []), "Fix the marked fields.");
  assert.equal(whatifErrorText({ code: "SERVICE_NOT_FOUND", message: "no such service" }), "SERVICE_NOT_FOUND: no such service");
});
