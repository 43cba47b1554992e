"""The API's response bodies as typed msgspec structs: the OpenAPI schema is generated from them, so what the docs
say is what the routes send (tests/test_api_fuzz.py checks every response against it).

Field names follow one glossary across endpoints (docs/api.md, "Field names"): `orchestrator` is always the lowercase
eth address, `workflow` is "pipeline/model_id", `region` the lowercase declared region, `window_start`/`window_end`
epoch milliseconds of a half-open window and `time_window` the same window as an ISO 8601 interval, `samples` the
stored samples a figure was read from, `score` 0-100 with `score_lower`/`score_upper` its interval.

Fields typed `... | UnsetType` are left out of the JSON when the source has no such entry (the published score detail
of a metric carries only the fields that metric has); every other optional field is present, null when unknown.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from msgspec import UNSET, UnsetType


def _d(text: str) -> msgspec.Meta:
    return msgspec.Meta(description=text)


Ms = Annotated[int, _d("Epoch milliseconds, UTC.")]
TimeWindow = Annotated[str, _d("The window as an ISO 8601 interval, start/end in RFC 3339 UTC (end excluded).")]
Orchestrator = Annotated[str, _d("Orchestrator eth address, lowercase.")]
Region = Annotated[str | None, _d("Region the orchestrator's exporter declares, lowercase; null when it declares none.")]
Samples = Annotated[int, _d("Stored samples the figure was read from.")]


class _S(msgspec.Struct, kw_only=True):
    pass


# ------------------------------------------------------------------------------------------------ errors


class ErrorDetail(_S):
    message: Annotated[str, _d("What is wrong with this parameter.")]
    key: Annotated[str | None, _d("The parameter.")] = None
    source: Annotated[str | None, _d("Where it was given: query, path, body, header.")] = None


class ErrorBody(_S, omit_defaults=True):
    """Every error the API answers: a JSON object, never a traceback."""

    status: Annotated[int, _d("The HTTP status, repeated.")]
    message: Annotated[str, _d("A sentence saying what went wrong, naming the parameter when one is at fault.")]
    details: Annotated[list[ErrorDetail] | None, _d("Per-parameter problems (400 only).")] = None
    reason: Annotated[str | None, _d("A stable word for the refusal (sign-in and private routes; docs/api-auth.md).")] = None


class Page(_S):
    count: Annotated[int, _d("Items in this page.")]
    limit: Annotated[int, _d("Most items a page holds (the `limit` parameter).")]
    next_cursor: Annotated[str | None, _d("Pass as `cursor` for the next page; null on the last page.")]


# ------------------------------------------------------------------------------------------------ /v1/gpu/metrics


class FpsCompliance(_S):
    target: Annotated[float, _d("The workflow's output-FPS target of the SLA config.")]
    ok: Annotated[int, _d("5 s FPS windows at or above the target.")]
    samples: Samples
    value: Annotated[float | None, _d("ok / samples.")]


class FpsFigures(_S):
    p50: float | None
    p95: float | None
    min: float | None
    max: float | None
    avg: float | None
    samples: Samples
    compliance: FpsCompliance | None = None


class JitterFigures(_S):
    p50: float | None
    p95: float | None
    samples: Samples


class UtilizationFigures(_S):
    avg: float | None
    samples: Samples


class SeedMetrics(_S):
    """The seeds' sample response's `metrics`, one number each (null without data)."""

    output_fps: Annotated[float | None, _d("Median of the 5 s-window output FPS.")]
    prompt_to_first_frame_latency_ms: Annotated[float | None, _d("Median prompt-to-first-frame latency, ms (histogram).")]
    jitter_coefficient: Annotated[float | None, _d("Median σ(fps)/μ(fps) over 60 s.")]
    failure_rate_pct: Annotated[float | None, _d("Stream errors / streams started, percent.")]
    cuda_utilization_efficiency_pct: Annotated[float | None, _d("Mean CUE (achieved / peak FLOP/s), percent.")]
    cuda_utilization_efficiency_method: Annotated[str | None, _d("How CUE was measured: dcgm or proxy.")]
    cuda_utilization_efficiency_confidence: Annotated[str | None, _d("high (dcgm) or low (proxy).")]


class SeedSamples(_S):
    """Stored samples each of the seeds' metrics was read from."""

    output_fps: int
    prompt_to_first_frame_latency_ms: int
    jitter_coefficient: int
    failure_rate_pct: int
    cuda_utilization_efficiency_pct: int


