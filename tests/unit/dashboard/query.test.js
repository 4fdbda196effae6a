import assert from "node:assert/strict";
import { test } from "node:test";

import { matches, parseQuery } from "../../../services/api/dashboard/js/query.js";

function service(name, { status = "healthy", state = "closed", rate = 1, failures = 0, total = 100 } = {}) {
  return {
    service: name, status,
    circuit: { state, failureCount: failures, recoveryAttempts: 0, totalIncidents: 0 },
    operations: { successRate: rate, total, failed: 0, rejected: 0 },
  };
}

const fleet = [
  service("payments-api", { status: "failed", state: "open", rate: 0.5, failures: 5 }),
  service("payouts", { status: "degraded", state: "half-open", rate: 0.97 }),
  service("search-api", { status: "degraded", rate: 0.9, failures: 2 }),
  service("geo-ip"),
];

function names(query) {
  const { terms, errors } = parseQuery(query);
  assert.deepEqual(errors, []);
  return fleet.filter((s) => matches(terms, s)).map((s) => s.service);
}

test("an empty query matches every service", () => {
  assert.deepEqual(names("  "), ["payments-api", "payouts", "search-api", "geo-ip"]);
});

test("a bare word matches names containing it, ignoring case", () => {
  assert.deepEqual(names("API"), ["payments-api", "search-api"]);
});

test("name: takes a glob", () => {
  assert.deepEqual(names("name:pay*"), ["payments-api", "payouts"]);
  assert.deepEqual(names("name:*-api"), ["payments-api", "search-api"]);
  assert.deepEqual(names("name:pay"), []);
});

test("state: and status: select by circuit state and status", () => {
  assert.deepEqual(names("state:open"), ["payments-api"]);
  assert.deepEqual(names("state:half-open"), ["payouts"]);
  assert.deepEqual(names("status:degraded"), ["payouts", "search-api"]);
});

test("comparisons read the success rate as a fraction or a percentage", () => {
  assert.deepEqual(names("rate<0.95"), ["payments-api", "search-api"]);
  assert.deepEqual(names("rate<95%"), ["payments-api", "search-api"]);
  assert.deepEqual(names("rate>=0.97"), ["payouts", "geo-ip"]);
  assert.deepEqual(names("failures>0"), ["payments-api", "search-api"]);
});

test("all terms must hold, and a leading minus hides what a term matches", () => {
  assert.deepEqual(names("state:open rate<0.95 name:pay*"), ["payments-api"]);
  assert.deepEqual(names("-status:healthy -state:open"), ["payouts", "search-api"]);
  assert.deepEqual(names("!api"), ["payouts", "geo-ip"]);
});

test("unknown keys, fields and values are reported and left out", () => {
  const { terms, errors } = parseQuery("state:broken colour:red speed>3 rate<abc api");
  assert.equal(terms.length, 1);
  assert.equal(errors.length, 4);
  assert.match(errors[0], /state must be one of closed, open, half-open/);
  assert.match(errors[1], /unknown key "colour"/);
  assert.match(errors[2], /unknown field "speed"/);
  assert.match(errors[3], /"abc" is not a number/);
});
