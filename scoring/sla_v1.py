"""SLA config v1 (and v2, which adds the prober's results to v1's engine: SpecV2; v2.1, which also counts probes that
never reached the orchestrator: SpecV21): fixed, versioned targets for every catalog metric the seeds give one, grouped into the seeds'
subscores (latency, reliability, consistency, efficiency) plus availability.

A released file (scoring/configs/sla-v1.yaml) is never edited: a change is a new version. Every published score
names the version and the sha256 of the config's canonical JSON, so anyone can replay it (`naap replay`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from exporter.streams.sdk import PARAMS_BUCKETS, STARTUP_BUCKETS

GROUPS = ("availability", "latency", "reliability", "consistency", "efficiency")
# metric -> the group it belongs to (fixed by this version's code; the YAML gives targets and weights)
METRIC_GROUPS = {
    "availability": "availability",
    "p2ff": "latency",
    "startup": "latency",
    "e2e": "latency",
    "failure_rate": "reliability",
    "swap_rate": "reliability",
    "output_fps": "consistency",
    "jitter": "consistency",
    "cue": "efficiency",
}
# Metrics whose events are good or bad one by one: each can be an SLO's SLI (good events / valid events).
SLI_METRICS = ("availability", "output_fps", "jitter", "p2ff", "startup", "failure_rate")
# A latency target must be one of the exporter's histogram bounds, so "within target" counts events exactly
# instead of interpolating inside a bucket.
P2FF_BOUNDS = PARAMS_BUCKETS
STARTUP_BOUNDS = STARTUP_BUCKETS


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PeriodSpec(_Strict):
    seconds: int = Field(ge=10, le=90 * 86400)
    step_s: int = Field(ge=1, le=86400, description="A score is published when the window end is a multiple of this.")
    min_coverage: float = Field(gt=0, le=1, description="Below this observed share of the window: insufficient_data.")


class MetricSpec(_Strict):
    scored: bool = True
    weight: float = Field(0.0, ge=0)
    min_samples: int = Field(1, ge=1)
    reason: str = ""  # why a metric is not scored (yet)


class WorkflowTargets(_Strict):
    output_fps: float = Field(gt=0, le=1000, description="Frames per second a 5 s window must reach.")
    p2ff_s: float = Field(gt=0, description="Prompt change to first frame with it, seconds (a P2FF histogram bound).")
    startup_s: float = Field(gt=0, description="Stream request to first output frame, seconds (a startup histogram bound).")

    @field_validator("p2ff_s")
    @classmethod
    def _p2ff_bound(cls, v: float) -> float:
        if v not in P2FF_BOUNDS:
            raise ValueError(f"must be one of the exporter's P2FF bucket bounds {P2FF_BOUNDS}")
        return v

    @field_validator("startup_s")
    @classmethod
    def _startup_bound(cls, v: float) -> float:
        if v not in STARTUP_BOUNDS:
            raise ValueError(f"must be one of the exporter's startup bucket bounds {STARTUP_BOUNDS}")
        return v


class SpecV1(_Strict):
    version: str = Field(pattern=r"^v1([.-][0-9a-z.\-]+)?$")
    base_window_s: int = Field(ge=1, le=3600, description="Scores are sums of these windows' inputs.")
    periods: dict[str, PeriodSpec]
    missing_data: Literal["insufficient_data"]
    confidence_z: float = Field(gt=0, le=5, description="z of the Wilson intervals (1.96: 95 %).")
    groups: dict[str, float]
    metrics: dict[str, MetricSpec]
    jitter_max: float = Field(gt=0, le=10, description="σ(fps)/μ(fps) at or below this meets the target.")
    failure_rate_target: float = Field(ge=0, lt=1)
    failure_rate_zero_at: float = Field(gt=0, le=1, description="A failure rate at or above this scores 0.")
    swap_rate_target: float = Field(ge=0, lt=1)
    cue_target: float = Field(gt=0, le=1)
    slo_period_s: int = Field(ge=86400, le=90 * 86400, description="The error budget's period (Sloth: 30 days).")
    slos: dict[str, float] = Field(description="SLI (a rate metric) -> objective, e.g. availability: 0.99.")
    workflows: dict[str, WorkflowTargets]

    @field_validator("slos")
    @classmethod
    def _slos(cls, v: dict[str, float]) -> dict[str, float]:
        unknown = set(v) - set(SLI_METRICS)
        if unknown:
            raise ValueError(f"an SLO's SLI must be one of {SLI_METRICS}; unknown {sorted(unknown)}")
        if any(not 0 < o < 1 for o in v.values()):
            raise ValueError("objectives lie strictly between 0 and 1")
        return v

    @field_validator("groups")
    @classmethod
    def _groups(cls, v: dict[str, float]) -> dict[str, float]:
        if set(v) != set(GROUPS):
            raise ValueError(f"give a weight for each of {GROUPS}")
        if any(w < 0 for w in v.values()) or sum(v.values()) <= 0:
            raise ValueError("weights must be >= 0 with a positive sum")
        return v

    @field_validator("metrics")
    @classmethod
    def _metrics(cls, v: dict[str, MetricSpec]) -> dict[str, MetricSpec]:
        if set(v) != set(METRIC_GROUPS):
            raise ValueError(f"give each of {sorted(METRIC_GROUPS)}")
        for name, m in v.items():
            if not m.scored and not m.reason:
                raise ValueError(f"{name}: a metric that is not scored must say why (reason)")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> "SpecV1":
        if "default" not in self.workflows:
            raise ValueError("workflows needs a 'default' entry")
        for name, p in self.periods.items():
            if p.seconds % self.base_window_s or p.step_s % self.base_window_s:
                raise ValueError(f"period {name}: seconds and step_s must be multiples of base_window_s")
        for group in GROUPS:
            scored = [m for m, g in METRIC_GROUPS.items() if g == group and self.metrics[m].scored]
            if self.groups[group] > 0 and not scored:
                raise ValueError(f"group {group} has a weight but no scored metric")
        if self.failure_rate_zero_at <= self.failure_rate_target:
            raise ValueError("failure_rate_zero_at must exceed failure_rate_target")
        return self


@dataclass(frozen=True)
class ConfigV1:
    spec: SpecV1
    hash: str

    @property
    def version(self) -> str:
        return self.spec.version

    @property
    def periods(self) -> dict[str, int]:
        """Period name → seconds (what every config offers; PeriodSpec has the rest)."""
        return {name: p.seconds for name, p in self.spec.periods.items()}

    def targets(self, workflow: str) -> WorkflowTargets:
        """The targets of `pipeline/model_id`, of its model_id alone, or the default."""
        w = self.spec.workflows
        return w.get(workflow) or w.get(workflow.rpartition("/")[2]) or w["default"]


class WorkflowTargetsV2(WorkflowTargets):
    e2e_ms: float = Field(gt=0, le=60_000, description="A probe's median frame latency (input segment sent → output "
                                                       "frame with the same PTS read) at or below this meets the target.")


class ProbeSpec(_Strict):
    """How score v2 uses the prober's results (scoring/probe_totals.py)."""

    min_probes: int = Field(1, ge=1, description="Probe measurements of a metric in the window from which the probe's "
                                                 "figure replaces the self-report (P2FF, startup, failure rate).")
    latency_ms: float = Field(1500.0, gt=0, description="A probe/self-report latency difference beyond this AND beyond "
                                                        "latency_ratio × the larger is flagged (the cross-check's rule).")
    latency_ratio: float = Field(0.5, gt=0, le=1)
    failure_tolerance: float = Field(0.5, gt=0, le=1, description="Probe failure rate above the self-reported one by "
                                                                  "more than this is flagged.")


