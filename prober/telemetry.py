"""The prober's own health as Prometheus series, on the collector's GET /metrics beside the scraper's
(scraper/telemetry.py), discovery's and the scores'. Families (all prefixed `naap_prober_`; docs/prober.md):

  probes_total{outcome, error_class, fault}  probe results written by completed passes: outcome ok | failed |
                                           skipped, error_class (prober/errors.py; "none" when ok), fault none |
                                           orchestrator | prober | excluded
  passes_total{outcome}                    passes by outcome: completed | failed (the pass raised: a bug of ours,
                                           logged) | stopped (the collector stopped during it; nothing written)
  void_passes_total                        completed passes the void rule applied to (every probe failed to reach
                                           its orchestrator: counted as the prober's fault)
  pass_duration_seconds                    histogram of completed passes' wall time (info calls + probes)
  last_pass_timestamp_seconds              when the last completed pass ended (Unix seconds; 0 before the first)
  running                                  1 while a pass runs
  skipped_total{reason}                    work not done: period_overlap (a period skipped, the previous pass still
                                           running) | no_capacity (a job: no idle runner) | budget (a job: the
                                           orchestrator's daily budget was spent) | no_dataset_item (a model no
                                           dataset has items for) | not_live (an orchestrator advertising no
                                           live-video-to-video model)
  event_loop_lag_seconds                   the worst event-loop lag any probe of the last completed pass measured
                                           (prober/looplag.py; past prober.max_loop_lag_s a probe is the prober's
                                           fault)

The metric objects are made unregistered and `register(registry)` adds them to the collector's registry, which
exists only once the scraper is built (after the prober).
"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

PASS_BUCKETS = (1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0)
PASS_OUTCOMES = ("completed", "failed", "stopped")
SKIP_REASONS = ("period_overlap", "no_capacity", "budget", "no_dataset_item", "not_live")


class ProberTelemetry:
    def __init__(self) -> None:
        self.probes = Counter("naap_prober_probes", "Probe results of completed passes, by outcome, error class "
                              "('none' when ok) and fault.", ["outcome", "error_class", "fault"], registry=None)  # fmt: skip
        self.passes = Counter("naap_prober_passes", "Prober passes by outcome: completed, failed (the pass raised) "
                              "or stopped (the collector stopped during it).", ["outcome"], registry=None)  # fmt: skip
        self.void_passes = Counter("naap_prober_void_passes", "Completed passes in which every probe failed to reach its "
                                   "orchestrator (the void rule: the prober's fault).", registry=None)  # fmt: skip
        self.duration = Histogram("naap_prober_pass_duration_seconds", "Wall time of completed prober passes.",
                                  buckets=PASS_BUCKETS, registry=None)  # fmt: skip
        self.last_pass = Gauge("naap_prober_last_pass_timestamp_seconds", "When the last completed prober pass ended "
                               "(Unix seconds; 0 before the first).", registry=None)  # fmt: skip
        self.running = Gauge("naap_prober_running", "1 while a prober pass runs.", registry=None)
        self.skipped = Counter("naap_prober_skipped", "Prober work not done, by reason: period_overlap, no_capacity, "
                               "budget, no_dataset_item, not_live.", ["reason"], registry=None)  # fmt: skip
        self.loop_lag = Gauge("naap_prober_event_loop_lag_seconds", "The worst event-loop lag a probe of the last "
                              "completed pass measured.", registry=None)  # fmt: skip
        for outcome in PASS_OUTCOMES:
            self.passes.labels(outcome)
        for reason in SKIP_REASONS:
            self.skipped.labels(reason)
        self._all = (self.probes, self.passes, self.void_passes, self.duration, self.last_pass, self.running, self.skipped,
                     self.loop_lag)  # fmt: skip

    def register(self, registry: CollectorRegistry) -> None:
        for m in self._all:
            registry.register(m)

    # -- hooks (naap/probing.py) -------------------------------------------------------------------
    def period_skipped(self) -> None:
        self.skipped.labels("period_overlap").inc()

    def pass_done(self, report: Any, duration_s: float, ended_s: float | None = None) -> None:
        """A completed pass (prober/factory.py's PassReport) that took `duration_s`."""
        self.passes.labels("completed").inc()
        self.duration.observe(max(0.0, duration_s))
        self.last_pass.set(time.time() if ended_s is None else ended_s)
        if report.void:
            self.void_passes.inc()
        lag_ms = 0.0
        no_capacity = 0
        for r in report.results:
            self.probes.labels(str(r.get("outcome") or "unknown"), str(r.get("error_class") or "none"), str(r.get("fault") or "none")).inc()
            if r.get("error_class") == "no_capacity":
                no_capacity += 1
            lag = r.get("loop_lag_max_ms")
            if isinstance(lag, (int, float)):
                lag_ms = max(lag_ms, float(lag))
        self.loop_lag.set(lag_ms / 1000)
        for reason, n in (("no_capacity", no_capacity), ("budget", len(report.budget_skipped)),
                          ("no_dataset_item", len(report.uncovered)), ("not_live", len(report.not_live))):  # fmt: skip
            if n:
                self.skipped.labels(reason).inc(n)

    def pass_ended(self, outcome: str) -> None:
        """A pass that did not complete: failed | stopped."""
        self.passes.labels(outcome).inc()
