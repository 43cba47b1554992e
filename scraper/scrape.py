"""One scrape of one target: fetch, parse, check limits, hand samples and the scrape row to the sink.

Whatever the target does, the outcome is a ScrapeRecord with an error class; nothing it sends can raise
out of here, so one bad target never harms the others. At most `max_concurrency` scrapes run at once.
Bodies over 512 KiB are parsed in a worker thread, so the event loop keeps serving every other target
meanwhile (the fast path reads a 512 KiB body in ~3 ms; the reference parser in ~50 ms).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from typing import Callable

from discovery.target import Target
from exporter.common.clock import Clock, now_ms
from exporter.common.httpfetch import FetchError
from scraper import errors
from scraper.fetch import Fetcher
from scraper.limits import Limits
from scraper.parse import ParseOutcome, parse_body
from scraper.rows import MAX_TS_MS, MIN_TS_MS
from scraper.sink import ScrapeRecord, WarehouseSink
from scraper.telemetry import ScraperTelemetry
from scraper.textformat import CacheBudget, SeriesCache

log = logging.getLogger(__name__)

INLINE_PARSE_MAX_BYTES = 512 * 1024  # parse bigger bodies in a worker thread


def scraper_identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class TimestampPolicy:
    """Exposition timestamps are honoured only within [scrape − max_age, scrape + max_future]; outside that
    the sample gets the scrape's time. A target can thus neither rewrite the past nor write the future."""

    def __init__(self, max_age_s: float = 300.0, max_future_s: float = 60.0) -> None:
        self.max_age_ms = int(max_age_s * 1000)
        self.max_future_ms = int(max_future_s * 1000)

    def for_scrape(self, scrape_ms: int) -> Callable[[int], bool]:
        lo = max(scrape_ms - self.max_age_ms, MIN_TS_MS)
        hi = min(scrape_ms + self.max_future_ms, MAX_TS_MS)
        return lambda ts: lo <= ts <= hi


class Scraper:
    def __init__(
        self,
        fetcher: Fetcher,
        sink: WarehouseSink | None,
        limits: Limits = Limits(),
        shard: str = "0/1",
        identity: str | None = None,
        telemetry: ScraperTelemetry | None = None,
        timestamps: TimestampPolicy | None = None,
        max_concurrency: int | None = None,
        cache_budget: CacheBudget | None = None,
        clock: Clock = now_ms,
    ) -> None:
        self.clock = clock
        self.fetcher = fetcher
        self.sink = sink
        self.limits = limits
        self.shard = shard
        self.identity = identity or scraper_identity()
        self.telemetry = telemetry or ScraperTelemetry()
        self.timestamps = timestamps or TimestampPolicy()
        self._slots = asyncio.Semaphore(max_concurrency) if max_concurrency else None
        self.cache_budget = cache_budget or CacheBudget(500_000)
        self._caches: dict[str, SeriesCache] = {}
        self.outcomes: dict[str, int] = {}
        self.samples_total = 0
        self.in_flight = 0

    def forget(self, target_key: str) -> None:
        """A target left the schedule: free its series cache."""
        cache = self._caches.pop(target_key, None)
        if cache is not None:
            cache.clear()

    @property
    def cached_series(self) -> int:
        return self.cache_budget.used

    async def scrape(self, target: Target, scheduled_ms: int | None = None, late: bool = False) -> ScrapeRecord:
        """Scrape once. `late`: the scheduler started this scrape past its slot's tolerance, so a failure may
        be the scraper's own doing — such a failure is recorded as void (see docs/scraper.md)."""
        if self._slots is None:
            return await self._scrape(target, scheduled_ms, late)
        async with self._slots:
            return await self._scrape(target, scheduled_ms, late)

    async def _scrape(self, target: Target, scheduled_ms: int | None, late: bool) -> ScrapeRecord:
        start_ms = self.clock()
        t0 = time.perf_counter()
        self.in_flight += 1
        body_len = 0
        n = 0
        rows = b""
        error_class, message = errors.OK, ""
        try:
            res = await self.fetcher.fetch(target.url)
            body_len = len(res.body)
            cache = self._caches.get(target.key)
            if cache is None:
                cache = self._caches[target.key] = SeriesCache(self.cache_budget)
            accept = self.timestamps.for_scrape(start_ms)
            if body_len > INLINE_PARSE_MAX_BYTES:
                outcome, rows, replaced = await asyncio.to_thread(self._parse, res.body, res.content_type, cache, start_ms, target, accept)
            else:
                outcome, rows, replaced = self._parse(res.body, res.content_type, cache, start_ms, target, accept)
            n = len(outcome.samples)
            self.telemetry.parsed(outcome.path, replaced)
        except FetchError as e:  # fetch failures, and ScrapeError from parsing and limits
            error_class, message = e.error_class, str(e)
        except Exception as e:  # a bug of ours: counted and recorded, never fatal
            log.exception("scrape of %s failed unexpectedly", target.url)
            error_class, message = errors.INTERNAL, f"{type(e).__name__}: {e}"[:300]
        finally:
            self.in_flight -= 1
        duration = time.perf_counter() - t0
        up = error_class == errors.OK
        record = ScrapeRecord(
            ts_ms=start_ms,
            scheduled_ms=scheduled_ms if scheduled_ms is not None else start_ms,
            target=target.url,
            orchestrator=target.orchestrator,
            instance=target.instance,
            up=up,
            duration_s=duration,
            bytes=body_len,
            samples=n,
            error_class=error_class,
            error=message,
            scraper=self.identity,
            shard=self.shard,
            void=late and not up,
        )
        self.outcomes[error_class] = self.outcomes.get(error_class, 0) + 1
        self.samples_total += n
        self.telemetry.scraped(error_class, duration, n)
        if self.sink is not None:
            self.sink.add(record, rows, n)
        return record

    def _parse(self, body: bytes, content_type: str, cache: SeriesCache, start_ms: int, target: Target,
               accept: Callable[[int], bool]) -> tuple[ParseOutcome, bytes, int]:  # fmt: skip
        outcome = parse_body(body, content_type, self.limits, cache)
        if outcome.path != "fast" and len(body) <= INLINE_PARSE_MAX_BYTES:
            log.debug("%s: reference parser (%s)", target.url, outcome.fallback_reason)
        rows, replaced = outcome.samples.to_rows(start_ms, target.orchestrator, target.instance, accept)
        return outcome, rows, replaced
