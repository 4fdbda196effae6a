import assert from "node:assert/strict";
import { test } from "node:test";

import { BUCKET_MS, MIN_SPARK_BUCKETS, SPARK_BUCKETS, latestRate, rates, recent, recordTotal, sparkPoints }
  from "../../../services/api/dashboard/js/sparkline.js";

test("the rate of a completed bucket is the growth of the total per second", () => {
  const samples = [];
  recordTotal(samples, 0, 100);
  recordTotal(samples, BUCKET_MS + 10, 150);
  recordTotal(samples, BUCKET_MS + 20, 160); // the latest total of a bucket counts
  const values = rates(samples, 2 * BUCKET_MS + 1);
  assert.equal(values.length, SPARK_BUCKETS);
  assert.equal(values[SPARK_BUCKETS - 1], 60 / (BUCKET_MS / 1000));
  assert.equal(values[SPARK_BUCKETS - 2], null);
});

test("a bucket without updates counts no calls", () => {
  const samples = [];
  recordTotal(samples, 0, 100);
  recordTotal(samples, BUCKET_MS, 110);
  const values = rates(samples, 4 * BUCKET_MS);
  assert.deepEqual(values.slice(-3), [2, 0, 0]);
  assert.equal(latestRate(values), 0);
});

test("old buckets are dropped", () => {
  const samples = [];
  for (let i = 0; i < 100; i++) recordTotal(samples, i * BUCKET_MS, i);
  assert.ok(samples.length <= SPARK_BUCKETS + 2);
  assert.ok(rates(samples, 100 * BUCKET_MS).every((v) => v === 1 / (BUCKET_MS / 1000)));
});

test("points scale to the box and skip unknown values", () => {
  assert.equal(sparkPoints([null, 0, 2], 10, 12), "5.0,11.0 10.0,1.0");
});

test("a young history is drawn from its first known bucket, over at least a minute", () => {
  const young = [...new Array(SPARK_BUCKETS - 3).fill(null), 1, 2, 3];
  assert.deepEqual(recent(young), [...new Array(MIN_SPARK_BUCKETS - 3).fill(null), 1, 2, 3]);
  const old = new Array(SPARK_BUCKETS).fill(1);
  assert.equal(recent(old).length, SPARK_BUCKETS);
});
