"""The published SLA scores and the SLOs' error budgets on the collector's own /metrics (docs/slo.md, "Series").

`ScoreCollector` is a prometheus_client custom collector. On a scrape it reads the warehouse at most once per
`cache_s` (a scrape storm costs one query set per `cache_s`), and a warehouse error never breaks /metrics: it is
counted in `naap_sla_exposition_errors_total` and the last good values are served for up to `stale_s` after they
were read, then none (stale values presented as current would be worse than absent ones).

Unknown values are omitted, never exposed as NaN (the Prometheus convention: an absent series is "no data", and
NaN would poison comparisons and aggregations): no `naap_sla_score` while a cell has insufficient data (its
`naap_sla_insufficient_data` says 1), no burn rate for a window without valid events, no budget remaining without
events in the SLO period, no subscore whose value is null. Alert conditions are always 1 or 0.

Labels: the score families carry orchestrator, workflow, period, config_version (+ group on subscores); the SLO
families orchestrator, workflow, slo (+ window on burn rates, severity and alert on alerts). workflow '' (the
orchestrator as a whole) is exposed empty, which Prometheus stores as no workflow label.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from scoring.slo import ALERTS, WINDOWS, SloStatus, slo_status
from scoring.sla_v1 import ConfigV1

log = logging.getLogger(__name__)

_SCORE_LABELS = ["orchestrator", "workflow", "period", "config_version"]
_SLO_LABELS = ["orchestrator", "workflow", "slo"]

# The latest window of every (period, orchestrator, workflow) of this config version, the first published row of it
# (a published score never changes, so duplicates are equal; taking the first keeps the choice deterministic).
_LATEST_SQL = """
SELECT period, orchestrator, workflow, config_version, score, score_lower, score_upper, coverage, status, detail,
       toUnixTimestamp64Milli(window_end) AS end_ms
FROM sla_scores
WHERE config_version = {version:String}
  AND window_end >= fromUnixTimestamp64Milli({since:Int64}, 'UTC')
ORDER BY period, orchestrator, workflow, window_end DESC, computed_ts ASC
LIMIT 1 BY period, orchestrator, workflow
"""


@dataclass(frozen=True)
class _Snapshot:
    read_at: float  # clock seconds
    scores: list[dict[str, Any]]
    slos: list[SloStatus]


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _groups(detail: str) -> dict[str, float]:
    """The subscores of a score's detail JSON ({"groups": {group: {"value": float|null}}}); unknown ones left out."""
    try:
        groups = json.loads(detail).get("groups") or {}
    except (ValueError, AttributeError):
        return {}
    if not isinstance(groups, dict):
        return {}
    return {g: v["value"] for g, v in sorted(groups.items()) if isinstance(v, dict) and _finite(v.get("value"))}


class ScoreCollector(Collector):
    """Published SLA scores and SLO status from the warehouse, as Prometheus gauges.

    `reader`: anything with the warehouse's `query(sql, parameters)` (the API's read-only reader). `config`: the v1
    SLA config whose scores and SLOs are exposed. `cache_s`: seconds between warehouse reads (60: inputs arrive per
    60 s base window, so burn rates cannot change faster). `stale_s`: how long the last good values are served while
    reads fail. `max_lag_s`: a (period, orchestrator, workflow)'s latest score is exposed while its window ended less
    than one step of its period plus this many seconds ago. `clock`: seconds since the epoch (time.time; tests pass
    their own)."""

    def __init__(self, reader: Any, config: ConfigV1, cache_s: float = 60.0, stale_s: float = 300.0,
                 max_lag_s: float = 600.0, clock: Callable[[], float] = time.time) -> None:  # fmt: skip
        self.reader = reader
        self.config = config
        self.cache_s = cache_s
        self.stale_s = stale_s
        self.max_lag_s = max_lag_s
        self.clock = clock
        self.errors = 0
        self._attempt_at: float | None = None
        self._snapshot: _Snapshot | None = None
        self._lock = threading.Lock()

    # -- reading -------------------------------------------------------------------------------------------------
    def _read(self, now: float) -> _Snapshot:
        now_ms = int(now * 1000)
        steps = {name: p.step_s for name, p in self.config.spec.periods.items()}
        lag_ms = int((max(steps.values()) + self.max_lag_s) * 1000)
        rows = self.reader.query(_LATEST_SQL, {"version": self.config.version, "since": now_ms - lag_ms}).dicts()
        fresh = [r for r in rows if r["period"] in steps
                 and r["end_ms"] >= now_ms - int((steps[r["period"]] + self.max_lag_s) * 1000)]  # fmt: skip
        return _Snapshot(now, fresh, slo_status(self.reader, self.config, now_ms))

    def refresh(self) -> None:
        """Read the warehouse now (collect() calls this when the cache is older than cache_s)."""
        now = self.clock()
        self._attempt_at = now
        try:
            self._snapshot = self._read(now)
        except Exception:  # noqa: BLE001 — whatever the warehouse or a row does, /metrics must still answer
            self.errors += 1
            log.warning("SLA exposition: reading the warehouse failed; serving the last good values", exc_info=True)

    def _current(self) -> _Snapshot | None:
        now = self.clock()
        due = self._attempt_at is None or now - self._attempt_at >= self.cache_s
        if due and self._lock.acquire(blocking=False):  # a refresh already running: serve what we have
            try:
                self.refresh()
            finally:
                self._lock.release()
        snap = self._snapshot
        return snap if snap is not None and now - snap.read_at <= self.stale_s else None

    # -- exposition ----------------------------------------------------------------------------------------------
    def describe(self) -> Iterator[Metric]:
        """The families (without samples): registering reserves the names without reading the warehouse."""
        yield from _families(None, 0, None)

    def collect(self) -> Iterator[Metric]:
        """The families with the cached (or freshly read) values."""
        snap = self._current()
        yield from _families(snap, self.errors, self._snapshot.read_at if self._snapshot else None)


