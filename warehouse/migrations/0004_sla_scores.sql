-- Published SLA scores. Each row names the config version and hash it was computed with, its window
-- and its input counts, so `replay` can recompute it from the raw log.
CREATE TABLE IF NOT EXISTS sla_scores
(
    computed_ts    DateTime64(3, 'UTC'),
    window_start   DateTime64(3, 'UTC'),
    window_end     DateTime64(3, 'UTC'),
    period         LowCardinality(String),
    orchestrator   LowCardinality(String),
    config_version LowCardinality(String),
    config_hash    String,
    score          Nullable(Float64),
    status         LowCardinality(String),
    detail         String CODEC(ZSTD(3))
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(window_end)
ORDER BY (period, orchestrator, window_end);
