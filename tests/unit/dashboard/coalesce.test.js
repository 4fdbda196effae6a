import assert from "node:assert/strict";
import { test } from "node:test";

import { coalesce, drain } from "../../../services/api/dashboard/js/coalesce.js";

const update = (service, version) => ({ type: "service:update", service, seq: version, data: { service, version } });

test("several updates of one service in a frame leave only the latest", () => {
  const pending = new Map();
  [update("a", 1), update("b", 1), update("a", 2), update("a", 3)].forEach((m) => coalesce(pending, m));
  const changes = drain(pending);
  assert.deepEqual(changes.map((c) => [c.service, c.data.version]), [["b", 1], ["a", 3]]);
});

test("a removal replaces earlier updates and a later update revives the service", () => {
  const pending = new Map();
  coalesce(pending, update("a", 1));
  coalesce(pending, { type: "service:remove", service: "a", seq: 2 });
  assert.deepEqual(drain(pending), [{ service: "a", removed: true }]);
  coalesce(pending, { type: "service:remove", service: "a", seq: 3 });
  coalesce(pending, update("a", 4));
  assert.deepEqual(drain(pending).map((c) => [c.removed, c.data?.version]), [[false, 4]]);
});

test("draining empties the buffer", () => {
  const pending = new Map();
  coalesce(pending, update("a", 1));
  drain(pending);
  assert.deepEqual(drain(pending), []);
});

test("messages of other types are ignored", () => {
  const pending = new Map();
  coalesce(pending, { type: "ping", timestamp: 1 });
  assert.equal(pending.size, 0);
});
