"""Scheduling at scale and honest availability: even spread, exact shards, slots the scraper missed or could
not judge are void, and the score's availability leaves them out."""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import time
from datetime import timezone
from pathlib import Path

from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from exporter.common.net import free_port
from discovery.target import make_target
from warehouse.client import Warehouse
from scoring.compute import compute_scores
from scraper import errors
from scraper.fetch import Fetcher
from scraper.schedule import ScrapeScheduler, in_shard, offset_s
from scraper.scrape import Scraper
from scraper.sink import SCRAPE_ROW_COLUMNS, VOID_COLUMNS
from sink_helpers import declaring, sink_for

GOOD = b'g{i="1"} 1\ng{i="2"} 2\n'


def _targets(n: int) -> list:
    return [make_target(f"http://10.{i // 65536}.{i // 256 % 256}.{i % 256}:9935/metrics", f"0x{i:040x}") for i in range(n)]


def test_shards_split_the_targets_exactly() -> None:
    targets = _targets(10_000)
    for n in (1, 2, 3, 7, 16):
        owners = [[i for i in range(n) if in_shard(t, i, n)] for t in targets]
        assert all(len(o) == 1 for o in owners)  # every target in exactly one shard
        sizes = [sum(1 for o in owners if o[0] == i) for i in range(n)]
        assert min(sizes) > 0.8 * len(targets) / n  # and the split is even


def test_offsets_spread_targets_evenly_over_the_interval_in_every_shard() -> None:
    interval = 15.0
    for shard in range(4):
        offs = [offset_s(t, interval) for t in _targets(8_000) if in_shard(t, shard, 4)]
        per_second = [0] * 15
        for o in offs:
            per_second[int(o)] += 1
        mean = len(offs) / 15
        assert max(per_second) < 1.25 * mean and min(per_second) > 0.75 * mean, per_second  # no herd
        assert offs == [offset_s(t, interval) for t in _targets(8_000) if in_shard(t, shard, 4)]  # stable


