"""Scrape scheduling with apscheduler: every target every interval, at a stable offset within it.

The offset comes from a hash of the target, so targets spread evenly over the interval and keep their slot
across restarts (no thundering herd at start). `--shard i/N` keeps only targets whose hash mod N is i, so N
scrapers split the targets exactly, as Prometheus' hashmod does.
"""

from __future__ import annotations

import logging
import math
import time
from datetime import datetime, timezone

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from discovery.target import Target
from scraper.scrape import Scraper

log = logging.getLogger(__name__)


def in_shard(target: Target, index: int, count: int) -> bool:
    return target.stable_hash() % count == index


def offset_s(target: Target, interval_s: float) -> float:
    """Stable slot of the target within the interval, in seconds."""
    # Use bits of the hash other than those the shard uses, so each shard still spreads evenly.
    return ((target.stable_hash() >> 20) % max(1, int(interval_s * 1000))) / 1000.0


def next_slot(now: float, interval_s: float, offset: float) -> float:
    """The first time >= now that is offset + k·interval (k integer)."""
    k = math.ceil((now - offset) / interval_s)
    return offset + k * interval_s


class ScrapeScheduler:
    def __init__(
        self,
        scraper: Scraper,
        interval_s: float,
        shard_index: int = 0,
        shard_count: int = 1,
        scheduler: AsyncIOScheduler | None = None,
    ) -> None:
        self.scraper = scraper
        self.interval_s = interval_s
        self.shard_index = shard_index
        self.shard_count = shard_count
        self.scheduler = scheduler or AsyncIOScheduler(timezone=timezone.utc)
        self._targets: dict[str, Target] = {}

    @property
    def targets(self) -> list[Target]:
        return list(self._targets.values())

    def set_targets(self, targets: list[Target]) -> None:
        wanted = {t.key: t for t in targets if in_shard(t, self.shard_index, self.shard_count)}
        for key in list(self._targets):
            if key not in wanted or wanted[key] != self._targets[key]:
                self.scheduler.remove_job(self._job_id(key))
                del self._targets[key]
        now = time.time()
        for key, t in wanted.items():
            if key in self._targets:
                continue
            first = next_slot(now + 0.05, self.interval_s, offset_s(t, self.interval_s))
            self.scheduler.add_job(
                self._run,
                IntervalTrigger(seconds=self.interval_s, start_date=datetime.fromtimestamp(first, timezone.utc)),
                args=[t],
                id=self._job_id(key),
                name=t.url,
                max_instances=1,
                coalesce=True,
                misfire_grace_time=max(1, int(self.interval_s / 2)),
            )
            self._targets[key] = t
        log.info("scheduling %d targets (shard %d/%d)", len(self._targets), self.shard_index, self.shard_count)

    @staticmethod
    def _job_id(key: str) -> str:
        return f"scrape:{key}"

    async def _run(self, target: Target) -> None:
        now = time.time()
        off = offset_s(target, self.interval_s)
        scheduled = off + round((now - off) / self.interval_s) * self.interval_s  # nearest slot: jobs fire on it
        await self.scraper.scrape(target, int(scheduled * 1000))

    def start(self) -> None:
        if not self.scheduler.running:
            self.scheduler.start()

    def shutdown(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