def _families(snap: _Snapshot | None, errors: int, last_success: float | None) -> Iterator[Metric]:
    def gauge(name: str, doc: str, labels: list[str]) -> GaugeMetricFamily:
        return GaugeMetricFamily(name, doc, labels=labels)

    score = gauge("naap_sla_score", "Latest published SLA score, 0-100 (absent while data is insufficient).", _SCORE_LABELS)
    lower = gauge("naap_sla_score_lower", "Lower bound of the latest SLA score (from the rates' Wilson intervals).", _SCORE_LABELS)
    upper = gauge("naap_sla_score_upper", "Upper bound of the latest SLA score (from the rates' Wilson intervals).", _SCORE_LABELS)
    coverage = gauge("naap_sla_coverage_ratio", "Observed share of the latest score's window.", _SCORE_LABELS)
    sub = gauge("naap_sla_subscore", "Subscore of a group in the latest SLA score, 0-1.", [*_SCORE_LABELS, "group"])
    insufficient = gauge("naap_sla_insufficient_data", "1 if the latest SLA score cell has insufficient data, else 0.", _SCORE_LABELS)
    end = gauge("naap_sla_score_window_end_timestamp_seconds", "End of the latest scored window (Unix seconds).", _SCORE_LABELS)
    objective = gauge("naap_slo_objective_ratio", "SLO objective: the share of valid events that must be good.", _SLO_LABELS)
    budget = gauge("naap_slo_error_budget_remaining_ratio",
                   "Error budget left over the SLO period: 1 - burn rate over the period (negative once overspent).", _SLO_LABELS)  # fmt: skip
    burn = gauge("naap_slo_burn_rate", "Error rate over the window / (1 - objective); 1 spends the budget exactly over "
                 "the SLO period.", [*_SLO_LABELS, "window"])  # fmt: skip
    alert = gauge("naap_slo_alert", "1 while a multiwindow burn-rate alert condition holds, else 0.",
                  [*_SLO_LABELS, "severity", "alert"])  # fmt: skip
    if snap is not None:
        for r in snap.scores:
            labels = [r["orchestrator"], r["workflow"], r["period"], r["config_version"]]
            for fam, key in ((score, "score"), (lower, "score_lower"), (upper, "score_upper"), (coverage, "coverage")):
                if _finite(r[key]):
                    fam.add_metric(labels, r[key])
            for group, value in _groups(r["detail"]).items():
                sub.add_metric([*labels, group], value)
            insufficient.add_metric(labels, 1 if r["status"] == "insufficient_data" else 0)
            end.add_metric(labels, r["end_ms"] / 1000)
        for s in snap.slos:
            labels = [s.orchestrator, s.workflow, s.slo]
            objective.add_metric(labels, s.objective)
            if s.budget_remaining is not None:
                budget.add_metric(labels, s.budget_remaining)
            for name, _ in WINDOWS:
                if s.windows[name].burn_rate is not None:
                    burn.add_metric([*labels, name], s.windows[name].burn_rate)
            for a in ALERTS:
                alert.add_metric([*labels, a.severity, a.name], 1 if s.alerts[a.name] else 0)
    yield from (score, lower, upper, coverage, sub, insufficient, end, objective, budget, burn, alert)
    yield CounterMetricFamily("naap_sla_exposition_errors", "Failed warehouse reads for the SLA and SLO series.", value=errors)
    last = gauge("naap_sla_exposition_last_success_timestamp_seconds", "When the SLA and SLO series were last read "
                 "from the warehouse (Unix seconds).", [])  # fmt: skip
    if last_success is not None:
        last.add_metric([], last_success)
    yield last


def register_score_metrics(registry: CollectorRegistry, reader: Any, config: ConfigV1, **options: Any) -> ScoreCollector:
    """Register a ScoreCollector (options: cache_s, stale_s, max_lag_s, clock) on `registry` — the collector's
    /metrics registry — and return it."""
    collector = ScoreCollector(reader, config, **options)
    registry.register(collector)
    return collector
