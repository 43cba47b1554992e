"""One scrape of one target: fetch, parse, check limits, hand samples and the scrape row to the sink.

Whatever the target does, the outcome is a ScrapeRecord with an error class; nothing it sends can raise
out of here, so one bad target never harms the others.
"""

from __future__ import annotations

import logging
import os
import socket
import time

from discovery.target import Target
from scraper import errors as E
from scraper.errors import ScrapeError
from scraper.fetch import Fetcher
from scraper.parse import Limits, parse_exposition
from scraper.sink import ScrapeRecord, WarehouseSink

log = logging.getLogger(__name__)


def scraper_identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Scraper:
    def __init__(
        self,
        fetcher: Fetcher,
        sink: WarehouseSink | None,
        limits: Limits = Limits(),
        shard: str = "0/1",
        identity: str | None = None,
    ) -> None:
        self.fetcher = fetcher
        self.sink = sink
        self.limits = limits
        self.shard = shard
        self.identity = identity or scraper_identity()
        self.outcomes: dict[str, int] = {}
        self.samples_total = 0

    async def scrape(self, target: Target, scheduled_ms: int | None = None) -> ScrapeRecord:
        start_ms = int(time.time() * 1000)
        t0 = time.perf_counter()
        body_len = 0
        parsed = None
        error_class, message = E.OK, ""
        try:
            res = await self.fetcher.fetch(target.url)
            body_len = len(res.body)
            parsed = parse_exposition(res.body, res.content_type, self.limits)
        except ScrapeError as e:
            error_class, message = e.error_class, str(e)
        except Exception as e:  # a bug of ours: counted and recorded, never fatal
            log.exception("scrape of %s failed unexpectedly", target.url)
            error_class, message = E.INTERNAL, f"{type(e).__name__}: {e}"[:300]
        record = ScrapeRecord(
            ts_ms=start_ms,
            scheduled_ms=scheduled_ms if scheduled_ms is not None else start_ms,
            target=target.url,
            orchestrator=target.orchestrator,
            instance=target.instance,
            up=error_class == E.OK,
            duration_s=time.perf_counter() - t0,
            bytes=body_len,
            samples=len(parsed) if parsed is not None else 0,
            error_class=error_class,
            error=message,
            scraper=self.identity,
            shard=self.shard,
        )
        self.outcomes[error_class] = self.outcomes.get(error_class, 0) + 1
        if self.sink is not None:
            if parsed is not None and len(parsed):
                self.samples_total += len(parsed)
                # First cut: every sample is stamped with the scrape's start time.
                self.sink.add(record, parsed.names, parsed.labels, parsed.values, None)
            else:
                self.sink.add(record)
        return record
