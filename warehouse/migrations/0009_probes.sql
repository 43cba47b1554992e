-- The load-test gateway's results (docs/prober.md): one row per probe in probe_runs, its per-second output in
-- probe_samples. Written through the one writer (warehouse/writer.py) with deduplication tokens, so a retried
-- insert is stored once (these tables keep a deduplication window).
--
-- probe_runs: one orchestrator × one advertised model × one dataset item (or one orchestrator whose info call
-- failed: model_id '' and item_id ''). `result_json` is the canonical JSON of the result exactly as signed
-- (prober/canonical.py), `signature` the prober's ed25519 signature over it (hex) and `prober_key` the public key
-- (hex): anyone can re-verify a stored row, and a period's results digest (the next period's seed) is recomputed
-- from `result_json`. The other columns are copies of the result's fields for queries.
--   times: started_at / ended_at wall clock (UTC); every *_ms duration was measured on the prober's monotonic clock.
--   outcome ok | failed | skipped; error_class (prober/errors.py, '' when ok); fault none | orchestrator | prober |
--   excluded — only 'orchestrator' ever counts against an orchestrator.
CREATE TABLE IF NOT EXISTS probe_runs
(
    probe_id          String,
    period_id         LowCardinality(String),
    period_seed       String,
    started_at        DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
    ended_at          DateTime64(3, 'UTC'),
    orchestrator      LowCardinality(String),
    target            String,
    service_uri       String,
    region            LowCardinality(String),
    workflow          LowCardinality(String),
    model_id          LowCardinality(String),
    dataset_id        LowCardinality(String),
    dataset_version   LowCardinality(String),
    item_id           String,
    item_kind         LowCardinality(String),
    outcome           LowCardinality(String),
    error_class       LowCardinality(String),
    fault             LowCardinality(String),
    swap_trigger      LowCardinality(String),
    expectation_met   Nullable(UInt8),
    message           String,
    capacity_idle     Nullable(Int32),
    capacity_in_use   Nullable(Int32),
    warm              Nullable(UInt8),
    price_per_unit    Nullable(Float64),
    startup_ms        Nullable(Float64),
    first_frame_ms    Nullable(Float64),
    playable_ms       Nullable(Float64),
    p2ff_ms           Nullable(Float64),
    p2ff_confirmed    Nullable(UInt8),
    e2e_p50_ms        Nullable(Float64),
    e2e_p95_ms        Nullable(Float64),
    e2e_samples       UInt32,
    output_fps        Nullable(Float64),
    input_fps         Nullable(Float64),
    jitter            Nullable(Float64),
    frame_interval_cv Nullable(Float64),
    frames_in         UInt32,
    frames_out        UInt32,
    bytes_in          UInt64,
    bytes_out         UInt64,
    restart_events    UInt32,
    error_events      UInt32,
    duration_ms       Nullable(Float64),
    loop_lag_max_ms   Nullable(Float64),
    prober_version    LowCardinality(String),
    result_json       String CODEC(ZSTD(3)),
    signature         String,
    prober_key        LowCardinality(String),
    ingested_at       DateTime64(3, 'UTC') DEFAULT now64(3) CODEC(DoubleDelta, ZSTD(1))
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(started_at)
ORDER BY (orchestrator, workflow, model_id, started_at, probe_id)
SETTINGS non_replicated_deduplication_window = 10000;

-- probe_samples: second k of a probe's output by media time (output frames whose PTS lies k…k+1 s after the first
-- input frame's PTS): frames, fps, bytes, median E2E latency of those frames (NULL when none was matched).
CREATE TABLE IF NOT EXISTS probe_samples
(
    probe_id     String,
    started_at   DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
    orchestrator LowCardinality(String),
    model_id     LowCardinality(String),
    second       UInt32,
    frames       UInt32,
    fps          Float64,
    bytes        UInt64,
    e2e_p50_ms   Nullable(Float64),
    ingested_at  DateTime64(3, 'UTC') DEFAULT now64(3) CODEC(DoubleDelta, ZSTD(1))
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(started_at)
ORDER BY (orchestrator, model_id, started_at, probe_id, second)
SETTINGS non_replicated_deduplication_window = 10000;
