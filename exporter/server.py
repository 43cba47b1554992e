"""The exporter process: a prometheus-client registry served over aiohttp at /metrics.

Text format by default, OpenMetrics when the scraper asks for it (Accept), gzip when asked
(Accept-Encoding). A failing source never breaks the page: its families are left out and its error counter
goes up.
"""

from __future__ import annotations

import asyncio
import gzip
import logging
import random
import time
from typing import Iterator

from aiohttp import web
from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

import naap
from exporter.config import ExporterConfig
from exporter.gpu.collector import GpuCollector
from exporter.gpu.nvml import NvmlSource
from exporter.gpu.simulated import SimulatedGpuSource
from exporter.simulate import PROFILES, Profile, SimulatedRunner
from exporter.streams.sdk import StreamMetrics

log = logging.getLogger(__name__)


class SelfCollector(Collector):
    """The exporter's own health: build info, per-source read time and errors."""

    def __init__(self, config: ExporterConfig, gpu: GpuCollector | None) -> None:
        self.config = config
        self.gpu = gpu

    def collect(self) -> Iterator[Metric]:
        info = InfoMetricFamily("naap_exporter_build", "Exporter version and the identity it declares.")
        info.add_metric(
            [],
            {
                "version": naap.__version__,
                "orchestrator": self.config.orchestrator,
                "region": self.config.region,
                "mode": "simulated" if self.config.simulate else "live",
            },
        )
        yield info
        if self.gpu is not None:
            dur = GaugeMetricFamily(
                "naap_exporter_source_duration_seconds", "Time the last read of each source took.", labels=["source"]
            )
            dur.add_metric([self.gpu.source.name], self.gpu.last_duration_s)
            yield dur
            errs = CounterMetricFamily("naap_exporter_source_errors", "Failed reads of each source.", labels=["source"])
            errs.add_metric([self.gpu.source.name], self.gpu.errors + getattr(self.gpu.source, "errors", 0))
            yield errs


class Exporter:
    """Holds the registry and its sources; `render(accept)` is what /metrics serves."""

    def __init__(
        self,
        config: ExporterConfig,
        nvml_module: object | None = None,
        profile: Profile | None = None,
        window_s: float = 5.0,
    ) -> None:
        self.config = config
        self._profile = profile  # tests pass shorter cycles than the named profiles
        self.registry = CollectorRegistry(auto_describe=False)
        self.streams = StreamMetrics(window_s=window_s, jitter_window_s=12 * window_s)  # 5 s → 60 s
        self.registry.register(self.streams)
        self.runner: SimulatedRunner | None = None
        source: NvmlSource | SimulatedGpuSource | None = None
        if config.simulate:
            source = SimulatedGpuSource(
                count=config.gpus, model=config.gpu_model, seed=config.seed, load=self.streams.load_by_gpu(0.22)
            )
            self.runner = SimulatedRunner(
                self.streams, source.uuids, streams=config.streams, profile=self.profile, seed=config.seed
            )
        elif config.nvml:
            source = NvmlSource(nvml_module)  # type: ignore[arg-type]
        self.gpu = GpuCollector(source) if source is not None else None
        if self.gpu is not None:
            self.registry.register(self.gpu)
        self.registry.register(SelfCollector(config, self.gpu))
        ProcessCollector(registry=self.registry)

    @property
    def profile(self) -> Profile:
        return self._profile or PROFILES[self.config.profile]

    def render(self, accept: str | None) -> tuple[bytes, str]:
        encoder, content_type = choose_encoder(accept or "")
        return encoder(self.registry), content_type

    def start(self) -> None:
        self.streams.start_ticker()
        if self.runner is not None:
            self.runner.start()
        if self.gpu is not None and not self.config.simulate:
            self.gpu.source.available()  # logs once whether NVML is there

    def stop(self) -> None:
        if self.runner is not None:
            self.runner.stop()
        self.streams.stop_ticker()


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
        self._rng = random.Random(self.config.seed)
        self._offline_task: asyncio.Task | None = None
        self.port = self.config.port
        self.scrapes = 0

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.config.host in ("0.0.0.0", "") else self.config.host
        return f"http://{host}:{self.port}/metrics"

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

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def _index(self, request: web.Request) -> web.Response:
        return web.Response(
            text=f"naap exporter {naap.__version__}\nmetrics: /metrics\nhealth: /healthz\n", content_type="text/plain"
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
        if self.config.simulate and self.exporter.profile.offline_every_s > 0:
            self._offline_task = asyncio.create_task(self._play_offline())

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
        if self._offline_task is not None:
            self._offline_task.cancel()
        await self._runner.cleanup()
        self.exporter.stop()


async def serve_forever(config: ExporterConfig, stop: asyncio.Event) -> None:
    server = ExporterServer(Exporter(config))
    await server.start()
    log.info("exporter listening on %s", server.url)
    print(f"naap exporter serving {server.url}", flush=True)
    try:
        await stop.wait()
    finally:
        await server.stop()
