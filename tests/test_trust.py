"""Data you can trust (design §9): identity checked, published windows immutable, missing data never paying,
late slots voided, load shed before anything scraped is dropped, a clean stop losing nothing."""

from __future__ import annotations

import asyncio
import time

import pytest
from aiohttp import web

from discovery.target import make_target
from exporter.common.net import free_port
from scoring.compute import compute_scores
from scoring.replay import published_scores, replay
from scoring.sla_config import released_configs
from scoring.store import publish_scores
from scraper import errors
from scraper.fetch import Fetcher
from scraper.rows import SAMPLE_COLUMNS
from scraper.schedule import ScrapeScheduler
from scraper.scrape import Scraper
from scraper.sink import SCRAPE_COLUMNS
from sink_helpers import declaring, sink_for
from warehouse.client import Warehouse

X, Y = "0x" + "1" * 40, "0x" + "2" * 40


async def _serve(routes: dict) -> tuple[web.AppRunner, str]:  # path -> bytes or a callable returning bytes
    app = web.Application()
    for path, body in routes.items():
        async def handler(_r: web.Request, body=body) -> web.Response:  # noqa: ANN001
            data = body() if callable(body) else body
            if asyncio.iscoroutine(data):
                data = await data
            return web.Response(body=data, content_type="text/plain")

        app.router.add_get(path, handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}"


# -- identity ---------------------------------------------------------------------------------------------------
async def test_a_scrape_counts_only_for_the_orchestrator_the_exporter_declares(warehouse: Warehouse) -> None:
    body = b"m 1\n"
    runner, base = await _serve({"/x": declaring(X, body), "/none": body, "/blank": declaring("", body)})
    sink = sink_for(warehouse)
    try:
        async with Fetcher(timeout_s=5, max_body_bytes=1 << 20, allow_loopback=True) as fetcher:
            scraper = Scraper(fetcher, sink)
            checked = await scraper.scrape(make_target(f"{base}/x", X))
            impostor = await scraper.scrape(make_target(f"{base}/x", Y))  # the exporter there is X's
            undeclared = await scraper.scrape(make_target(f"{base}/none", X))  # no build info at all
            blank = await scraper.scrape(make_target(f"{base}/blank", X))  # build info without an address
            self_declared = await scraper.scrape(make_target(f"{base}/x"))  # a URL without an orchestrator
            anonymous = await scraper.scrape(make_target(f"{base}/none"))
    finally:
        await runner.cleanup()
    assert (checked.up, checked.identity, checked.orchestrator) == (True, "checked", X)
    for r in (impostor, undeclared, blank, anonymous):
        assert r.error_class == errors.IDENTITY_MISMATCH and not r.up and r.samples == 0
    assert "declares " + X in impostor.error
    assert (self_declared.up, self_declared.identity, self_declared.orchestrator) == (True, "self_declared", X)
    assert await sink.writer.flush()
    stored = warehouse.query("SELECT orchestrator, count() FROM samples GROUP BY orchestrator").rows
    assert stored == [(X, 4)]  # two good scrapes of two samples each; the failed ones stored nothing
    rows = warehouse.query("SELECT orchestrator, error_class, identity FROM scrapes ORDER BY ts").rows
    assert [r[1] for r in rows].count(errors.IDENTITY_MISMATCH) == 4
    assert (X, "ok", "self_declared") in rows


