"""Error budgets (scoring/slo.py) on known score_inputs_v1 rows in a real chDB warehouse, and `naap slo`.

Every expected figure is worked out by hand in the comments: burn rate = bad / valid / (1 - objective), budget
remaining = 1 - the burn rate over the 30-day period; windows end at the last complete 60 s base window.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml

from scoring.slo import ALERTS, WINDOWS, SloStatus, slo_status, status_table, window_end
from scoring.sla_config import load_config, parse_config
from warehouse.client import Warehouse

A, B, C = ("0x" + c * 40 for c in "abc")
T = 1_800_000_000_000  # a base window boundary (multiple of 60 s): every window ends here
NOW = T + 30_000  # half way through the base window [T, T+60 s): not complete, so windows end at T
MIN, HOUR, DAY = 60_000, 3_600_000, 86_400_000
SDXL = "live-video-to-video/streamdiffusion-sdxl"
SD15 = "live-video-to-video/streamdiffusion-sd15"
OWN = ""  # the orchestrator's own row / the orchestrator as a whole
VERSION = load_config().version  # the current config's (scoring/sla_config.py CURRENT): what rows are read for


def put(wh: Warehouse, rows: list[dict[str, Any]], version: str = VERSION) -> None:
    """Insert score_inputs_v1 rows: `ws` (window start, ms), `orch`, `wf`, any data columns; computed 1 s after
    the window ended unless `computed` says when."""
    cols = sorted({k for r in rows for k in r} - {"ws", "orch", "wf", "computed"})
    names = ("window_start", "window_s", "orchestrator", "workflow", "config_version", "config_hash", "computed_ts", "as_of", *cols)
    data = [(r["ws"], 60, r["orch"], r["wf"], version, "h", r.get("computed", r["ws"] + MIN + 1000), r["ws"] + MIN,
             *(r.get(c, {} if c in ("errors", "p2ff_buckets", "startup_buckets") else 0) for c in cols)) for r in rows]  # fmt: skip
    wh.insert_rows("score_inputs_v1", names, data)


def by_key(statuses: list[SloStatus]) -> dict[tuple[str, str, str], SloStatus]:
    return {(s.orchestrator, s.workflow, s.slo): s for s in statuses}


def burns(s: SloStatus) -> dict[str, float | None]:
    return {name: s.windows[name].burn_rate for name, _ in WINDOWS}


def all_slis_config() -> Any:
    """v1 with an SLO on every SLI, and a pipeline/model_id entry whose latency targets differ from its model's."""
    data = yaml.safe_load(resources.files("scoring.configs").joinpath("sla-v1.yaml").read_text())
    data["version"] = "v1-test"
    data["slos"] = {"availability": 0.99, "output_fps": 0.95, "jitter": 0.9, "p2ff": 0.9, "startup": 0.8, "failure_rate": 0.99}
    data["workflows"]["other-pipeline/streamdiffusion-sdxl"] = {"output_fps": 20, "p2ff_s": 0.5, "startup_s": 2.0}
    return parse_config(yaml.safe_dump(data), "test")


def test_window_end_is_the_last_complete_base_window() -> None:
    cfg = load_config()
    assert window_end(cfg, NOW) == T
    assert window_end(cfg, T) == T  # [T-60 s, T) is complete at T
    assert window_end(cfg, T - 1) == T - MIN


