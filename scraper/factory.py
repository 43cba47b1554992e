"""The scraper's parts, assembled from its settings (and the warehouse's, for the writer): one place for the
collector, `naap scrape` and `naap scrape --once` to call."""

from __future__ import annotations

import gc
from dataclasses import dataclass

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from scraper.append import TimestampBounds
from scraper.config import ScraperSettings
from scraper.fetch import Fetcher
from scraper.limits import Limits
from scraper.schedule import ScrapeScheduler
from scraper.scrape import Scraper, scraper_identity
from scraper.sink import ScrapeSink
from scraper.telemetry import ScraperTelemetry
from scraper.textformat import CacheBudget
from warehouse.writer import Writer


def build_fetcher(s: ScraperSettings) -> Fetcher:
    return Fetcher(
        timeout_s=s.timeout_s,
        max_body_bytes=s.max_body_bytes,
        allow_loopback=s.allow_loopback,
        max_connections=s.max_concurrency,
        per_host=s.per_host_connections,
        keepalive_s=2 * s.interval_s + 5,  # idle connections survive until the next scrape
    )


def build_sink(s: ScraperSettings, writer: Writer, identity: str) -> ScrapeSink:
    return ScrapeSink(writer, scraper=identity, shard=s.shard)


def build_scraper(s: ScraperSettings, fetcher: Fetcher, sink: ScrapeSink | None, identity: str,
                  telemetry: ScraperTelemetry | None = None) -> Scraper:  # fmt: skip
    return Scraper(
        fetcher,
        sink,
        Limits.from_settings(s),
        shard=s.shard,
        identity=identity,
        telemetry=telemetry,
        timestamps=TimestampBounds.from_seconds(s.timestamp_max_age_s, s.timestamp_max_future_s),
        max_concurrency=s.max_concurrency,
        cache_budget=CacheBudget(s.series_cache_entries),
    )


@dataclass
class Scraping:
    fetcher: Fetcher
    sink: ScrapeSink
    scraper: Scraper
    schedule: ScrapeScheduler
    telemetry: ScraperTelemetry


GC_THRESHOLDS = (50_000, 20, 100)


def tune_gc() -> None:
    """Collect garbage less often. A scraper keeps ~50 long-lived container objects per target (its connection,
    parser state, scheduler job); with Python's default thresholds a full collection walks them all every few
    seconds — 0.3 s with the event loop stopped at 10,000 targets, measured, which made 40 % of scrapes start
    late. Refcounting still frees almost everything at once; the thresholds only space out the cycle hunts."""
    if gc.get_threshold()[0] < GC_THRESHOLDS[0]:
        gc.set_threshold(*GC_THRESHOLDS)


def build_scraping(s: ScraperSettings, writer: Writer, scheduler: AsyncIOScheduler | None = None) -> Scraping:
    """Every part of a running scraper writing through `writer` (call `await fetcher.open()` before scraping)."""
    tune_gc()
    telemetry = ScraperTelemetry()
    identity = scraper_identity()
    sink = build_sink(s, writer, identity)
    fetcher = build_fetcher(s)
    scraper = build_scraper(s, fetcher, sink, identity, telemetry)
    schedule = ScrapeScheduler(
        scraper, s.interval_s, s.shard_index, s.shard_count, scheduler, timeout_s=s.timeout_s,
        void_min_targets=s.void_min_targets, shed_at=s.shed_at,
    )  # fmt: skip
    telemetry.bind(sink=sink, scraper=scraper)
    return Scraping(fetcher, sink, scraper, schedule, telemetry)
