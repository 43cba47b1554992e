"""The collector process: discovery, scraper, scoring and API in one asyncio loop over one warehouse.

This is the embedded (chDB) deployment: chDB allows one process per data directory, so everything that
touches the warehouse lives here. With a ClickHouse server DSN the same parts can also run as separate
processes (`naap scrape`, `naap api`).

Start-up problems (bad config, warehouse unreachable or held by another process, port taken) raise StartError
with one line saying what to do, before anything runs; after start-up nothing a target, a source or the
warehouse does stops the process. A clean stop drains the scrapes in flight, then flushes the one writer (with a
bounded retry), then closes; rows it could not write are counted, logged, and their slots voided.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable

import uvicorn
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from api.app import create_app
from discovery.factory import build_discovery
from discovery.service import SNAPSHOT_COLUMNS, Snapshot, Source, snapshot_rows
from exporter.common.clock import now_ms
from naap.settings import Settings
from scoring.exposition import register_score_metrics
from scoring.publish_v1 import publish_tick
from scoring.sla_config import AnyConfig, is_v1, load_config
from scoring.store import publish_scores
from scraper.factory import build_scraping
from scraper.schedule import ScrapeScheduler
from scraper.scrape import Scraper, scraper_identity
from scraper.sink import ScrapeSink
from scraper.telemetry import ScraperTelemetry, serve_metrics
from warehouse.client import Warehouse, WarehouseError
from warehouse.dsn import is_embedded
from warehouse.migrations import open_warehouse
from warehouse.writer import Writer

log = logging.getLogger(__name__)

# How long a clean stop keeps retrying the last writes before it counts what is left as lost.
STOP_RETRY_S = 10.0


class StartError(RuntimeError):
    """The collector cannot start; the message is one line for the operator."""


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


def record_snapshot(writer: Writer, snap: Snapshot) -> None:
    writer.add("discovery_snapshots", SNAPSHOT_COLUMNS, snapshot_rows(snap))


def open_writer(settings: Settings, wh: Warehouse, identity: str) -> Writer:
    """The process's one writer; an embedded warehouse keeps its spill file beside it."""
    spill = None
    if is_embedded(settings.warehouse.resolved_dsn()):
        spill = settings.warehouse.data_dir / "writer-spill.jsonl"
    writer = Writer.from_settings(settings.warehouse, wh, f"{identity}:{now_ms()}", spill_path=spill)
    recovered = writer.recover()
    if recovered:
        log.info("%d rows a previous stop could not write are queued again", recovered)
    return writer