class LatencyFigures(_S):
    p50_s: Annotated[float | None, _d("histogram_quantile(0.5), seconds.")]
    p95_s: Annotated[float | None, _d("histogram_quantile(0.95), seconds.")]
    observations: Annotated[float | None, _d("Increase of the +Inf bucket: events observed.")]
    samples: Samples


class RateFigures(_S):
    value: Annotated[float | None, _d("The rate; null without events.")]
    lower: Annotated[float | None, _d("Wilson 95 % lower bound.")]
    upper: Annotated[float | None, _d("Wilson 95 % upper bound.")]
    samples: Samples


class FailureFigures(RateFigures):
    started: float | None
    errors: float | None
    by_class: Annotated[dict[str, float], _d("Errors by failure class (timeout, model_error, ...).")]


class SwapFigures(RateFigures):
    swaps: float | None
    started: float | None


class AvailabilityFigures(RateFigures):
    scheduled: int
    successful: int


class RestartFigures(_S):
    per_stream_hour: float | None
    restarts: float | None
    stream_hours: float | None
    samples: Samples


class BandwidthFigures(_S):
    down_mbps: Annotated[float | None, _d("Gateway to orchestrator, Mbit/s.")]
    up_mbps: Annotated[float | None, _d("Orchestrator to gateway, Mbit/s.")]
    samples: Samples


class StreamFigures(_S):
    started: float | None
    stream_seconds: float | None
    inference_minutes: float | None
    avg_concurrent: Annotated[float | None, _d("stream_seconds / the seconds of the window up to min(its end, now).")]
    samples: Samples


class CapacityFigures(_S):
    value: Annotated[float | None, _d("In-use / (in-use + idle) container minutes.")]
    in_use_minutes: float | None
    idle_minutes: float | None
    samples: Samples


class GaugeFigures(_S):
    avg: float | None
    min: float | None
    max: float | None
    samples: Samples


class CueFigures(GaugeFigures):
    method: Annotated[str, _d("dcgm (measured) or proxy (estimated).")]
    confidence: str


class EnergyFigures(_S):
    joules: float | None
    avg_watts: float | None
    samples: Samples


class HostFigures(_S):
    gauges: Annotated[dict[str, GaugeFigures], _d("cpus, load1, memory_total_bytes, memory_available_bytes.")]
    rates: Annotated[dict[str, float | None], _d("cpu_busy_ratio and disk / network bytes per second.")]
    filesystems: Annotated[dict[str, dict[str, GaugeFigures]], _d("By mountpoint: size_bytes, avail_bytes.")]


class GpuCatalog(_S):
    """The rest of the catalog (docs/metrics.md) for this GPU and workflow, each with its sample count. Metrics
    without a GPU or workflow are the orchestrator's (availability, swap_rate, host) or its workflow's
    (capacity_rate)."""

    p2ff: LatencyFigures | None = None
    startup: Annotated[dict[str, LatencyFigures], _d("By startup kind: cold, warm, unknown.")] = {}
    failure_rate: FailureFigures | None = None
    restarts: RestartFigures | None = None
    bandwidth: BandwidthFigures | None = None
    streams: StreamFigures | None = None
    missing_capacity: Annotated[float | None, _d("Requests refused for lack of room (a lower bound).")] = None
    cue: list[CueFigures] = []
    gpu: Annotated[dict[str, GaugeFigures], _d("NVML gauges of the whole GPU by name.")] = {}
    energy: EnergyFigures | None = None
    availability: AvailabilityFigures | None = None
    swap_rate: SwapFigures | None = None
    capacity_rate: CapacityFigures | None = None
    host: HostFigures | None = None


