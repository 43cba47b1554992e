"""`naap bench scrape`: the scraper at scale, measured, against a baseline taken in the same run.

1. Renders real bodies from the exporter in simulate mode (GPU families, per-stream series) for a dozen
   shapes (1–8 GPUs, 10–100 streams) three times each, so values change between scrapes.
2. Starts K simulated exporters on loopback (benchfleet.py): each target its own 127.x.y.z address.
3. Scrapes them every interval into a fresh embedded warehouse with the real scraper (scheduler, fetcher,
   fast parser, sink), warms up for one interval, then measures for S seconds.
4. Reads the figures back from the warehouse: samples stored, scrapes, overruns (slots missed, or started
   later than the tolerance), p99 scrape duration; CPU and RSS of the scraper process (chDB included) and CPU
   of the fleet processes.
5. Baseline: prometheus-client's text parser alone on the same bodies, in the same process, just before the
   run; and the fast parser alone, for comparison.

Nothing here asserts a figure: it prints what it measured.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import resource
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from exporter.common.net import free_port

SHAPES = ((1, 10), (1, 30), (2, 20), (2, 50), (4, 30), (4, 50), (4, 80), (8, 40), (8, 60), (8, 100), (2, 70), (1, 50))
GPU_MODELS = ("RTX4090", "H100", "L40S", "A100", "RTX5090")


@dataclass
class BenchResult:
    targets: int
    interval_s: float
    seconds: float
    processes: int
    body_samples: tuple[int, int, float]  # min, max, mean samples per body
    body_kib: tuple[float, float]  # mean plain, mean gzip
    samples_stored: int = 0
    samples_in_rows: int = 0  # what the window's scrape rows say they stored (a cross-check)
    scrapes: int = 0
    scheduled: int = 0
    late: int = 0
    missed: int = 0
    failed: dict[str, int] = field(default_factory=dict)
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    cpu_s: float = 0.0
    fleet_cpu_s: float = 0.0
    rss_mib: float = 0.0
    peak_rss_mib: float = 0.0
    flush_s: float = 0.0
    fast_parses: int = 0
    reference_parses: int = 0
    baseline_sps: float = 0.0
    fast_sps: float = 0.0
    load_before: tuple[float, float, float] = (0.0, 0.0, 0.0)
    warm_scheduled: int = 0
    dropped_batches: int = 0
    dropped_samples: int = 0
    warm_overruns: int = 0
    warm_max_lag: float = 0.0
    max_lag: float = 0.0
    cpus: int = 1


def render_shapes(renders: int = 3) -> list[list[bytes]]:
    """Real exporter output: each shape rendered `renders` times, 0.3 s apart."""
    from exporter.config import ExporterConfig
    from exporter.server import Exporter

    exporters = []
    for i, (gpus, streams) in enumerate(SHAPES):
        cfg = ExporterConfig(simulate=True, gpus=gpus, streams=streams, seed=i + 1, orchestrator=f"0x{i + 1:040x}",
                             region=("us-east", "eu-west", "ap-south")[i % 3], gpu_model=GPU_MODELS[i % len(GPU_MODELS)])  # fmt: skip
        e = Exporter(cfg, window_s=0.25)
        e.start()
        exporters.append(e)
    try:
        time.sleep(3.5)  # a dozen 0.25 s windows: per-stream FPS and jitter are there
        out: list[list[bytes]] = [[] for _ in exporters]
        for _ in range(renders):
            for i, e in enumerate(exporters):
                out[i].append(e.render("text/plain")[0])
            time.sleep(0.3)
        return out
    finally:
        for e in exporters:
            e.stop()


def parser_baselines(shapes: list[list[bytes]], seconds: float = 1.5) -> tuple[float, float]:
    """Samples/s of prometheus-client's text parser alone, and of the fast parser (warm caches, rows
    rendered), on the same bodies."""
    from prometheus_client.parser import text_string_to_metric_families

    from scraper.append import SeriesState, append
    from scraper.limits import Limits
    from scraper.parse import parse_body
    from scraper.textformat import SeriesCache

    bodies = [b for renders in shapes for b in renders]
    texts = [b.decode() for b in bodies]
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for t in texts:
            for fam in text_string_to_metric_families(t):
                n += len(fam.samples)
    baseline = n / (time.perf_counter() - t0)
    caches = [SeriesCache() for _ in shapes]
    states = [SeriesState() for _ in shapes]
    limits = Limits()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for i, renders in enumerate(shapes):
            for b in renders:  # what a scrape does with a body: parse, the append step, rows
                out = parse_body(b, "text/plain; version=0.0.4", limits, caches[i])
                kept = append(out.samples, 1_700_000_000_000, "", states[i])
                kept.samples.to_rows(1_700_000_000_000, kept.orchestrator, "127.0.0.1:9935")
                n += len(kept.samples)
    return baseline, n / (time.perf_counter() - t0)


def _rss_mib() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class Fleet:
    """The exporter processes (spawned: they must not inherit the scraper's chDB engine)."""

    def __init__(self, shapes: list[list[bytes]], targets: int, processes: int) -> None:
        from scraper.benchfleet import serve

        self.port = free_port()
        ctx = multiprocessing.get_context("spawn")
        self.procs, self.conns = [], []
        per = -(-targets // processes)
        for p in range(processes):
            first, count = p * per, min(per, targets - p * per)
            if count <= 0:
                break
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=serve, args=(shapes, first, count, self.port, child), daemon=True)
            proc.start()
            self.procs.append(proc)
            self.conns.append(parent)
        for c in self.conns:
            msg = c.recv()
            if msg[0] != "ready":
                self.stop()
                raise RuntimeError(f"simulated fleet failed to start: {msg[1]}")

    def cpu_and_requests(self) -> tuple[float, int]:
        cpu, req = 0.0, 0
        for c in self.conns:
            c.send("stats")
            a, b = c.recv()
            cpu, req = cpu + a, req + b
        return cpu, req

    def stop(self) -> None:
        for c in self.conns:
            try:
                c.send("stop")
                c.recv()
            except (OSError, EOFError):
                pass
        for p in self.procs:
            p.join(timeout=5)
            if p.is_alive():
                p.terminate()


async def _scrape(res: BenchResult, fleet: Fleet, data_dir: Path, concurrency: int, batch_rows: int,
                  flush_s: float = 5.0) -> None:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler
    from datetime import timezone

    from discovery.target import make_target
    from scraper.benchfleet import address
    from scraper.factory import tune_gc
    from scraper.fetch import Fetcher
    from scraper.limits import Limits
    from scraper.schedule import ScrapeScheduler
    from scraper.scrape import Scraper
    from scraper.sink import ScrapeSink
    from scraper.telemetry import ScraperTelemetry
    from scraper.textformat import CacheBudget
    from warehouse.config import WarehouseSettings
    from warehouse.migrations import open_warehouse
    from warehouse.writer import Writer

    tune_gc()  # as the collector does
    wh = await asyncio.to_thread(open_warehouse, WarehouseSettings(data_dir=data_dir, sample_ttl_days=0))
    interval = res.interval_s
    timeout = min(10.0, interval)
    telemetry = ScraperTelemetry()
    writer = Writer(wh, "bench", batch_rows=batch_rows, flush_interval_s=flush_s, max_buffered_rows=max(2_000_000, 4 * batch_rows),
                    max_buffered_bytes=1 << 30)  # fmt: skip
    sink = ScrapeSink(writer, scraper="bench")
    fetcher = Fetcher(timeout_s=timeout, max_body_bytes=16 << 20, allow_loopback=True, max_connections=concurrency,
                      per_host=2, keepalive_s=2 * interval + 5)  # fmt: skip
    await fetcher.open()
    scraper = Scraper(fetcher, sink, Limits(), identity="bench", telemetry=telemetry, max_concurrency=concurrency,
                      cache_budget=CacheBudget(max(500_000, res.targets * 1000)))  # every target cached  # fmt: skip
    sched = ScrapeScheduler(scraper, interval, scheduler=AsyncIOScheduler(timezone=timezone.utc), timeout_s=timeout)
    stop = asyncio.Event()
    writer_task = asyncio.create_task(writer.run(stop))
    # No orchestrator on the targets: each takes what its exporter declares (the bodies repeat across targets), so
    # the identity step runs on every scrape, as in the field.
    sched.set_targets([make_target(f"http://{address(i)}:{fleet.port}/metrics") for i in range(res.targets)])
    sched.start()
    try:
        tw = time.time()
        await asyncio.sleep(interval)  # warm-up: the first interval fills up slot by slot, every cache cold
        res.warm_max_lag = telemetry.max_loop_lag
        telemetry.max_loop_lag = 0.0
        t0, cpu0, fleet0 = time.time(), time.process_time(), fleet.cpu_and_requests()[0]
        await asyncio.sleep(res.seconds)
        t1, cpu1, fleet1 = time.time(), time.process_time(), fleet.cpu_and_requests()[0]
        res.max_lag = telemetry.max_loop_lag
        res.rss_mib = _rss_mib()
    finally:
        await sched.drain()  # scrapes in flight finish
    f0 = time.monotonic()
    stop.set()
    await writer_task
    await writer.close()
    res.flush_s = time.monotonic() - f0
    await fetcher.close()
    res.cpu_s, res.fleet_cpu_s = cpu1 - cpu0, fleet1 - fleet0
    res.dropped_batches, res.dropped_samples = writer.stats.batches_dropped, sink.stats.samples_dropped
    res.peak_rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    res.fast_parses = int(telemetry.parses.labels("fast")._value.get())
    res.reference_parses = int(telemetry.parses.labels("reference")._value.get())
    p = {"a": int(t0 * 1000), "b": int(t1 * 1000)}
    window = "scheduled_ts >= fromUnixTimestamp64Milli({a:Int64}) AND scheduled_ts < fromUnixTimestamp64Milli({b:Int64})"
    (scheduled, ok, missed, late, p50, p99, samples), = wh.query(
        f"""SELECT count(), countIf(up = 1), countIf(error_class = 'missed'),
                   countIf(error_class != 'missed' AND dateDiff('millisecond', scheduled_ts, ts) > {int(sched.late_tolerance_s * 1000)}),
                   quantileExactIf(0.5)(duration_s, error_class != 'missed'), quantileExactIf(0.99)(duration_s, error_class != 'missed'),
                   sum(samples)
            FROM scrapes WHERE {window}""", p).rows  # fmt: skip
    res.scheduled, res.scrapes, res.missed, res.late = int(scheduled), int(scheduled) - int(missed), int(missed), int(late)
    res.p50_ms, res.p99_ms = float(p50) * 1000, float(p99) * 1000
    (res.warm_scheduled, res.warm_overruns), = wh.query(
        f"""SELECT count(), countIf(error_class = 'missed' OR dateDiff('millisecond', scheduled_ts, ts) > {int(sched.late_tolerance_s * 1000)})
            FROM scrapes WHERE scheduled_ts >= fromUnixTimestamp64Milli({{w:Int64}}) AND scheduled_ts < fromUnixTimestamp64Milli({{a:Int64}})""",
        {"w": int(tw * 1000), "a": int(t0 * 1000)}).rows  # fmt: skip
    res.failed = {r[0]: int(r[1]) for r in wh.query(
        f"SELECT error_class, count() FROM scrapes WHERE {window} AND up = 0 GROUP BY error_class", p).rows}  # fmt: skip
    # Samples are stamped with the scrape's start, which lies in its slot's window up to the lateness.
    stored = wh.scalar(f"SELECT count() FROM samples WHERE ts >= fromUnixTimestamp64Milli({{a:Int64}}) AND ts < fromUnixTimestamp64Milli({{b:Int64}})", p)
    res.samples_stored = int(stored)
    res.samples_in_rows = int(samples)
    wh.close()


def run_bench(targets: int, seconds: float, interval: float, processes: int = 2, concurrency: int = 512,
              batch_rows: int = 500_000, data_dir: Path | None = None, progress=print, flush_s: float = 5.0) -> BenchResult:  # noqa: ANN001  # fmt: skip
    progress(f"rendering exporter bodies ({len(SHAPES)} shapes × 3 renders) …")
    shapes = render_shapes()
    sizes = [len(b) for r in shapes for b in r]
    import gzip

    from prometheus_client.parser import text_string_to_metric_families

    counts = [sum(len(f.samples) for f in text_string_to_metric_families(b.decode())) for r in shapes for b in r]
    res = BenchResult(
        targets=targets, interval_s=interval, seconds=seconds, processes=processes,
        body_samples=(min(counts), max(counts), sum(counts) / len(counts)),
        body_kib=(sum(sizes) / len(sizes) / 1024, sum(len(gzip.compress(b, 6)) for r in shapes for b in r) / len(sizes) / 1024),
        load_before=os.getloadavg(), cpus=os.cpu_count() or 1,
    )  # fmt: skip
    progress("baseline: prometheus-client's parser alone on the same bodies …")
    res.baseline_sps, res.fast_sps = parser_baselines(shapes)
    progress(f"starting {targets} simulated exporters in {processes} processes …")
    fleet = Fleet(shapes, targets, processes)
    own_dir = data_dir is None
    directory = Path(tempfile.mkdtemp(prefix="naap-bench-")) if own_dir else data_dir
    try:
        progress(f"scraping: {interval:g} s warm-up, then {seconds:g} s measured …")
        asyncio.run(_scrape(res, fleet, directory, concurrency, batch_rows, flush_s))
    finally:
        fleet.stop()
        if own_dir:
            shutil.rmtree(directory, ignore_errors=True)
    return res


def format_result(r: BenchResult) -> str:
    stored_sps = r.samples_stored / r.seconds
    overrun = (r.late + r.missed) / r.scheduled * 100 if r.scheduled else 0.0
    failed = ", ".join(f"{k} {v}" for k, v in sorted(r.failed.items())) or "none"
    lines = [
        f"naap bench scrape: {r.targets} targets, interval {r.interval_s:g} s, {r.seconds:g} s measured after "
        f"{r.interval_s:g} s warm-up; {r.processes} fleet processes; {r.cpus} CPUs, load before "
        + " ".join(f"{x:.2f}" for x in r.load_before),
        f"  bodies            {r.body_samples[0]}–{r.body_samples[1]} samples (mean {r.body_samples[2]:.0f}), "
        f"{r.body_kib[0]:.1f} KiB plain / {r.body_kib[1]:.1f} KiB gzip on the wire",
        f"  samples/s stored  {stored_sps:,.0f}   ({r.samples_stored:,} samples stamped in the window; "
        f"the window's scrape rows count {r.samples_in_rows:,})",
        f"  scrapes/s         {r.scrapes / r.seconds:,.1f}   ({r.scrapes:,} run of {r.scheduled:,} scheduled; failed: {failed})",
        f"  overruns          {overrun:.2f} %   ({r.late} started late, {r.missed} missed; late = more than "
        f"{max(1.0, 0.1 * r.interval_s):g} s after the slot); worst event-loop stall {r.max_lag * 1000:.0f} ms",
        f"  warm-up interval  overruns {r.warm_overruns / max(1, r.warm_scheduled) * 100:.2f} % of {r.warm_scheduled:,} slots "
        f"(first scrape of every target: cold connections and parser caches); worst stall {r.warm_max_lag * 1000:.0f} ms",
        f"  scrape duration   p50 {r.p50_ms:.1f} ms, p99 {r.p99_ms:.1f} ms",
        f"  scraper process   CPU {r.cpu_s / r.seconds * 100:.0f} % of one core ({r.cpu_s:.1f} s), RSS {r.rss_mib:.0f} MiB "
        f"(peak {r.peak_rss_mib:.0f} MiB); parses fast {r.fast_parses:,} / reference {r.reference_parses:,}",
        f"  fleet processes   CPU {r.fleet_cpu_s / r.seconds * 100:.0f} % of one core",
        f"  warehouse writer  final flush {r.flush_s:.1f} s; {r.dropped_batches} batches ({r.dropped_samples:,} samples) "
        f"dropped because the insert backlog passed its bound",
        f"  baseline          prometheus-client parser alone {r.baseline_sps:,.0f} samples/s on the same bodies; "
        f"fast parser alone {r.fast_sps:,.0f} samples/s ({r.fast_sps / r.baseline_sps:.1f}×)",
        f"  ratio             samples/s stored ÷ prometheus-client parser alone = {stored_sps / r.baseline_sps:.2f}×",
    ]
    return "\n".join(lines)
