"""The exporter process: a prometheus-client registry served over aiohttp at /metrics, and the push listener.

Text format by default, OpenMetrics when the scraper asks for it (Accept), gzip when asked
(Accept-Encoding). Sources are polled in the background (exporter.sources), so a scrape only renders. A
failing source never breaks the page: its families drop out at its first failed read, its
`naap_exporter_source_up` goes to 0 and its error counter up. Runner pushes arrive on a second listener,
loopback-only by default.

Start-up either succeeds or raises `ExporterStartError` with one line for the operator, having closed
whatever it had opened: a port in use, a port it may not bind, a host that is not this host's, an explicitly
requested source that cannot work (`dcgm.mode: bindings` without DCGM's bindings), an unreadable CUE table.
A source that is merely down at start (go-livepeer not up yet, no GPU) is not a start-up error.
"""

from __future__ import annotations

import asyncio
import errno
import gzip
import ipaddress
import logging
import random
import socket
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
from exporter.cue.tables import CueTableError, CueTables
from exporter.errors import ExporterStartError
from exporter.gpu.collector import GpuCollector, GpuPoller
from exporter.gpu.dcgm import DcgmBindingsSource, DcgmExporterSource
from exporter.gpu.nvml import NvmlSource
from exporter.gpu.simulated import SimulatedGpuSource
from exporter.host.collector import HostCollector, HostPoller
from exporter.relay.livepeer import LivepeerRelay, RelayCollector, SimulatedLivepeer
from exporter.simulate import PROFILES, Profile, SimulatedRunner
from exporter.sources import HttpPoller, Poller
from exporter.streams.ingest import PushIngest, PushLimits, PushRejected
from exporter.streams.sdk import StreamMetrics

log = logging.getLogger(__name__)

__all__ = ["Exporter", "ExporterServer", "ExporterStartError", "serve_forever"]


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
            up = GaugeMetricFamily(
                "naap_exporter_source_up",
                "1 if the source's last read succeeded and gave data; 0 while it is down (its own series are then absent).",
                labels=["source"],
            )
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
            sim = SimulatedGpuSource(
                count=config.gpus, model=config.gpu_model, seed=config.seed,
                load=self.streams.load_by_gpu(0.22), dcgm=config.simulate_dcgm,
            )  # fmt: skip
            self.runner = SimulatedRunner(
                self.streams, sim.uuids, streams=config.streams, profile=self.profile, seed=config.seed,
                time_scale=window / 5.0,
            )  # fmt: skip
            source = sim if sim.uuids else None  # --gpus 0: no GPU source at all
        elif config.nvml:
            source = NvmlSource(nvml_module)  # type: ignore[arg-type]
        self.gpu_poller = GpuPoller(source, config.gpu_interval_s) if source is not None else None

        self.dcgm: Poller | None = None
        d = config.dcgm
        if d.mode in ("url", "auto") and d.url:
            self.dcgm = DcgmExporterSource(d.url, d.interval_s, d.timeout_s)
        elif d.mode == "bindings" or (d.mode == "auto" and not config.simulate and (config.nvml or dcgm_reader_factory)):
            bindings = DcgmBindingsSource(d.interval_s, dcgm_reader_factory)  # type: ignore[arg-type]
            if bindings.available():
                self.dcgm = bindings
            elif d.mode == "bindings":  # asked for explicitly: not having it is an error, not a quiet absence
                raise ExporterStartError(
                    f"--dcgm bindings: {bindings.reason} — install NVIDIA's datacenter-gpu-manager (its Python "
                    "bindings and nv-hostengine), or give a dcgm-exporter with --dcgm-url, or use --dcgm auto"
                )
            else:  # absent DCGM is normal: said once in the log, no source
                log.info("%s: no DCGM profiling fields (dcgm.mode auto)", bindings.reason)

        self.relay: Poller | None = None
        if config.livepeer.url:
            lp = config.livepeer
            self.relay = LivepeerRelay(lp.url, lp.interval_s, lp.timeout_s, lp.max_bytes)
        elif config.simulate:
            self.relay = SimulatedLivepeer(self.streams, config.gpus)

        # The host's own CPU, memory, disk and network: real in simulate mode too (they are this machine's).
        hm = config.host_metrics
        self.host = HostPoller(hm.interval_s, hm.disk_path, hm.proc_path) if hm.enabled else None

        self.pollers = [p for p in (self.gpu_poller, self.dcgm, self.relay, self.host) if p is not None]
        if self.gpu_poller is not None:
            gpu_collector = GpuCollector(self.gpu_poller, self.dcgm)
            self.registry.register(gpu_collector)
            try:
                tables = CueTables(peak_path=config.cue.peak_table, model_overrides=config.cue.model_flops)
            except CueTableError as e:
                raise ExporterStartError(f"cue.peak_table: {e}") from None
            self.registry.register(CueCollector(gpu_collector, self.streams, tables))
        elif self.dcgm is not None:
            self.registry.register(GpuCollector(GpuPoller(_NoGpus(), 3600), self.dcgm))
        if self.relay is not None:
            self.registry.register(RelayCollector(self.relay))  # type: ignore[arg-type]
        if self.host is not None:
            self.registry.register(HostCollector(self.host))

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

    def start(self, refresh: bool = True) -> None:
        """Start the stream ticker (and the simulated runner); with `refresh`, read every blocking source once,
        synchronously (ExporterServer does that itself, in worker threads, after binding its ports)."""
        if not self.config.orchestrator and not self.config.simulate:
            log.warning("no orchestrator configured (--orchestrator 0x…): naap_exporter_build_info declares none, "
                        "and collectors refuse to count this exporter's scrapes (identity_mismatch)")  # fmt: skip
        self.streams.start_ticker()
        if self.runner is not None:
            self.runner.start()
        if refresh:
            self.refresh()

    def stop(self) -> None:
        if self.runner is not None:
            self.runner.stop()
        self.streams.stop_ticker()