class GpuRow(_S):
    o_wallet: Annotated[str, _d("The seeds' name for `orchestrator` (the same address).")]
    orchestrator: Orchestrator
    orchestrator_agent_version: Annotated[str | None, _d("Version of the naap exporter on the orchestrator.")]
    livepeer_version: Annotated[str | None, _d("go-livepeer's version, when the exporter relays it.")]
    gpu_id: Annotated[str, _d("GPU UUID as NVML reports it (or a MIG instance's).")]
    gpu_model: str | None
    vram_bytes: int | None
    cuda_version: str | None
    region: Region
    workflow: Annotated[str, _d("pipeline/model_id.")]
    pipeline: str
    model_id: str
    time_window: TimeWindow
    streams: Annotated[int, _d("Distinct streams seen.")]
    output_fps: FpsFigures | None
    jitter_coefficient: JitterFigures | None
    gpu_utilization: UtilizationFigures | None
    metrics: SeedMetrics
    samples: SeedSamples
    catalog: GpuCatalog


class GpuMetricsResponse(Page):
    time_range: Annotated[str, _d("As asked.")]
    window_start: Ms
    window_end: Ms
    start: Annotated[int, _d("= window_start (kept for existing clients).")]
    end: Annotated[int, _d("= window_end (kept for existing clients).")]
    time_window: TimeWindow
    closed: Annotated[bool, _d("The window ended long enough ago that its answer can no longer change.")]
    source: Annotated[str, _d("What answered: raw, rollup_1m, rollup_5m or rollup_1h.")]
    gpus: list[GpuRow]


# ------------------------------------------------------------------------------------------------ scores


class GroupDetail(_S):
    weight: float
    metrics: list[str]
    value: Annotated[float | None, _d("Weighted mean of the group's ok metrics, 0-1; null when none is ok.")]
    lower: float | None
    upper: float | None


class CueMethodDetail(_S):
    samples: int
    at_target: int
    share_at_target: float | None
    mean: float | None
    lower: float | None
    upper: float | None


class MetricDetail(_S):
    """One metric of a published v1 score (docs/scoring.md). Which fields are present depends on the metric."""

    group: str | UnsetType = UNSET
    scored: bool | UnsetType = UNSET
    status: Annotated[str | UnsetType, _d("ok, no_events, insufficient_samples, missing, report_only, no_source.")] = UNSET
    reason: str | UnsetType = UNSET
    events: float | None | UnsetType = UNSET
    good: float | None | UnsetType = UNSET
    value: Annotated[float | None | UnsetType, _d("good / events (a subscore for failure_rate), 0-1.")] = UNSET
    lower: float | None | UnsetType = UNSET
    upper: float | None | UnsetType = UNSET
    mean: float | None | UnsetType = UNSET
    min: float | None | UnsetType = UNSET
    max: float | None | UnsetType = UNSET
    p50_s: float | None | UnsetType = UNSET
    p95_s: float | None | UnsetType = UNSET
    failures: float | None | UnsetType = UNSET
    attempts: float | None | UnsetType = UNSET
    streams_started: float | None | UnsetType = UNSET
    by_class: dict[str, float] | UnsetType = UNSET
    rate: float | None | UnsetType = UNSET
    rate_lower: float | None | UnsetType = UNSET
    rate_upper: float | None | UnsetType = UNSET
    swaps: float | None | UnsetType = UNSET
    target: float | None | UnsetType = UNSET
    by_method: dict[str, CueMethodDetail] | UnsetType = UNSET
    restarts: float | None | UnsetType = UNSET
    streaming: bool | UnsetType = UNSET
    # score v2 and later (docs/scoring.md "v2: probes"): where a figure came from, and the other one beside it
    source: Annotated[str | UnsetType, _d("v2+: probe (the load-test prober) or self-reported (the exporter).")] = UNSET
    p50_ms: float | None | UnsetType = UNSET
    p95_ms: float | None | UnsetType = UNSET
    unreached: Annotated[float | None | UnsetType, _d("v2.1+ failure_rate: probes failed by the orchestrator "
                                                      "before its info call answered (counted in attempts).")] = UNSET
    by_trigger: dict[str, float] | UnsetType = UNSET
    self_reported: Annotated[dict[str, Any] | UnsetType, _d("v2+: the exporter's figure, where the probes' is used.")] = UNSET
    probe: Annotated[dict[str, Any] | UnsetType, _d("v2+: the probes' figure, where the self-report is used.")] = UNSET
    flagged: Annotated[bool | None | UnsetType, _d("v2+: probe and self-report disagree past the cross-check's "
                                                   "tolerances (null: one of them is missing).")] = UNSET


