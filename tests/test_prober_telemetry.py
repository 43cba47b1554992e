"""The prober's own health on /metrics (prober/telemetry.py): the families after known passes, their values, and
the exposition checked by the real `promtool check metrics` (clean: no parse error, no lint remark)."""

from __future__ import annotations

import shutil
import subprocess

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from prober.factory import PassReport
from prober.schedule import Job
from prober.telemetry import ProberTelemetry

PROMTOOL = shutil.which("promtool")


def _samples(registry: CollectorRegistry) -> dict[tuple[str, tuple], float]:
    body = generate_latest(registry).decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for f in text_string_to_metric_families(body) for s in f.samples}


def _report() -> PassReport:
    ok = {"outcome": "ok", "error_class": None, "fault": "none", "loop_lag_max_ms": 12.5}
    refused = {"outcome": "failed", "error_class": "connect", "fault": "orchestrator", "loop_lag_max_ms": 3.0}
    busy = {"outcome": "skipped", "error_class": "no_capacity", "fault": "excluded", "loop_lag_max_ms": None}
    return PassReport("test/600s/1", "seed", targets=3, jobs=3, results=[ok, dict(ok), refused, busy],
                      budget_skipped=[Job("0xa", "h:1", "m")], uncovered=[("0xa", "other")], not_live=["0xb", "0xc"])  # fmt: skip


def test_passes_probes_and_skips_are_counted_and_promtool_clean() -> None:
    registry = CollectorRegistry()
    t = ProberTelemetry()
    t.register(registry)
    before = _samples(registry)
    assert before[("naap_prober_passes_total", (("outcome", "completed"),))] == 0
    assert before[("naap_prober_last_pass_timestamp_seconds", ())] == 0

    t.running.set(1)
    t.period_skipped()
    t.pass_done(_report(), 42.0, ended_s=1_700_000_000.0)
    t.pass_ended("failed")
    t.running.set(0)
    got = _samples(registry)
    assert got[("naap_prober_passes_total", (("outcome", "completed"),))] == 1
    assert got[("naap_prober_passes_total", (("outcome", "failed"),))] == 1
    assert got[("naap_prober_passes_total", (("outcome", "stopped"),))] == 0
    assert got[("naap_prober_probes_total", (("error_class", "none"), ("fault", "none"), ("outcome", "ok")))] == 2
    assert got[("naap_prober_probes_total", (("error_class", "connect"), ("fault", "orchestrator"), ("outcome", "failed")))] == 1
    assert got[("naap_prober_probes_total", (("error_class", "no_capacity"), ("fault", "excluded"), ("outcome", "skipped")))] == 1
    skipped = {k[1][0][1]: v for k, v in got.items() if k[0] == "naap_prober_skipped_total"}
    assert skipped == {"period_overlap": 1, "no_capacity": 1, "budget": 1, "no_dataset_item": 1, "not_live": 2}
    assert got[("naap_prober_pass_duration_seconds_count", ())] == 1 and got[("naap_prober_pass_duration_seconds_sum", ())] == 42.0
    assert got[("naap_prober_pass_duration_seconds_bucket", (("le", "60.0"),))] == 1
    assert got[("naap_prober_pass_duration_seconds_bucket", (("le", "30.0"),))] == 0
    assert got[("naap_prober_last_pass_timestamp_seconds", ())] == 1_700_000_000.0
    assert got[("naap_prober_event_loop_lag_seconds", ())] == 0.0125
    assert got[("naap_prober_void_passes_total", ())] == 0 and got[("naap_prober_running", ())] == 0

    assert PROMTOOL, "promtool is installed by `make test` (Debian package prometheus)"
    check = subprocess.run([PROMTOOL, "check", "metrics"], input=generate_latest(registry), capture_output=True, timeout=60)
    assert check.returncode == 0 and not check.stdout.strip() and not check.stderr.strip(), check.stdout + check.stderr
