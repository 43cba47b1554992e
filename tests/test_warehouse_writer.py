"""The one writer against a warehouse that really fails: retries with backoff, a bounded backlog, the oldest batches
dropped with a counter, a log line and a void window, recovery once the warehouse is back; inserts that are
idempotent when the server committed before the connection failed; a clean stop that counts and voids what it
could not write, and spills the void windows for the next start."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest

from exporter.common.net import free_port
from scraper.rows import row_prefix, row_tail, series_fragment
from scraper.sink import SCRAPE_ROW_COLUMNS, ScrapeRecord, ScrapeSink
from warehouse.client import Warehouse, WarehouseError
from warehouse.config import WarehouseSettings
from warehouse.migrations import open_warehouse
from warehouse.writer import Writer


def _scrape(i: int, samples: int) -> tuple[ScrapeRecord, bytes]:
    ts = 1_700_000_000_000 + i * 1000
    rec = ScrapeRecord(ts, ts, f"http://t{i % 7}/metrics", f"0x{i % 7:040x}", f"t{i % 7}:1", True, 0.01, 100, samples, "ok", "", "s1", "0/1")
    prefix = row_prefix(rec.orchestrator, rec.instance)
    rows = b"".join(prefix + series_fragment("m", {"i": str(j)}) + row_tail(ts, float(j)) for j in range(samples))
    return rec, rows


async def _wait_for(cond, timeout: float = 60.0) -> None:  # noqa: ANN001
    """Poll until cond holds; the deadline is only a hang guard."""
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.02)


def _sink(wh: Warehouse, **kw) -> ScrapeSink:  # noqa: ANN003
    return ScrapeSink(Writer(wh, "test-writer", **kw), scraper="s1")


async def test_outage_is_retried_bounded_and_recovered(warehouse: Warehouse, caplog: pytest.LogCaptureFixture) -> None:
    sink = _sink(warehouse, batch_rows=50, flush_interval_s=0.05, max_buffered_rows=400, backoff_initial_s=0.02, backoff_max_s=0.1)
    w = sink.writer
    stop = asyncio.Event()
    task = asyncio.create_task(w.run(stop))
    added = 0
    try:
        for i in range(5):  # healthy warehouse: written
            rec, rows = _scrape(i, 50)
            sink.add(rec, rows, 50)
            added += 50
        await _wait_for(lambda: w.stats.rows_written.get("samples", 0) == 250)

        # The warehouse loses its table mid-run: every samples insert now fails for real.
        warehouse.command("RENAME TABLE samples TO samples_away")
        peak_rows = 0
        with caplog.at_level(logging.WARNING, logger="warehouse.writer"):
            for i in range(5, 45):
                rec, rows = _scrape(i, 50)
                sink.add(rec, rows, 50)
                added += 50
                peak_rows = max(peak_rows, w.buffered_rows)
                await asyncio.sleep(0.01)
            await _wait_for(lambda: w.stats.batches_dropped >= 5 and w.stats.insert_errors >= 3)
        assert not w.warehouse_ok
        # Bounded: never more than the bound plus the batch being filled.
        assert peak_rows <= 400 + 51 + 1
        assert w.buffered_rows <= 400 + 51
        assert any("dropped the oldest batch" in r.message for r in caplog.records)
        assert any("warehouse write failed" in r.message for r in caplog.records)

        warehouse.command("RENAME TABLE samples_away TO samples")  # back
        await _wait_for(lambda: w.buffered_rows == 0 and w.queue_depth == 0)
        assert w.warehouse_ok
    finally:
        stop.set()
        await task
        await w.close(retry_s=2)
    written = w.stats.rows_written.get("samples", 0)
    assert written + sink.stats.samples_dropped == added
    assert warehouse.scalar("SELECT count() FROM samples") == written
    assert sink.stats.scrapes_dropped > 0
    assert warehouse.scalar("SELECT count() FROM scrapes") == 45 - sink.stats.scrapes_dropped
    # The lost rows are explained: void windows cover exactly the dropped scrapes' slots, and no slot of a
    # scrape row that was written.
    voids = warehouse.query(
        "SELECT reason, toUnixTimestamp64Milli(start_ts), toUnixTimestamp64Milli(end_ts) FROM scraper_void"
    ).rows
    assert voids and {r[0] for r in voids} == {"rows_dropped"}
    written_slots = [r[0] for r in warehouse.query("SELECT toUnixTimestamp64Milli(scheduled_ts) FROM scrapes").rows]
    covered = {s for s in range(1_700_000_000_000, 1_700_000_045_000, 1000) if any(a <= s < b for _, a, b in voids)}
    assert not covered & set(written_slots)
    assert len(covered) == sink.stats.scrapes_dropped


class CommitThenFail(Warehouse):
    """A warehouse whose first insert into each table commits on the server and then 'loses the connection':
    the caller sees an error for a write that happened, as after a timeout on a slow network."""

    def __init__(self, dsn: str, database: str) -> None:
        super().__init__(dsn, database)
        self.failed: set[str] = set()

    def _maybe_fail(self, table: str) -> None:
        if table not in self.failed:
            self.failed.add(table)
            raise WarehouseError(f"insert into {table} failed: connection reset after the server committed")

    def insert_raw(self, table, column_names, data, fmt, settings=None) -> None:  # noqa: ANN001
        super().insert_raw(table, column_names, data, fmt, settings)
        self._maybe_fail(table)

    def insert_rows(self, table, column_names, rows, settings=None) -> int:  # noqa: ANN001
        n = super().insert_rows(table, column_names, rows, settings)
        self._maybe_fail(table)
        return n


async def test_a_retried_insert_the_server_had_committed_is_stored_once(warehouse: Warehouse, chdb_dir: Path) -> None:
    wh = CommitThenFail(f"chdb://{chdb_dir}", warehouse.database)
    sink = ScrapeSink(Writer(wh, "test-dedup", backoff_initial_s=0.01), scraper="s1")
    for i in range(3):
        rec, rows = _scrape(i, 10)
        sink.add(rec, rows, 10)
    assert not await sink.writer.flush()  # samples committed, the caller was told it failed
    assert not await sink.writer.flush()  # the retry: samples again (same token), then scrape rows: the same
    assert await sink.writer.flush()  # the scrape rows' retry
    assert wh.failed == {"samples", "scrapes"}
    assert warehouse.scalar("SELECT count() FROM samples") == 30
    assert warehouse.scalar("SELECT count() FROM scrapes") == 3


async def test_without_a_token_the_same_retry_would_have_doubled_the_rows(warehouse: Warehouse) -> None:
    """The control: the deduplication window needs the token; two inserts of different data are both kept."""
    rec, _ = _scrape(1, 0)
    warehouse.insert_rows("scrapes", SCRAPE_ROW_COLUMNS, [rec.row()])
    rec2, _ = _scrape(2, 0)
    warehouse.insert_rows("scrapes", SCRAPE_ROW_COLUMNS, [rec2.row()])
    assert warehouse.scalar("SELECT count() FROM scrapes") == 2


async def test_the_writer_writes_nothing_twice_when_a_later_part_fails(warehouse: Warehouse) -> None:
    """Samples written, then the scrapes insert fails: the retry writes only the scrape rows."""
    sink = _sink(warehouse, batch_rows=10, backoff_initial_s=0.01)
    rec, rows = _scrape(1, 10)
    sink.add(rec, rows, 10)
    warehouse.command("RENAME TABLE scrapes TO scrapes_away")
    assert not await sink.writer.flush()
    assert warehouse.scalar("SELECT count() FROM samples") == 10
    warehouse.command("RENAME TABLE scrapes_away TO scrapes")
    assert await sink.writer.flush()
    assert warehouse.scalar("SELECT count() FROM samples") == 10
    assert warehouse.scalar("SELECT count() FROM scrapes") == 1


async def test_a_clean_stop_counts_voids_and_spills_what_it_could_not_write(warehouse: Warehouse, tmp_path: Path,
                                                                            chdb_dir: Path) -> None:  # fmt: skip
    spill = tmp_path / "spill.jsonl"
    sink = ScrapeSink(Writer(warehouse, "test-stop", backoff_initial_s=0.01, spill_path=spill), scraper="s1")
    for i in range(4):
        rec, rows = _scrape(i, 5)
        sink.add(rec, rows, 5)
    for t in ("samples", "scrapes", "scraper_void"):
        warehouse.command(f"RENAME TABLE {t} TO {t}_away")
    unwritten = await sink.writer.close(retry_s=0.2)
    assert unwritten == {"samples": 20, "scrapes": 4}
    assert spill.exists() and "rows_dropped" in spill.read_text()
    for t in ("samples", "scrapes", "scraper_void"):
        warehouse.command(f"RENAME TABLE {t}_away TO {t}")
    # The next start writes the spilled void window first: the four lost slots are explained.
    again = Writer(warehouse, "test-stop-2", spill_path=spill)
    assert again.recover() == 1
    assert await again.flush()
    (start, end, reason), = warehouse.query(
        "SELECT toUnixTimestamp64Milli(start_ts), toUnixTimestamp64Milli(end_ts), reason FROM scraper_void").rows
    assert reason == "rows_dropped" and start <= 1_700_000_000_000 and end > 1_700_000_003_000
    assert not spill.exists()


async def test_pressure_rises_towards_the_bound(warehouse: Warehouse) -> None:
    w = Writer(warehouse, "test-pressure", batch_rows=10, max_buffered_rows=100)
    assert w.pressure == 0
    w.add("scrapes", SCRAPE_ROW_COLUMNS, [_scrape(i, 0)[0].row() for i in range(80)])
    assert w.pressure == pytest.approx(0.8)


def test_a_warehouse_server_that_is_not_there_fails_fast_in_one_line(tmp_path: Path) -> None:
    """An http:// DSN at a closed loopback port: start-up stops with one line instead of hanging or a traceback."""
    port = free_port()
    t0 = time.monotonic()
    with pytest.raises(WarehouseError) as info:
        open_warehouse(WarehouseSettings(dsn=f"http://user:secret@127.0.0.1:{port}", data_dir=tmp_path))
    message = str(info.value)
    assert f"127.0.0.1:{port}" in message and "\n" not in message and len(message) < 400
    assert "secret" not in message
    assert time.monotonic() - t0 < 60


async def test_the_writer_flushes_once_per_interval_not_continuously(warehouse: Warehouse) -> None:
    """Each insert makes a part that ClickHouse must merge later: a writer that flushed again right after every
    flush (it used to wake itself) turned one insert per interval into dozens of tiny ones."""
    sink = _sink(warehouse, batch_rows=1_000_000, flush_interval_s=0.5)
    stop = asyncio.Event()
    t0 = time.monotonic()
    task = asyncio.create_task(sink.writer.run(stop))
    for i in range(60):  # ~2 s of steady scraping (longer on a loaded machine: measured below)
        rec, rows = _scrape(i, 10)
        sink.add(rec, rows, 10)
        await asyncio.sleep(2.0 / 60)
    stop.set()
    elapsed = time.monotonic() - t0
    await task
    await sink.writer.close()
    assert sink.writer.stats.rows_written["samples"] == 600
    # ~one per interval actually elapsed, plus the final flush; flushing after every add would make ~60.
    assert sink.writer.stats.batches_written <= elapsed / 0.5 + 2, (elapsed, sink.writer.stats)
