"""The sink against a warehouse that really fails: retries with backoff, a bounded backlog, the oldest batches
dropped with a counter, a log line and a void window, and recovery once the warehouse is back."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from exporter.common.net import free_port
from naap.settings import WarehouseSettings
from warehouse.client import Warehouse, WarehouseError
from warehouse.migrations import open_warehouse
from scraper.rows import row_prefix, row_tail, series_fragment
from scraper.sink import ScrapeRecord, WarehouseSink


def _scrape(i: int, samples: int) -> tuple[ScrapeRecord, bytes]:
    ts = 1_700_000_000_000 + i * 1000
    rec = ScrapeRecord(ts, ts, f"http://t{i % 7}/metrics", f"0x{i % 7:040x}", f"t{i % 7}:1", True, 0.01, 100, samples, "ok", "", "s1", "0/1")
    prefix = row_prefix(rec.orchestrator, rec.instance)
    rows = b"".join(prefix + series_fragment("m", {"i": str(j)}) + row_tail(ts, float(j)) for j in range(samples))
    return rec, rows


async def _wait_for(cond, timeout: float = 10.0) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.02)


async def test_outage_is_retried_bounded_and_recovered(warehouse: Warehouse, caplog: pytest.LogCaptureFixture) -> None:
    sink = WarehouseSink(
        warehouse, batch_rows=50, flush_interval_s=0.05, max_buffered_rows=400, backoff_initial_s=0.02, backoff_max_s=0.1,
        scraper="s1",
    )  # fmt: skip
    stop = asyncio.Event()
    writer = asyncio.create_task(sink.run(stop))
    added = 0
    try:
        for i in range(5):  # healthy warehouse: written
            rec, tsv = _scrape(i, 50)
            sink.add(rec, tsv, 50)
            added += 50
        await _wait_for(lambda: sink.stats.samples_written == 250)

        # The warehouse loses its table mid-run: every samples insert now fails for real.
        warehouse.command("RENAME TABLE samples TO samples_away")
        peak_rows = 0
        with caplog.at_level(logging.WARNING, logger="scraper.sink"):
            for i in range(5, 45):
                rec, tsv = _scrape(i, 50)
                sink.add(rec, tsv, 50)
                added += 50
                peak_rows = max(peak_rows, sink.buffered_rows)
                await asyncio.sleep(0.01)
            await _wait_for(lambda: sink.stats.batches_dropped >= 5 and sink.stats.insert_errors >= 3)
        assert not sink.warehouse_ok
        # Bounded: never more than the bound plus the batch being filled.
        assert peak_rows <= 400 + 51 + 1
        assert sink.buffered_rows <= 400 + 51
        assert any("dropped the oldest batch" in r.message for r in caplog.records)
        assert any("warehouse write failed" in r.message for r in caplog.records)

        warehouse.command("RENAME TABLE samples_away TO samples")  # back
        await _wait_for(lambda: sink.buffered_rows == 0 and sink.queue_depth == 0)
        assert sink.warehouse_ok
    finally:
        stop.set()
        await writer
    st = sink.stats
    assert st.samples_written + st.samples_dropped == added
    assert warehouse.scalar("SELECT count() FROM samples") == st.samples_written
    assert st.scrapes_dropped > 0
    assert warehouse.scalar("SELECT count() FROM scrapes") == 45 - st.scrapes_dropped
    # The lost rows are explained: void windows cover exactly the dropped scrapes' slots, and no slot of a
    # scrape row that was written.
    voids = warehouse.query(
        "SELECT reason, toUnixTimestamp64Milli(start_ts), toUnixTimestamp64Milli(end_ts) FROM scraper_void"
    ).rows
    assert voids and {r[0] for r in voids} == {"rows_dropped"}
    written = [r[0] for r in warehouse.query("SELECT toUnixTimestamp64Milli(scheduled_ts) FROM scrapes").rows]
    covered = {s for s in range(1_700_000_000_000, 1_700_000_045_000, 1000) if any(a <= s < b for _, a, b in voids)}
    assert not covered & set(written)
    assert len(covered) == st.scrapes_dropped


async def test_the_sink_writes_nothing_twice_when_a_later_step_fails(warehouse: Warehouse) -> None:
    """Samples written, then the scrapes insert fails: the retry writes only the scrape rows."""
    sink = WarehouseSink(warehouse, batch_rows=10, backoff_initial_s=0.01)
    rec, tsv = _scrape(1, 10)
    sink.add(rec, tsv, 10)
    warehouse.command("RENAME TABLE scrapes TO scrapes_away")
    assert not await sink.flush()
    assert warehouse.scalar("SELECT count() FROM samples") == 10
    warehouse.command("RENAME TABLE scrapes_away TO scrapes")
    assert await sink.flush()
    assert warehouse.scalar("SELECT count() FROM samples") == 10
    assert warehouse.scalar("SELECT count() FROM scrapes") == 1


def test_a_warehouse_server_that_is_not_there_fails_fast(tmp_path) -> None:  # noqa: ANN001
    """An http:// DSN at a closed loopback port: start-up stops with a message instead of hanging."""
    port = free_port()
    t0 = time.monotonic()
    with pytest.raises(WarehouseError) as info:
        open_warehouse(WarehouseSettings(dsn=f"http://127.0.0.1:{port}", data_dir=tmp_path))
    assert f"127.0.0.1:{port}" in str(info.value)
    assert time.monotonic() - t0 < 60


async def test_the_writer_flushes_once_per_interval_not_continuously(warehouse: Warehouse) -> None:
    """Each insert makes a part that ClickHouse must merge later: a writer that flushed again right after every
    flush (it used to wake itself) turned one insert per interval into dozens of tiny ones."""
    sink = WarehouseSink(warehouse, batch_rows=1_000_000, flush_interval_s=0.5)
    stop = asyncio.Event()
    writer = asyncio.create_task(sink.run(stop))
    for i in range(60):  # 2 s of steady scraping
        rec, tsv = _scrape(i, 10)
        sink.add(rec, tsv, 10)
        await asyncio.sleep(2.0 / 60)
    stop.set()
    await writer
    assert sink.stats.samples_written == 600
    assert sink.stats.batches_written <= 6, sink.stats  # ~one per interval (and the final flush)
