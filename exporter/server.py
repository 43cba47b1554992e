"""The exporter process: a prometheus-client registry served over aiohttp at /metrics, and the push listener.

Text format by default, OpenMetrics when the scraper asks for it (Accept), gzip when asked
(Accept-Encoding). Sources are polled in the background (exporter.sources), so a scrape only renders. A
failing source never breaks the page: its families drop out once its snapshot is stale and its error
counter goes up. Runner pushes arrive on a second listener, loopback-only by default.
"""

from __future__ import annotations

import asyncio
import gzip
import ipaddress
import logging
import random
import time
from typing import Iterator

from aiohttp import web
from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from exporter.common.meta import version
from exporter.config import ExporterConfig
from exporter.cue.collector import CueCollector
from exporter.exposition import CONTENT_TYPE as TEXT_CONTENT_TYPE
from exporter.exposition import TextEncoder
from exporter.cue.tables import CueTables
from exporter.gpu.collector import GpuCollector, GpuPoller
from exporter.gpu.dcgm import DcgmBindingsSource, DcgmExporterSource
from exporter.gpu.nvml import NvmlSource
from exporter.gpu.simulated import SimulatedGpuSource
from exporter.relay.livepeer import LivepeerRelay, RelayCollector, SimulatedLivepeer
from exporter.simulate import PROFILES, Profile, SimulatedRunner
from exporter.sources import HttpPoller, Poller
from exporter.streams.ingest import PushIngest, PushLimits, PushRejected
from exporter.streams.sdk import StreamMetrics

log = logging.getLogger(__name__)


class SelfCollector(Collector):
    """The exporter's own health: build info, per-source read time, up, errors, pushes."""

    def __init__(self, exporter: Exporter) -> None:
        self.exporter = exporter

    def collect(self) -> Iterator[Metric]:
        x = self.exporter
        info = InfoMetricFamily("naap_exporter_build", "Exporter version and the identity it declares.")
        info.add_metric(
            [],
            {
                "version": version(),
                "orchestrator": x.config.orchestrator,
                "region": x.config.region,
                "mode": "simulated" if x.config.simulate else "live",
            },
        )
        yield info
        if x.pollers:
            up = GaugeMetricFamily("naap_exporter_source_up", "1 if the source's last read succeeded.", labels=["source"])
            dur = GaugeMetricFamily(
                "naap_exporter_source_duration_seconds", "Time the last read of each source took.", labels=["source"]
            )
            errs = CounterMetricFamily("naap_exporter_source_errors", "Failed reads of each source.", labels=["source"])
            last = GaugeMetricFamily(
                "naap_exporter_source_last_success_timestamp_seconds",
                "Unix time of each source's last successful read.",
                labels=["source"],
            )
            for p in x.pollers:
                up.add_metric([p.name], 1.0 if p.up else 0.0)
                dur.add_metric([p.name], p.last_duration_s)
                errs.add_metric([p.name], p.errors)
                if p.last_success is not None:
                    last.add_metric([p.name], p.last_success)
            yield from (up, dur, errs)
            if last.samples:
                yield last
        if x.ingest is not None:
            pushes = CounterMetricFamily(
                "naap_exporter_push_requests", "Runner pushes by result (ok, or the reason they were refused).",
                labels=["result"],
            )  # fmt: skip
            pushes.add_metric(["ok"], x.ingest.accepted)
            for reason in sorted(x.ingest.rejected):
                pushes.add_metric([reason], x.ingest.rejected[reason])
            yield pushes
            runners = GaugeMetricFamily("naap_exporter_push_runners", "Runners currently pushing stream metrics.")
            runners.add_metric([], x.ingest.runners)
            yield runners
            conflicts = CounterMetricFamily(
                "naap_exporter_push_stream_conflicts", "Pushed streams refused because their id was live elsewhere."
            )
            conflicts.add_metric([], x.ingest.stream_conflicts)
            yield conflicts


