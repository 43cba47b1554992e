"""The scraper's own /metrics: a prometheus-client registry of its health.

Served by the collector's API at GET /metrics and, for a standalone `naap scrape`, by a small listener
(`--metrics-port`). Families (all prefixed `naap_scraper_`):

  targets                      targets this scraper schedules (its shard)
  scrapes_total{outcome}       scrapes by outcome: ok or the error class
  samples_total                samples scraped and queued for the warehouse
  samples_per_second           samples/s over the trailing minute
  scrape_duration_seconds      histogram of scrape durations (fetch + parse)
  overruns_total{kind}         slots not run on time: late (started past tolerance) | missed (not run at all)
                               | shed (skipped on purpose: the warehouse backlog was near its bound)
  parses_total{path}           bodies parsed by the fast path, the reference path, or as OpenMetrics
  samples_dropped_total{reason}  samples of successful scrapes not stored: duplicate | out_of_bounds | out_of_order
  void_windows_total{reason}   windows voided because the scraper itself was at fault
  loop_lag_seconds             how late the event loop woke for its last watchdog tick
  sink_queue_batches           batches waiting for the warehouse (queue depth)
  sink_buffered_rows           rows held in memory for the warehouse
  sink_pressure                how full the write queue is (0..1 of its bound)
  sink_dropped_batches_total   batches dropped because the warehouse backlog passed its bound
  sink_dropped_rows_total      rows in those batches
  sink_insert_errors_total     failed warehouse writes (each retried with backoff)
  warehouse_up                 1 if the last warehouse write succeeded and no write is stalled (in flight past
                               10 s); 0 while writes fail or hang
  series_cache_entries         series held by the fast parser's caches
  in_flight                    scrapes in progress
"""

from __future__ import annotations

import time
from collections import deque
from typing import TYPE_CHECKING, Any, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from scraper.sink import ScrapeSink

DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class RateMeter:
    """A counter's rate over a trailing window, from samples taken about once a second."""

    def __init__(self, window_s: float = 60.0) -> None:
        self.window_s = window_s
        self._points: deque[tuple[float, float]] = deque()

    def observe(self, total: float, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self._points.append((now, total))
        while len(self._points) > 2 and now - self._points[1][0] >= self.window_s:
            self._points.popleft()

    def rate(self) -> float:
        if len(self._points) < 2:
            return 0.0
        (t0, v0), (t1, v1) = self._points[0], self._points[-1]
        return (v1 - v0) / (t1 - t0) if t1 > t0 else 0.0


class ScraperTelemetry:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.targets = Gauge("naap_scraper_targets", "Targets this scraper schedules (its shard).", registry=r)
        self.scrapes = Counter("naap_scraper_scrapes", "Scrapes by outcome: ok or the error class.", ["outcome"], registry=r)
        self.samples = Counter("naap_scraper_samples", "Samples scraped and queued for the warehouse.", registry=r)
        self.duration = Histogram(
            "naap_scraper_scrape_duration_seconds", "Scrape duration: fetch and parse.", buckets=DURATION_BUCKETS, registry=r
        )
        self.overruns = Counter(
            "naap_scraper_overruns", "Scheduled slots not run on time: late (started past tolerance) or missed.", ["kind"], registry=r
        )
        self.parses = Counter("naap_scraper_parses", "Bodies parsed, by path: fast, reference or openmetrics.", ["path"], registry=r)
        self.samples_dropped = Counter(
            "naap_scraper_samples_dropped", "Samples of successful scrapes not stored, by reason (duplicate, out_of_bounds, "
            "out_of_order), as Prometheus' scrape loop drops them.", ["reason"], registry=r,
        )  # fmt: skip
        self.void_windows = Counter(
            "naap_scraper_void_windows", "Windows voided because the scraper itself was at fault.", ["reason"], registry=r
        )
        self.loop_lag = Gauge("naap_scraper_loop_lag_seconds", "How late the event loop woke for its last watchdog tick.", registry=r)
        self.samples_rate = RateMeter()
        self.max_loop_lag = 0.0  # since start, or since a benchmark reset it
        self._samples_total = 0
        self._live: dict[str, Any] = {}
        r.register(_Live(self))
        for kind in ("late", "missed", "shed"):
            self.overruns.labels(kind)
        for path in ("fast", "reference", "openmetrics"):
            self.parses.labels(path)
        for reason in ("duplicate", "out_of_bounds", "out_of_order"):
            self.samples_dropped.labels(reason)

    def bind(self, sink: "ScrapeSink | None" = None, scraper: Any = None) -> None:
        """Attach the live parts whose state is read at collection time."""
        if sink is not None:
            self._live["sink"] = sink
        if scraper is not None:
            self._live["scraper"] = scraper

    # -- hooks -----------------------------------------------------------------------------------
    def scraped(self, outcome: str, duration_s: float, samples: int) -> None:
        self.scrapes.labels(outcome).inc()
        self.duration.observe(duration_s)
        if samples:
            self.samples.inc(samples)
            self._samples_total += samples

    def parsed(self, path: str, dropped: dict[str, int]) -> None:
        self.parses.labels(path).inc()
        for reason, n in dropped.items():
            self.samples_dropped.labels(reason).inc(n)

    def tick(self, lag_s: float) -> None:
        """Called about once a second by the scheduler's watchdog."""
        self.loop_lag.set(lag_s)
        self.max_loop_lag = max(self.max_loop_lag, lag_s)
        self.samples_rate.observe(self._samples_total)


class _Live(Collector):
    def __init__(self, t: ScraperTelemetry) -> None:
        self.t = t

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily("naap_scraper_samples_per_second", "Samples/s over the trailing minute.", value=self.t.samples_rate.rate())
        sink = self.t._live.get("sink")
        if sink is not None:
            w = sink.writer
            st = w.stats
            yield GaugeMetricFamily("naap_scraper_sink_queue_batches", "Batches waiting for the warehouse.", value=w.queue_depth)
            yield GaugeMetricFamily("naap_scraper_sink_buffered_rows", "Rows held in memory for the warehouse.", value=w.buffered_rows)
            yield GaugeMetricFamily("naap_scraper_sink_pressure", "How full the write queue is (0..1 of its bound).", value=w.pressure)
            yield CounterMetricFamily(
                "naap_scraper_sink_dropped_batches", "Batches dropped: the warehouse backlog passed its bound.", value=st.batches_dropped
            )
            yield CounterMetricFamily("naap_scraper_sink_dropped_rows", "Rows in dropped batches.", value=sum(st.rows_dropped.values()))
            yield CounterMetricFamily("naap_scraper_sink_insert_errors", "Failed warehouse writes (retried).", value=st.insert_errors)
            yield GaugeMetricFamily("naap_scraper_warehouse_up", "1 if the last warehouse write succeeded and none is stalled.",
                                    value=int(getattr(w, "warehouse_up", w.warehouse_ok)))  # fmt: skip
        scraper = self.t._live.get("scraper")
        if scraper is not None:
            yield GaugeMetricFamily("naap_scraper_series_cache_entries", "Series held by the fast parser's caches.", value=scraper.cached_series)
            yield GaugeMetricFamily("naap_scraper_in_flight", "Scrapes in progress.", value=scraper.in_flight)


async def serve_metrics(registry: CollectorRegistry, host: str, port: int, sock: Any = None):  # noqa: ANN201
    """A small HTTP listener for GET /metrics (standalone `naap scrape --metrics-port`), on `sock` when given (a
    socket already bound and listening). Returns the runner (call `await runner.cleanup()` to stop) and the bound
    port."""
    from aiohttp import web
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    async def metrics(_request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    if sock is not None:
        site: web.BaseSite = web.SockSite(runner, sock)
        await site.start()
        return runner, sock.getsockname()[1]
    site = web.TCPSite(runner, host, port)
    await site.start()
    server = site._server  # aiohttp keeps the bound sockets here
    bound = server.sockets[0].getsockname()[1] if server is not None and server.sockets else port
    return runner, bound