def test_failure_rate_burns_over_every_window_with_per_window_caps(warehouse: Warehouse) -> None:
    cfg = load_config()  # failure_rate objective 0.99: budget 0.01
    put(warehouse, [
        {"ws": T - MIN, "orch": A, "wf": SDXL, "started": 10.0, "errors": {"timeout": 3.0, "model_error": 1.0}},  # bad 4
        {"ws": T - 3 * MIN, "orch": A, "wf": SDXL, "started": 0.0, "errors": {"timeout": 2.0}},  # no starts: bad 0
        {"ws": T - 10 * MIN, "orch": A, "wf": SDXL, "started": 20.0, "errors": {"timeout": 30.0}},  # capped: bad 20
        {"ws": T - 90 * MIN, "orch": A, "wf": SDXL, "started": 100.0},  # in 2 h, not in 1 h
        {"ws": T - 2 * DAY, "orch": A, "wf": SDXL, "started": 70.0, "errors": {"unknown": 5.0}},  # in 3 d, not in 1 d
        {"ws": T - 10 * DAY, "orch": A, "wf": SDXL, "started": 800.0, "errors": {"timeout": 10.0}},  # period only
        {"ws": T - 31 * DAY, "orch": A, "wf": SDXL, "started": 1000.0, "errors": {"timeout": 1000.0}},  # outside
        {"ws": T, "orch": A, "wf": SDXL, "started": 5.0, "errors": {"timeout": 5.0}},  # not complete at NOW
        {"ws": T - MIN, "orch": A, "wf": SD15, "started": 10.0},  # the orchestrator's other workflow
    ])  # fmt: skip
    got = by_key(slo_status(warehouse, cfg, NOW))
    s = got[(A, SDXL, "failure_rate")]
    b = 1 - 0.99
    # 5m: 10 valid, 4 bad | 30m, 1h: +20/20 -> 30, 24 | 2h, 6h, 1d: +100/0 -> 130, 24 | 3d: +70/5 -> 200, 29
    # period (30 d): +800/10 -> 1000, 39
    assert {n: (w.valid, w.bad) for n, w in s.windows.items()} == {
        "5m": (10, 4), "30m": (30, 24), "1h": (30, 24), "2h": (130, 24), "6h": (130, 24), "1d": (130, 24), "3d": (200, 29)}
    assert burns(s) == pytest.approx({"5m": 4 / 10 / b, "30m": 24 / 30 / b, "1h": 24 / 30 / b, "2h": 24 / 130 / b,
                                      "6h": 24 / 130 / b, "1d": 24 / 130 / b, "3d": 29 / 200 / b}, rel=1e-12)  # fmt: skip
    assert (s.period.valid, s.period.bad) == (1000, 39)
    assert s.budget_remaining == pytest.approx(1 - 39 / 1000 / b, rel=1e-12)  # -2.9: overspent
    assert (s.objective, s.period_s, s.window_end_ms) == (0.99, 30 * 86400, T)
    # 5m 40 and 1h 80 > 14.4; 30m 80 and 6h 18.5 > 6; 2h and 1d 18.5 > 3; 6h 18.5 and 3d 14.5 > 1
    assert s.alerts == {"page_fast": True, "page_slow": True, "ticket_fast": True, "ticket_slow": True}
    # The orchestrator as a whole sums its workflows: 5m 20 valid, 4 bad.
    whole = got[(A, OWN, "failure_rate")]
    assert (whole.windows["5m"].valid, whole.windows["5m"].bad) == (20, 4)
    assert whole.windows["5m"].burn_rate == pytest.approx(4 / 20 / b, rel=1e-12)
    assert got[(A, SD15, "failure_rate")].windows["5m"].burn_rate == 0


def test_alert_conditions_need_both_windows(warehouse: Warehouse) -> None:
    cfg = load_config()
    b = 1 - 0.99
    put(warehouse, [
        # B: an old burst only. 5m, 30m, 1h, 2h have no events (no rate); 6h, 1d, 3d: 50/100 -> burn 50.
        {"ws": T - 5 * HOUR, "orch": B, "wf": SDXL, "started": 100.0, "errors": {"timeout": 50.0}},
        # C: a short burst after a long good stretch. 5m, 30m: 2/10 -> 20; 1h and longer: 2/1010 -> 0.198.
        {"ws": T - MIN, "orch": C, "wf": SDXL, "started": 10.0, "errors": {"timeout": 2.0}},
        {"ws": T - 50 * MIN, "orch": C, "wf": SDXL, "started": 1000.0},
    ])  # fmt: skip
    got = by_key(slo_status(warehouse, cfg, NOW))
    old = got[(B, SDXL, "failure_rate")]
    assert burns(old) == pytest.approx({"5m": None, "30m": None, "1h": None, "2h": None, "6h": 50 / 100 / b,
                                        "1d": 50 / 100 / b, "3d": 50 / 100 / b})  # fmt: skip
    # Only the slow ticket's windows (6h & 3d) both burn: the others each lack a window with events.
    assert old.alerts == {"page_fast": False, "page_slow": False, "ticket_fast": False, "ticket_slow": True}
    short = got[(C, SDXL, "failure_rate")]
    assert short.windows["5m"].burn_rate == pytest.approx(2 / 10 / b) and short.windows["1h"].burn_rate == pytest.approx(2 / 1010 / b)
    # 5m burns at 20 > 14.4 but 1h at 0.198 does not: the long window says the budget is not really at risk.
    assert short.alerts == {a.name: False for a in ALERTS}


