"""The one writer every table goes through: batching, ordered writes, retry with backoff, a bound, idempotent
retries, counters. Samples, scrape rows, void windows, discovery snapshots and scores all take this path.

Rows are added to the open batch (per table, in a fixed table order); a batch is sealed at `batch_rows` rows or
when the flush interval passes. One writer task inserts sealed batches in order; within a batch each table's
part is inserted once and recorded as written only after the insert returned, and every insert carries a
deterministic deduplication token (writer id, batch number, table), so a retry of an insert the server had
committed before the connection failed is dropped by the server instead of stored twice (the tables keep a
deduplication window: migration 0006).

When the warehouse is slow or down, batches queue; past `max_buffered_rows` rows or `max_buffered_bytes` of
encoded rows the oldest queued batch is dropped — counted, logged, and handed to `on_drop` so the caller can
explain the gap (the scraper voids the dropped scrape rows' slots). `pressure` tells callers how close the queue
is to its bound, so they can shed work before anything is dropped. A separate small lane holds rows that must
never be dropped with a batch (void windows: they are what explains a dropped batch); at a stop with the
warehouse unreachable that lane is spilled to a file and written at the next start.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from warehouse.client import Warehouse, WarehouseError
from warehouse.config import WarehouseSettings

log = logging.getLogger(__name__)

# A batch's parts are written in this order: samples before the scrape rows that count them, void windows after
# both, then the rest; a probe's per-second samples before the run row that holds them.
TABLE_ORDER = ("samples", "scrapes", "scraper_void", "discovery_snapshots", "sla_scores", "probe_samples", "probe_runs")

# Every insert also deduplicates into materialized views (the rollups), so a retried block never counts twice
# there either (design §8: "use insert-block deduplication on both tables").
DEDUP_SETTINGS = {"deduplicate_blocks_in_dependent_materialized_views": 1}


@dataclass
class Part:
    """One table's rows in a batch: native rows (tuples), or already-encoded chunks in a ClickHouse format."""

    table: str
    columns: tuple[str, ...]
    rows: list[tuple] = field(default_factory=list)
    chunks: list[bytes] = field(default_factory=list)
    fmt: str = ""
    settings: dict[str, Any] = field(default_factory=dict)
    encoded_rows: int = 0
    nbytes: int = 0
    written: bool = False

    @property
    def count(self) -> int:
        return len(self.rows) + self.encoded_rows


@dataclass
class Batch:
    seq: int
    parts: dict[str, Part] = field(default_factory=dict)
    writing: bool = False

    @property
    def rows(self) -> int:
        return sum(p.count for p in self.parts.values())

    @property
    def nbytes(self) -> int:
        return sum(p.nbytes for p in self.parts.values())

    def unwritten(self) -> dict[str, Part]:
        return {t: p for t, p in self.parts.items() if not p.written}


@dataclass
class WriterStats:
    rows_written: dict[str, int] = field(default_factory=dict)
    batches_written: int = 0
    insert_errors: int = 0
    batches_dropped: int = 0
    rows_dropped: dict[str, int] = field(default_factory=dict)
    kept_dropped: int = 0
    unwritten_at_stop: dict[str, int] = field(default_factory=dict)
    abandoned_rows: int = 0  # rows queued when a forced stop (a second signal) gave up on them