class _NoGpus:
    name = "nvml"
    reason = "no GPU source"

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
        # What the sockets are really bound to, (host, port) each, once started.
        self.listen_addresses: list[tuple[str, int]] = []
        self.push_listen_addresses: list[tuple[str, int]] = []
        self.scrapes = 0

    @property
    def listen_address(self) -> str:
        """Where /metrics really listens, e.g. "0.0.0.0:9935" or "127.0.0.1:9935, [::1]:9935"."""
        return _joined(self.listen_addresses) or _hostport(self.config.host, self.port)

    @property
    def push_listen_address(self) -> str:
        """Where the push listener really listens (e.g. "127.0.0.1:9936"); "" without one."""
        if self._push_runner is None:
            return ""
        return _joined(self.push_listen_addresses) or _hostport(self.config.push.host, self.push_port)

    @property
    def url(self) -> str:
        """A URL that reaches /metrics from this host: a wildcard bind is reached over loopback."""
        return f"http://{_reachable(self.listen_addresses, self.config.host, self.port)}/metrics"

    @property
    def push_url(self) -> str:
        """The URL runners on this host push to."""
        return f"http://{_reachable(self.push_listen_addresses, self.config.push.host, self.push_port)}/v1/push"

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
        """Bind /metrics; ExporterStartError (one line, errno explained) when the OS refuses."""
        self._site, self.listen_addresses = await _listen(self._runner, self.config.host, self.port, "", "--port",
                                                          "--host")  # fmt: skip
        self.port = self.listen_addresses[0][1] if self.listen_addresses else self.port

    async def start(self) -> None:
        """Bind both listeners, then start the sources and read the blocking ones once. ExporterStartError when
        a listener cannot be bound; everything opened so far is closed again before it is raised."""
        try:
            await self._runner.setup()
            await self._bind()
            if self._push_runner is not None:
                await self._push_runner.setup()
                p = self.config.push
                _, self.push_listen_addresses = await _listen(self._push_runner, p.host, self.push_port,
                                                              " for runner pushes", "--push-port", "--push-host")  # fmt: skip
                if self.push_listen_addresses:
                    self.push_port = self.push_listen_addresses[0][1]
        except BaseException:
            await self._close_listeners()
            await self._close_sources()
            raise
        self.exporter.start(refresh=False)
        # The first read of every blocking source, in worker threads (bounded by each one's read timeout).
        await asyncio.gather(*(p.refresh_async() for p in self.exporter.pollers if p.blocking))
        for p in self.exporter.pollers:
            if not p.blocking:
                self._tasks.append(asyncio.create_task(p.run_forever(), name=f"source-{p.name}"))
            else:  # the first read happened above; keep reading on schedule
                self._tasks.append(asyncio.create_task(self._later(p), name=f"source-{p.name}"))
        if self.exporter.ingest is not None:
            self._tasks.append(asyncio.create_task(self._expire_runners(), name="push-expiry"))
        if self.config.simulate and self.exporter.profile.offline_every_s > 0:
            self._tasks.append(asyncio.create_task(self._play_offline()))

    async def _close_listeners(self) -> None:
        for runner in (self._push_runner, self._runner):
            if runner is not None and runner.server is not None:
                await runner.cleanup()
        self._site = None

    async def _close_sources(self) -> None:
        for p in self.exporter.pollers:
            if isinstance(p, HttpPoller):
                await p.close()

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
                except ExporterStartError as e:
                    log.warning("simulated outage over, but %s; retrying", e)

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        await self._close_sources()
        await self._close_listeners()
        self.exporter.stop()

    def banner(self) -> list[str]:
        """What `naap exporter` prints once started: where it really listens, and the URL to use from this
        host as the last word of each line (scripts split on whitespace and take the last word)."""
        lines = [f"naap exporter listening on {self.listen_address} ({_scope(self.listen_addresses)}); "
                 f"from this host: {self.url}"]  # fmt: skip
        if self._push_runner is not None:
            lines.append(f"runner pushes: listening on {self.push_listen_address} "
                         f"({_scope(self.push_listen_addresses)}); push to {self.push_url}")  # fmt: skip
        return lines


