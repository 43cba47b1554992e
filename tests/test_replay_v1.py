"""Replay of v1 scores: hours of synthetic history (a flaky scraper target, exporter restarts, late back-dated data,
a publisher that was down for a while, merges in between) published minute by minute, then every published score
replayed byte-identical — scores from their inputs and the inputs from the raw log — through the library and
through `naap replay`."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from scoring.history import insert_history, orchestrators
from scoring.inputs_v1 import as_stored, compute_inputs, read_inputs
from scoring.publish_v1 import publish_tick
from scoring.replay import published_scores, replay
from scoring.sla_config import load_config
from warehouse.client import Warehouse

HOUR = 3_600_000


def _start() -> int:
    return (int(time.time() * 1000) // HOUR - 4) * HOUR


def publish_history(wh: Warehouse, cfg, start: int, minutes: int, down: range = range(0), merge_at: int | None = None) -> int:  # noqa: ANN001
    """Run the publisher once a simulated minute (30 s after each minute), skipping the minutes in `down`."""
    published = 0
    for m in range(1, minutes + 1):
        if m in down:
            continue
        if m == merge_at:
            for table in ("samples", "scrapes", "score_inputs_v1", "sla_scores"):
                wh.command(f"OPTIMIZE TABLE {table} FINAL")
        published += len(publish_tick(wh, cfg, now_ms=start + m * 60_000 + 30_000, catchup_s=3600).scores)
    return published


def test_hours_of_published_scores_replay_byte_identical(warehouse: Warehouse) -> None:
    cfg = load_config()  # the released v1 config
    start = _start()
    insert_history(warehouse, start, hours=2.5, n=5, seed=3)
    published = publish_history(warehouse, cfg, start, minutes=150, down=range(70, 86), merge_at=60)
    rows = published_scores(warehouse, start, start + 3 * HOUR)
    assert len(rows) == published > 400
    periods = {r["period"] for r in rows}
    assert {"5m", "1h", "24h"} <= periods  # 24 h windows end on the hour: published, insufficient coverage
    results = replay(warehouse, rows)
    bad = [(r.period, r.window_end_ms, r.orchestrator, r.workflow, r.reason) for r in results if not r.identical]
    assert not bad, bad[:5]
    # The publisher was down for minutes 70-85: the windows it missed were caught up, none twice
    ends = sorted(r["window_end_ms"] for r in rows if r["period"] == "5m" and r["workflow"] == "" and r["orchestrator"] == rows[0]["orchestrator"])
    assert len(ends) == len(set(ends)) and ends == list(range(ends[0], ends[-1] + 1, 300_000))
    # Scores say what the profiles did: the steady orchestrator outscores the flaky one over the last hour
    fleet = dict(orchestrators(5, 3))
    last = {r["orchestrator"]: r for r in rows if r["period"] == "1h" and r["workflow"] == "" and r["window_end_ms"] == max(x["window_end_ms"] for x in rows if x["period"] == "1h")}
    by_profile = {fleet[o]: r for o, r in last.items()}
    assert by_profile["steady"]["status"] == "ok" and by_profile["flaky"]["status"] == "ok"
    assert by_profile["flaky"]["score"] < by_profile["steady"]["score"]


def test_late_rows_are_what_the_as_of_cut_off_keeps_out(warehouse: Warehouse) -> None:
    """Control for the test above: the late profile's back-dated rows exist, and recomputing a window's inputs as of
    later than its cut-off would change them — so byte-identical replays do depend on the cut-off."""
    cfg = load_config()
    start = _start()
    insert_history(warehouse, start, hours=0.5, n=5, seed=3)
    publish_history(warehouse, cfg, start, minutes=30)
    late = next(a for a, p in orchestrators(5, 3) if p == "late")
    changed = 0
    for m in range(5, 25):
        ws = start + m * 60_000
        stored = {(r["orchestrator"], r["workflow"]): as_stored(r) for r in read_inputs(warehouse, cfg, ws, ws + 1, start + HOUR, late)}
        later = {(r.orchestrator, r.workflow): r.values() for r in compute_inputs(warehouse, cfg, ws, start + 2 * HOUR).rows if r.orchestrator == late}
        changed += stored != later
    assert changed > 0


def _py(code: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=cwd)


def test_naap_replay_prints_identical_and_names_a_tampered_score(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[1]
    start = _start()
    setup = f"""