class ScoreEntry(_S):
    """One published score: an orchestrator's own (workflow "") or one of its workflows', for one window."""

    orchestrator: Orchestrator
    workflow: Annotated[str, _d("pipeline/model_id; \"\" for the orchestrator's own score over every workflow.")]
    region: Region
    period: str
    window_start: Ms
    window_end: Ms
    time_window: TimeWindow
    as_of: Annotated[int | None, _d("Epoch ms: the score counts the rows that had arrived by then (replayable).")]
    config_version: str
    config_hash: Annotated[str, _d("sha256 of the SLA config's canonical JSON.")]
    scoring_version: Annotated[str, _d("The scoring engine: v1 (groups, metrics) or v0 (subscores).")]
    score: Annotated[float | None, _d("0-100; null when insufficient_data.")]
    score_lower: Annotated[float | None, _d("The score with every rate at its Wilson lower bound (rankings use it).")]
    score_upper: float | None
    coverage: Annotated[float | None, _d("Observed share of the window's base windows.")]
    status: Annotated[str, _d("ok or insufficient_data.")]
    insufficient_data: bool
    reasons: Annotated[list[str], _d("Why the score is insufficient_data (empty when ok).")]
    groups: Annotated[dict[str, GroupDetail] | UnsetType, _d("v1 subscores: availability, latency, reliability, "
                                                             "consistency, efficiency.")] = UNSET  # fmt: skip
    metrics: dict[str, MetricDetail] | UnsetType = UNSET
    observed_windows: int | UnsetType = UNSET
    windows: int | UnsetType = UNSET
    subscores: Annotated[dict[str, dict[str, Any]] | UnsetType, _d("v0 scores only.")] = UNSET


class ComplianceResponse(Page):
    period: str
    config_version: str
    config_hash: str
    scoring_version: str
    window_start: Annotated[int | None, _d("Epoch ms; null when nothing is published yet.")]
    window_end: int | None
    time_window: str | None
    closed: Annotated[bool, _d("A window asked for by window_end that is published: immutable.")]
    orchestrators: list[ScoreEntry]


class HistoryResponse(Page):
    period: str
    config_version: str
    config_hash: str
    scoring_version: str
    window_start: Annotated[Ms, _d("`from`: the first window end included.")]
    window_end: Annotated[Ms, _d("`to`: the last window end included.")]
    closed: Annotated[bool, _d("Every window up to `to` is published: the answer is immutable.")]
    scores: list[ScoreEntry]


class LeaderboardEntry(_S):
    rank: Annotated[int | None, _d("1 = best score_lower; null for insufficient_data (listed last).")]
    orchestrator: Orchestrator
    workflow: str
    region: Region
    score: float | None
    score_lower: float | None
    score_upper: float | None
    coverage: float | None
    status: str
    insufficient_data: bool
    groups: Annotated[dict[str, float | None], _d("Each group's value, 0-1.")]


class LeaderboardResponse(Page):
    period: str
    workflow: Annotated[str, _d("As filtered; \"\" ranks the orchestrators' own scores.")]
    region: str | None
    config_version: str
    config_hash: str
    window_start: int | None
    window_end: int | None
    time_window: str | None
    closed: bool
    entries: list[LeaderboardEntry]


class Selection(_S):
    orchestrator: Orchestrator
    workflow: str
    region: Region
    score: float | None
    score_lower: float | None
    score_upper: float | None
    price_per_unit: Annotated[float | None, _d("Latest price the prober was quoted for the model (wei per unit).")]
    warm: bool | None
    capacity_idle: int | None
    why: Annotated[list[str], _d("Why it was chosen and ranked where it is.")]


class SelectResponse(Page):
    workflow: str
    region: str | None
    min_score: float | None
    max_price: float | None
    period: str
    window_end: int | None
    considered: Annotated[int, _d("Orchestrators with a published score for the workflow.")]
    excluded: Annotated[dict[str, int], _d("Orchestrators left out, by reason.")]
    orchestrators: list[Selection]


# ------------------------------------------------------------------------------------------------ network


