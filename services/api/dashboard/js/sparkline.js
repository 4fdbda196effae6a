/**
 * A request-rate history per service from the live updates alone: `operations.total` is sampled into
 * fixed buckets; the rate of a bucket is the growth of the total since the previous bucket.
 *
 *   bucket     |  t0  |  t1  |  t2  |      (BUCKET_MS each, the last SPARK_BUCKETS kept)
 *   last total   100    160    220      -> rates (160-100)/Δ, (220-160)/Δ
 */

export const BUCKET_MS = 5000;
export const SPARK_BUCKETS = 36; // three minutes

/** @typedef {{bucket: number, total: number}[]} Samples */

/**
 * Record the total seen at `nowMs`; keeps the latest total of each bucket.
 * @param {Samples} samples mutated and returned
 */
export function recordTotal(samples, nowMs, total) {
  const bucket = Math.floor(nowMs / BUCKET_MS);
  const last = samples[samples.length - 1];
  if (last && last.bucket === bucket) last.total = total;
  else samples.push({ bucket, total });
  while (samples.length > 0 && samples[0].bucket <= bucket - SPARK_BUCKETS - 2) samples.shift();
  return samples;
}

/**
 * Calls per second of each of the last SPARK_BUCKETS completed buckets before `nowMs`, oldest first (the
 * bucket still filling would understate its rate); null where nothing is known yet. A bucket without a
 * sample carries the previous total (no calls counted).
 * @param {Samples} samples
 */
export function rates(samples, nowMs) {
  const current = Math.floor(nowMs / BUCKET_MS) - 1;
  const first = current - SPARK_BUCKETS + 1;
  const out = new Array(SPARK_BUCKETS).fill(null);
  let index = 0;
  let previous = null;
  while (index < samples.length && samples[index].bucket < first) previous = samples[index++].total;
  for (let bucket = first; bucket <= current; bucket++) {
    let total = previous;
    if (index < samples.length && samples[index].bucket === bucket) total = samples[index++].total;
    if (previous !== null && total !== null) out[bucket - first] = Math.max(0, total - previous) / (BUCKET_MS / 1000);
    previous = total;
  }
  return out;
}

/**
 * SVG polyline points for `values` in a width×height box, scaled to the largest value.
 * @param {(number | null)[]} values
 */
export function sparkPoints(values, width, height) {
  const max = Math.max(1e-9, ...values.map((v) => v ?? 0));
  const step = values.length > 1 ? width / (values.length - 1) : width;
  const points = [];
  values.forEach((v, i) => {
    if (v === null) return;
    const y = height - 1 - (v / max) * (height - 2);
    points.push(`${(i * step).toFixed(1)},${y.toFixed(1)}`);
  });
  return points.join(" ");
}

/** The latest known rate, or null. */
export function latestRate(values) {
  for (let i = values.length - 1; i >= 0; i--) if (values[i] !== null) return values[i];
  return null;
}

/** At least the last minute: a page open for less than the whole window draws what it has across the tile. */
export const MIN_SPARK_BUCKETS = 12;

/** `values` from the first known one on, padded at the front to MIN_SPARK_BUCKETS. */
export function recent(values) {
  const first = values.findIndex((v) => v !== null);
  if (first < 0) return values.slice(-MIN_SPARK_BUCKETS);
  const known = values.slice(first);
  return known.length >= MIN_SPARK_BUCKETS ? known : [...new Array(MIN_SPARK_BUCKETS - known.length).fill(null), ...known];
}
