"""Batched, bounded writes of samples, scrape rows and void windows to the warehouse.

Scrapes append to the open batch (samples as RowBinary rows, see scraper/rows.py); a batch is sealed at
`batch_rows` samples or when the flush interval passes. One writer task inserts sealed batches in order
(samples, then the batch's scrape rows; each step recorded only after its write succeeded, so a retry never
writes a step twice), then pending void windows. When the warehouse is slow or down the writer retries with
exponential backoff while batches queue; once the queue holds more than `max_buffered_rows` rows or
`max_buffered_bytes` of encoded samples, the oldest queued batches are dropped — counted, logged, and recorded as
a void window so the gap is explained. Memory stays bounded whatever the warehouse does.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass, field

from warehouse.client import Warehouse, WarehouseError
from scraper.rows import INSERT_SETTINGS, ROW_COLUMNS, ROW_FORMAT

log = logging.getLogger(__name__)

SCRAPE_COLUMNS = (
    "ts",
    "scheduled_ts",
    "target",
    "orchestrator",
    "instance",
    "up",
    "duration_s",
    "bytes",
    "samples",
    "error_class",
    "error",
    "scraper",
    "shard",
)
# What the sink writes: the columns above plus `void` (migration 0005; it defaults to 0 for writers that
# leave it out).
SCRAPE_ROW_COLUMNS = (*SCRAPE_COLUMNS, "void")
VOID_COLUMNS = ("start_ts", "end_ts", "scraper", "shard", "reason", "detail")


@dataclass
class ScrapeRecord:
    ts_ms: int
    scheduled_ms: int
    target: str
    orchestrator: str
    instance: str
    up: bool
    duration_s: float
    bytes: int
    samples: int
    error_class: str
    error: str
    scraper: str = ""
    shard: str = "0/1"
    void: bool = False

    def row(self) -> tuple:
        return (
            self.ts_ms,
            self.scheduled_ms,
            self.target,
            self.orchestrator,
            self.instance,
            int(self.up),
            self.duration_s,
            self.bytes,
            self.samples,
            self.error_class,
            self.error,
            self.scraper,
            self.shard,
            int(self.void),
        )


@dataclass
class VoidWindow:
    """A window in which one scraper's scrape rows count neither for nor against the targets."""

    start_ms: int
    end_ms: int
    scraper: str
    shard: str
    reason: str  # paused | all_unreachable | rows_dropped
    detail: str = ""

    def row(self) -> tuple:
        return (self.start_ms, self.end_ms, self.scraper, self.shard, self.reason, self.detail)


@dataclass
class _Batch:
    chunks: list[bytes] = field(default_factory=list)  # RowBinary sample rows
    sample_rows: int = 0
    nbytes: int = 0
    scrapes: list[tuple] = field(default_factory=list)
    samples_written: bool = False
    writing: bool = False

    @property
    def rows(self) -> int:
        return self.sample_rows + len(self.scrapes)


@dataclass
class SinkStats:
    samples_written: int = 0
    scrapes_written: int = 0
    voids_written: int = 0
    batches_written: int = 0
    insert_errors: int = 0
    batches_dropped: int = 0
    rows_dropped: int = 0
    samples_dropped: int = 0
    scrapes_dropped: int = 0
    voids_dropped: int = 0