class DemandRow(_S):
    window_start: Ms
    window_end: Ms
    time_window: TimeWindow
    streams_started: Annotated[float | None, _d("Σ increase(naap_streams_started_total).")]
    stream_seconds: float | None
    inference_minutes: float | None
    inference_minutes_by_gpu_model: dict[str, float]
    avg_concurrent_streams: Annotated[float | None, _d(
        "stream_seconds / the seconds of the interval the data covers: window_start to min(window_end, now). An "
        "interval still open (the current hour) is averaged over the time that has passed, not its whole length; "
        "null when it has not started.")]
    capacity_rate: Annotated[float | None, _d("In-use / (in-use + idle) runner container minutes.")]
    capacity_in_use_minutes: float | None
    capacity_idle_minutes: float | None
    missing_capacity: Annotated[float | None, _d("Requests refused for lack of room (a lower bound).")]
    stake_lpt: Annotated[float | None, _d("Bonded stake at the step's end (on-chain discovery).")]
    fees_eth: Annotated[float | None, _d("Always null: no source exposes fees yet.")]
    samples: Samples


class DemandResponse(Page):
    interval: Annotated[str, _d("hour, day or week.")]
    gateway: str | None
    region: str | None
    workflow: str | None
    window_start: Ms
    window_end: Ms
    time_window: TimeWindow
    closed: bool
    source: str
    notes: list[str]
    rows: list[DemandRow]


class Capability(_S):
    orchestrator: Orchestrator
    workflow: str
    pipeline: str
    model_id: str
    region: Region
    warm: Annotated[bool | None, _d("The model is loaded: from the prober's last probe, else a runner container "
                                     "exists for it (idle or in use).")]  # fmt: skip
    capacity_idle: Annotated[int | None, _d("Idle runner containers (latest gauge).")]
    capacity_in_use: int | None
    gpu_models: Annotated[dict[str, int], _d("GPUs of the orchestrator by model.")]
    price_per_unit: Annotated[float | None, _d("The price the prober was last quoted (wei per unit), if probed.")]
    last_seen: Annotated[int | None, _d("Epoch ms of the latest sample or probe behind this row.")]
    sources: Annotated[list[str], _d("exporter (go-livepeer gauges relayed), prober.")]


class CapabilitiesResponse(Page):
    time_range: str
    window_start: Ms
    window_end: Ms
    capabilities: list[Capability]


class RegionEntry(_S):
    region: Annotated[str, _d("Lowercase.")]
    orchestrators: Annotated[int, _d("Orchestrators declaring it in the window.")]


class RegionsResponse(Page):
    time_range: str
    regions: list[RegionEntry]


# ------------------------------------------------------------------------------------------------ private


class RawSample(_S):
    ts: Ms
    metric: str
    labels: dict[str, str]
    value: float | None
    instance: str


class SamplesResponse(Page):
    orchestrator: Orchestrator
    window_start: Ms
    window_end: Ms
    samples: list[RawSample]


class GpuDetail(_S):
    gpu_id: str
    gpu_instance: Annotated[str, _d("MIG instance; \"\" for the whole GPU.")]
    gpu_model: str | None
    gpu_index: str | None
    driver_version: str | None
    cuda_version: str | None
    vram_bytes: int | None
    mig_uuid: str | None
    gauges: dict[str, GaugeFigures]
    energy: EnergyFigures | None
    cue: list[CueFigures]
    workflows: Annotated[list[str], _d("Workflows whose streams ran on it.")]


class GpusResponse(Page):
    orchestrator: Orchestrator
    window_start: Ms
    window_end: Ms
    time_window: str
    gpus: list[GpuDetail]


# ------------------------------------------------------------------------------------------------ Explorer


class AggregatedStats(_S):
    success_rate: Annotated[float, _d("Our reliability group (failure-rate subscore), 0-1.")]
    round_trip_score: Annotated[float, _d("Our latency group (P2FF and startup within target), 0-1.")]
    score: Annotated[float, _d("Our score / 100.")]


class TopAiScore(_S, omit_defaults=True):
    """The orchestrator's best workflow, or {} when it has none."""

    region: str | None = None
    orchestrator: str | None = None
    value: Annotated[float | None, _d("Score / 100.")] = None
    model: str | None = None
    pipeline: str | None = None


class ExplorerPipeline(_S):
    id: Annotated[str, _d("The pipeline, e.g. live-video-to-video.")]
    models: list[str]
    regions: list[str]


class ExplorerPipelines(_S):
    pipelines: list[ExplorerPipeline]


