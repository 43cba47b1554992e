-- One row per scheduled scrape attempt, successful or not: availability is derived from these.
CREATE TABLE IF NOT EXISTS scrapes
(
    ts           DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
    scheduled_ts DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
    target       String,
    orchestrator LowCardinality(String),
    instance     LowCardinality(String),
    up           UInt8,
    duration_s   Float32,
    bytes        UInt64,
    samples      UInt32,
    error_class  LowCardinality(String),
    error        String CODEC(ZSTD(3)),
    scraper      LowCardinality(String),
    shard        LowCardinality(String)
)
ENGINE = MergeTree
PARTITION BY toDate(ts)
ORDER BY (orchestrator, instance, ts);
