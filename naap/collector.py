"""The collector process: discovery, scraper, scoring and API in one asyncio loop over one warehouse.

This is the embedded (chDB) deployment: chDB allows one process per data directory, so everything that
touches the warehouse lives here. With a ClickHouse server DSN the same parts can also run as separate
processes (`naap scrape`, `naap api`).

Start-up problems (bad config, warehouse unreachable, port taken) raise before anything runs; after
start-up nothing a target, a source or the warehouse does stops the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable

import uvicorn
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from api.app import create_app
from discovery.factory import build_discovery
from discovery.service import SNAPSHOT_COLUMNS, Snapshot, Source, snapshot_rows
from naap.settings import Settings
from scoring.sla_config import SlaConfig, load_config
from scoring.store import publish_scores
from scraper.factory import build_scraping
from scraper.schedule import ScrapeScheduler
from scraper.scrape import Scraper
from scraper.sink import WarehouseSink
from scraper.telemetry import ScraperTelemetry, serve_metrics
from warehouse.client import Warehouse, WarehouseError
from warehouse.migrations import open_warehouse

log = logging.getLogger(__name__)


class _EmbeddedServer(uvicorn.Server):
    """uvicorn without its own signal handling: the collector owns shutdown."""

    @contextlib.contextmanager
    def capture_signals(self):  # type: ignore[override]
        yield


@dataclass
class Running:
    api_url: str
    docs_url: str
    targets: int
    refused: int


def record_snapshot(wh: Warehouse, snap: Snapshot) -> None:
    rows = snapshot_rows(snap)
    if rows:
        wh.insert_rows("discovery_snapshots", SNAPSHOT_COLUMNS, rows)


class Collector:
    """Discovery + scraper, and (unless turned off) scoring and the API, over one warehouse."""

    def __init__(
        self,
        settings: Settings,
        sources: list[Source] | None = None,
        sla_config: SlaConfig | None = None,
        with_api: bool = True,
        with_scoring: bool = True,
    ) -> None:
        self.settings = settings
        self.with_api = with_api
        self.with_scoring = with_scoring
        self.sla_config = sla_config or load_config(settings.scoring.config)
        self.discovery = build_discovery(settings.discovery, settings.scraper.allow_loopback, sources)
        self.warehouse: Warehouse | None = None
        self.sink: WarehouseSink | None = None
        self.scraper: Scraper | None = None
        self.schedule: ScrapeScheduler | None = None
        self.telemetry: ScraperTelemetry | None = None
        self.metrics_port: int | None = None  # the standalone /metrics listener's port, when one runs
        self.scoring_runs = 0
        self.scoring_errors = 0

    async def _rediscover(self) -> None:
        assert self.warehouse is not None and self.schedule is not None
        snap = await self.discovery.walk()
        try:
            await asyncio.to_thread(record_snapshot, self.warehouse, snap)
        except WarehouseError as e:
            log.warning("could not record discovery snapshot: %s", e)
        self.schedule.set_targets(snap.accepted)

    def _score(self) -> None:
        assert self.warehouse is not None
        try:
            publish_scores(self.warehouse, self.sla_config)
            self.scoring_runs += 1
        except WarehouseError as e:
            self.scoring_errors += 1
            log.warning("scoring failed (will retry next interval): %s", e)

    async def run(self, stop: asyncio.Event, on_ready: Callable[[Running], None] | None = None) -> None:
        s = self.settings
        wh = self.warehouse = await asyncio.to_thread(open_warehouse, s.warehouse)
        scheduler = AsyncIOScheduler(timezone=timezone.utc)
        parts = build_scraping(s.scraper, s.warehouse, wh, scheduler)
        sink = self.sink = parts.sink
        fetcher, self.telemetry = parts.fetcher, parts.telemetry
        self.scraper, self.schedule = parts.scraper, parts.schedule
        await fetcher.open()
        await self._rediscover()
        now = datetime.now(timezone.utc)
        scheduler.add_job(
            self._rediscover, IntervalTrigger(seconds=s.discovery.interval_s, start_date=now + timedelta(seconds=s.discovery.interval_s)),
            id="discovery", max_instances=1, coalesce=True,
        )
        if self.with_scoring:
            first = now + timedelta(seconds=min(10.0, s.scoring.interval_s))
            scheduler.add_job(
                self._score_async, IntervalTrigger(seconds=s.scoring.interval_s, start_date=first),
                id="scoring", max_instances=1, coalesce=True,
            )  # fmt: skip
        writer = asyncio.create_task(sink.run(stop), name="warehouse-writer")
        server: _EmbeddedServer | None = None
        api_task: asyncio.Task | None = None
        metrics_runner = None
        base = ""
        try:
            if self.with_api:
                server, api_task, base = await self._start_api(wh)
            elif s.scraper.metrics_port is not None:
                metrics_runner, self.metrics_port = await serve_metrics(
                    self.telemetry.registry, s.scraper.metrics_host, s.scraper.metrics_port
                )
                log.info("scraper metrics on http://%s:%d/metrics", s.scraper.metrics_host, self.metrics_port)
            self.schedule.start()
            snap = self.discovery.last
            if on_ready is not None:
                on_ready(Running(api_url=base, docs_url=f"{base}/docs" if base else "",
                                 targets=len(self.schedule.targets), refused=len(snap.refused) if snap else 0))  # fmt: skip
            await stop.wait()
        finally:
            log.info("collector stopping")
            stop.set()
            await self.schedule.drain()
            if metrics_runner is not None:
                await metrics_runner.cleanup()
            if server is not None and api_task is not None:
                server.should_exit = True
                await api_task
            await writer  # flushes what is queued
            await fetcher.close()
            await self.discovery.close()
            await asyncio.to_thread(wh.close)

    async def _start_api(self, wh: Warehouse) -> tuple[_EmbeddedServer, asyncio.Task, str]:
        s = self.settings.api
        app = create_app(wh, self.sla_config, s, discovery=self.discovery)
        app.state["metrics_registry"] = self.telemetry.registry if self.telemetry else None  # GET /metrics
        server = _EmbeddedServer(
            uvicorn.Config(app, host=s.host, port=s.port, log_level="warning", access_log=False, lifespan="on")
        )
        task = asyncio.create_task(server.serve(), name="api")
        while not server.started:
            if task.done():
                exc = task.exception()
                raise RuntimeError(f"API server failed to start on {s.host}:{s.port}: {exc or 'port in use?'}")
            await asyncio.sleep(0.05)
        port = server.servers[0].sockets[0].getsockname()[1]
        host = "127.0.0.1" if s.host in ("0.0.0.0", "") else s.host
        return server, task, f"http://{host}:{port}"

    async def _score_async(self) -> None:
        await asyncio.to_thread(self._score)