class ExplorerRegion(_S):
    id: Annotated[str, _d("Region id: our lowercase region in upper case (GLOBAL: no region declared).")]
    name: str
    type: Annotated[str, _d("Always \"ai\".")]


class ExplorerRegions(_S):
    regions: list[ExplorerRegion]


# ------------------------------------------------------------------------------------------------ /v1/datasets


class DatasetSource(_S):
    name: Annotated[str, _d("What the source is.")]
    url: Annotated[str, _d("Where it is published (pinned to a commit where it is a repository).")]
    path: str
    commit: str
    licence: Annotated[str, _d("SPDX identifier of the source's licence.")]
    sha256: Annotated[str, _d("sha256 of the source file as fetched.")]


class DatasetGenerator(_S):
    name: Annotated[str, _d("The program that generated the items (prober.datasetgen).")]
    version: str
    seed: Annotated[str, _d("Seed of the random items (\"\" when none).")]


class DatasetItem(_S):
    id: Annotated[str, _d("First 16 hex of sha256 of the item's canonical JSON (without id).")]
    kind: Annotated[str, _d("good, average, edge or bad.")]
    workflow: str
    model_id: str
    params: Annotated[Any, _d("The runner parameters sent with the stream (JSON, as the runner takes them).")]
    schedule: Annotated[list[dict[str, Any]], _d("Parameter changes during the stream: [{at_s, set}].")]
    expect: Annotated[dict[str, Any], _d("What a correct orchestrator does: {accepted: bool, ...}.")]


class DatasetEntry(_S):
    ref: Annotated[str, _d("workflow/id@version: what a probe result names.")]
    workflow: Annotated[str, _d("The pipeline the dataset is for, e.g. live-video-to-video.")]
    id: str
    version: Annotated[str, _d("Semantic version; a published version never changes.")]
    type: Annotated[str, _d("good (the runners' published defaults), random (seeded real-world-like and edge prompts) "
                            "or bad (inputs that must be refused; never counted against an orchestrator).")]
    description: str
    licence: Annotated[str, _d("SPDX identifier of the dataset's licence.")]
    schema_version: int
    items_sha256: Annotated[str, _d("sha256 of items.jsonl.")]
    counts: Annotated[dict[str, int], _d("Items by kind.")]
    generator: DatasetGenerator
    sources: list[DatasetSource]
    items: Annotated[list[DatasetItem] | UnsetType, _d("The items (only with items=true).")] = UNSET


class DatasetsResponse(Page):
    datasets: list[DatasetEntry]


# ------------------------------------------------------------------------------------------------ /v1/scrapes/failures


class ScrapeFailure(_S):
    ts: Annotated[Ms, _d("When the scrape ran.")]
    orchestrator: Orchestrator
    instance: Annotated[str, _d("The exporter instance scraped (host:port).")]
    error_class: Annotated[str, _d("connect, timeout, http_5xx, identity, parse, ... (docs/scraper.md).")]
    duration_s: Annotated[float, _d("How long the scrape took, seconds.")]
    void: Annotated[int, _d("1: the scraper's own fault, not counted against availability; else 0.")]


class ScrapeFailuresResponse(Page):
    orchestrator: Annotated[str | None, _d("The orchestrator asked for; null for every orchestrator.")]
    time_range: Annotated[str, _d("As asked.")]
    window_start: Ms
    window_end: Ms
    time_window: TimeWindow
    scheduled: Annotated[int, _d("Scrapes run in the window.")]
    failed: Annotated[int, _d("Of those, failed.")]
    by_class: Annotated[dict[str, int], _d("Failed scrapes by error class.")]
    failures: Annotated[list[ScrapeFailure], _d("The failures of this page, newest first.")]


# ------------------------------------------------------------------------------------------------ /v1/sla/targets


class SlaTargetsResponse(_S):
    config_version: str
    config_hash: Annotated[str, _d("sha256 of the config's canonical JSON.")]
    scoring_version: str
    periods: Annotated[dict[str, dict[str, Any]], _d("Per period: seconds, step_s and (v1) min_coverage.")]
    weights: Annotated[dict[str, float], _d("Group weights of the score.")]
    workflows: Annotated[list[dict[str, Any]], _d("Per workflow (`workflow`: pipeline/model_id, a model_id or "
                                                  "default): output_fps and (v1) p2ff_s, startup_s bounds.")]
    config: Annotated[dict[str, Any], _d("The whole config, canonical.")]
    source: Annotated[str, _d("Where the configs live.")]