async def serve_forever(config: ExporterConfig, stop: asyncio.Event) -> None:
    """Serve until `stop` is set. Prints `ExporterServer.banner()` once listening. Raises ExporterStartError (one
    line, nothing left running) when the exporter cannot start; see exporter/errors.py."""
    server = ExporterServer(Exporter(config))
    await server.start()
    for line in server.banner():  # once, on stdout (scripts read it), not also as a log line
        print(line, flush=True)
    try:
        await stop.wait()
    finally:
        await server.stop()


# -- listening ---------------------------------------------------------------------------------------------
def _hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host or '*'}:{port}"


def _joined(addrs: list[tuple[str, int]]) -> str:
    return ", ".join(_hostport(h, p) for h, p in addrs)


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return None


def _scope(addrs: list[tuple[str, int]]) -> str:
    """In words, who can reach these sockets."""
    ips = [ip for ip in (_ip(h) for h, _ in addrs) if ip is not None]
    if not ips:
        return "not listening"
    if any(ip.is_unspecified for ip in ips):
        versions = {ip.version for ip in ips if ip.is_unspecified}
        return "all interfaces" if versions == {4, 6} else f"all IPv{versions.pop()} interfaces"
    if all(ip.is_loopback for ip in ips):
        return "loopback only"
    return "this address only" if len(ips) == 1 else "these addresses only"


def _reachable(addrs: list[tuple[str, int]], host: str, port: int) -> str:
    """host:port to connect to from this host: the bound address, loopback for a wildcard one (IPv4 first)."""
    for h, p in sorted(addrs, key=lambda a: ":" in a[0]):
        ip = _ip(h)
        if ip is not None and ip.is_unspecified:
            return _hostport("127.0.0.1" if ip.version == 4 else "::1", p)
        return _hostport(h, p)
    return _hostport("127.0.0.1" if host in ("0.0.0.0", "") else "::1" if host == "::" else host, port)


async def _listen(runner: web.AppRunner, host: str, port: int, what: str, port_flag: str,
                  host_flag: str) -> tuple[web.TCPSite, list[tuple[str, int]]]:  # fmt: skip
    """Bind `runner` on host:port; the site and the (host, port) of every socket it bound. ExporterStartError with
    one line naming the address, the cause and what to change, when the OS refuses."""
    site = web.TCPSite(runner, host or None, port, reuse_address=True)
    try:
        await site.start()
    except OSError as e:
        raise ExporterStartError(_bind_error(what, host, port, port_flag, host_flag, e)) from None
    server = site._server  # aiohttp keeps the bound asyncio server here
    addrs = [tuple(sock.getsockname()[:2]) for sock in (server.sockets if server is not None else ())]
    return site, addrs  # type: ignore[return-value]


def _bind_error(what: str, host: str, port: int, port_flag: str, host_flag: str, e: OSError) -> str:
    where = f"cannot listen{what} on {_hostport(host, port)}"
    if isinstance(e, socket.gaierror):
        return (f"{where}: cannot resolve host {host!r} ({e.strerror or e}) — choose {host_flag} "
                "(0.0.0.0 for every interface, 127.0.0.1 for this host only)")  # fmt: skip
    code = e.errno
    if code == errno.EADDRINUSE:
        extra = " (or --no-push)" if port_flag == "--push-port" else ""
        return f"{where}: address already in use — another exporter running? choose another {port_flag}{extra}"
    if code in (errno.EACCES, errno.EPERM):
        if 0 < port < 1024:
            return (f"{where}: permission denied — ports below 1024 need root or CAP_NET_BIND_SERVICE; choose "
                    f"{port_flag} 1024 or above")  # fmt: skip
        return f"{where}: permission denied — a security policy refuses this address; choose another {port_flag}"
    if code == errno.EADDRNOTAVAIL:
        return (f"{where}: {host} is not an address of this host — choose {host_flag} (0.0.0.0 for every "
                "interface, 127.0.0.1 for this host only)")  # fmt: skip
    return f"{where}: {e.strerror or e}"