import sys; sys.path.insert(0, {str(root)!r}); sys.path.insert(0, {str(root / 'tests')!r})
from naap.settings import Settings
from warehouse.migrations import open_warehouse
from scoring.history import insert_history
from scoring.sla_config import load_config
from test_replay_v1 import publish_history
wh = open_warehouse(Settings(warehouse={{"data_dir": {str(tmp_path / 'wh')!r}}}).warehouse, True, "test")
insert_history(wh, {start}, hours=0.25, n=3)
print(publish_history(wh, load_config(), {start}, minutes=15))
wh.close()
"""
    made = _py(setup, root)
    assert made.returncode == 0, made.stderr
    replay_cmd = [sys.executable, "-m", "naap", "--log-level", "warning", "replay", "--data-dir", str(tmp_path / "wh"),
                  "--from", str(start), "--to", str(start + HOUR), "--period", "5m"]  # fmt: skip
    ok = subprocess.run(replay_cmd, capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    lines = ok.stdout.splitlines()
    assert lines and all(line.startswith("identical") for line in lines)
    assert "identical, 0 differ" in ok.stderr
    tamper = f"""
import sys; sys.path.insert(0, {str(root)!r})
from naap.settings import Settings
from warehouse.migrations import open_warehouse
wh = open_warehouse(Settings(warehouse={{"data_dir": {str(tmp_path / 'wh')!r}}}).warehouse, False, "test")
wh.command("ALTER TABLE sla_scores UPDATE detail = replaceOne(detail, '\\"coverage\\":', '\\"coverage\\":0.5,\\"was\\":') WHERE period = '5m' AND workflow = '' SETTINGS mutations_sync = 1")
wh.close()
"""
    t = _py(tamper, root)
    assert t.returncode == 0, t.stderr
    bad = subprocess.run(replay_cmd, capture_output=True, text=True, timeout=300)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "DIFFERS" in bad.stdout and "coverage: 0.5 -> " in bad.stdout and "was: " in bad.stdout, bad.stdout[:600]
    assert "Traceback" not in bad.stderr


def test_a_window_the_raw_log_begins_inside_is_recomputed_and_retention_is_named(warehouse: Warehouse) -> None:
    """The collector starts mid-minute: the first base window holds rows from the first sample on, and replay
    recomputes it from them (it is not "passed retention"). Once rows really are gone (deleted as retention
    would), the windows they were in are reported as unverifiable and taken as stored, never as a difference."""
    from scoring.replay import UNVERIFIABLE

    cfg = load_config()
    start = _start() + 30_000  # mid-minute
    insert_history(warehouse, start, hours=0.25, n=3, seed=5)
    publish_history(warehouse, cfg, start - 30_000, minutes=12)
    rows = published_scores(warehouse, start - HOUR, start + HOUR)
    assert rows
    results = replay(warehouse, rows)
    assert all(r.identical for r in results), [r.reason for r in results if not r.identical][:3]
    assert not [r.reason for r in results if r.reason], [r.reason for r in results if r.reason][:3]
    warehouse.command(f"ALTER TABLE samples DELETE WHERE ts < fromUnixTimestamp64Milli({start + 150_000}, 'UTC') "
                      "SETTINGS mutations_sync = 2")  # fmt: skip
    results = replay(warehouse, rows)
    assert all(r.identical for r in results), [r.reason for r in results if not r.identical][:3]
    named = [r.reason for r in results if r.reason]
    assert named and all(UNVERIFIABLE in why for why in named), named[:3]