# ------------------------------------------------------------------------------------------------ /v1/discovery


class HttpSdGroup(_S):
    """One Prometheus http_sd target group (https://prometheus.io/docs/prometheus/latest/http_sd/)."""

    targets: Annotated[list[str], _d("host:port of the target.")]
    labels: Annotated[dict[str, str], _d("__scheme__, __metrics_path__, orchestrator, naap_source, ...")]


class DiscoveredTarget(_S):
    url: str
    orchestrator: Annotated[str, _d("Orchestrator eth address, lowercase (\"\" when unknown).")]
    source: Annotated[str, _d("chain, config or file.")]


class RefusedTarget(DiscoveredTarget):
    reason: Annotated[str, _d("loopback, private, no_service_uri, malformed_service_uri, inactive, ...")]


class DiscoveryTargetsResponse(_S):
    walks: Annotated[int, _d("Discovery walks since start.")]
    failures: Annotated[int, _d("Walks that failed (the last good targets stay in use).")]
    source_failures: Annotated[dict[str, int], _d("Failed reads by source kind.")]
    snapshot_id: Annotated[str | None, _d("The latest walk's snapshot; null before the first.")]
    accepted: list[DiscoveredTarget]
    refused: list[RefusedTarget]
    ts_ms: Annotated[int | UnsetType, _d("When the latest walk ended (epoch ms).")] = UNSET
    blocks: Annotated[dict[str, int] | UnsetType, _d("Chain block each chain source was read at.")] = UNSET
    failed_sources: Annotated[list[str] | UnsetType, _d("Source kinds that failed in the latest walk.")] = UNSET


# ------------------------------------------------------------------------------------------------ /v1/prober


class ProberResponse(_S):
    """The prober's status (prober/status.py) plus what the warehouse stores; further status fields may appear."""

    enabled: Annotated[bool, _d("Whether this API process runs the prober.")]
    running: bool
    alg: Annotated[str, _d("Signature algorithm of the results: ed25519.")]
    public_key: Annotated[str | None, _d("The prober's ed25519 public key (hex); null when unknown.")]
    period: Annotated[dict[str, Any] | None, _d("The current period: id, start, end, seed and its derivation.")]
    schedule: Annotated[dict[str, Any] | None, _d("The schedule's fairness facts.")]
    stored_periods: Annotated[list[dict[str, Any]], _d("The latest periods stored in the warehouse.")]
    seed_domain: Annotated[str, _d("The domain string the period seed is derived with.")]
    next_seed_from: Annotated[dict[str, Any] | UnsetType, _d("What the next period's seed chains from.")] = UNSET
    passes: Annotated[int | UnsetType, _d("Probe passes run since start.")] = UNSET
    pass_errors: Annotated[int | UnsetType, _d("Passes that failed.")] = UNSET
    last_pass: Annotated[dict[str, Any] | None | UnsetType, _d("The last pass's summary.")] = UNSET
    last_pass_ended_ms: Annotated[int | None | UnsetType, _d("When the last pass ended (epoch ms).")] = UNSET


class ProbeEnvelope(_S):
    alg: str
    public_key: str
    result: Annotated[dict[str, Any], _d("The probe result.")]
    signature: Annotated[str, _d("ed25519 signature (docs/prober.md#signatures).")]
    result_json: Annotated[str | UnsetType, _d("The exact canonical JSON text that was signed.")] = UNSET


class ProberResultsResponse(_S):
    period_id: Annotated[str | None, _d("The period; null when none is stored.")]
    count: int
    results: list[ProbeEnvelope]


class CrosscheckWindow(_S):
    start_ms: Ms
    end_ms: Ms
    seconds: int


class CrosscheckResponse(_S):
    window: CrosscheckWindow
    thresholds: Annotated[dict[str, Any], _d("The tolerances a disagreement is flagged past.")]
    count: Annotated[int, _d("Orchestrator × model pairs compared.")]
    flagged: Annotated[int, _d("Pairs with at least one flag.")]
    pairs: Annotated[list[dict[str, Any]], _d("Per orchestrator × model: probe figures, self-report, flags.")]