def test_first_computed_row_counts_and_rows_computed_later_do_not(warehouse: Warehouse) -> None:
    cfg = load_config()
    put(warehouse, [
        {"ws": T - MIN, "orch": A, "wf": SDXL, "started": 10.0, "errors": {"timeout": 1.0}, "computed": T + 1000},
        {"ws": T - MIN, "orch": A, "wf": SDXL, "started": 10.0, "errors": {"timeout": 9.0}, "computed": T + 2000},  # retry
        {"ws": T - 2 * MIN, "orch": A, "wf": SDXL, "started": 50.0, "computed": NOW + 1},  # computed after NOW
    ])  # fmt: skip
    put(warehouse, [{"ws": T - MIN, "orch": A, "wf": SDXL, "started": 10.0, "errors": {"timeout": 10.0}}], version=f"{VERSION}-other")
    put(warehouse, [{"ws": T - MIN, "orch": "", "wf": ""}])  # the window's computed-marker: nobody's row
    statuses = slo_status(warehouse, cfg, NOW)
    assert {(s.orchestrator, s.workflow) for s in statuses} == {(A, SDXL), (A, OWN)}
    s = by_key(statuses)[(A, SDXL, "failure_rate")]
    assert (s.windows["5m"].valid, s.windows["5m"].bad) == (10, 1)
    # Later, the row computed after the first NOW counts too.
    s = by_key(slo_status(warehouse, cfg, NOW + 1))[(A, SDXL, "failure_rate")]
    assert (s.windows["5m"].valid, s.windows["5m"].bad) == (60, 1)


def test_availability_is_the_orchestrators_and_repeats_on_its_workflows(warehouse: Warehouse) -> None:
    cfg = load_config()  # availability objective 0.99
    b = 1 - 0.99
    put(warehouse, [
        {"ws": T - MIN, "orch": A, "wf": OWN, "scheduled": 6, "successful": 3},
        {"ws": T - 40 * MIN, "orch": A, "wf": OWN, "scheduled": 6, "successful": 6},
        {"ws": T - 20 * DAY, "orch": A, "wf": OWN, "scheduled": 6, "successful": 0},
        {"ws": T - MIN, "orch": A, "wf": SDXL, "started": 1.0},
        {"ws": T - MIN, "orch": B, "wf": OWN, "scheduled": 6, "successful": 6},  # B has no workflow rows
    ])  # fmt: skip
    got = by_key(slo_status(warehouse, cfg, NOW))
    own = got[(A, OWN, "availability")]
    # 5m, 30m: 3 bad of 6; 1h .. 3d: 3 of 12; period: 9 of 18
    assert burns(own) == pytest.approx({"5m": 3 / 6 / b, "30m": 3 / 6 / b, "1h": 3 / 12 / b, "2h": 3 / 12 / b,
                                        "6h": 3 / 12 / b, "1d": 3 / 12 / b, "3d": 3 / 12 / b})  # fmt: skip
    assert own.budget_remaining == pytest.approx(1 - 9 / 18 / b)
    assert got[(A, SDXL, "availability")].as_dict() == {**own.as_dict(), "workflow": SDXL}
    clean = got[(B, OWN, "availability")]
    assert clean.budget_remaining == 1.0 and clean.alerts == {a.name: False for a in ALERTS}
    assert {k for k in got if k[0] == B} == {(B, OWN, "availability")}  # no workflow: no workflow SLOs


def test_fps_jitter_and_latency_slis(warehouse: Warehouse) -> None:
    cfg = all_slis_config()
    other = "other-pipeline/streamdiffusion-sdxl"  # its own entry: P2FF target 0.5 s, startup 2.0 s
    inf = float("inf")
    put(warehouse, [
        {"ws": T - MIN, "orch": A, "wf": SDXL, "fps_n": 12, "fps_ok": 9, "jitter_n": 4, "jitter_ok": 4,
         # cumulative buckets: P2FF target 1.0 s -> 6 of 8 within; startup target 5.0 s -> 1 of 2
         "p2ff_buckets": {0.5: 2.0, 1.0: 6.0, 2.0: 7.0, inf: 8.0}, "startup_buckets": {2.0: 0.0, 5.0: 1.0, inf: 2.0}},
        {"ws": T - MIN, "orch": A, "wf": other,
         # the same buckets, but this workflow's targets are 0.5 s (2 of 8) and 2.0 s (0 of 2)
         "p2ff_buckets": {0.5: 2.0, 1.0: 6.0, 2.0: 7.0, inf: 8.0}, "startup_buckets": {2.0: 0.0, 5.0: 1.0, inf: 2.0}},
        {"ws": T - MIN, "orch": A, "wf": "x/unknown-model", "p2ff_buckets": {1.0: 1.0, inf: 4.0}},  # default 1.0 s: 1 of 4
    ], version=cfg.version)  # fmt: skip
    got = by_key(slo_status(warehouse, cfg, NOW))

    def five(wf: str, sli: str) -> tuple[float, float, float | None]:
        w = got[(A, wf, sli)].windows["5m"]
        return w.valid, w.bad, w.burn_rate

    assert five(SDXL, "output_fps") == pytest.approx((12, 3, 3 / 12 / (1 - 0.95)))
    assert five(SDXL, "jitter") == (4, 0, 0.0)
    assert five(SDXL, "p2ff") == pytest.approx((8, 2, 2 / 8 / (1 - 0.9)))
    assert five(SDXL, "startup") == pytest.approx((2, 1, 1 / 2 / (1 - 0.8)))
    assert five(other, "p2ff") == pytest.approx((8, 6, 6 / 8 / (1 - 0.9)))
    assert five(other, "startup") == pytest.approx((2, 2, 2 / 2 / (1 - 0.8)))
    assert five("x/unknown-model", "p2ff") == pytest.approx((4, 3, 3 / 4 / (1 - 0.9)))
    assert five(OWN, "p2ff") == pytest.approx((20, 11, 11 / 20 / (1 - 0.9)))  # 8 + 8 + 4 events, 2 + 6 + 3 late
    # No FPS windows in `other`: no rate, no budget figure, no alert.
    none = got[(A, other, "output_fps")]
    assert none.budget_remaining is None and burns(none) == {n: None for n, _ in WINDOWS}
    assert none.alerts == {a.name: False for a in ALERTS}
    # Every SLO but availability: A has no orchestrator row (no scrape slots) in these windows.
    assert {k[2] for k in got if k[:2] == (A, SDXL)} == set(cfg.spec.slos) - {"availability"}