class SpecV2(SpecV1):
    """v2: v1's engine and fields, plus probes: E2E scored from probes, swap rate scored from probes, and P2FF,
    startup and failure rate taken from probes where the window holds at least `probes.min_probes` of them."""

    version: str = Field(pattern=r"^v2([.-][0-9a-z.\-]+)?$")
    workflows: dict[str, WorkflowTargetsV2]  # type: ignore[assignment]
    probes: ProbeSpec


class ProbeSpecV21(ProbeSpec):
    """v2.1's probes section: v2's, plus whether probes that never reached the orchestrator count."""

    count_unreached: bool = Field(description="True: a probe failed by the orchestrator's fault before its info call "
                                              "answered (unreachable, refused, TLS, timeout) is a failed attempt in "
                                              "its failure rate (v2 left it out). Required: a v2.1 config must say.")


class SpecV21(SpecV2):
    """v2.1: v2, plus `probes.count_unreached` (scoring/probe_totals.py). Picked by that key, which v2's schema
    forbids, so v2's canonical JSON — and its hash — stay what they were."""

    probes: ProbeSpecV21  # type: ignore[assignment]


def uses_probes(config: "ConfigV1") -> bool:
    """Whether a config scores with the prober's results (v2 and later)."""
    return isinstance(config.spec, SpecV2)


def counts_unreached(config: "ConfigV1") -> bool:
    """Whether a config counts probes that failed before reaching the orchestrator (v2.1 with count_unreached)."""
    return isinstance(config.spec, SpecV21) and config.spec.probes.count_unreached


def parse_v1(data: dict[str, Any]) -> SpecV1:
    return SpecV1(**data)


def config_v1(spec: SpecV1) -> ConfigV1:
    canonical = json.dumps(spec.model_dump(), sort_keys=True, separators=(",", ":"))
    return ConfigV1(spec, hashlib.sha256(canonical.encode()).hexdigest())
