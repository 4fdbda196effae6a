-- depends: 0004.admin-audit-log
-- Operation metrics as rollups (docs/metrics.md). One table, three resolutions:
--   minute: one row per closed event-time minute (part 0) or correction (part k > 0), from the
--           metric-rollups topic; kept 48 h.
--   hour, day: part 0 merged from the part-0 minutes in order (`merged_through` = the last minute
--           merged, so a redelivered minute is not added twice); part k = a copy of correction k.
--           Kept 31 days. Days only speed up 7d/30d; they hold exactly the sum of their hours.
-- Latency histograms are DDSketch dense bins: `bin_offset` = contiguousBinIndexOffset, `bins` =
-- contiguousBinCounts as little-endian int64, `zero_count` = zeroCount.
CREATE TABLE metric_rollups (
    service_name    VARCHAR(255) NOT NULL,
    resolution      VARCHAR(6) NOT NULL CHECK (resolution IN ('minute', 'hour', 'day')),
    bucket_start    TIMESTAMPTZ NOT NULL,
    part            INTEGER NOT NULL,
    request_count   BIGINT NOT NULL,
    success_count   BIGINT NOT NULL,
    failure_count   BIGINT NOT NULL,
    rejected_count  BIGINT NOT NULL,
    latency_sum_ms  DOUBLE PRECISION NOT NULL,
    zero_count      BIGINT NOT NULL,
    bin_offset      INTEGER NOT NULL,
    bins            BYTEA NOT NULL,
    merged_through  TIMESTAMPTZ,
    PRIMARY KEY (service_name, resolution, bucket_start, part)
);
CREATE INDEX metric_rollups_resolution_time ON metric_rollups (resolution, bucket_start);

-- The buckets the aggregator holds open (the current minutes and pending corrections), refreshed
-- every second or so: the partial bucket of every window. A row is ignored once its closed row
-- (same service, minute, part) exists in metric_rollups.
CREATE TABLE metric_rollups_live (
    service_name    VARCHAR(255) NOT NULL,
    bucket_start    TIMESTAMPTZ NOT NULL,
    part            INTEGER NOT NULL,
    request_count   BIGINT NOT NULL,
    success_count   BIGINT NOT NULL,
    failure_count   BIGINT NOT NULL,
    rejected_count  BIGINT NOT NULL,
    latency_sum_ms  DOUBLE PRECISION NOT NULL,
    zero_count      BIGINT NOT NULL,
    bin_offset      INTEGER NOT NULL,
    bins            BYTEA NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (service_name, bucket_start, part)
);
CREATE INDEX metric_rollups_live_time ON metric_rollups_live (bucket_start);