# -- published windows are immutable --------------------------------------------------------------------------------
async def test_a_published_score_replays_to_the_same_bytes_whatever_arrives_later(warehouse: Warehouse) -> None:
    """Publish, then scrape samples back-dated into the published window (stored, as Prometheus would store
    them), then replay: the same bytes. Without the as-of cut-off the late samples would change the score."""
    from importlib import resources

    from scoring.sla_config import parse_config

    text = resources.files("scoring.configs").joinpath("sla-v0.1.yaml").read_text()
    cfg = parse_config(text.replace("step_s: 10", "step_s: 1"), "test")  # windows end on whole seconds
    now = int(time.time() * 1000)
    fps = {"v": 20.0}
    stamp = {"ts": None}

    def body() -> bytes:
        line = f'naap_stream_output_fps{{model_id="streamdiffusion-sdxl",stream_id="s1"}} {fps["v"]}'
        line += f" {stamp['ts']}\n" if stamp["ts"] else "\n"
        return declaring(X, line.encode())

    runner, base = await _serve({"/m": body})
    sink = sink_for(warehouse)
    target = make_target(f"{base}/m", X)
    try:
        async with Fetcher(timeout_s=5, max_body_bytes=1 << 20, allow_loopback=True) as fetcher:
            scraper = Scraper(fetcher, sink)
            for _ in range(4):
                await scraper.scrape(target)
                await asyncio.sleep(0.02)
            assert await sink.writer.flush()
            await asyncio.sleep(1.3)  # the window (whole seconds) closes after the scrapes
            published = publish_scores(warehouse, cfg, as_of_margin_s=0.2)
            [five] = [s for s in published if s.period == "5m"]
            assert five.status == "ok" and five.score == 100.0
            # Later: a target back-dates terrible FPS into the published window (within Prometheus' 1 h bound).
            fps["v"], stamp["ts"] = 1.0, five.window_end_ms - 30_000
            time.sleep(0.05)
            late = await scraper.scrape(target)
            assert late.up and late.samples == 2
            assert await sink.writer.flush()
    finally:
        await runner.cleanup()
    # Stored at its own time, not re-dated, as Prometheus would store it ...
    assert warehouse.scalar(
        "SELECT count() FROM samples WHERE value = 1 AND metric = 'naap_stream_output_fps' "
        "AND toUnixTimestamp64Milli(ts) = {t:Int64}", {"t": five.window_end_ms - 30_000}) == 1  # fmt: skip
    # ... and the published score replays byte-identical.
    rows = published_scores(warehouse, now - 3_600_000, now + 3_600_000)
    results = replay(warehouse, rows, {cfg.version: cfg})
    assert results and all(r.identical for r in results), [(r.period, r.reason, r.published, r.recomputed) for r in results if not r.identical]
    # Control: recomputed without the cut-off, the late sample does change the same window's figures.
    again = {s.period: s for s in compute_scores(warehouse, cfg, "5m", five.window_end_ms)}["5m"]
    assert again.detail_json() != five.detail_json()


# -- missing data never pays ----------------------------------------------------------------------------------------
def test_hiding_the_fps_family_never_scores_above_exposing_a_low_fps(warehouse: Warehouse) -> None:
    end = 1_800_000_000_000
    start = end - 300_000
    hider, honest = "0x" + "c" * 40, "0x" + "d" * 40
    rows = [(start + i * 15_000, start + i * 15_000, "http://x", o, "x:1", 1, 0.01, 1, 1, "ok", "", "s", "0/1")
            for o in (hider, honest) for i in range(10)]  # fmt: skip
    warehouse.insert_rows("scrapes", SCRAPE_COLUMNS, rows)
    n = 5
    warehouse.insert_columns("samples", SAMPLE_COLUMNS, [
        [start + i * 15_000 for i in range(n)], [honest] * n, ["x:1"] * n, ["naap_stream_output_fps"] * n,
        [{"model_id": "streamdiffusion-sdxl", "stream_id": "s"}] * n, [4.0] * n,
    ])  # fmt: skip
    current = {s.orchestrator: s for s in compute_scores(warehouse, released_configs()["v0.1"], "5m", end)}
    assert current[honest].status == "ok" and current[honest].score is not None and current[honest].score < 100
    assert current[hider].status == "insufficient_data" and current[hider].score is None
    # v0 (released before the rule) left the missing subscore out: the hider scored 100. It still replays so.
    v0 = {s.orchestrator: s for s in compute_scores(warehouse, released_configs()["v0"], "5m", end)}
    assert v0[hider].score == 100.0 > v0[honest].score


# -- late slots ---------------------------------------------------------------------------------------------------
async def test_a_late_slot_is_void_whatever_its_outcome(warehouse: Warehouse) -> None:
    runner, base = await _serve({"/m": declaring(X, b"m 1\n")})
    sink = sink_for(warehouse)
    dead = f"http://127.0.0.1:{free_port()}/metrics"
    try:
        # Successful scrapes: a limit far above any answer time (the dead one is refused at connect, not timed out).
        async with Fetcher(timeout_s=5, max_body_bytes=1 << 20, allow_loopback=True) as fetcher:
            scraper = Scraper(fetcher, sink)
            ok_late = await scraper.scrape(make_target(f"{base}/m", X), late=True)
            failed_late = await scraper.scrape(make_target(dead, Y), late=True)
            ok_on_time = await scraper.scrape(make_target(f"{base}/m", X))
    finally:
        await runner.cleanup()
    assert ok_late.up and ok_late.void  # a late success does not count for the target either
    assert not failed_late.up and failed_late.void
    assert ok_on_time.up and not ok_on_time.void


