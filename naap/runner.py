"""The scraper on its own: `naap scrape --once` (one pass, one JSON line per target) and `naap scrape`."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from discovery.factory import build_discovery
from discovery.service import DUPLICATE_METRICS_URL
from naap.collector import Collector, StartError, open_writer, record_snapshot
from naap.settings import Settings
from scraper import errors
from scraper.factory import build_fetcher, build_scraper, build_sink
from scraper.schedule import in_shard
from scraper.scrape import scraper_identity
from scraper.sink import ScrapeRecord
from warehouse.client import WarehouseError
from warehouse.migrations import open_warehouse

log = logging.getLogger(__name__)


class NoTargets(RuntimeError):
    """Discovery produced nothing to scrape (every file missing or broken, every target refused)."""


def _line(r: ScrapeRecord) -> dict[str, Any]:
    return {
        "target": r.target,
        "orchestrator": r.orchestrator,
        "identity": r.identity or None,
        "up": r.up,
        "duration_s": round(r.duration_s, 4),
        "bytes": r.bytes,
        "samples": r.samples,
        "dropped": dict(sorted(r.dropped.items())) or None,
        "error": r.error_class if not r.up else None,
        "message": r.error or None,
    }


async def scrape_once(settings: Settings, store: bool = True) -> tuple[list[dict[str, Any]], list[str]]:
    """Scrape every (in-shard) target once and store the results (unless `store` is False). Returns one summary
    line per target and the discovery errors (unreadable or broken target files, bad entries); raises NoTargets
    when there is nothing to scrape, StartError when the warehouse cannot be opened."""
    discovery = build_discovery(settings.discovery, settings.scraper.allow_loopback)
    try:
        snap = await discovery.walk()
    finally:
        await discovery.close()
    sc = settings.scraper
    targets = [t for t in snap.accepted if in_shard(t, sc.shard_index, sc.shard_count)]
    if not targets and not snap.refused:
        raise NoTargets("; ".join(snap.errors) or "no targets")
    wh = writer = None
    if store:
        try:
            wh = await asyncio.to_thread(open_warehouse, settings.warehouse, True, "naap scrape --once")
        except WarehouseError as e:
            raise StartError(str(e)) from None
    lines: list[dict[str, Any]] = []
    try:
        identity = scraper_identity()
        sink = None
        if wh is not None:
            writer = open_writer(settings, wh, identity)
            record_snapshot(writer, snap)
            sink = build_sink(sc, writer, identity)
        async with build_fetcher(sc) as fetcher:
            scraper = build_scraper(sc, fetcher, sink, identity)  # bounded to max_concurrency scrapes at once
            records = await asyncio.gather(*(scraper.scrape(t) for t in targets))
        for r in snap.refused:
            lines.append(
                {
                    "target": r.target.url,
                    "orchestrator": r.target.orchestrator,
                    "identity": None,
                    "up": False,
                    "duration_s": 0.0,
                    "bytes": 0,
                    "samples": 0,
                    "dropped": None,
                    "error": errors.DUPLICATE_METRICS_URL if r.reason.startswith(DUPLICATE_METRICS_URL) else errors.REFUSED_ADDRESS,
                    "message": f"refused: {r.reason}",
                }
            )
        lines.extend(_line(r) for r in records)
        if writer is not None:
            unwritten = await writer.close(retry_s=5.0)
            if unwritten:
                log.error("could not write every result to the warehouse: %s", unwritten)
    finally:
        if wh is not None:
            await asyncio.to_thread(wh.close)
    return lines, list(snap.errors)


async def scrape_forever(settings: Settings, stop: asyncio.Event) -> None:
    """Discovery and scraper only: no scoring, no API."""
    await Collector(settings, with_api=False, with_scoring=False, holder="naap scrape",
                    port_flags={"metrics": "--metrics-port"}).run(stop)  # fmt: skip