class Collector:
    """Discovery + scraper, and (unless turned off) scoring and the API, over one warehouse."""

    def __init__(
        self,
        settings: Settings,
        sources: list[Source] | None = None,
        sla_config: AnyConfig | None = None,
        with_api: bool = True,
        with_scoring: bool = True,
        holder: str = "naap collect",
    ) -> None:
        self.settings = settings
        self.with_api = with_api
        self.with_scoring = with_scoring
        self.holder = holder
        self.sla_config = sla_config or load_config(settings.scoring.config)
        self.discovery = build_discovery(settings.discovery, settings.scraper.allow_loopback, sources)
        self.warehouse: Warehouse | None = None
        self.writer: Writer | None = None
        self.sink: ScrapeSink | None = None
        self.scraper: Scraper | None = None
        self.schedule: ScrapeScheduler | None = None
        self.telemetry: ScraperTelemetry | None = None
        self.metrics_port: int | None = None  # the standalone /metrics listener's port, when one runs
        self.scoring_runs = 0
        self.scoring_errors = 0

    async def _rediscover(self) -> None:
        assert self.writer is not None and self.schedule is not None
        snap = await self.discovery.walk()
        record_snapshot(self.writer, snap)
        self.schedule.set_targets(snap.accepted)

    def _score(self) -> None:
        assert self.warehouse is not None
        try:
            sc = self.settings.scoring
            if is_v1(self.sla_config):
                publish_tick(self.warehouse, self.sla_config, settle_s=sc.settle_s, as_of_margin_s=sc.as_of_margin_s,
                             catchup_s=sc.catchup_s)  # fmt: skip
            else:
                publish_scores(self.warehouse, self.sla_config, self.writer, settle_s=sc.settle_s, as_of_margin_s=sc.as_of_margin_s)
            self.scoring_runs += 1
        except WarehouseError as e:
            self.scoring_errors += 1
            log.warning("scoring failed (will retry next interval): %s", e)

    async def _score_async(self) -> None:
        try:
            await asyncio.to_thread(self._score)
        except asyncio.CancelledError:  # the collector is stopping; the scoring thread finishes on its own
            log.debug("scoring run cancelled by the stop")

    async def run(self, stop: asyncio.Event, on_ready: Callable[[Running], None] | None = None) -> None:
        s = self.settings
        try:
            wh = self.warehouse = await asyncio.to_thread(open_warehouse, s.warehouse, True, self.holder)
        except WarehouseError as e:
            raise StartError(str(e)) from None
        writer = self.writer = open_writer(s, wh, scraper_identity())
        scheduler = AsyncIOScheduler(timezone=timezone.utc)
        parts = build_scraping(s.scraper, writer, scheduler)
        self.sink = parts.sink
        fetcher, self.telemetry = parts.fetcher, parts.telemetry
        self.scraper, self.schedule = parts.scraper, parts.schedule
        if self.with_scoring and is_v1(self.sla_config):  # published scores and error budgets on /metrics
            register_score_metrics(self.telemetry.registry, wh.reader(s.api.query_timeout_s), self.sla_config)
        writer_task: asyncio.Task | None = None
        server: _EmbeddedServer | None = None
        api_task: asyncio.Task | None = None
        metrics_runner = None
        base = ""
        started = False
        try:
            await fetcher.open()
            if self.with_api:
                server, api_task, base = await self._start_api(wh)
            elif s.scraper.metrics_port is not None:
                try:
                    metrics_runner, self.metrics_port = await serve_metrics(
                        self.telemetry.registry, s.scraper.metrics_host, s.scraper.metrics_port
                    )
                except OSError as e:
                    raise StartError(listen_error("the scraper's /metrics", s.scraper.metrics_host, s.scraper.metrics_port, e)) from None
                log.info("scraper metrics on http://%s:%d/metrics", s.scraper.metrics_host, self.metrics_port)
            writer_task = asyncio.create_task(writer.run(stop), name="warehouse-writer")
            await self._rediscover()
            now = datetime.now(timezone.utc)
            scheduler.add_job(
                self._rediscover, IntervalTrigger(seconds=s.discovery.interval_s, start_date=now + timedelta(seconds=s.discovery.interval_s)),
                id="discovery", max_instances=1, coalesce=True,
            )  # fmt: skip
            if self.with_scoring:
                first = now + timedelta(seconds=min(10.0, s.scoring.interval_s))
                scheduler.add_job(
                    self._score_async, IntervalTrigger(seconds=s.scoring.interval_s, start_date=first),
                    id="scoring", max_instances=1, coalesce=True,
                )  # fmt: skip
            self.schedule.start()
            started = True
            snap = self.discovery.last
            if on_ready is not None:
                on_ready(Running(api_url=base, docs_url=f"{base}/docs" if base else "",
                                 targets=len(self.schedule.targets), refused=len(snap.refused) if snap else 0))  # fmt: skip
            await stop.wait()
        finally:
            if started:
                log.info("collector stopping: draining scrapes in flight")
            stop.set()
            await self.schedule.drain()  # scrapes in flight finish and hand their rows to the writer
            if metrics_runner is not None:
                await metrics_runner.cleanup()
            if server is not None and api_task is not None:
                server.should_exit = True
                await api_task
            if writer_task is not None:
                await writer_task
            await writer.close(retry_s=STOP_RETRY_S)  # the last rows, with a bounded retry
            await fetcher.close()
            await self.discovery.close()
            await asyncio.to_thread(wh.close)

    async def _start_api(self, wh: Warehouse) -> tuple[_EmbeddedServer, asyncio.Task, str]:
        s = self.settings.api
        app = create_app(wh.reader(s.query_timeout_s), self.sla_config, s, discovery=self.discovery)
        app.state["metrics_registry"] = self.telemetry.registry if self.telemetry else None  # GET /metrics
        config = uvicorn.Config(app, host=s.host, port=s.port, log_level="critical", access_log=False, lifespan="on")
        server = _EmbeddedServer(config)
        try:
            sockets = [bind_listener(s.host, s.port)]
        except OSError as e:
            raise StartError(listen_error("the API", s.host, s.port, e)) from None
        task = asyncio.create_task(server.serve(sockets=sockets), name="api")
        while not server.started:
            if task.done():
                raise StartError(f"the API server failed to start on {s.host}:{s.port}: {task.exception() or 'unknown reason'}")
            await asyncio.sleep(0.05)
        port = sockets[0].getsockname()[1]
        host = "127.0.0.1" if s.host in ("0.0.0.0", "") else s.host
        return server, task, f"http://{host}:{port}"


def bind_listener(host: str, port: int) -> socket.socket:
    """A listening TCP socket (so that a taken port is our OSError, not a server framework's exit)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
        sock.set_inheritable(True)
    except OSError:
        sock.close()
        raise
    return sock


def listen_error(what: str, host: str, port: int, e: BaseException) -> str:
    code = getattr(e, "errno", None)
    if code == errno.EADDRINUSE or "address already in use" in str(e).lower():
        why = "the address is already in use (another naap or service on that port?); choose another with --port"
    elif code == errno.EACCES:
        why = "permission denied (ports below 1024 need privileges); choose a port above 1024"
    elif code == errno.EADDRNOTAVAIL:
        why = f"{host} is not an address of this host"
    else:
        why = str(e) or type(e).__name__
    return f"cannot listen on {host}:{port} for {what}: {why}"