class Exporter:
    """Holds the registry and its sources; `render(accept)` is what /metrics serves."""

    def __init__(
        self,
        config: ExporterConfig,
        nvml_module: object | None = None,
        profile: Profile | None = None,
        window_s: float | None = None,
        dcgm_reader_factory: object | None = None,
    ) -> None:
        self.config = config
        self._profile = profile  # tests pass shorter cycles than the named profiles
        window = window_s if window_s is not None else config.window_s
        self.registry = CollectorRegistry(auto_describe=False)
        self._text = TextEncoder()
        self.streams = StreamMetrics(window_s=window, jitter_window_s=12 * window)  # 5 s → 60 s
        self.registry.register(self.streams)
        self.runner: SimulatedRunner | None = None
        self.pollers: list[Poller] = []

        source: NvmlSource | SimulatedGpuSource | None = None
        if config.simulate:
            source = SimulatedGpuSource(
                count=config.gpus, model=config.gpu_model, seed=config.seed,
                load=self.streams.load_by_gpu(0.22), dcgm=config.simulate_dcgm,
            )  # fmt: skip
            self.runner = SimulatedRunner(
                self.streams, source.uuids, streams=config.streams, profile=self.profile, seed=config.seed,
                time_scale=window / 5.0,
            )  # fmt: skip
        elif config.nvml:
            source = NvmlSource(nvml_module)  # type: ignore[arg-type]
        self.gpu_poller = GpuPoller(source, config.gpu_interval_s) if source is not None else None

        self.dcgm: Poller | None = None
        d = config.dcgm
        if d.mode in ("url", "auto") and d.url:
            self.dcgm = DcgmExporterSource(d.url, d.interval_s, d.timeout_s)
        elif d.mode == "bindings" or (d.mode == "auto" and not config.simulate and (config.nvml or dcgm_reader_factory)):
            bindings = DcgmBindingsSource(d.interval_s, dcgm_reader_factory)  # type: ignore[arg-type]
            if bindings.available():  # absent DCGM is normal: said once in the log, no source
                self.dcgm = bindings

        self.relay: Poller | None = None
        if config.livepeer.url:
            lp = config.livepeer
            self.relay = LivepeerRelay(lp.url, lp.interval_s, lp.timeout_s, lp.max_bytes)
        elif config.simulate:
            self.relay = SimulatedLivepeer(self.streams, config.gpus)

        self.pollers = [p for p in (self.gpu_poller, self.dcgm, self.relay) if p is not None]
        if self.gpu_poller is not None:
            gpu_collector = GpuCollector(self.gpu_poller, self.dcgm)
            self.registry.register(gpu_collector)
            tables = CueTables(peak_path=config.cue.peak_table, model_overrides=config.cue.model_flops)
            self.registry.register(CueCollector(gpu_collector, self.streams, tables))
        elif self.dcgm is not None:
            self.registry.register(GpuCollector(GpuPoller(_NoGpus(), 3600), self.dcgm))
        if self.relay is not None:
            self.registry.register(RelayCollector(self.relay))  # type: ignore[arg-type]

        p = config.push
        self.ingest: PushIngest | None = None
        if p.enabled:
            self.ingest = PushIngest(self.streams, PushLimits(p.max_body_bytes, p.max_runners, p.max_streams,
                                                              p.max_workflows, p.stale_s))  # fmt: skip
        self.registry.register(SelfCollector(self))
        ProcessCollector(registry=self.registry)

    @property
    def profile(self) -> Profile:
        return self._profile or PROFILES[self.config.profile]

    def render(self, accept: str | None) -> tuple[bytes, str]:
        encoder, content_type = choose_encoder(accept or "")
        if content_type.startswith("application/openmetrics-text"):
            return encoder(self.registry), content_type
        return self._text.encode(self.registry), TEXT_CONTENT_TYPE

    def refresh(self) -> None:
        """Poll every blocking source once, synchronously (start-up, tests, benchmarks)."""
        for p in self.pollers:
            if p.blocking:
                p.refresh()

    def start(self) -> None:
        if self.gpu_poller is not None and not self.config.simulate:
            self.gpu_poller.source.available()  # logs once whether NVML is there
        self.streams.start_ticker()
        if self.runner is not None:
            self.runner.start()
        self.refresh()

    def stop(self) -> None:
        if self.runner is not None:
            self.runner.stop()
        self.streams.stop_ticker()


class _NoGpus:
    name = "nvml"

    def available(self) -> bool:
        return False

    def read(self) -> list:
        return []


