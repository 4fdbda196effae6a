import assert from "node:assert/strict";
import { test } from "node:test";

import { auditSummary } from "../../../services/api/dashboard/js/audit.js";

test("a reset reads as its reason, force and metadata", () => {
  const entry = { action: "reset", outcome: "applied", reason: "fixed", errorCode: null, detail: { appliedAt: "t" },
                  request: { reason: "fixed", force: true, metadata: { triggeredBy: "a", environment: "prod", notes: "OPS-1" } } };
  assert.equal(auditSummary(entry), "“fixed” · forced · env prod · notes: OPS-1");
});

test("a config change reads as the values asked for", () => {
  const entry = { action: "config", outcome: "applied", reason: null, errorCode: null, detail: null,
                  request: { failureThreshold: 7, resetTimeoutMs: 30000 } };
  assert.equal(auditSummary(entry), "failureThreshold 7 · resetTimeoutMs 30000");
});

test("a refused attempt names its error code and message", () => {
  const entry = { action: "config", outcome: "refused", reason: null, errorCode: "RATE_LIMITED",
                  detail: { message: "try again in 2 s" }, request: { failureThreshold: 30 } };
  assert.equal(auditSummary(entry), "failureThreshold 30 — RATE_LIMITED: try again in 2 s");
});

test("a body that was not an object leaves only the outcome's reason", () => {
  const entry = { action: "config", outcome: "refused", reason: null, errorCode: "MALFORMED_JSON", detail: null,
                  request: [1, 2] };
  assert.equal(auditSummary(entry), "MALFORMED_JSON");
});