class WarehouseSink:
    def __init__(
        self,
        warehouse: Warehouse,
        batch_rows: int = 50_000,
        flush_interval_s: float = 1.0,
        max_buffered_rows: int = 2_000_000,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 30.0,
        max_buffered_bytes: int = 256 << 20,
        scraper: str = "",
        shard: str = "0/1",
    ) -> None:
        self.wh = warehouse
        self.batch_rows = batch_rows
        self.flush_interval_s = flush_interval_s
        self.max_buffered_rows = max_buffered_rows
        self.max_buffered_bytes = max_buffered_bytes
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.scraper = scraper
        self.shard = shard
        self.stats = SinkStats()
        self._open = _Batch()
        self._sealed: deque[_Batch] = deque()
        # Void windows wait apart from the batches: tiny, merged when they overlap, never dropped with a batch
        # (they are what explains a dropped batch), bounded on their own.
        self._voids: list[VoidWindow] = []
        self.max_pending_voids = 10_000
        self._buffered_rows = 0
        self._buffered_bytes = 0
        self._wake = asyncio.Event()
        self._flush_lock = asyncio.Lock()
        self.warehouse_ok = True  # False from a failed write until the next successful one

    @property
    def buffered_rows(self) -> int:
        return self._buffered_rows

    @property
    def queue_depth(self) -> int:
        """Batches waiting to be written (sealed, plus the open one if it holds anything)."""
        return len(self._sealed) + (1 if self._open.rows else 0)

    def add(self, record: ScrapeRecord, sample_rows: bytes = b"", samples: int = 0) -> None:
        """Queue one scrape's row and its samples (RowBinary rows of the samples table, scraper/rows.py)."""
        b = self._open
        if sample_rows:
            b.chunks.append(sample_rows)
            b.sample_rows += samples
            b.nbytes += len(sample_rows)
            self._buffered_rows += samples
            self._buffered_bytes += len(sample_rows)
        b.scrapes.append(record.row())
        self._buffered_rows += 1
        if b.sample_rows >= self.batch_rows:
            self._seal()

    def add_void(self, window: VoidWindow) -> None:
        last = self._voids[-1] if self._voids else None
        if (last is not None and (last.scraper, last.shard, last.reason) == (window.scraper, window.shard, window.reason)
                and window.start_ms <= last.end_ms and window.end_ms >= last.start_ms):  # fmt: skip
            last.start_ms, last.end_ms = min(last.start_ms, window.start_ms), max(last.end_ms, window.end_ms)
            return
        self._voids.append(window)
        if len(self._voids) > self.max_pending_voids:
            self._voids.pop(0)
            self.stats.voids_dropped += 1
        self._wake.set()

    def _seal(self, wake: bool = True) -> None:
        if self._open.rows:
            self._sealed.append(self._open)
            self._open = _Batch()
            self._enforce_bound()
            if wake:  # a full batch: the writer should not wait for the interval (it seals without waking itself)
                self._wake.set()

    def _over_bound(self) -> bool:
        return self._buffered_rows > self.max_buffered_rows or self._buffered_bytes > self.max_buffered_bytes

    def _enforce_bound(self) -> None:
        while self._over_bound():
            victim = next((b for b in self._sealed if not b.writing), None)
            if victim is None or (len(self._sealed) == 1 and not self._open.rows):
                return  # keep the one batch there is: a bound never empties the queue entirely
            self._sealed.remove(victim)
            self._buffered_rows -= victim.rows
            self._buffered_bytes -= victim.nbytes
            self.stats.batches_dropped += 1
            self.stats.rows_dropped += victim.rows
            lost_samples = 0 if victim.samples_written else victim.sample_rows
            self.stats.samples_dropped += lost_samples
            lost_scrapes = victim.scrapes
            self.stats.scrapes_dropped += len(lost_scrapes)
            log.error(
                "warehouse backlog past %d rows / %d MiB: dropped the oldest batch (%d samples, %d scrape rows); "
                "%d batches dropped so far",
                self.max_buffered_rows,
                self.max_buffered_bytes >> 20,
                lost_samples,
                len(lost_scrapes),
                self.stats.batches_dropped,
            )
            if lost_scrapes:
                scheduled = [r[1] for r in lost_scrapes]
                self.add_void(
                    VoidWindow(min(scheduled), max(scheduled) + 1, self.scraper, self.shard, "rows_dropped",
                               f"{len(lost_scrapes)} scrape rows and {lost_samples} samples dropped while the warehouse was unavailable")
                )  # fmt: skip

    def _write(self, b: _Batch) -> None:
        if not b.samples_written:
            if b.chunks:
                # streamed chunk by chunk: joining 100 MB first would hold the GIL (and the event loop) ~50 ms
                self.wh.insert_raw("samples", ROW_COLUMNS, iter(b.chunks), fmt=ROW_FORMAT, settings=INSERT_SETTINGS)
            b.samples_written = True
            self.stats.samples_written += b.sample_rows
        self.wh.insert_rows("scrapes", SCRAPE_ROW_COLUMNS, b.scrapes)
        self.stats.scrapes_written += len(b.scrapes)
        self.stats.batches_written += 1

    def _write_voids(self, voids: list[VoidWindow]) -> None:
        self.wh.insert_rows("scraper_void", VOID_COLUMNS, [v.row() for v in voids])
        self.stats.voids_written += len(voids)

    async def flush(self, retry: bool = False, stop: asyncio.Event | None = None) -> bool:
        """Write everything queued. Returns False if the warehouse failed (batches stay queued).

        With `retry`, keeps trying with backoff until written or `stop` is set."""
        async with self._flush_lock:
            self._seal(wake=False)
            backoff = self.backoff_initial_s
            while self._sealed:
                b = self._sealed[0]
                b.writing = True
                try:
                    await asyncio.to_thread(self._write, b)
                except WarehouseError as e:
                    self.stats.insert_errors += 1
                    self.warehouse_ok = False
                    log.warning("warehouse write failed (%s); %d rows queued", str(e)[:300], self._buffered_rows)
                    if not retry or (stop is not None and stop.is_set()):
                        return False
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, self.backoff_max_s)
                    self._seal(wake=False)  # what scrapes added meanwhile joins the queue (and the bound)
                    continue
                finally:
                    b.writing = False
                self.warehouse_ok = True
                if self._sealed and self._sealed[0] is b:
                    self._sealed.popleft()
                self._buffered_rows -= b.rows
                self._buffered_bytes -= b.nbytes
                backoff = self.backoff_initial_s
            if self._voids:
                voids, self._voids = self._voids, []
                try:
                    await asyncio.to_thread(self._write_voids, voids)
                except WarehouseError as e:
                    self.stats.insert_errors += 1
                    self.warehouse_ok = False
                    log.warning("warehouse write of void windows failed (%s); kept for the next flush", str(e)[:300])
                    self._voids[:0] = voids
                    return False
            return True

    async def run(self, stop: asyncio.Event) -> None:
        """The writer loop: flush at least every interval, sooner when a batch fills."""
        while not stop.is_set():
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.flush_interval_s)
            except TimeoutError:
                pass
            self._wake.clear()
            if not stop.is_set():
                await self.flush(retry=True, stop=stop)
        await self.flush(retry=False)
