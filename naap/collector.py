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
from typing import Any, Callable, Iterator

import uvicorn
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector as Collector_

from api.app import create_app
from discovery.factory import build_discovery
from discovery.http_sd import source_kind
from discovery.service import SNAPSHOT_COLUMNS, Discovery, Snapshot, Source, snapshot_rows
from exporter.common.clock import now_ms
from naap.settings import Settings
from scoring.exposition import register_score_metrics
from scoring.publish_v1 import publish_tick
from scoring.sla_config import AnyConfig, ConfigError, is_v1, load_config
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
        port_flags: dict[str, str] | None = None,
    ) -> None:
        self.settings = settings
        self.with_api = with_api
        self.with_scoring = with_scoring
        self.holder = holder
        # The flag that sets each port, for a start-up error ("api": --port, "metrics": --metrics-port).
        self.port_flags = port_flags or {}
        try:
            self.sla_config = sla_config or load_config(settings.scoring.config)
        except ConfigError as e:
            raise StartError(f"the SLA config (scoring.config): {e}") from None
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
        self.probing: Any = None  # naap/probing.py's Probing, when prober.enabled

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
        """Start everything, run until `stop` is set, then stop cleanly. What start-up can check is checked before
        anything is created: the listening ports are bound first, then the targets files are read (a missing or
        broken one stops start-up), and only then is the warehouse opened (and, embedded, created)."""
        s = self.settings
        api_sock: socket.socket | None = None
        metrics_sock: socket.socket | None = None
        try:
            if self.with_api:
                api_sock = _listen("the API", s.api.host, s.api.port, self.port_flags.get("api", "--port"))
            elif s.scraper.metrics_port is not None:
                metrics_sock = _listen("the scraper's /metrics", s.scraper.metrics_host, s.scraper.metrics_port,
                                       self.port_flags.get("metrics", "--metrics-port"))  # fmt: skip
            first = await self.discovery.walk()
            broken = sorted(m for name, m in first.failed.items() if name.startswith("file:"))
            if broken:
                raise StartError(f"cannot start: targets file {broken[0]}" + (f" (and {len(broken) - 1} more)" if len(broken) > 1 else ""))
            if s.prober.enabled and self.probing is None:  # datasets, key file, pins: checked before the warehouse
                from naap.probing import Probing, ProbingError

                try:
                    self.probing = Probing(s, lambda: self.discovery.last)
                except ProbingError as e:
                    raise StartError(str(e)) from None
            try:
                wh = self.warehouse = await asyncio.to_thread(open_warehouse, s.warehouse, True, self.holder)
            except WarehouseError as e:
                raise StartError(str(e)) from None
        except BaseException:
            for sock in (api_sock, metrics_sock):
                if sock is not None:
                    sock.close()
            await self.discovery.close()
            raise
        writer = self.writer = open_writer(s, wh, scraper_identity())
        if self.probing is not None:
            await asyncio.to_thread(self.probing.attach, wh, writer)
        scheduler = AsyncIOScheduler(timezone=timezone.utc)
        parts = build_scraping(s.scraper, writer, scheduler)
        self.sink = parts.sink
        fetcher, self.telemetry = parts.fetcher, parts.telemetry
        self.scraper, self.schedule = parts.scraper, parts.schedule
        self.telemetry.registry.register(DiscoveryTelemetry(self.discovery))
        if self.probing is not None:  # naap_prober_*: the prober's own health (prober/telemetry.py)
            self.probing.telemetry.register(self.telemetry.registry)
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
            if api_sock is not None:
                server, api_task, base = await self._start_api(wh, api_sock)
                api_sock = None  # the server owns it now
            elif metrics_sock is not None:
                metrics_runner, self.metrics_port = await serve_metrics(self.telemetry.registry, s.scraper.metrics_host,
                                                                        s.scraper.metrics_port, sock=metrics_sock)  # fmt: skip
                metrics_sock = None
                log.info("scraper metrics on http://%s:%d/metrics", s.scraper.metrics_host, self.metrics_port)
            writer_task = asyncio.create_task(writer.run(stop), name="warehouse-writer")
            record_snapshot(writer, first)
            self.schedule.set_targets(first.accepted)
            now = datetime.now(timezone.utc)
            scheduler.add_job(
                self._rediscover, IntervalTrigger(seconds=s.discovery.interval_s, start_date=now + timedelta(seconds=s.discovery.interval_s)),
                id="discovery", max_instances=1, coalesce=True,
            )  # fmt: skip
            if self.with_scoring:
                first_score = now + timedelta(seconds=min(10.0, s.scoring.interval_s))
                scheduler.add_job(
                    self._score_async, IntervalTrigger(seconds=s.scoring.interval_s, start_date=first_score),
                    id="scoring", max_instances=1, coalesce=True,
                )  # fmt: skip
            if self.probing is not None:
                self.probing.schedule(scheduler)  # a pass soon, then one per period; never blocks the scrapes
            self.schedule.start()
            started = True
            snap = self.discovery.last
            if on_ready is not None:
                on_ready(Running(api_url=base, docs_url=f"{base}/docs" if base else "",
                                 targets=len(self.schedule.targets), refused=len(snap.refused) if snap else 0))  # fmt: skip
            await stop.wait()
        finally:
            for sock in (api_sock, metrics_sock):
                if sock is not None:
                    sock.close()
            if started:
                log.info("collector stopping: draining scrapes in flight (a second Ctrl-C stops at once)")
            stop.set()
            try:
                await self.schedule.drain()  # scrapes in flight finish and hand their rows to the writer
                if self.probing is not None:
                    await self.probing.close()  # a pass still running is stopped; its results are not written
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
            except asyncio.CancelledError:  # a second signal: stop at once, saying what is left behind
                self.abandon()
                raise

    def abandon(self) -> dict[str, int]:
        """A stop that does not wait (a second Ctrl-C): count and log what is abandoned, and spill the rows that
        explain lost slots so the next start still writes them. Returns the counts."""
        scraper, writer = self.scraper, self.writer
        counts = {
            "scrapes_in_flight": scraper.in_flight if scraper is not None else 0,
            "rows_unwritten": writer.buffered_rows if writer is not None else 0,
        }
        if writer is not None:
            writer.stats.abandoned_rows = counts["rows_unwritten"]
            try:
                writer.spill_kept()
            except OSError as e:
                log.error("could not spill the void windows at the forced stop: %s", e)
        log.error("stopped at once by a second signal: abandoned %d scrapes in flight and %d rows not written to the "
                  "warehouse", counts["scrapes_in_flight"], counts["rows_unwritten"])  # fmt: skip
        return counts

    async def _start_api(self, wh: Warehouse, sock: socket.socket) -> tuple[_EmbeddedServer, asyncio.Task, str]:
        s = self.settings.api
        app = create_app(wh.reader(s.query_timeout_s), self.sla_config, s, discovery=self.discovery,
                         prober=self.probing.status if self.probing is not None else None)  # fmt: skip
        app.state["metrics_registry"] = self.telemetry.registry if self.telemetry else None  # GET /metrics
        config = uvicorn.Config(app, host=s.host, port=s.port, log_level="critical", access_log=False, lifespan="on",
                                **s.server_kwargs())  # proxy headers: only from api.forwarded_allow_ips
        server = _EmbeddedServer(config)
        task = asyncio.create_task(server.serve(sockets=[sock]), name="api")
        while not server.started:
            if task.done():
                raise StartError(f"the API server failed to start on {s.host}:{s.port}: {task.exception() or 'unknown reason'}")
            await asyncio.sleep(0.05)
        port = sock.getsockname()[1]
        host = "127.0.0.1" if s.host in ("0.0.0.0", "") else s.host
        return server, task, f"http://{host}:{port}"


