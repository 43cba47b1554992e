"""The scraper's parts, assembled from settings: one place for the collector and `naap scrape` to call."""

from __future__ import annotations

from dataclasses import dataclass

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from naap.settings import Settings
from naap.warehouse import Warehouse
from scraper.fetch import Fetcher
from scraper.parse import Limits
from scraper.schedule import ScrapeScheduler
from scraper.scrape import Scraper, TimestampPolicy
from scraper.sink import WarehouseSink
from scraper.telemetry import ScraperTelemetry
from scraper.textformat import CacheBudget


def limits_from(settings: Settings) -> Limits:
    s = settings.scraper
    return Limits(
        sample_limit=s.sample_limit,
        label_name_max=s.label_name_max,
        label_value_max=s.label_value_max,
        labels_per_series_max=s.labels_per_series_max,
    )


def fetcher_from(settings: Settings) -> Fetcher:
    s = settings.scraper
    return Fetcher(
        timeout_s=s.timeout_s,
        max_body_bytes=s.max_body_bytes,
        allow_loopback=s.allow_loopback,
        max_connections=s.max_concurrency,
        per_host=s.per_host_connections,
        keepalive_s=2 * s.interval_s + 5,  # idle connections survive until the next scrape
    )


def scraper_from(settings: Settings, fetcher: Fetcher, sink: WarehouseSink | None,
                 telemetry: ScraperTelemetry | None = None) -> Scraper:  # fmt: skip
    s = settings.scraper
    return Scraper(
        fetcher,
        sink,
        limits_from(settings),
        shard=s.shard,
        telemetry=telemetry,
        timestamps=TimestampPolicy(s.timestamp_max_age_s, s.timestamp_max_future_s),
        max_concurrency=s.max_concurrency,
        cache_budget=CacheBudget(s.series_cache_entries),
    )


def sink_from(settings: Settings, wh: Warehouse, identity: str) -> WarehouseSink:
    w = settings.warehouse
    return WarehouseSink(
        wh,
        batch_rows=w.batch_rows,
        flush_interval_s=w.flush_interval_s,
        max_buffered_rows=w.max_buffered_rows,
        max_buffered_bytes=w.max_buffered_mb << 20,
        scraper=identity,
        shard=settings.scraper.shard,
    )


@dataclass
class Scraping:
    fetcher: Fetcher
    sink: WarehouseSink
    scraper: Scraper
    schedule: ScrapeScheduler
    telemetry: ScraperTelemetry


GC_THRESHOLDS = (50_000, 20, 100)


def tune_gc() -> None:
    """Collect garbage less often. A scraper keeps ~50 long-lived container objects per target (its connection,
    parser state, scheduler job); with Python's default thresholds a full collection walks them all every few
    seconds — 0.3 s with the event loop stopped at 10,000 targets, measured, which made 40 % of scrapes start
    late. Refcounting still frees almost everything at once; the thresholds only space out the cycle hunts."""
    import gc

    if gc.get_threshold()[0] < GC_THRESHOLDS[0]:
        gc.set_threshold(*GC_THRESHOLDS)


def build_scraping(settings: Settings, wh: Warehouse, scheduler: AsyncIOScheduler | None = None) -> Scraping:
    """Every part of a running scraper over one warehouse (call `await fetcher.open()` before scraping)."""
    from scraper.scrape import scraper_identity

    tune_gc()

    s = settings.scraper
    telemetry = ScraperTelemetry()
    identity = scraper_identity()
    sink = sink_from(settings, wh, identity)
    fetcher = fetcher_from(settings)
    scraper = scraper_from(settings, fetcher, sink, telemetry)
    scraper.identity = identity
    schedule = ScrapeScheduler(
        scraper, s.interval_s, s.shard_index, s.shard_count, scheduler, timeout_s=s.timeout_s, void_min_targets=s.void_min_targets
    )
    telemetry.bind(sink=sink, scraper=scraper)
    return Scraping(fetcher, sink, scraper, schedule, telemetry)