class ExporterServer:
    """Serves an Exporter over HTTP; in simulate mode also plays the profile's offline periods."""

    def __init__(self, exporter: Exporter) -> None:
        self.exporter = exporter
        self.config = exporter.config
        self._app = web.Application()
        self._app.router.add_get("/metrics", self._metrics)
        self._app.router.add_get("/healthz", self._healthz)
        self._app.router.add_get("/", self._index)
        self._runner = web.AppRunner(self._app, access_log=None)
        self._site: web.TCPSite | None = None
        self._push_runner: web.AppRunner | None = None
        self._allow = [ipaddress.ip_network(n, strict=False) for n in self.config.push.allow]
        if exporter.ingest is not None:
            # The body cap is enforced while reading, before any parsing (aiohttp answers 413 past it).
            push_app = web.Application(client_max_size=self.config.push.max_body_bytes)
            push_app.router.add_post("/v1/push", self._push)
            push_app.router.add_get("/healthz", self._healthz)
            self._push_runner = web.AppRunner(push_app, access_log=None)
        self._rng = random.Random(self.config.seed)
        self._tasks: list[asyncio.Task] = []
        self.port = self.config.port
        self.push_port = self.config.push.port
        self.scrapes = 0

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.config.host in ("0.0.0.0", "") else self.config.host
        return f"http://{host}:{self.port}/metrics"

    @property
    def push_url(self) -> str:
        return f"http://{self.config.push.host}:{self.push_port}/v1/push"

    async def _metrics(self, request: web.Request) -> web.StreamResponse:
        self.scrapes += 1
        p = self.exporter.profile if self.config.simulate else None
        if p is not None:
            if p.response_delay_s:
                await asyncio.sleep(p.response_delay_s)
            if p.http_error_rate and self._rng.random() < p.http_error_rate:
                return web.Response(status=500, text="simulated failure\n")
        body, content_type = self.exporter.render(request.headers.get("Accept"))
        headers = {"Content-Type": content_type}
        if "gzip" in request.headers.get("Accept-Encoding", ""):
            body = gzip.compress(body, compresslevel=1)
            headers["Content-Encoding"] = "gzip"
        return web.Response(body=body, headers=headers)

    async def _push(self, request: web.Request) -> web.Response:
        ingest = self.exporter.ingest
        assert ingest is not None
        peer = request.remote or ""
        try:
            ip = ipaddress.ip_address(peer.split("%")[0])
            allowed = any(ip in net for net in self._allow)
        except ValueError:
            allowed = False
        try:
            if not allowed:
                raise ingest.reject(403, "forbidden_peer", f"pushes from {peer or 'unknown'} are not allowed")
            try:
                body = await request.read()
            except web.HTTPRequestEntityTooLarge:
                raise ingest.reject(413, "too_large", f"body over {self.config.push.max_body_bytes} bytes") from None
            result = ingest.handle(body, request.headers.get("Content-Type"))
        except PushRejected as e:
            return web.json_response({"status": e.status, "message": e.message, "reason": e.reason}, status=e.status)
        return web.json_response(result)

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def _index(self, request: web.Request) -> web.Response:
        return web.Response(
            text=f"naap exporter {version()}\nmetrics: /metrics\nhealth: /healthz\n", content_type="text/plain"
        )

    async def _bind(self) -> None:
        self._site = web.TCPSite(self._runner, self.config.host, self.port, reuse_address=True)
        await self._site.start()
        server = self._site._server  # aiohttp keeps the bound sockets here
        if server is not None and server.sockets:
            self.port = server.sockets[0].getsockname()[1]

    async def start(self) -> None:
        self.exporter.start()
        await self._runner.setup()
        await self._bind()
        if self._push_runner is not None:
            await self._push_runner.setup()
            site = web.TCPSite(self._push_runner, self.config.push.host, self.push_port, reuse_address=True)
            await site.start()
            server = site._server
            if server is not None and server.sockets:
                self.push_port = server.sockets[0].getsockname()[1]
        for p in self.exporter.pollers:
            if not p.blocking:
                self._tasks.append(asyncio.create_task(p.run_forever(), name=f"source-{p.name}"))
            else:  # the first read happened in start(); keep reading on schedule
                self._tasks.append(asyncio.create_task(self._later(p), name=f"source-{p.name}"))
        if self.exporter.ingest is not None:
            self._tasks.append(asyncio.create_task(self._expire_runners(), name="push-expiry"))
        if self.config.simulate and self.exporter.profile.offline_every_s > 0:
            self._tasks.append(asyncio.create_task(self._play_offline()))

    @staticmethod
    async def _later(p: Poller) -> None:
        await asyncio.sleep(p.interval_s)
        await p.run_forever()

    async def _expire_runners(self) -> None:
        ingest = self.exporter.ingest
        assert ingest is not None
        while True:
            await asyncio.sleep(min(5.0, ingest.limits.stale_s / 3))
            gone = ingest.expire()
            if gone:
                log.warning("%d pushed stream(s) ended: their runner stopped pushing", gone)

    async def _play_offline(self) -> None:
        # Offline means offline: the listening socket is closed, scrapers get "connection refused".
        t0 = time.monotonic()
        p = self.exporter.profile
        while True:
            await asyncio.sleep(0.25)
            offline = p.offline_at(time.monotonic() - t0)
            if offline and self._site is not None:
                await self._site.stop()
                self._site = None
                # A dead host also drops the connections it had: abort the scrapers' keep-alives.
                server = self._runner.server
                for handler in server.connections if server is not None else []:
                    if handler.transport is not None:
                        handler.transport.abort()
            elif not offline and self._site is None:
                try:
                    await self._bind()
                except OSError:
                    log.warning("could not re-bind port %s; retrying", self.port)

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        for p in self.exporter.pollers:
            if isinstance(p, HttpPoller):
                await p.close()
        if self._push_runner is not None:
            await self._push_runner.cleanup()
        await self._runner.cleanup()
        self.exporter.stop()


async def serve_forever(config: ExporterConfig, stop: asyncio.Event) -> None:
    server = ExporterServer(Exporter(config))
    await server.start()
    log.info("exporter listening on %s", server.url)
    print(f"naap exporter serving {server.url}", flush=True)
    if server.exporter.ingest is not None:
        print(f"runner pushes accepted at {server.push_url}", flush=True)
    try:
        await stop.wait()
    finally:
        await server.stop()
