"""The scraper on its own: `naap scrape --once` (one pass, one JSON line per target) and `naap scrape`."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from discovery.factory import build_discovery
from naap.collector import Collector, record_snapshot
from naap.settings import Settings
from scraper import errors
from scraper.factory import build_fetcher, build_scraper, build_sink
from scraper.schedule import in_shard
from scraper.scrape import scraper_identity
from scraper.sink import ScrapeRecord
from warehouse.migrations import open_warehouse

log = logging.getLogger(__name__)


def _line(r: ScrapeRecord) -> dict[str, Any]:
    return {
        "target": r.target,
        "orchestrator": r.orchestrator,
        "up": r.up,
        "duration_s": round(r.duration_s, 4),
        "bytes": r.bytes,
        "samples": r.samples,
        "error": r.error_class if not r.up else None,
        "message": r.error or None,
    }


async def scrape_once(settings: Settings) -> list[dict[str, Any]]:
    """Scrape every (in-shard) target once, store the results, return one summary line per target."""
    discovery = build_discovery(settings.discovery, settings.scraper.allow_loopback)
    try:
        snap = await discovery.walk()
    finally:
        await discovery.close()
    wh = await asyncio.to_thread(open_warehouse, settings.warehouse)
    lines: list[dict[str, Any]] = []
    try:
        await asyncio.to_thread(record_snapshot, wh, snap)
        sc = settings.scraper
        identity = scraper_identity()
        sink = build_sink(sc, settings.warehouse, wh, identity)
        targets = [t for t in snap.accepted if in_shard(t, sc.shard_index, sc.shard_count)]
        async with build_fetcher(sc) as fetcher:
            scraper = build_scraper(sc, fetcher, sink, identity)  # bounded to max_concurrency scrapes at once
            records = await asyncio.gather(*(scraper.scrape(t) for t in targets))
        for r in snap.refused:
            lines.append(
                {
                    "target": r.target.url,
                    "orchestrator": r.target.orchestrator,
                    "up": False,
                    "duration_s": 0.0,
                    "bytes": 0,
                    "samples": 0,
                    "error": errors.REFUSED_ADDRESS,
                    "message": f"refused: {r.reason}",
                }
            )
        lines.extend(_line(r) for r in records)
        if not await sink.flush():
            log.error("could not write the results to the warehouse")
        for e in snap.errors:
            log.warning("targets: %s", e)
    finally:
        await asyncio.to_thread(wh.close)
    return lines


async def scrape_forever(settings: Settings, stop: asyncio.Event) -> None:
    """Discovery and scraper only: no scoring, no API."""
    await Collector(settings, with_api=False, with_scoring=False).run(stop)
