"""Batched, bounded writes of samples and scrape rows to the warehouse.

Scrapes append to the open batch; a batch is sealed at `batch_rows` samples or when the flush interval
passes. One writer task inserts sealed batches in order (samples first, then the batch's scrape rows; each
step recorded only after its write succeeded, so a retry never writes a step twice). When the warehouse is
slow or down, the writer retries with exponential backoff while batches queue; past `max_buffered_rows`
the oldest batches are dropped with a counter and a log line. Memory stays bounded whatever happens.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass, field

from naap.warehouse import Warehouse, WarehouseError

log = logging.getLogger(__name__)

SAMPLE_COLUMNS = ("ts", "orchestrator", "instance", "metric", "labels", "value")
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
        )


@dataclass
class _Batch:
    ts: list[int] = field(default_factory=list)
    orchestrator: list[str] = field(default_factory=list)
    instance: list[str] = field(default_factory=list)
    metric: list[str] = field(default_factory=list)
    labels: list[dict] = field(default_factory=list)
    value: list[float] = field(default_factory=list)
    scrapes: list[tuple] = field(default_factory=list)
    samples_written: bool = False

    @property
    def rows(self) -> int:
        return len(self.value) + len(self.scrapes)


@dataclass
class SinkStats:
    samples_written: int = 0
    scrapes_written: int = 0
    batches_written: int = 0
    insert_errors: int = 0
    batches_dropped: int = 0
    rows_dropped: int = 0


class WarehouseSink:
    def __init__(
        self,
        warehouse: Warehouse,
        batch_rows: int = 50_000,
        flush_interval_s: float = 1.0,
        max_buffered_rows: int = 2_000_000,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 30.0,
    ) -> None:
        self.wh = warehouse
        self.batch_rows = batch_rows
        self.flush_interval_s = flush_interval_s
        self.max_buffered_rows = max_buffered_rows
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.stats = SinkStats()
        self._open = _Batch()
        self._sealed: deque[_Batch] = deque()
        self._buffered_rows = 0
        self._wake = asyncio.Event()
        self._flush_lock = asyncio.Lock()

    @property
    def buffered_rows(self) -> int:
        return self._buffered_rows

    @property
    def queue_depth(self) -> int:
        return len(self._sealed) + (1 if self._open.rows else 0)

    def add(
        self,
        record: ScrapeRecord,
        names: list[str] | None = None,
        labels: list[dict] | None = None,
        values: list[float] | None = None,
        timestamps: list[int] | None = None,
    ) -> None:
        """Queue one scrape's row and its samples (parallel columns; `timestamps` in ms)."""
        b = self._open
        if names:
            n = len(names)
            b.ts.extend(timestamps if timestamps is not None else [record.ts_ms] * n)
            b.orchestrator.extend([record.orchestrator] * n)
            b.instance.extend([record.instance] * n)
            b.metric.extend(names)
            b.labels.extend(labels or [{}] * n)
            b.value.extend(values or [])
            self._buffered_rows += n
        b.scrapes.append(record.row())
        self._buffered_rows += 1
        if len(b.value) >= self.batch_rows:
            self._seal()

    def _seal(self) -> None:
        if self._open.rows:
            self._sealed.append(self._open)
            self._open = _Batch()
            self._enforce_bound()
            self._wake.set()

    def _enforce_bound(self) -> None:
        while self._buffered_rows > self.max_buffered_rows and len(self._sealed) > 1:
            dropped = self._sealed.popleft()
            self._buffered_rows -= dropped.rows
            self.stats.batches_dropped += 1
            self.stats.rows_dropped += dropped.rows
            log.error(
                "warehouse backlog past %d rows: dropped the oldest batch (%d samples, %d scrape rows); %d batches dropped so far",
                self.max_buffered_rows,
                len(dropped.value),
                len(dropped.scrapes),
                self.stats.batches_dropped,
            )

    def _write(self, b: _Batch) -> None:
        if not b.samples_written:
            self.wh.insert_columns(
                "samples", SAMPLE_COLUMNS, [b.ts, b.orchestrator, b.instance, b.metric, b.labels, b.value]
            )
            b.samples_written = True
            self.stats.samples_written += len(b.value)
        self.wh.insert_rows("scrapes", SCRAPE_COLUMNS, b.scrapes)
        self.stats.scrapes_written += len(b.scrapes)
        self.stats.batches_written += 1

    async def flush(self, retry: bool = False, stop: asyncio.Event | None = None) -> bool:
        """Write everything queued. Returns False if the warehouse failed (batches stay queued).

        With `retry`, keeps trying with backoff until written or `stop` is set."""
        async with self._flush_lock:
            self._seal()
            backoff = self.backoff_initial_s
            while self._sealed:
                b = self._sealed[0]
                try:
                    await asyncio.to_thread(self._write, b)
                except WarehouseError as e:
                    self.stats.insert_errors += 1
                    log.warning("warehouse write failed (%s); %d rows queued", e, self._buffered_rows)
                    if not retry or (stop is not None and stop.is_set()):
                        return False
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, self.backoff_max_s)
                    self._enforce_bound()
                    continue
                self._sealed.popleft()
                self._buffered_rows -= b.rows
                backoff = self.backoff_initial_s
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
