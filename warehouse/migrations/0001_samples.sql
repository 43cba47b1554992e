-- The raw sample log: append-only, the source of truth every metric and score is derived from.
-- One row per sample of one scrape. `orchestrator` and `instance` come from the target (discovery),
-- never from the exposition, so an exporter cannot claim to be someone else.
CREATE TABLE IF NOT EXISTS samples
(
    ts           DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
    orchestrator LowCardinality(String),
    instance     LowCardinality(String),
    metric       LowCardinality(String),
    labels       Map(LowCardinality(String), String) CODEC(ZSTD(3)),
    value        Float64 CODEC(Gorilla, ZSTD(1))
)
ENGINE = MergeTree
PARTITION BY toDate(ts)
ORDER BY (metric, orchestrator, instance, ts)
SETTINGS index_granularity = 8192;
