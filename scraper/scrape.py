"""One scrape of one target: fetch, parse, the append step, hand the stored samples and the scrape row to the sink.

Whatever the target does, the outcome is a ScrapeRecord with an error class; nothing it sends can raise out of
here, so one bad target never harms the others. At most `max_concurrency` scrapes run at once. Bodies over
512 KiB are parsed in a worker thread, so the event loop keeps serving every other target meanwhile (the fast
path reads a 512 KiB body in ~3 ms; the reference path in ~50 ms).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time

from discovery.target import Target
from exporter.common.clock import Clock, now_ms
from exporter.common.httpfetch import FetchError
from scraper import errors
from scraper.append import Appended, SeriesState, TimestampBounds, append
from scraper.fetch import Fetcher
from scraper.limits import Limits
from scraper.parse import ParseOutcome, parse_body
from scraper.sink import ScrapeRecord, ScrapeSink
from scraper.telemetry import ScraperTelemetry
from scraper.textformat import CacheBudget, SeriesCache

log = logging.getLogger(__name__)

INLINE_PARSE_MAX_BYTES = 512 * 1024  # parse bigger bodies in a worker thread


def scraper_identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class _TargetState:
    """What the scraper keeps per target between scrapes: its series cache and stamped series' last times."""

    __slots__ = ("cache", "series")

    def __init__(self, budget: CacheBudget) -> None:
        self.cache = SeriesCache(budget)
        self.series = SeriesState()


class Scraper:
    def __init__(
        self,
        fetcher: Fetcher,
        sink: ScrapeSink | None,
        limits: Limits = Limits(),
        shard: str = "0/1",
        identity: str | None = None,
        telemetry: ScraperTelemetry | None = None,
        timestamps: TimestampBounds | None = None,
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
        self.timestamps = timestamps or TimestampBounds()
        self._slots = asyncio.Semaphore(max_concurrency) if max_concurrency else None
        self.cache_budget = cache_budget or CacheBudget(500_000)
        self._targets: dict[str, _TargetState] = {}
        self.outcomes: dict[str, int] = {}
        self.samples_total = 0
        self.in_flight = 0

    def forget(self, target_key: str) -> None:
        """A target left the schedule: free its state."""
        state = self._targets.pop(target_key, None)
        if state is not None:
            state.cache.clear()

    @property
    def cached_series(self) -> int:
        return self.cache_budget.used

    async def scrape(self, target: Target, scheduled_ms: int | None = None, late: bool = False) -> ScrapeRecord:
        """Scrape once. `late`: the scheduler started this scrape past its slot's tolerance, so its outcome may
        be the scraper's own doing — the slot is recorded as void whatever the outcome (docs/scraper.md)."""
        if self._slots is None:
            return await self._scrape(target, scheduled_ms, late)
        async with self._slots:
            return await self._scrape(target, scheduled_ms, late)

    async def _scrape(self, target: Target, scheduled_ms: int | None, late: bool) -> ScrapeRecord:
        start_ms = self.clock()
        t0 = time.perf_counter()
        self.in_flight += 1
        body_len = 0
        rows = b""
        kept: Appended | None = None
        error_class, message = errors.OK, ""
        try:
            res = await self.fetcher.fetch(target.url)
            body_len = len(res.body)
            state = self._targets.get(target.key)
            if state is None:
                state = self._targets[target.key] = _TargetState(self.cache_budget)
            if body_len > INLINE_PARSE_MAX_BYTES:
                outcome, kept, rows = await asyncio.to_thread(self._parse, res.body, res.content_type, state, start_ms, target)
            else:
                outcome, kept, rows = self._parse(res.body, res.content_type, state, start_ms, target)
            self.telemetry.parsed(outcome.path, kept.dropped)
        except FetchError as e:  # fetch failures, and ScrapeError from parsing, limits and identity
            error_class, message = e.error_class, str(e)
        except Exception as e:  # a bug of ours: counted and recorded, never fatal
            log.exception("scrape of %s failed unexpectedly", target.url)
            error_class, message = errors.INTERNAL, f"{type(e).__name__}: {e}"[:300]
        finally:
            self.in_flight -= 1
        duration = time.perf_counter() - t0
        up = error_class == errors.OK
        n = len(kept.samples) if kept is not None and up else 0
        record = ScrapeRecord(
            ts_ms=start_ms,
            scheduled_ms=scheduled_ms if scheduled_ms is not None else start_ms,
            target=target.url,
            orchestrator=kept.orchestrator if kept is not None else target.orchestrator,
            instance=target.instance,
            up=up,
            duration_s=duration,
            bytes=body_len,
            samples=n,
            error_class=error_class,
            error=message,
            scraper=self.identity,
            shard=self.shard,
            void=late,
            identity=kept.identity if kept is not None else "",
            dropped=kept.dropped if kept is not None else {},
        )
        self.outcomes[error_class] = self.outcomes.get(error_class, 0) + 1
        self.samples_total += n
        self.telemetry.scraped(error_class, duration, n)
        if self.sink is not None:
            self.sink.add(record, rows if up else b"", n)
        return record

    def _parse(self, body: bytes, content_type: str, state: _TargetState, start_ms: int,
               target: Target) -> tuple[ParseOutcome, Appended, bytes]:  # fmt: skip
        outcome = parse_body(body, content_type, self.limits, state.cache)
        if outcome.path == "reference" and len(body) <= INLINE_PARSE_MAX_BYTES:
            log.debug("%s: reference path (%s)", target.url, outcome.fallback_reason)
        kept = append(outcome.samples, start_ms, target.orchestrator, state.series, self.timestamps)
        return outcome, kept, kept.samples.to_rows(start_ms, kept.orchestrator, target.instance)
