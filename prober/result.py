"""What one probe produced: a ProbeResult (one row of `probe_runs`) and its ProbeSamples (rows of
`probe_samples`). `to_dict()` is the canonical form that is signed and stored: keys sorted, floats rounded
to 3 decimals, no NaN (None instead).

Units: `*_ms` milliseconds on the prober's monotonic clock (differences only, never wall time); `*_at_ms`
wall-clock milliseconds since the epoch (UTC); fps frames per second; bytes bytes; prices wei.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class ProbeSample:
    """One second of output, by media time: second k holds output frames whose PTS is k…k+1 s after the first
    input frame's PTS. `frames` output frames in it (so `fps` = frames / 1 s), `bytes` output bytes (each
    segment's bytes split evenly over its frames), `e2e_p50_ms` median end-to-end latency of those frames
    (None when none could be matched to an input frame)."""

    second: int
    frames: int
    fps: float
    bytes: int
    e2e_p50_ms: float | None


@dataclass
class ProbeResult:
    """One probe: one orchestrator × one model × one dataset item. Always produced, whatever happened.

    Identity: `probe_id` (random), `period_id` (the schedule period it ran in, set by the pass), `orchestrator` (lowercase address from discovery, "" unknown),
    `reported_address` (what the orchestrator's info said), `target` (gRPC host:port), `service_uri`,
    `region`, `workflow`, `model_id`, `dataset` ("<id>@<version>"), `item_id`, `item_kind`.
    Verdict: `outcome` ok | failed | skipped; `error_class` (prober/errors.py, None when ok); `fault` none |
    orchestrator | prober | excluded; `message`; `swap_trigger` (what a production gateway would have swapped
    on, or None); `expectation_met` (bad items: the refusal was seen; None for other kinds).
    Offer: `capacity_idle`, `capacity_in_use`, `warm`, `runner_version`, `price_per_unit` (wei),
    `pixels_per_unit`, `gpus` ([{"name","memory_total"}]), `cert_sha256`.
    Timings (ms from the start request): `startup_ms` first output byte; `first_frame_ms` first decoded output
    frame; `playable_ms` third output segment. `p2ff_ms` prompt change written → first visibly changed output
    frame; `p2ff_confirmed` a status event reported the new params hash; `params_confirm_ms` when.
    Stream: `e2e_p50_ms`/`e2e_p95_ms` (per-frame input sent → same-PTS output received, nearest-rank
    quantiles over `e2e_samples` frames), `output_fps` (distinct output frames over their PTS span),
    `jitter` (σ/μ of per-second output fps over whole seconds), `frame_interval_cv` (σ/μ of consecutive
    output PTS intervals), `input_fps`, `frames_in`, `frames_out`, `frames_matched`, `segments_in`,
    `segments_out`, `bytes_in` (sent: input + control), `bytes_out` (received: output + events).
    Runner: `status_events`, `error_events`, `restart_events`, `last_state`, `runner_errors` (first 3 messages).
    Trickle: `trickle_jumps` (470s), `read_errors`. The prober: `loop_lag_max_ms`, `duration_ms`.
    """

    probe_id: str
    started_at_ms: int
    period_id: str = ""
    orchestrator: str = ""
    target: str = ""
    service_uri: str = ""
    region: str = ""
    workflow: str = "live-video-to-video"
    model_id: str = ""
    dataset: str = ""
    item_id: str = ""
    item_kind: str = ""
    prober_version: str = ""
    schema_version: int = SCHEMA_VERSION
    ended_at_ms: int = 0
    duration_ms: float | None = None
    outcome: str = "failed"
    error_class: str | None = None
    fault: str = "none"
    message: str | None = None
    swap_trigger: str | None = None
    expectation_met: bool | None = None
    reported_address: str = ""
    capacity_idle: int | None = None
    capacity_in_use: int | None = None
    warm: bool | None = None
    runner_version: str = ""
    price_per_unit: int | None = None
    pixels_per_unit: int | None = None
    gpus: list[dict[str, Any]] = field(default_factory=list)
    cert_sha256: str = ""
    manifest_id: str = ""
    startup_ms: float | None = None
    first_frame_ms: float | None = None
    playable_ms: float | None = None
    p2ff_ms: float | None = None
    p2ff_confirmed: bool | None = None
    params_confirm_ms: float | None = None
    e2e_p50_ms: float | None = None
    e2e_p95_ms: float | None = None
    e2e_samples: int = 0
    output_fps: float | None = None
    input_fps: float | None = None
    jitter: float | None = None
    frame_interval_cv: float | None = None
    frames_in: int = 0
    frames_out: int = 0
    frames_matched: int = 0
    segments_in: int = 0
    segments_out: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    status_events: int = 0
    error_events: int = 0
    restart_events: int = 0
    last_state: str | None = None
    runner_errors: list[str] = field(default_factory=list)
    trickle_jumps: int = 0
    read_errors: int = 0
    loop_lag_max_ms: float | None = None
    samples: list[ProbeSample] = field(default_factory=list)

    @property
    def counts_against_orchestrator(self) -> bool:
        return self.fault == "orchestrator"

    def to_dict(self) -> dict[str, Any]:
        """The canonical dict: sorted keys, floats rounded to 3 decimals, NaN/inf → None, samples as dicts."""
        return _clean(asdict(self))


def _clean(v: Any) -> Any:
    if isinstance(v, float):
        return round(v, 3) if math.isfinite(v) else None
    if isinstance(v, dict):
        return {k: _clean(v[k]) for k in sorted(v)}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    return v