class DiscoveryTelemetry(Collector_):
    """Discovery's health on the collector's /metrics: walks, failed source walks (a targets file that could not be
    read, a chain walk that failed: the last good targets stay in use), and the sources failing right now.
    Sources are named by kind (file, chain, static), never by a local path."""

    def __init__(self, discovery: Discovery) -> None:
        self.discovery = discovery

    def collect(self) -> Iterator[Metric]:
        d = self.discovery
        yield CounterMetricFamily("naap_discovery_walks", "Discovery walks.", value=d.walks)
        failures = CounterMetricFamily("naap_discovery_source_failures", "Failed source walks, by source kind; "
                                       "the source's last good targets stay in use.", labels=["source"])  # fmt: skip
        by_kind: dict[str, int] = {}
        for name, n in d.source_failures.items():
            by_kind[source_kind(name)] = by_kind.get(source_kind(name), 0) + n
        for kind, n in sorted(by_kind.items()):
            failures.add_metric([kind], n)
        yield failures
        failing = d.last.failed if d.last is not None else {}
        yield GaugeMetricFamily("naap_discovery_sources_failing", "Sources whose latest walk failed.", value=len(failing))
        yield GaugeMetricFamily("naap_discovery_targets", "Targets accepted by the latest walk.",
                                value=len(d.last.accepted) if d.last is not None else 0)  # fmt: skip


def _listen(what: str, host: str, port: int, flag: str) -> socket.socket:
    try:
        return bind_listener(host, port)
    except OSError as e:
        raise StartError(listen_error(what, host, port, e, flag)) from None


def bind_listener(host: str, port: int) -> socket.socket:
    """A listening TCP socket (so that a taken port is our OSError, not a server framework's exit)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Accepted connections inherit it: without it, an answer written as headers then a small body waits for the
        # client's delayed ACK (Nagle): 40 ms on every small API answer, measured by `naap bench api`.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
        sock.listen(2048)
        sock.set_inheritable(True)
    except OSError:
        sock.close()
        raise
    return sock


def listen_error(what: str, host: str, port: int, e: BaseException, flag: str = "--port") -> str:
    code = getattr(e, "errno", None)
    if code == errno.EADDRINUSE or "address already in use" in str(e).lower():
        why = f"the address is already in use (another naap or service on that port?); choose another with {flag}"
    elif code == errno.EACCES:
        why = "permission denied (ports below 1024 need privileges); choose a port above 1024"
    elif code == errno.EADDRNOTAVAIL:
        why = f"{host} is not an address of this host"
    else:
        why = str(e) or type(e).__name__
    return f"cannot listen on {host}:{port} for {what}: {why}"
