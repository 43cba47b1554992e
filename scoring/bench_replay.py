"""`naap bench replay`: how fast published v1 scores replay, measured on a generated history, projected to 30 days.

Loads `hours` of a synthetic fleet (scoring/history.py: flaky, restarting, late and idle orchestrators among steady
ones) into a fresh embedded warehouse, publishes it as the collector would (a publishing tick every 5 simulated
minutes), then replays every published score twice: from the stored inputs (`naap replay --no-inputs`) and with
every input recomputed from the raw log (`naap replay`). Prints the measured times and a linear projection to
30 days × 100 orchestrators (the issue's goal: ≤ 30 s), with the ratio of the two replay modes.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from scoring.history import insert_history
from scoring.publish_v1 import publish_tick
from scoring.replay import published_scores, replay
from scoring.sla_config import load_config
from warehouse.client import Warehouse
from warehouse.migrations import apply_migrations

HOUR = 3_600_000
GOAL_S = 30.0


def run_bench(orchestrators: int = 100, hours: float = 24.0, interval_s: int = 10, seed: int = 1,
              data_dir: str | None = None) -> list[str]:  # fmt: skip
    """Run the benchmark; returns the lines it printed (also printed as they come)."""
    lines: list[str] = []

    def say(line: str) -> None:
        print(line, flush=True)
        lines.append(line)

    tmp = Path(data_dir) if data_dir else Path(tempfile.mkdtemp(prefix="naap-bench-replay-"))
    wh = Warehouse(f"chdb://{tmp / 'warehouse'}", "bench")
    try:
        apply_migrations(wh)
        cfg = load_config()
        start = (int(time.time() * 1000) // HOUR - int(hours) - 2) * HOUR
        t = time.perf_counter()
        n = insert_history(wh, start, hours, orchestrators, interval_s, seed)
        load_s = time.perf_counter() - t
        say(f"history: {orchestrators} orchestrators x {hours:g} h, scrape every {interval_s} s: {n:,} samples "
            f"loaded in {load_s:.1f} s ({n / load_s:,.0f}/s)")  # fmt: skip
        t = time.perf_counter()
        published = 0
        ticks = int(hours * 12)
        for k in range(1, ticks + 1):
            published += len(publish_tick(wh, cfg, now_ms=start + k * 300_000 + 30_000, catchup_s=3600).scores)
        pub_s = time.perf_counter() - t
        windows = ticks * 5
        say(f"publish: {windows} base windows reduced and {published:,} scores published in {pub_s:.1f} s "
            f"({pub_s / windows * 1000:.0f} ms per base window of the whole fleet)")  # fmt: skip
        rows = published_scores(wh, start, start + int((hours + 1) * HOUR))
        fast_s = _timed(lambda: replay(wh, rows, verify_inputs=False), rows, "from stored inputs", say)
        full_s = _timed(lambda: replay(wh, rows, verify_inputs=True), rows, "inputs recomputed from raw", say)
        scale = (30 * 24 / hours) * (100 / orchestrators)
        for label, secs in (("from stored inputs", fast_s), ("inputs recomputed from raw", full_s)):
            projected = secs * scale
            verdict = "meets" if projected <= GOAL_S else f"misses by {projected / GOAL_S:.1f}x"
            say(f"projected 30 days x 100 orchestrators, {label}: {projected:,.0f} s ({verdict} the {GOAL_S:.0f} s goal)")
        say(f"ratio: recomputing inputs from raw costs {full_s / fast_s:.1f}x replaying from stored inputs")
    finally:
        wh.close()
        if not data_dir:
            shutil.rmtree(tmp, ignore_errors=True)
    return lines


def _timed(fn, rows, label, say) -> float:  # noqa: ANN001
    t = time.perf_counter()
    results = fn()
    secs = time.perf_counter() - t
    same = sum(1 for r in results if r.identical)
    say(f"replay {label}: {len(results):,} scores in {secs:.2f} s ({len(results) / secs:,.0f}/s), {same:,} identical")
    return secs
