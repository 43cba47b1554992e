-- SLA score v1 (docs/scoring.md).
--
-- score_inputs_v1: every base window (the config's base_window_s, 60 s) the scorer reduces the raw log to additive
-- counts per (orchestrator, workflow), from the rows that had arrived by `as_of`. A score is the sum of the inputs
-- of its window's base windows, so 7 days are as cheap to score and replay as 5 minutes. Rows are written once per
-- key; should a key be written twice (a retry that was not a duplicate block), readers take the first computed.
-- workflow = '' is the orchestrator's own row: scrape availability and the orchestrator-wide counters. A row with
-- orchestrator = '' marks the window as computed (also when nobody had data in it).
CREATE TABLE IF NOT EXISTS score_inputs_v1
(
    window_start   DateTime64(3, 'UTC'),
    window_s       UInt32,
    orchestrator   LowCardinality(String),
    workflow       LowCardinality(String),
    config_version LowCardinality(String),
    config_hash    String,
    computed_ts    DateTime64(3, 'UTC'),
    as_of          DateTime64(3, 'UTC'),
    -- availability (orchestrator row): answerable scrape slots and the successful ones
    scheduled      UInt32,
    successful     UInt32,
    -- naap_streams_active samples (the runner reports through the SDK), their sum and largest value
    active_n       UInt32,
    active_sum     Float64,
    active_max     Float64,
    -- output FPS: 5 s window values seen, those at or above the workflow's target, and their sum / min / max
    fps_n          UInt32,
    fps_ok         UInt32,
    fps_sum        Float64,
    fps_min        Float64,
    fps_max        Float64,
    -- jitter coefficient values seen and those at or below jitter_max
    jitter_n       UInt32,
    jitter_ok      UInt32,
    jitter_sum     Float64,
    -- histogram increases by upper bound (le; +Inf as inf): prompt-to-first-frame, and startup (not restarts)
    p2ff_buckets    Map(Float64, Float64),
    startup_buckets Map(Float64, Float64),
    -- counter increases: streams started, errors by failure class, pipeline restarts, swaps (orchestrator row),
    -- bytes received / transmitted, frames out
    started        Float64,
    errors         Map(LowCardinality(String), Float64),
    restarts       Float64,
    swaps          Float64,
    rx_bytes       Float64,
    tx_bytes       Float64,
    frames_out     Float64,
    -- CUE values seen by method, those at or above cue_target, and their sum (report-only)
    cue_n          Map(LowCardinality(String), UInt32),
    cue_ok         Map(LowCardinality(String), UInt32),
    cue_sum        Map(LowCardinality(String), Float64),
    -- the families of the metric sources the orchestrator exposed in the window (missing data never pays)
    families       Array(LowCardinality(String))
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(window_start)
ORDER BY (config_version, orchestrator, workflow, window_start)
SETTINGS non_replicated_deduplication_window = 10000;

-- Scores are published per (orchestrator, workflow) as well as per orchestrator (workflow = ''), with the bounds
-- of the score computed from the rates' Wilson intervals and the observed share of the window.
ALTER TABLE sla_scores ADD COLUMN IF NOT EXISTS workflow LowCardinality(String) DEFAULT '';
ALTER TABLE sla_scores ADD COLUMN IF NOT EXISTS score_lower Nullable(Float64);
ALTER TABLE sla_scores ADD COLUMN IF NOT EXISTS score_upper Nullable(Float64);
ALTER TABLE sla_scores ADD COLUMN IF NOT EXISTS coverage Nullable(Float64);
