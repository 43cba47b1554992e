"""Scores and SLOs on the collector's /metrics (scoring/exposition.py): known sla_scores and score_inputs_v1 rows in
a real chDB warehouse, the exposition checked by the real `promtool check metrics` and parsed back, the cache, and
a warehouse that fails. The clock is a parameter, so nothing here depends on how fast it runs."""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from scoring.exposition import ScoreCollector, register_score_metrics
from scoring.sla_config import load_config
from scraper.telemetry import ScraperTelemetry
from warehouse.client import Warehouse

from test_slo import MIN, NOW, OWN, SD15, SDXL, T, VERSION, A, B, put  # noqa: I001 — the same known rows

PROMTOOL = shutil.which("promtool")
SCORE_COLUMNS = ("computed_ts", "window_start", "window_end", "period", "orchestrator", "workflow", "config_version",
                 "config_hash", "score", "status", "detail", "as_of", "score_lower", "score_upper", "coverage")  # fmt: skip


def score(end: int, period: str, orch: str, wf: str, value: float | None, status: str = "ok", groups: Any = None,
          computed: int | None = None, version: str = VERSION, lower: float | None = None, upper: float | None = None,
          coverage: float | None = 1.0) -> tuple:  # fmt: skip
    detail = json.dumps({"groups": groups} if groups is not None else {})
    return ((computed or end + 1000), end - 300_000, end, period, orch, wf, version, "h", value, status, detail, end,
            lower, upper, coverage)  # fmt: skip


class Clock:
    def __init__(self, s: float) -> None:
        self.s = s

    def __call__(self) -> float:
        return self.s


def samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The exposition parsed back: (sample name, sorted labels) -> value."""
    text = generate_latest(registry).decode()
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def of(got: dict, name: str, **labels: str) -> float | None:
    return got.get((name, tuple(sorted(labels.items()))))


def promtool_check(body: bytes) -> subprocess.CompletedProcess:
    assert PROMTOOL, "promtool is installed by `make test` (Debian package prometheus)"
    return subprocess.run([PROMTOOL, "check", "metrics"], input=body, capture_output=True, timeout=60)


@pytest.fixture
def exposed(warehouse: Warehouse) -> tuple[CollectorRegistry, ScoreCollector, Clock]:
    cfg = load_config()
    warehouse.insert_rows("sla_scores", SCORE_COLUMNS, [
        score(T - 5 * MIN, "5m", A, OWN, 70.0),  # older window: replaced by the next
        score(T, "5m", A, OWN, 87.5, lower=80.0, upper=90.0,
              groups={"availability": {"value": 0.75}, "latency": {"value": None}, "consistency": {"value": 1.0, "n": 3}}),
        score(T, "5m", A, OWN, 11.0, computed=T + 9000),  # published again later: the first publication counts
        score(T, "5m", A, SDXL, None, status="insufficient_data", coverage=0.2),
        score(T, "1h", A, OWN, 91.0),
        score(T, "5m", B, OWN, 50.0, version="v0.1"),  # another config version
        score(T - 2 * 3600_000, "5m", B, OWN, 60.0),  # ended too long ago (60 s step + 600 s lag): not current
    ])  # fmt: skip
    put(warehouse, [
        {"ws": T - MIN, "orch": A, "wf": OWN, "scheduled": 4, "successful": 3},
        {"ws": T - MIN, "orch": A, "wf": SDXL, "started": 10.0, "errors": {"timeout": 1.0}, "fps_n": 10, "fps_ok": 10},
        {"ws": T - MIN, "orch": A, "wf": SD15, "started": 5.0},  # streams, but no FPS windows
    ])  # fmt: skip
    registry = CollectorRegistry()
    clock = Clock(NOW / 1000)
    collector = register_score_metrics(registry, warehouse.reader(), cfg, cache_s=15, stale_s=300, clock=clock)
    return registry, collector, clock


def test_scores_and_slos_are_exposed_promtool_clean(exposed: Any) -> None:
    registry, _, _ = exposed
    body = generate_latest(registry)
    check = promtool_check(body)
    assert check.returncode == 0 and not check.stdout.strip() and not check.stderr.strip(), check.stdout + check.stderr
    got = samples(registry)
    five = {"orchestrator": A, "workflow": OWN, "period": "5m", "config_version": VERSION}
    assert of(got, "naap_sla_score", **five) == 87.5
    assert (of(got, "naap_sla_score_lower", **five), of(got, "naap_sla_score_upper", **five)) == (80.0, 90.0)
    assert of(got, "naap_sla_coverage_ratio", **five) == 1.0
    assert of(got, "naap_sla_insufficient_data", **five) == 0
    assert of(got, "naap_sla_score_window_end_timestamp_seconds", **five) == T / 1000
    assert {k[1][1][1]: v for k, v in got.items() if k[0] == "naap_sla_subscore"} == {"availability": 0.75, "consistency": 1.0}
    assert of(got, "naap_sla_score", **{**five, "period": "1h"}) == 91.0
    # Insufficient data: no score and no bounds (unknown, not NaN), the flag and the coverage.
    cell = {**five, "workflow": SDXL}
    assert of(got, "naap_sla_score", **cell) is None and of(got, "naap_sla_score_lower", **cell) is None
    assert (of(got, "naap_sla_insufficient_data", **cell), of(got, "naap_sla_coverage_ratio", **cell)) == (1, 0.2)
    assert not [k for k in got if k[0].startswith("naap_sla_") and ("orchestrator", B) in k[1]]  # other version, stale
    # SLOs: A's availability 1 bad of 4 (burn 25 over every window), failure_rate on SDXL 1 of 10 (burn 10).
    av = {"orchestrator": A, "workflow": OWN, "slo": "availability"}
    assert of(got, "naap_slo_objective_ratio", **av) == 0.99
    assert of(got, "naap_slo_burn_rate", **av, window="5m") == pytest.approx(1 / 4 / (1 - 0.99))
    assert of(got, "naap_slo_error_budget_remaining_ratio", **av) == pytest.approx(1 - 1 / 4 / (1 - 0.99))
    assert of(got, "naap_slo_alert", **av, severity="page", alert="page_fast") == 1
    fr = {"orchestrator": A, "workflow": SDXL, "slo": "failure_rate"}
    assert of(got, "naap_slo_burn_rate", **fr, window="3d") == pytest.approx(1 / 10 / (1 - 0.99))
    assert of(got, "naap_slo_alert", **fr, severity="page", alert="page_fast") == 0  # 10 < 14.4
    assert of(got, "naap_slo_alert", **fr, severity="ticket", alert="ticket_slow") == 1  # 10 > 1
    fps = {"orchestrator": A, "workflow": SDXL, "slo": "output_fps"}
    assert of(got, "naap_slo_burn_rate", **fps, window="1h") == 0 and of(got, "naap_slo_error_budget_remaining_ratio", **fps) == 1
    # SD15 had no FPS windows: its output_fps has an objective and alert flags (0), but no rates.
    own_fps = {"orchestrator": A, "workflow": SD15, "slo": "output_fps"}
    assert of(got, "naap_slo_objective_ratio", **own_fps) == 0.95
    assert of(got, "naap_slo_error_budget_remaining_ratio", **own_fps) is None
    assert of(got, "naap_slo_burn_rate", **own_fps, window="5m") is None
    assert of(got, "naap_slo_alert", **own_fps, severity="ticket", alert="ticket_fast") == 0
    assert of(got, "naap_sla_exposition_errors_total") == 0
    assert of(got, "naap_sla_exposition_last_success_timestamp_seconds") == NOW / 1000
    assert not [k for k, v in got.items() if v != v], "no NaN anywhere"


def test_the_cache_spares_the_warehouse_a_scrape_storm(exposed: Any, warehouse: Warehouse) -> None:
    registry, _, clock = exposed
    key = {"orchestrator": A, "workflow": OWN, "period": "5m", "config_version": VERSION}
    assert of(samples(registry), "naap_sla_score", **key) == 87.5
    warehouse.insert_rows("sla_scores", SCORE_COLUMNS, [score(T + MIN, "5m", A, OWN, 99.0)])
    clock.s += 14.9  # within cache_s: the values read at the first scrape
    assert of(samples(registry), "naap_sla_score", **key) == 87.5
    clock.s += 0.1  # cache_s after the last read: read again
    assert of(samples(registry), "naap_sla_score", **key) == 99.0


def test_a_failing_warehouse_is_counted_and_never_breaks_metrics(exposed: Any, warehouse: Warehouse) -> None:
    registry, collector, clock = exposed
    key = {"orchestrator": A, "workflow": OWN, "period": "5m", "config_version": VERSION}
    assert of(samples(registry), "naap_sla_score", **key) == 87.5
    warehouse.command("DROP TABLE sla_scores")  # a real failure: the next read cannot run
    clock.s += 15
    got = samples(registry)
    assert of(got, "naap_sla_exposition_errors_total") == 1
    assert of(got, "naap_sla_score", **key) == 87.5  # the last good values, for up to stale_s
    assert of(got, "naap_sla_exposition_last_success_timestamp_seconds") == NOW / 1000
    clock.s += 1  # failing reads are retried once per cache_s too, not at every scrape
    assert of(samples(registry), "naap_sla_exposition_errors_total") == 1
    clock.s = NOW / 1000 + 301  # past stale_s since the last good read: nothing rather than stale values
    got = samples(registry)
    assert of(got, "naap_sla_exposition_errors_total") == 2
    assert not [k for k in got if k[0].startswith(("naap_sla_score", "naap_slo_"))]
    assert promtool_check(generate_latest(registry)).returncode == 0


def test_registering_reads_nothing_and_shares_the_collectors_registry(warehouse: Warehouse) -> None:
    telemetry = ScraperTelemetry()  # the collector's /metrics registry, with the scraper's families
    warehouse.command("DROP TABLE score_inputs_v1")  # reads would fail: registering must not read
    collector = register_score_metrics(telemetry.registry, warehouse.reader(), load_config(), clock=Clock(NOW / 1000))
    assert collector.errors == 0
    got = samples(telemetry.registry)
    assert of(got, "naap_sla_exposition_errors_total") == 1 and of(got, "naap_scraper_targets") == 0
    with pytest.raises(ValueError, match="Duplicated timeseries"):  # the names are reserved against collisions
        register_score_metrics(telemetry.registry, warehouse.reader(), load_config())