async def test_naap_scrape_shard_splits_a_target_file(tmp_path: Path) -> None:
    dead = free_port()
    urls = [f"http://127.0.0.1:{dead}/metrics?t={i}" for i in range(30)]  # nothing listens: fast lines
    targets = tmp_path / "targets.json"
    targets.write_text(json.dumps([{"targets": urls, "labels": {}}]))

    def run(shard: str) -> list[str]:
        proc = subprocess.run(
            [sys.executable, "-m", "naap", "--log-level", "warning", "scrape", "--once", "--allow-loopback",
             "--targets", str(targets), "--shard", shard, "--data-dir", str(tmp_path / shard.replace("/", "of"))],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        lines = [json.loads(line) for line in proc.stdout.splitlines()]
        assert all(line["error"] == "connect" for line in lines), (lines, proc.stderr)
        return [line["target"] for line in lines]

    got = await asyncio.gather(*(asyncio.to_thread(run, f"{i}/3") for i in range(3)))
    assert sorted(u for shard in got for u in shard) == sorted(urls)  # all of them, none twice
    assert all(got), got  # each shard has some (30 targets: an empty shard has odds of 1 in 60,000)


async def _serve(routes: dict[str, bytes]) -> tuple[web.AppRunner, int]:
    def handler(body: bytes):  # noqa: ANN202
        async def h(_r: web.Request) -> web.Response:
            return web.Response(body=body, content_type="text/plain")

        return h

    app = web.Application()
    for path, body in routes.items():
        app.router.add_get(path, handler(body))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, port


async def _until(predicate, timeout_s: float = 20.0) -> None:  # noqa: ANN001
    """Poll `predicate` (every 0.1 s) until it holds; the deadline only guards against a hang."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.1)


async def test_a_stalled_loop_leaves_void_rows_and_a_paused_window(warehouse: Warehouse) -> None:
    a, b = "0x" + "a" * 40, "0x" + "b" * 40
    runner, port = await _serve({"/a": declaring(a, GOOD), "/b": declaring(b, GOOD)})
    sink = sink_for(warehouse, flush_interval_s=0.1)
    stop = asyncio.Event()
    writer = asyncio.create_task(sink.writer.run(stop))

    def scraped_since(ts_ms: int) -> bool:  # each target has a successful row for a slot at or after ts_ms
        q = "SELECT uniqExact(orchestrator) FROM scrapes WHERE up = 1 AND toUnixTimestamp64Milli(scheduled_ts) >= {t:Int64}"
        return warehouse.scalar(q, {"t": ts_ms}) == 2

    # 1 s limits, far above a loopback answer's time; a 4 s stall against a 2 s threshold, so only a stall far
    # longer than the load's own hiccups makes a paused window.
    async with Fetcher(timeout_s=1.0, max_body_bytes=1 << 20, allow_loopback=True) as fetcher:
        scraper = Scraper(fetcher, sink)
        sched = ScrapeScheduler(scraper, 1.0, scheduler=AsyncIOScheduler(timezone=timezone.utc), timeout_s=1.0,
                                pause_threshold_s=2.0)  # fmt: skip
        sched.set_targets([make_target(f"http://127.0.0.1:{port}/a", a), make_target(f"http://127.0.0.1:{port}/b", b)])
        sched.start()
        try:
            await _until(lambda: scraped_since(0))  # both scraped before the stall: the gap has a start
            stall_start = int(time.time() * 1000)
            time.sleep(4.0)  # the whole process stops running for 4 s (a GC storm, a paused VM, ...)
            stall_end = int(time.time() * 1000)
            await _until(lambda: scraped_since(stall_end + 1000))  # scraping resumed, a slot past the catch-up
        finally:
            sched.shutdown()
    stop.set()
    await writer
    await runner.cleanup()
    assert sched.missed >= 4 and sched.telemetry.void_windows.labels("paused")._value.get() >= 1
    rows = warehouse.query(
        "SELECT orchestrator, error_class, up, void, toUnixTimestamp64Milli(scheduled_ts) FROM scrapes ORDER BY 5"
    ).rows
    missed = [r for r in rows if r[1] == errors.MISSED]
    assert all(r[3] == 1 and r[2] == 0 for r in missed)
    # One row per slot and target: nothing scheduled is lost, nothing is counted twice.
    for orch in (a, b):
        slots = [r[4] for r in rows if r[0] == orch]
        assert len(slots) == len(set(slots))
        steps = {y - x for x, y in zip(slots, slots[1:])}
        assert steps == {1000}, steps
        # a 4 s stall holds at least 3 of the target's slots; only the latest can still run: 2 or more missed
        assert sum(1 for r in missed if r[0] == orch and stall_start <= r[4] <= stall_end) >= 2, missed
    paused = warehouse.query(
        "SELECT toUnixTimestamp64Milli(start_ts), toUnixTimestamp64Milli(end_ts) FROM scraper_void WHERE reason = 'paused'"
    ).rows  # fmt: skip
    # Exactly one window covers the injected stall, from before it to after it (load may add others elsewhere).
    [(start, end)] = [(s, e) for s, e in paused if s < stall_end and e > stall_start]
    assert start <= stall_start and end >= stall_end and end - start >= 4000
    # outside the paused windows all is well
    assert all(r[2] == 1 for r in rows if r[3] == 0 and not any(s <= r[4] < e for s, e in paused))


async def test_a_round_where_every_target_is_unreachable_is_void(warehouse: Warehouse) -> None:
    sink = sink_for(warehouse, flush_interval_s=0.1)
    stop = asyncio.Event()
    writer = asyncio.create_task(sink.writer.run(stop))
    voided = lambda: sched.telemetry.void_windows.labels("all_unreachable")._value.get()  # noqa: E731
    runner, port = await _serve({"/ok": declaring("0x" + "f" * 40, GOOD)})

    def judged_good_rounds() -> int:  # rounds with a successful scrape that the watchdog has judged already
        q = "SELECT DISTINCT intDiv(toUnixTimestamp64Milli(scheduled_ts), 500) FROM scrapes WHERE up = 1"
        return sum(1 for (k,) in warehouse.query(q).rows if k not in sched._rounds)

    try:
        # 2 s limit, far above a loopback answer's time (the dead targets refuse at once); rounds are judged
        # that long (+1 s) after they end.
        async with Fetcher(timeout_s=2.0, max_body_bytes=1 << 20, allow_loopback=True) as fetcher:
            scraper = Scraper(fetcher, sink)
            sched = ScrapeScheduler(scraper, 0.5, timeout_s=2.0, void_min_targets=3)
            dead = [make_target(f"http://127.0.0.1:{free_port()}/metrics", f"0x{i:040x}") for i in range(4)]
            sched.set_targets(dead)  # the scraper's own network is gone: nothing answers
            sched.start()
            await _until(lambda: voided() >= 2)
            sched.set_targets([*dead, make_target(f"http://127.0.0.1:{port}/ok", "0x" + "f" * 40)])
            await _until(lambda: judged_good_rounds() >= 2)  # rounds with one target answering: judged, not void
            sched.shutdown()
    finally:
        stop.set()
        await writer
        await runner.cleanup()
    open_rounds = set(sched._rounds)  # never judged: the stop came first
    windows = warehouse.query(
        "SELECT toUnixTimestamp64Milli(start_ts), toUnixTimestamp64Milli(end_ts) FROM scraper_void WHERE reason = 'all_unreachable'"
    ).rows  # fmt: skip
    assert sum(e - s for s, e in windows) == 500 * voided()  # adjacent void rounds are merged into one window
    void_rounds = {k for s, e in windows for k in range(s // 500, e // 500)}
    # Expected from this run's own rows: a judged round is void exactly when 3 or more targets ran in it and
    # none could be reached (missed slots did not run).
    rows = warehouse.query(
        "SELECT intDiv(toUnixTimestamp64Milli(scheduled_ts), 500), error_class, up FROM scrapes WHERE error_class != 'missed'"
    ).rows  # fmt: skip
    rounds: dict[int, list[int]] = {}
    for k, error_class, _up in rows:
        r = rounds.setdefault(k, [0, 0])
        r[0] += 1
        r[1] += error_class in errors.UNREACHABLE
    expected = {k for k, (ran, unreachable) in rounds.items() if ran >= 3 and unreachable == ran and k not in open_rounds}
    assert void_rounds == expected and len(expected) >= 2, (void_rounds, expected)
    # the good target's successful rows are in no window, and at least two of their rounds were judged
    good = {k for k, _e, up in rows if up}
    assert not good & void_rounds and len(good - open_rounds) >= 2


def test_availability_leaves_void_rows_and_windows_out(warehouse: Warehouse, fast_sla) -> None:  # noqa: ANN001
    end = 1_800_000_000_000
    start = end - 300_000
    a, b = "0x" + "a" * 40, "0x" + "b" * 40
    rows = []
    for i in range(20):
        ts = start + i * 15_000
        # a: up, except 4 failures inside the scraper's paused window and 2 missed (void) slots
        in_pause = 5 <= i < 9
        up_a = 0 if in_pause else 1
        rows.append((ts, ts, "http://a", a, "a:1", up_a, 0.01, 1, 1, "ok" if up_a else "timeout", "", "s1", "0/1", 0, "checked", {}))
        # b: a real outage of 4 scrapes outside any void window; scraped by another scraper
        up_b = 0 if 12 <= i < 16 else 1
        rows.append((ts, ts, "http://b", b, "b:1", up_b, 0.01, 1, 1, "ok" if up_b else "connect", "", "s2", "0/1", 0, "checked", {}))
    rows.append((start + 1, start + 1, "http://a", a, "a:1", 0, 0.0, 0, 0, "missed", "", "s1", "0/1", 1, "", {}))
    rows.append((start + 2, start + 2, "http://a", a, "a:1", 0, 0.0, 0, 0, "missed", "", "s1", "0/1", 1, "", {}))
    warehouse.insert_rows("scrapes", SCRAPE_ROW_COLUMNS, rows)
    # s1 was paused during a's failures, and later saw a round where nothing answered; the windows belong to s1,
    # so b's rows (scraped by s2) count in full, its real outage included.
    warehouse.insert_rows(
        "scraper_void", VOID_COLUMNS,
        [(start + 5 * 15_000 - 100, start + 9 * 15_000 - 100, "s1", "0/1", "paused", ""),
         (start + 12 * 15_000, start + 16 * 15_000, "s1", "0/1", "all_unreachable", "")],
    )  # fmt: skip
    scores = {s.orchestrator: s.detail["subscores"]["availability"] for s in compute_scores(warehouse, fast_sla, "5m", end)}
    # a: 20 slots − 4 in the pause − 4 in the all-unreachable window (both s1's); the missed rows are void
    assert scores[a]["scheduled"] == 12 and scores[a]["successful"] == 12 and scores[a]["value"] == 1.0
    assert scores[b]["scheduled"] == 20 and scores[b]["successful"] == 16 and scores[b]["value"] == 0.8


async def test_scheduled_scrapes_start_close_to_their_slots() -> None:
    """200 targets at a 1 s interval against one small server: slots are hit, hardly any missed or late."""
    runner, port = await _serve({"/m": GOOD})
    got: list[int] = []
    try:
        async with Fetcher(timeout_s=1.0, max_body_bytes=1 << 20, allow_loopback=True, per_host=64) as fetcher:
            scraper = Scraper(fetcher, None, max_concurrency=64)
            sched = ScrapeScheduler(scraper, 1.0, timeout_s=1.0)
            original = sched._run

            async def timed(t):  # noqa: ANN001, ANN202
                got.append(sched._offsets_ms[t.key])  # the slot offset this run serves
                await original(t)

            sched._run = timed  # type: ignore[method-assign]
            sched.set_targets([make_target(f"http://127.0.0.1:{port}/m?i={i}", f"0x{i:040x}") for i in range(200)])
            sched.start()
            await _until(lambda: sched.scheduled >= 400)
            sched.shutdown()
    finally:
        await runner.cleanup()
    # Slots not run or run past the lateness tolerance: a few under a heavy load, never a pattern.
    assert sched.missed + sched.late <= 0.02 * sched.scheduled, (sched.missed, sched.late, sched.scheduled)
    # the runs serve slots spread over the interval rather than bunched at its start (binned by the scheduler's
    # own slot offsets: wall-clock start times bunch whenever a loaded machine delays the loop)
    per_tenth = [sum(1 for g in got if k * 100 <= g < (k + 1) * 100) for k in range(10)]
    assert max(per_tenth) < 2.5 * statistics.mean(per_tenth), per_tenth