def test_status_table_and_json(warehouse: Warehouse) -> None:
    put(warehouse, [{"ws": T - MIN, "orch": A, "wf": OWN, "scheduled": 4, "successful": 3}])
    statuses = slo_status(warehouse, load_config(), NOW)
    lines = status_table(statuses)
    assert lines[0].split() == ["orchestrator", "workflow", "slo", "objective", "budget_left", "5m", "30m", "1h", "2h",
                                "6h", "1d", "3d", "alerts"]  # fmt: skip
    # 1 bad of 4 over every window: burn 25, budget 1 - 25 = -2400 %; every condition holds
    assert lines[1].split() == [A, "-", "availability", "99%", "-2400.0%", *["25.00"] * 7,
                                "page_fast,page_slow,ticket_fast,ticket_slow"]  # fmt: skip
    d = json.loads(json.dumps(statuses[0].as_dict()))
    assert list(d["windows"]) == [n for n, _ in WINDOWS] and d["period"] == {"valid": 4, "bad": 1, "burn_rate": pytest.approx(25)}


# -- the CLI -----------------------------------------------------------------------------------------------------


def _naap(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "naap", *args], capture_output=True, text=True, timeout=120)


def test_naap_slo_reads_a_warehouse_and_never_creates_one(tmp_path: Path) -> None:
    typo = tmp_path / "wherehouse"
    proc = _naap("slo", "--data-dir", str(typo))
    assert proc.returncode == 1 and "no warehouse at" in proc.stderr and not typo.exists()
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    made = _naap("warehouse", "migrate", "--data-dir", str(tmp_path / "wh"))
    assert made.returncode == 0, made.stderr
    empty = _naap("slo", "--data-dir", str(tmp_path / "wh"), "--at", str(NOW))
    assert empty.returncode == 1 and "no SLO data" in empty.stderr
    # chDB opens one data directory per process and this one holds the session's: insert from another process.
    rows = [{"ws": T - MIN, "orch": A, "wf": OWN, "scheduled": 4, "successful": 3},
            {"ws": T - MIN, "orch": B, "wf": OWN, "scheduled": 4, "successful": 4}]  # fmt: skip
    code = ("import json, sys; from warehouse.client import Warehouse; from test_slo import put\n"
            f"wh = Warehouse('chdb://{tmp_path / 'wh' / 'warehouse'}', 'naap'); put(wh, json.loads(sys.argv[1])); wh.close()")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), str(Path(__file__).parent.parent)])}
    ins = subprocess.run([sys.executable, "-c", code, json.dumps(rows)], capture_output=True, text=True, env=env, timeout=120)
    assert ins.returncode == 0, ins.stderr
    out = _naap("slo", "--data-dir", str(tmp_path / "wh"), "--at", str(NOW), "--format", "json", "--orchestrator", A.upper())
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert [(d["orchestrator"], d["workflow"], d["slo"]) for d in lines] == [(A, "", "availability")]
    assert lines[0]["windows"]["5m"] == {"valid": 4.0, "bad": 1.0, "burn_rate": pytest.approx(1 / 4 / (1 - 0.99))}
    table = _naap("slo", "--data-dir", str(tmp_path / "wh"), "--at", str(NOW))
    assert table.returncode == 0 and [line.split()[0] for line in table.stdout.splitlines()] == ["orchestrator", A, B]
