"""What a running prober publishes about itself (GET /v1/prober): its public key, the period it is in and that
period's seed, how the seed chains from the previous period's results, and the schedule's facts. Plain data: the
API reads it without importing the prober's network or media code."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from prober.config import ProberSettings
from prober.schedule import SEED_DOMAIN


@dataclass
class ProberStatus:
    settings: ProberSettings
    public_key: str
    alg: str = "ed25519"
    period_id: str = ""  # the period of the latest pass (running or done) and its seed
    seed: str = ""
    seed_from_period_id: str = ""  # the period whose results digest that seed chained from ("" none)
    seed_from_digest: str = ""
    previous_period_id: str = ""  # the latest completed period: the next period's seed chains from its digest
    previous_digest: str = ""
    running: bool = False
    passes: int = 0
    pass_errors: int = 0
    last_pass: dict[str, Any] | None = None
    last_pass_ended_ms: int | None = None
    datasets: list[str] = field(default_factory=list)

    def schedule(self) -> dict[str, Any]:
        s = self.settings
        return {
            "region": s.region or "global",
            "interval_s": s.interval_s,
            "max_concurrency": s.max_concurrency,
            "per_orchestrator": "at most one probe at a time",
            "budget_share_of_day": s.budget_share,
            "budget_wei_per_day": s.budget_wei_per_day,
            "probe_duration_s": s.duration_s,
            "input": {"fps": s.fps, "width": s.width, "height": s.height, "segment_s": s.segment_s},
            "void_min_probes": s.void_min_probes,
            "datasets": self.datasets or list(s.datasets),
            "seed_rule": (f'sha256("{SEED_DOMAIN}\\n" + period_id + "\\n" + previous period\'s results digest); order: '
                          "jobs sorted by sha256(seed + \"\\n\" + orchestrator|workflow|model); digest: sha256 over the sorted "
                          "canonical JSON lines of the period's signed results (prober/schedule.py)"),  # fmt: skip
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "enabled": True,
            "running": self.running,
            "alg": self.alg,
            "public_key": self.public_key,
            "period": {"id": self.period_id or None, "seed": self.seed or None,
                       "seed_from": {"period_id": self.seed_from_period_id or None, "digest": self.seed_from_digest}},
            "next_seed_from": {"period_id": self.previous_period_id or None, "digest": self.previous_digest},
            "schedule": self.schedule(),
            "passes": self.passes,
            "pass_errors": self.pass_errors,
            "last_pass": self.last_pass,
            "last_pass_ended_ms": self.last_pass_ended_ms,
        }