class Writer:
    """`writer_id` must be unique per process lifetime (it prefixes every deduplication token). `table_order`
    fixes the order of a batch's parts (e.g. samples before the scrape rows that count them)."""

    def __init__(
        self,
        warehouse: Warehouse,
        writer_id: str,
        batch_rows: int = 50_000,
        flush_interval_s: float = 1.0,
        max_buffered_rows: int = 2_000_000,
        max_buffered_bytes: int = 256 << 20,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 30.0,
        table_order: Sequence[str] = TABLE_ORDER,
        on_drop: Callable[[dict[str, Part]], None] | None = None,
        spill_path: Path | None = None,
        max_kept_rows: int = 10_000,
        stall_s: float = 10.0,
    ) -> None:
        self.wh = warehouse
        self.writer_id = writer_id
        self.batch_rows = batch_rows
        self.flush_interval_s = flush_interval_s
        self.max_buffered_rows = max_buffered_rows
        self.max_buffered_bytes = max_buffered_bytes
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.table_order = {t: i for i, t in enumerate(table_order)}
        self.on_drop = on_drop
        self.spill_path = spill_path
        self.max_kept_rows = max_kept_rows
        self.stats = WriterStats()
        self._lock = threading.RLock()  # adds may come from worker threads (the scorer); on_drop adds back
        self._seq = 0
        self._open = self._new_batch()
        self._sealed: deque[Batch] = deque()
        self._kept: list[tuple[str, tuple[str, ...], tuple]] = []
        self._kept_seq = 0
        self._buffered_rows = 0
        self._buffered_bytes = 0
        self._wake = asyncio.Event()
        self._flush_lock = asyncio.Lock()
        self.warehouse_ok = True  # False from a failed write until the next successful one
        self.stall_s = stall_s
        self._writing_since: float | None = None  # monotonic start of the insert in flight, if any

    @classmethod
    def from_settings(cls, settings: WarehouseSettings, warehouse: Warehouse, writer_id: str,
                      spill_path: Path | None = None) -> "Writer":  # fmt: skip
        """The process's one writer, sized from the warehouse settings."""
        return cls(
            warehouse, writer_id, batch_rows=settings.batch_rows, flush_interval_s=settings.flush_interval_s,
            max_buffered_rows=settings.max_buffered_rows, max_buffered_bytes=settings.max_buffered_mb << 20,
            spill_path=spill_path,
        )  # fmt: skip

    # -- adding ----------------------------------------------------------------------------------
    def _new_batch(self) -> Batch:
        self._seq += 1
        return Batch(self._seq)

    def _part(self, table: str, columns: Sequence[str], fmt: str = "", settings: dict[str, Any] | None = None) -> Part:
        part = self._open.parts.get(table)
        if part is None:
            part = self._open.parts[table] = Part(table, tuple(columns), fmt=fmt, settings=dict(settings or {}))
            if self.table_order:
                self._open.parts = dict(sorted(self._open.parts.items(), key=lambda kv: self.table_order.get(kv[0], 1 << 30)))
        elif part.columns != tuple(columns) or part.fmt != fmt:
            raise ValueError(f"rows for {table} added with different columns or format in one batch")
        return part

    def add(self, table: str, columns: Sequence[str], rows: Sequence[tuple]) -> None:
        """Queue native rows (tuples in `columns` order; DateTime64 as integer milliseconds)."""
        if not rows:
            return
        with self._lock:
            part = self._part(table, columns)
            part.rows.extend(rows)
            self._buffered_rows += len(rows)
            self._after_add()

    def add_encoded(self, table: str, columns: Sequence[str], fmt: str, data: bytes, rows: int,
                    settings: dict[str, Any] | None = None) -> None:  # fmt: skip
        """Queue rows already encoded in a ClickHouse input format (the scraper's samples, as RowBinary)."""
        if not data:
            return
        with self._lock:
            part = self._part(table, columns, fmt, settings)
            part.chunks.append(data)
            part.encoded_rows += rows
            part.nbytes += len(data)
            self._buffered_rows += rows
            self._buffered_bytes += len(data)
            self._after_add()

    def add_kept(self, table: str, columns: Sequence[str], row: tuple,
                 coalesce: Callable[[tuple, tuple], tuple | None] | None = None) -> None:  # fmt: skip
        """Queue a row in the lane that is never dropped with a batch. `coalesce(last, row)` may merge it into
        the last queued row of the same table (returning the merged row) instead of adding another."""
        with self._lock:
            if coalesce is not None and self._kept and self._kept[-1][0] == table:
                merged = coalesce(self._kept[-1][2], row)
                if merged is not None:
                    self._kept[-1] = (table, tuple(columns), merged)
                    return
            self._kept.append((table, tuple(columns), row))
            if len(self._kept) > self.max_kept_rows:
                self._kept.pop(0)
                self.stats.kept_dropped += 1
        self._wake.set()

    def _after_add(self) -> None:
        if self._open.rows >= self.batch_rows:
            self._seal()
            self._wake.set()  # a full batch: the writer should not wait for the interval

    def _seal(self) -> None:
        if self._open.parts:
            self._sealed.append(self._open)
            self._open = self._new_batch()
            self._enforce_bound()

    # -- the bound -------------------------------------------------------------------------------
    @property
    def buffered_rows(self) -> int:
        return self._buffered_rows

    @property
    def queue_depth(self) -> int:
        """Batches waiting to be written (sealed, plus the open one if it holds anything)."""
        return len(self._sealed) + (1 if self._open.parts else 0)

    @property
    def pressure(self) -> float:
        """How full the queue is, 0..1 (and above, just before a drop): the larger of rows and bytes."""
        return max(self._buffered_rows / self.max_buffered_rows, self._buffered_bytes / self.max_buffered_bytes)

    def _over_bound(self) -> bool:
        return self._buffered_rows > self.max_buffered_rows or self._buffered_bytes > self.max_buffered_bytes

    def _enforce_bound(self) -> None:
        while self._over_bound():
            victim = next((b for b in self._sealed if not b.writing), None)
            if victim is None or (len(self._sealed) == 1 and not self._open.parts):
                return  # keep the one batch there is: a bound never empties the queue entirely
            self._sealed.remove(victim)
            self._release(victim)
            lost = victim.unwritten()
            self.stats.batches_dropped += 1
            for t, p in lost.items():
                self.stats.rows_dropped[t] = self.stats.rows_dropped.get(t, 0) + p.count
            log.error(
                "warehouse backlog past %d rows / %d MiB: dropped the oldest batch (%s); %d batches dropped so far",
                self.max_buffered_rows, self.max_buffered_bytes >> 20,
                ", ".join(f"{p.count} {t} rows" for t, p in lost.items()) or "nothing unwritten",
                self.stats.batches_dropped,
            )  # fmt: skip
            if self.on_drop is not None and lost:
                self.on_drop(lost)

    def _release(self, b: Batch) -> None:
        self._buffered_rows -= b.rows
        self._buffered_bytes -= b.nbytes

    @property
    def warehouse_up(self) -> bool:
        """False while writes fail, and while one insert has been in flight longer than `stall_s` (a server that
        accepted the connection and stopped answering fails only at the client's read timeout)."""
        since = self._writing_since
        stalled = since is not None and time.monotonic() - since > self.stall_s
        return self.warehouse_ok and not stalled

    # -- writing ---------------------------------------------------------------------------------
    def token(self, b: Batch, table: str) -> str:
        return f"{self.writer_id}:{b.seq}:{table}"

    def _write(self, b: Batch) -> None:
        for table, part in b.parts.items():
            if part.written:
                continue
            settings = {**DEDUP_SETTINGS, **part.settings, "insert_deduplication_token": self.token(b, table)}
            if part.chunks:
                # streamed chunk by chunk: joining 100 MB first would hold the GIL (and the event loop) ~50 ms
                self.wh.insert_raw(table, part.columns, iter(part.chunks), fmt=part.fmt, settings=settings)
            else:
                self.wh.insert_rows(table, part.columns, part.rows, settings=settings)
            part.written = True
            self.stats.rows_written[table] = self.stats.rows_written.get(table, 0) + part.count

    def _write_kept(self, kept: list[tuple[str, tuple[str, ...], tuple]], seq: int) -> None:
        by_table: dict[tuple[str, tuple[str, ...]], list[tuple]] = {}
        for table, columns, row in kept:
            by_table.setdefault((table, columns), []).append(row)
        for (table, columns), rows in by_table.items():
            token = f"{self.writer_id}:kept{seq}:{table}"
            self.wh.insert_rows(table, columns, rows, settings={**DEDUP_SETTINGS, "insert_deduplication_token": token})
            self.stats.rows_written[table] = self.stats.rows_written.get(table, 0) + len(rows)

    async def flush(self, retry: bool = False, stop: asyncio.Event | None = None, deadline: float | None = None) -> bool:
        """Write everything queued. Returns False if the warehouse failed (what failed stays queued). With
        `retry`, keeps trying with backoff until written, `stop` is set, or the loop time passes `deadline`."""
        loop = asyncio.get_running_loop()
        async with self._flush_lock:
            with self._lock:
                self._seal()
            backoff = self.backoff_initial_s
            while True:
                with self._lock:
                    b = self._sealed[0] if self._sealed else None
                    kept, self._kept = (self._kept, []) if b is None else ([], self._kept)
                if b is None and not kept:
                    return True
                try:
                    self._writing_since = time.monotonic()
                    if b is not None:
                        b.writing = True
                        await asyncio.to_thread(self._write, b)
                    else:
                        self._kept_seq += 1
                        await asyncio.to_thread(self._write_kept, kept, self._kept_seq)
                except WarehouseError as e:
                    self.stats.insert_errors += 1
                    self.warehouse_ok = False
                    if kept:
                        with self._lock:
                            self._kept[:0] = kept
                            self._kept_seq -= 1  # the same token on the retry
                    log.warning("warehouse write failed (%s); %d rows queued", str(e)[:300], self._buffered_rows)
                    late = deadline is not None and loop.time() + backoff > deadline
                    if not retry or (stop is not None and stop.is_set()) or late:
                        return False
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, self.backoff_max_s)
                    with self._lock:
                        self._seal()  # what was added meanwhile joins the queue (and the bound)
                    continue
                finally:
                    self._writing_since = None
                    if b is not None:
                        b.writing = False
                self.warehouse_ok = True
                backoff = self.backoff_initial_s
                if b is not None:
                    with self._lock:
                        if self._sealed and self._sealed[0] is b:
                            self._sealed.popleft()
                        self._release(b)
                    self.stats.batches_written += 1

    async def run(self, stop: asyncio.Event) -> None:
        """The writer loop: flush at least every interval, sooner when a batch fills. Returns when `stop` is set
        (then call `close`)."""
        while not stop.is_set():
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.flush_interval_s)
            except TimeoutError:
                pass
            self._wake.clear()
            if not stop.is_set():
                await self.flush(retry=True, stop=stop)

    async def close(self, retry_s: float = 10.0) -> dict[str, int]:
        """The last flush at a clean stop: retries for up to `retry_s`, then counts and logs what could not be
        written (by table), hands it to `on_drop`, and spills the kept lane. Returns the unwritten counts."""
        deadline = asyncio.get_running_loop().time() + retry_s
        await self.flush(retry=True, deadline=deadline)
        unwritten: dict[str, int] = {}
        with self._lock:
            self._seal()
            batches = list(self._sealed)
            self._sealed.clear()
        for b in batches:
            lost = b.unwritten()
            for t, p in lost.items():
                unwritten[t] = unwritten.get(t, 0) + p.count
            if self.on_drop is not None and lost:
                self.on_drop(lost)  # may add kept rows (void windows) for the lost slots
            self._release(b)
        self.stats.unwritten_at_stop = unwritten
        if unwritten:
            log.error("stopping with rows the warehouse did not take: %s",
                      ", ".join(f"{n} {t}" for t, n in sorted(unwritten.items())))  # fmt: skip
        if self._kept:
            if not await self.flush(retry=False):
                self._spill()
        return unwritten

    # -- spill -----------------------------------------------------------------------------------
    def spill_kept(self) -> None:
        """Write the kept lane (void windows) to the spill file now, without trying the warehouse: a forced stop."""
        self._spill()

    def _spill(self) -> None:
        with self._lock:
            kept, self._kept = self._kept, []
        if not kept:
            return
        if self.spill_path is None:
            log.error("%d rows that explain lost slots could not be written and there is no spill file", len(kept))
            return
        self.spill_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.spill_path, "a", encoding="utf-8") as f:
            for table, columns, row in kept:
                f.write(json.dumps({"table": table, "columns": list(columns), "row": list(row)}) + "\n")
        log.warning("%d rows spilled to %s; written at the next start", len(kept), self.spill_path)

    def recover(self) -> int:
        """Queue the rows a previous stop spilled (call before the first flush); returns how many."""
        p = self.spill_path
        if p is None or not p.exists():
            return 0
        n = 0
        try:
            with open(p, encoding="utf-8") as f:
                for line in f:
                    try:
                        item = json.loads(line)
                        self.add_kept(item["table"], tuple(item["columns"]), tuple(item["row"]))
                        n += 1
                    except (ValueError, KeyError, TypeError):
                        log.warning("skipping a malformed line in the spill file %s", p)
            os.replace(p, p.with_suffix(".recovered"))
        except OSError as e:
            log.warning("could not read the spill file %s: %s", p, e)
        return n