# -- overload sheds at the source -----------------------------------------------------------------------------------
async def test_a_near_full_write_queue_sheds_slots_before_anything_is_dropped(warehouse: Warehouse) -> None:
    runner, base = await _serve({"/m": declaring(X, b"m 1\n")})
    # A warehouse that is down (the table is gone) and a small bound: the queue fills with scrape rows.
    warehouse.command("RENAME TABLE scrapes TO scrapes_away")
    sink = sink_for(warehouse, flush_interval_s=0.05, max_buffered_rows=60, backoff_initial_s=0.05, backoff_max_s=0.05)
    stop = asyncio.Event()
    task = asyncio.create_task(sink.writer.run(stop))
    try:
        async with Fetcher(timeout_s=0.2, max_body_bytes=1 << 20, allow_loopback=True) as fetcher:
            sched = ScrapeScheduler(Scraper(fetcher, sink), 0.2, timeout_s=0.2, shed_at=0.5)
            sched.set_targets([make_target(f"{base}/m?i={i}", X) for i in range(5)])
            sched.start()
            await asyncio.sleep(4.0)  # a sustained stretch of scraping against the down warehouse
            deadline = time.monotonic() + 60  # a loaded machine runs fewer slots: wait for the queue to fill
            while sched.shed == 0 and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            sched.shutdown()
    finally:
        stop.set()
        await task
        await runner.cleanup()
    assert sched.shed > 0
    assert sched.telemetry.overruns.labels("shed")._value.get() == sched.shed
    assert sink.writer.stats.batches_dropped == 0  # shedding kept the queue under its bound
    assert sink.writer.pressure < 1.0
    warehouse.command("RENAME TABLE scrapes_away TO scrapes")
    assert await sink.writer.flush()
    # The shed slots are explained by void windows (merged: shedding is one stretch, not a row per slot).
    windows = warehouse.query("SELECT count() FROM scraper_void WHERE reason = 'shed'").rows[0]
    assert 0 < windows[0] <= sched.shed


# -- a clean stop ---------------------------------------------------------------------------------------------------
async def test_a_clean_stop_drains_a_slow_scrape_and_writes_its_row(settings) -> None:  # noqa: ANN001
    """A target answering after 3 s; stop while its scrape is in flight: its row reaches the warehouse."""
    from naap.collector import Collector

    started = asyncio.Event()

    async def slow() -> bytes:
        started.set()
        await asyncio.sleep(3.0)
        return declaring(X, b"m 1\n")

    runner, base = await _serve({"/slow": slow})
    settings.scraper.interval_s, settings.scraper.timeout_s = 30.0, 10.0
    settings.discovery.targets = [{"url": f"{base}/slow", "orchestrator": X}]
    collector = Collector(settings, with_api=False, with_scoring=False)
    stop = asyncio.Event()
    task = asyncio.create_task(collector.run(stop))
    try:
        await asyncio.wait_for(started.wait(), 40)  # its slot comes within one interval
        await asyncio.sleep(0.5)
        stop.set()  # mid-scrape
        await asyncio.wait_for(task, 30)
    finally:
        await runner.cleanup()
    wh = Warehouse(settings.warehouse.resolved_dsn(), settings.warehouse.database)
    try:
        rows = wh.query("SELECT up, samples FROM scrapes WHERE orchestrator = {o:String}", {"o": X}).rows
    finally:
        wh.close()
    assert rows == [(1, 2)]


@pytest.fixture(autouse=True)
def _no_leftover_tables(warehouse: Warehouse):  # noqa: ANN202 - tests above rename tables; make sure they are back
    yield
    for t in ("scrapes",):
        if warehouse.scalar(f"EXISTS TABLE {t}_away"):
            warehouse.command(f"RENAME TABLE {t}_away TO {t}")
