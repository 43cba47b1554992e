-- Every discovery walk: who was found, where their metrics are, and whether the target was accepted.
-- `snapshot_id` groups the rows of one walk; `status` is accepted|refused with `reason` for refusals.
CREATE TABLE IF NOT EXISTS discovery_snapshots
(
    ts           DateTime64(3, 'UTC'),
    snapshot_id  String,
    source       LowCardinality(String),
    block_number UInt64,
    orchestrator LowCardinality(String),
    service_uri  String,
    metrics_url  String,
    stake        Float64,
    active       UInt8,
    status       LowCardinality(String),
    reason       String
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (source, ts, orchestrator);
