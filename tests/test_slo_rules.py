"""The SLO rule files (scoring/slo_rules.py, shipped in scoring/rules/): accepted by the real `promtool check rules`,
current with the packaged config, their `promtool test rules` unit tests (tests/data/rules/), and two checks that
Prometheus and our SQL agree: the recording rules give the collector's burn rates on the same events, and the alert
rules fire over the collector's burn rates exactly when scoring/slo.py's conditions hold."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from naap.cli import cli
from scoring.slo import WINDOWS, SloStatus, slo_status
from scoring.slo_rules import ALERT_FILE, RECORDING_FILE, duration, packaged_rules, render_rules
from scoring.sla_config import load_config, parse_config
from warehouse.client import Warehouse

from test_slo import MIN, OWN, SD15, SDXL, A, all_slis_config, put  # noqa: I001

PROMTOOL = shutil.which("promtool")
DATA = Path(__file__).parent / "data" / "rules"
RULES = Path(__file__).parent.parent / "scoring" / "rules"


def promtool(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    # A missing binary fails rather than skips: a skipped rules test would pass CI without checking anything.
    assert PROMTOOL, "promtool is installed by `make test` (Debian package prometheus)"
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=300, cwd=cwd)


def test_packaged_rule_files_pass_promtool_check() -> None:
    for name in (ALERT_FILE, RECORDING_FILE):
        proc = promtool("check", "rules", str(RULES / name))
        assert proc.returncode == 0 and "SUCCESS" in proc.stdout, proc.stdout + proc.stderr


def test_packaged_rule_files_are_current_and_the_cli_writes_them(tmp_path: Path) -> None:
    generated = render_rules(load_config())
    assert packaged_rules() == generated, "scoring/rules/ is stale: run `naap slo rules --output scoring/rules`"
    result = CliRunner().invoke(cli, ["slo", "rules", "--output", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert result.output.split() == [str(tmp_path / "out" / ALERT_FILE), str(tmp_path / "out" / RECORDING_FILE)]
    assert {p.name: p.read_text() for p in (tmp_path / "out").iterdir()} == generated


@pytest.mark.parametrize("name", ["naap-slo-alerts.test.yaml", "naap-slo-recording.test.yaml"])
def test_promtool_unit_tests_pass(name: str) -> None:
    proc = promtool("test", "rules", str(DATA / name))
    assert proc.returncode == 0 and "SUCCESS" in proc.stdout, proc.stdout + proc.stderr


def test_other_configs_generate_valid_rules(tmp_path: Path) -> None:
    assert [duration(s) for _, s in WINDOWS] == ["5m", "30m", "1h", "2h", "6h", "1d", "3d"]
    assert duration(2592000) == "30d" and duration(90) == "90s"
    files = render_rules(all_slis_config(), job="exporter-7")  # jitter too, a pipeline/model_id target, p2ff/startup
    recording = files[RECORDING_FILE]
    assert "# Not recorded here (no exporter series expresses them): p2ff, startup." in recording
    assert 'up{job="exporter-7"}' in recording and "naap_stream_jitter_ratio > bool 0.1" in recording
    assert '{pipeline="other-pipeline",model_id="streamdiffusion-sdxl"} < bool 20' in recording
    for name, text in files.items():
        (tmp_path / name).write_text(text)
        proc = promtool("check", "rules", str(tmp_path / name))
        assert proc.returncode == 0, proc.stdout + proc.stderr


# -- Prometheus and the SQL agree -------------------------------------------------------------------------------


def _run_promtool_test(tmp_path: Path, input_series: list[dict[str, str]], checks: list[dict[str, Any]],
                       interval: str = "1m", evaluation: str = "1h") -> None:  # fmt: skip
    for name, text in packaged_rules().items():
        (tmp_path / name).write_text(text)
    test = {"rule_files": [RECORDING_FILE, ALERT_FILE], "evaluation_interval": evaluation,
            "tests": [{"interval": interval, "input_series": input_series, "promql_expr_test": checks}]}  # fmt: skip
    (tmp_path / "t.test.yaml").write_text(yaml.safe_dump(test, sort_keys=False))
    proc = promtool("test", "rules", "t.test.yaml", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr


def _labels(name: str, **labels: str) -> str:
    # An empty workflow (the orchestrator as a whole) is no label at all in Prometheus.
    return name + "{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if v) + "}"


def test_recording_rules_give_the_collectors_failure_burn_rates(warehouse: Warehouse, tmp_path: Path) -> None:
    """The same streams, once as the collector's base-window inputs and once as the exporter's counters scraped
    every minute: every window's burn rate and the budget come out bit-identical. (Errors never exceed starts in
    a minute here, where the two caps — per base window in SQL, per window in PromQL — would differ.)"""
    cfg = load_config()
    end_min = 3 * 24 * 60 + 60  # evaluated at 3 d + 1 h: every window, and the 30-day budget, hold only our data
    last = end_min + 60
    started = {SDXL: [10] * last, SD15: [5 if m < 2000 else 0 for m in range(last)]}
    errors = {SDXL: [3 if m >= end_min - 10 else (1 if m % 7 == 0 else 0) for m in range(last)],
              SD15: [1 if m % 13 == 0 and m < 2000 else 0 for m in range(last)]}  # fmt: skip
    # Minute m's increments belong to the base window [m, m+1) and show in the counter sampled at m+1.
    rows = [{"ws": m * MIN, "orch": A, "wf": wf, "started": float(started[wf][m]), "errors": {"timeout": float(errors[wf][m])},
             "computed": (m + 1) * MIN + 1000} for wf in (SDXL, SD15) for m in range(last)]  # fmt: skip
    put(warehouse, rows)
    # Each base window is computed a second after it ends; at 1 s past the end the last one is in, and windows end
    # at the last complete base window: end_min.
    statuses = [s for s in slo_status(warehouse, cfg, end_min * MIN + 1000) if s.slo == "failure_rate"]

    def counter(incs: list[int]) -> str:
        values, total = ["0"], 0
        for inc in incs:
            total += inc
            values.append(str(total))
        return " ".join(values)

    series = []
    for wf in (SDXL, SD15):
        pipeline, _, model = wf.partition("/")
        lab = {"pipeline": pipeline, "model_id": model, "gpu_id": "GPU-1"}
        series.append({"series": _labels("naap_streams_started_total", **lab), "values": counter(started[wf])})
        series.append({"series": _labels("naap_stream_errors_total", **lab, error_class="timeout"), "values": counter(errors[wf])})
    burn, budget = [], []
    for s in statuses:
        for name, _ in WINDOWS:
            if s.windows[name].burn_rate is not None:
                burn.append({"labels": _labels("naap_slo_burn_rate", slo="failure_rate", window=name, workflow=s.workflow),
                             "value": s.windows[name].burn_rate})  # fmt: skip
        budget.append({"labels": _labels("naap_slo_error_budget_remaining_ratio", slo="failure_rate", workflow=s.workflow),
                       "value": s.budget_remaining})  # fmt: skip
    # SD15 stopped starting streams at minute 2000, before the 1d window: only its 3d window has events and a rate,
    # here and in Prometheus.
    assert {s.workflow for s in statuses} == {OWN, SDXL, SD15} and len(burn) == 7 + 7 + 1
    at = f"{end_min}m"
    _run_promtool_test(tmp_path, series, [
        {"expr": 'naap_slo_burn_rate{slo="failure_rate"}', "eval_time": at, "exp_samples": burn},
        {"expr": 'naap_slo_error_budget_remaining_ratio{slo="failure_rate"}', "eval_time": at, "exp_samples": budget},
    ])  # fmt: skip


def test_alert_rules_fire_exactly_when_the_sql_conditions_hold(warehouse: Warehouse, tmp_path: Path) -> None:
    """The collector's exposed burn rates, fed to the alert rules, raise the alerts whose conditions scoring/slo.py
    computed in SQL — over cases where every condition, some, or none hold."""
    t = 1_800_000_000_000
    b, c, d = ("0x" + ch * 40 for ch in "bcd")
    put(warehouse, [
        {"ws": t - MIN, "orch": A, "wf": SDXL, "started": 10.0, "errors": {"timeout": 4.0}},  # burns everywhere
        {"ws": t - 5 * 60 * MIN, "orch": b, "wf": SDXL, "started": 100.0, "errors": {"timeout": 50.0}},  # old burst
        {"ws": t - MIN, "orch": c, "wf": SDXL, "started": 10.0, "errors": {"timeout": 2.0}},  # short burst, long good
        {"ws": t - 50 * MIN, "orch": c, "wf": SDXL, "started": 1000.0},
        {"ws": t - 40 * MIN, "orch": d, "wf": OWN, "scheduled": 60, "successful": 56},  # 30m: none; 1h .. 3d: 6.7
        {"ws": t - 20 * 60 * MIN, "orch": d, "wf": OWN, "scheduled": 60, "successful": 60},  # 1d, 3d: 3.3
    ])  # fmt: skip
    statuses: list[SloStatus] = slo_status(warehouse, load_config(), t + 30_000)
    fired = {sev: sorted((s.orchestrator, s.workflow, s.slo) for s in statuses
                         if any(s.alerts[f"{sev}_{k}"] for k in ("fast", "slow"))) for sev in ("page", "ticket")}  # fmt: skip
    assert fired["page"] and fired["ticket"] and len(fired["ticket"]) > len(fired["page"])  # the cases differ
    series = [{"series": _labels("naap_slo_burn_rate", orchestrator=s.orchestrator, workflow=s.workflow, slo=s.slo, window=n),
               "values": f"{s.windows[n].burn_rate!r}x10"}
              for s in statuses for n, _ in WINDOWS if s.windows[n].burn_rate is not None]  # fmt: skip
    checks = []
    for sev, name in (("page", "NaapSloBudgetBurnPage"), ("ticket", "NaapSloBudgetBurnTicket")):
        exp = [{"labels": _labels("ALERTS", alertname=name, alertstate="firing", severity=sev, orchestrator=o, workflow=w,
                                  slo=slo), "value": 1} for o, w, slo in fired[sev]]  # fmt: skip
        checks.append({"expr": f'ALERTS{{alertname="{name}"}}', "eval_time": "5m", "exp_samples": exp})
    _run_promtool_test(tmp_path, series, checks, evaluation="1m")


def test_a_config_without_recordable_slos_still_gives_an_alert_file(tmp_path: Path) -> None:
    data = yaml.safe_load((RULES.parent / "configs" / "sla-v1.yaml").read_text())
    data["version"] = "v1-test"
    data["slos"] = {"p2ff": 0.9}
    files = render_rules(parse_config(yaml.safe_dump(data), "test"))
    assert yaml.safe_load(files[RECORDING_FILE]) == {"groups": []}
    assert files[ALERT_FILE] == packaged_rules()[ALERT_FILE]  # the alerts do not depend on the config
    for name, text in files.items():
        (tmp_path / name).write_text(text)
        assert promtool("check", "rules", str(tmp_path / name)).returncode == 0
