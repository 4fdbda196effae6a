import assert from "node:assert/strict";
import { test } from "node:test";

import { causeSummary } from "../../../services/api/dashboard/js/cause.js";

const window = { type: "count", size: 10, calls: 10, failures: 5, timeouts: 1, slowCalls: 2, failureRate: 50,
                 slowCallRate: 20, failingInstances: 2 };

test("consecutive failures read as the count and the threshold", () => {
  assert.equal(causeSummary({ rule: "consecutive-failures", consecutiveFailures: 5, threshold: 5, window: null }),
               "5 consecutive failures (threshold 5)");
});

test("a rate reads as the measured rate, the threshold and the window", () => {
  assert.equal(causeSummary({ rule: "failure-rate", threshold: 50, window }),
               "failure rate 50% ≥ 50%: 5 of 10 calls in a count window of 10");
  assert.equal(causeSummary({ rule: "slow-call-rate", threshold: 20, window: { ...window, type: "time", size: 60,
                                                                              slowCallRate: 33.333 } }),
               "slow-call rate 33.3% ≥ 20%: 2 of 10 calls in a time window of 60 s");
});

test("failed trials name the rate they crossed", () => {
  assert.equal(causeSummary({ rule: "trial-failed", trialRule: "failure-rate", threshold: 50, window }),
               "trial calls failed the failure-rate rule (50%)");
  assert.equal(causeSummary({ rule: "trial-failed", trialRule: null, threshold: null, window: null }),
               "a trial call failed");
});

test("rules without figures say what happened in other words than the rule's name, or nothing", () => {
  for (const rule of ["reset-timeout-elapsed", "trial-succeeded", "manual-reset", "forced-reset"]) {
    const summary = causeSummary({ rule, window: null });
    assert.equal(typeof summary, "string");
    assert.notEqual(summary, rule);
  }
  assert.equal(causeSummary({ rule: "some-future-rule", window: null }), null);
});
