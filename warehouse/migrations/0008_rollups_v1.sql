-- Rollups v1 (docs/metrics.md, "Rollups"): the raw log summarised at 1 minute, 5 minutes and 1 hour, so the catalog can
-- answer long windows without reading every sample. Raw `samples` stays the source of truth: a rollup holds only
-- mergeable states derived from it, and the catalog reads a rollup only when the window and step are whole buckets.
--
-- One row per (metric, orchestrator, instance, labels without stream_id, bucket) after merges; before a merge a key
-- may have several rows, so readers always aggregate (sum / min / max / sumMap / uniqExactMerge), never read a row.
--   n, sum_v, min_v, max_v  every gauge's count, sum, min, max (finite values only; NaN and staleness markers are
--                           never catalog inputs);
--   first_pt, last_pt       (ms, value) of the bucket's earliest and latest sample: with n, what a PromQL increase
--                           needs (counters keep their whole label set, so a row is one series);
--   exact                   (sorted values, their counts) of the metrics whose percentiles and target compliance the
--                           catalog reports (output FPS, jitter): an exact state, so rollup answers equal raw ones;
--                           empty for every other metric (a sketch on every gauge would make the 1 m rollup larger
--                           than the raw log, and nothing reads it);
--   streams                 the distinct stream_ids of the per-stream gauges the row folds together.
--
-- Versioned and frozen: a change is a new version (rollup_*_v2 fed by *_mv_v2 and backfilled from raw), never an
-- edit; readers name the version they read. Inserts into `samples` carry a deduplication token and
-- deduplicate_blocks_in_dependent_materialized_views = 1 (warehouse/writer.py), and these tables keep a deduplication
-- window, so a retried block is counted once here too (design §8).
CREATE TABLE IF NOT EXISTS rollup_1m_v1
(
    bucket       DateTime('UTC') CODEC(DoubleDelta, ZSTD(1)),
    metric       LowCardinality(String),
    orchestrator LowCardinality(String),
    instance     LowCardinality(String),
    labels       Map(LowCardinality(String), String) CODEC(ZSTD(3)),
    n            SimpleAggregateFunction(sum, UInt64),
    sum_v        SimpleAggregateFunction(sum, Float64),
    min_v        SimpleAggregateFunction(min, Float64),
    max_v        SimpleAggregateFunction(max, Float64),
    first_pt     SimpleAggregateFunction(min, Tuple(Int64, Float64)),
    last_pt      SimpleAggregateFunction(max, Tuple(Int64, Float64)),
    exact        SimpleAggregateFunction(sumMap, Tuple(Array(Float64), Array(UInt64))),
    streams      AggregateFunction(uniqExact, String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMMDD(bucket)
ORDER BY (metric, orchestrator, instance, labels, bucket)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS rollup_5m_v1 AS rollup_1m_v1
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(bucket)
ORDER BY (metric, orchestrator, instance, labels, bucket)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS rollup_1h_v1 AS rollup_1m_v1
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(bucket)
ORDER BY (metric, orchestrator, instance, labels, bucket)
SETTINGS non_replicated_deduplication_window = 10000;

-- The three views read `samples` directly (not 1 m → 5 m → 1 h): each is then independent of the others, and a
-- version backfills from raw alone. The inner SELECT keeps stream_id apart before the labels lose it.
CREATE MATERIALIZED VIEW IF NOT EXISTS rollup_1m_mv_v1 TO rollup_1m_v1 AS
SELECT toStartOfInterval(ts, INTERVAL 1 MINUTE) AS bucket, metric, orchestrator, instance, series AS labels,
       count() AS n, sum(value) AS sum_v, min(value) AS min_v, max(value) AS max_v,
       min((toUnixTimestamp64Milli(ts), value)) AS first_pt, max((toUnixTimestamp64Milli(ts), value)) AS last_pt,
       sumMapIf([value], [toUInt64(1)], metric IN ('naap_stream_output_fps', 'naap_stream_jitter_ratio')) AS exact,
       uniqExactStateIf(sid, sid != '') AS streams
FROM (SELECT ts, metric, orchestrator, instance, value, labels['stream_id'] AS sid,
             mapFilter((k, v) -> k != 'stream_id', labels) AS series
      FROM samples WHERE isFinite(value))
GROUP BY bucket, metric, orchestrator, instance, series;

CREATE MATERIALIZED VIEW IF NOT EXISTS rollup_5m_mv_v1 TO rollup_5m_v1 AS
SELECT toStartOfInterval(ts, INTERVAL 5 MINUTE) AS bucket, metric, orchestrator, instance, series AS labels,
       count() AS n, sum(value) AS sum_v, min(value) AS min_v, max(value) AS max_v,
       min((toUnixTimestamp64Milli(ts), value)) AS first_pt, max((toUnixTimestamp64Milli(ts), value)) AS last_pt,
       sumMapIf([value], [toUInt64(1)], metric IN ('naap_stream_output_fps', 'naap_stream_jitter_ratio')) AS exact,
       uniqExactStateIf(sid, sid != '') AS streams
FROM (SELECT ts, metric, orchestrator, instance, value, labels['stream_id'] AS sid,
             mapFilter((k, v) -> k != 'stream_id', labels) AS series
      FROM samples WHERE isFinite(value))
GROUP BY bucket, metric, orchestrator, instance, series;

CREATE MATERIALIZED VIEW IF NOT EXISTS rollup_1h_mv_v1 TO rollup_1h_v1 AS
SELECT toStartOfInterval(ts, INTERVAL 1 HOUR) AS bucket, metric, orchestrator, instance, series AS labels,
       count() AS n, sum(value) AS sum_v, min(value) AS min_v, max(value) AS max_v,
       min((toUnixTimestamp64Milli(ts), value)) AS first_pt, max((toUnixTimestamp64Milli(ts), value)) AS last_pt,
       sumMapIf([value], [toUInt64(1)], metric IN ('naap_stream_output_fps', 'naap_stream_jitter_ratio')) AS exact,
       uniqExactStateIf(sid, sid != '') AS streams
FROM (SELECT ts, metric, orchestrator, instance, value, labels['stream_id'] AS sid,
             mapFilter((k, v) -> k != 'stream_id', labels) AS series
      FROM samples WHERE isFinite(value))
GROUP BY bucket, metric, orchestrator, instance, series;

-- Backfill: the rows already in `samples` when this migration runs, through the views' own SELECT. Exact when no
-- writer inserts while it runs — true for every naap process, which applies migrations at start-up before it writes;
-- on a ClickHouse server shared by several processes, stop the writers while migrating (docs/metrics.md, "Rollups").
INSERT INTO rollup_1m_v1
SELECT toStartOfInterval(ts, INTERVAL 1 MINUTE) AS bucket, metric, orchestrator, instance, series AS labels,
       count() AS n, sum(value) AS sum_v, min(value) AS min_v, max(value) AS max_v,
       min((toUnixTimestamp64Milli(ts), value)) AS first_pt, max((toUnixTimestamp64Milli(ts), value)) AS last_pt,
       sumMapIf([value], [toUInt64(1)], metric IN ('naap_stream_output_fps', 'naap_stream_jitter_ratio')) AS exact,
       uniqExactStateIf(sid, sid != '') AS streams
FROM (SELECT ts, metric, orchestrator, instance, value, labels['stream_id'] AS sid,
             mapFilter((k, v) -> k != 'stream_id', labels) AS series
      FROM samples WHERE isFinite(value))
GROUP BY bucket, metric, orchestrator, instance, series;

INSERT INTO rollup_5m_v1
SELECT toStartOfInterval(ts, INTERVAL 5 MINUTE) AS bucket, metric, orchestrator, instance, series AS labels,
       count() AS n, sum(value) AS sum_v, min(value) AS min_v, max(value) AS max_v,
       min((toUnixTimestamp64Milli(ts), value)) AS first_pt, max((toUnixTimestamp64Milli(ts), value)) AS last_pt,
       sumMapIf([value], [toUInt64(1)], metric IN ('naap_stream_output_fps', 'naap_stream_jitter_ratio')) AS exact,
       uniqExactStateIf(sid, sid != '') AS streams
FROM (SELECT ts, metric, orchestrator, instance, value, labels['stream_id'] AS sid,
             mapFilter((k, v) -> k != 'stream_id', labels) AS series
      FROM samples WHERE isFinite(value))
GROUP BY bucket, metric, orchestrator, instance, series;

INSERT INTO rollup_1h_v1
SELECT toStartOfInterval(ts, INTERVAL 1 HOUR) AS bucket, metric, orchestrator, instance, series AS labels,
       count() AS n, sum(value) AS sum_v, min(value) AS min_v, max(value) AS max_v,
       min((toUnixTimestamp64Milli(ts), value)) AS first_pt, max((toUnixTimestamp64Milli(ts), value)) AS last_pt,
       sumMapIf([value], [toUInt64(1)], metric IN ('naap_stream_output_fps', 'naap_stream_jitter_ratio')) AS exact,
       uniqExactStateIf(sid, sid != '') AS streams
FROM (SELECT ts, metric, orchestrator, instance, value, labels['stream_id'] AS sid,
             mapFilter((k, v) -> k != 'stream_id', labels) AS series
      FROM samples WHERE isFinite(value))
GROUP BY bucket, metric, orchestrator, instance, series;
