"""`naap bench catalog`: the catalog and its rollups on a day of a fleet, measured, with raw as the baseline.

1. Generates a fleet deterministically from a seed: N orchestrators × G GPUs (2 streams each, one workflow per GPU),
   the series set the exporter exposes (GPU, stream, histogram, go-livepeer, host, exporter families; ~90 samples
   per GPU and ~45 per orchestrator) with values shaped like real ones (NVML's decimals, integer byte counters,
   full-precision FPS), scraped every `interval_s` over `hours`.
2. Loads it through the scraper's own insert path: RowBinary rows (scraper/rows.py) and a scrape row per scrape
   through ScrapeSink and the one Writer, with its deduplication tokens, into a fresh embedded warehouse — so the
   rollup views run on every insert as in production.
3. OPTIMIZE FINAL, then bytes on disk per raw sample (and per rollup row), by column.
4. The whole catalog (every metric, by orchestrator × GPU × workflow) over the last 1 h and 24 h, read from the
   rollups (auto: the 1 h rollup) and from raw (source="raw"), in the same run; raw/rollup as a ratio.

It lives in the shell because it composes two rooms (the scraper's insert path, the scoring catalog). Nothing here
asserts a figure: it prints what it measured.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import statistics
import struct
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from scoring.catalog import CatalogQuery, catalog
from scraper.rows import row_prefix, series_fragment
from scraper.sink import ScrapeRecord, ScrapeSink
from warehouse.client import Warehouse
from warehouse.migrations import apply_migrations
from warehouse.writer import Writer

H_MS = 3_600_000
# A fixed, hour-aligned day start (2026-01-01 00:00 UTC): the data never depends on the wall clock.
DAY0_MS = 1_767_225_600_000
REGIONS = ("eu-west", "us-east", "ap-south")
GPU_MODELS = (("NVIDIA H100 80GB HBM3", 85_899_345_920, 700.0), ("NVIDIA GeForce RTX 4090", 25_769_803_776, 450.0),
              ("NVIDIA L40S", 48_318_382_080, 350.0), ("NVIDIA A100-SXM4-80GB", 85_899_345_920, 400.0))  # fmt: skip
WORKFLOWS = (("live-video-to-video", "streamdiffusion-sdxl", 20.0), ("live-video-to-video", "streamdiffusion-sd15", 30.0))
STARTUP_LE = ("0.25", "0.5", "1.0", "2.0", "5.0", "10.0", "20.0", "30.0", "60.0", "120.0", "300.0", "+Inf")
P2FF_LE = ("0.05", "0.1", "0.25", "0.5", "1.0", "2.0", "5.0", "10.0", "30.0", "+Inf")
TARGETS = {w[1]: w[2] for w in WORKFLOWS}

# Series kinds: a constant; a gauge around a level (decimals: None keeps every bit, as FPS or a duration has); a
# counter growing by a random step (integer or with decimals); a histogram bucket (grows rarely; cumulative within
# its family is not needed for storage figures, but kept so quantiles are sensible).
CONST, GAUGE, COUNTER = 0, 1, 2
_tail = struct.Struct("<qd").pack


@dataclass
class Series:
    head: bytes  # metric + labels, RowBinary
    kind: int
    level: float
    spread: float  # gauge: ± around level; counter: mean step per scrape
    decimals: int | None
    change: float = 1.0  # gauge: probability of a new value at a scrape (NVML clocks, memory, temperature move rarely)
    value: float = 0.0


def _orchestrator_series(o: int, gpus: int, rng: random.Random) -> list[Series]:
    out: list[Series] = []

    def add(metric: str, labels: dict[str, str], kind: int, level: float, spread: float = 0.0,
            decimals: int | None = 0, change: float = 1.0) -> None:  # fmt: skip
        out.append(Series(series_fragment(metric, sorted(labels.items())), kind, level, spread, decimals, change, level))

    orch = f"0x{o + 1:040x}"
    add("naap_exporter_build_info", {"orchestrator": orch, "region": REGIONS[o % 3], "version": "0.1.0", "mode": "live"},
        CONST, 1)  # fmt: skip
    for src in ("nvml", "streams", "livepeer"):
        add("naap_exporter_source_up", {"source": src}, CONST, 1)
        add("naap_exporter_source_duration_seconds", {"source": src}, GAUGE, 0.002, 0.0015, None)
        add("naap_exporter_source_errors_total", {"source": src}, COUNTER, 0, 0.0)
    name, vram, watts = GPU_MODELS[o % len(GPU_MODELS)]
    for g in range(gpus):
        gpu = f"GPU-{o:08x}-{g:04x}-4d3e-9f40-{rng.getrandbits(48):012x}"
        gl = {"gpu_id": gpu, "gpu_instance": ""}
        add("naap_gpu_info", {**gl, "gpu_index": str(g), "name": name, "vram_bytes": str(vram), "driver_version": "580.95.05",
                              "cuda_version": "13.0", "compute_capability": "9.0", "gpu_instance_profile": "", "mig_uuid": ""},
            CONST, 1)  # fmt: skip
        add("naap_gpu_up", gl, CONST, 1)
        for metric in ("naap_gpu_read_errors_total", "naap_gpu_xid_errors_total"):
            add(metric, gl, COUNTER, 0, 0.0)
        for kind in ("corrected", "uncorrected"):
            add("naap_gpu_ecc_errors_total", {**gl, "type": kind}, COUNTER, 0, 0.0)
        add("naap_gpu_memory_total_bytes", gl, CONST, vram)
        add("naap_gpu_power_limit_watts", gl, CONST, watts)
        add("naap_gpu_peak_flops", {**gl, "precision": "fp16_tensor"}, CONST, 330.3e12)
        add("naap_gpu_utilization_ratio", gl, GAUGE, 0.8, 0.15, 2, 0.9)  # NVML: whole percent
        add("naap_gpu_memory_utilization_ratio", gl, GAUGE, 0.5, 0.1, 2, 0.9)
        add("naap_gpu_memory_used_bytes", gl, GAUGE, vram * 0.6, vram * 0.05, -6, 0.05)
        add("naap_gpu_power_watts", gl, GAUGE, watts * 0.75, watts * 0.1, 3)  # NVML: milliwatts
        add("naap_gpu_temperature_celsius", gl, GAUGE, 68, 4, 0, 0.2)  # NVML: whole degrees
        add("naap_gpu_sm_clock_hertz", gl, GAUGE, 2.4e9, 0.1e9, -6, 0.1)  # NVML: MHz
        add("naap_gpu_memory_clock_hertz", gl, CONST, 10.501e9)
        add("naap_gpu_encoder_utilization_ratio", gl, GAUGE, 0.08, 0.03, 2, 0.5)
        add("naap_gpu_decoder_utilization_ratio", gl, GAUGE, 0.07, 0.03, 2, 0.5)
        for d in ("transmit", "receive"):
            add("naap_gpu_pcie_throughput_bytes_per_second", {**gl, "direction": d}, GAUGE, 3e7, 1e7, -3)  # KB/s
        add("naap_gpu_energy_joules_total", gl, COUNTER, round(rng.uniform(1e6, 1e8)), watts * 0.75 * 15, 3)  # NVML: mJ
        add("naap_gpu_cue_ratio", {**gl, "method": "proxy", "confidence": "low"}, GAUGE, 0.5, 0.1, None)
        add("naap_gpu_achieved_flops", {**gl, "method": "proxy"}, GAUGE, 1.7e14, 2e13, None)
        pipeline, model, fps = WORKFLOWS[g % 2]
        wf = {"pipeline": pipeline, "model_id": model, "gpu_id": gpu}
        for s in range(2):
            sid = f"{o:x}-{g:x}-{s}-{rng.getrandbits(32):08x}"
            add("naap_stream_output_fps", {**wf, "stream_id": sid}, GAUGE, fps, fps * 0.05, None)
            add("naap_stream_input_fps", {**wf, "stream_id": sid}, GAUGE, fps, fps * 0.01, None)
            add("naap_stream_jitter_ratio", {**wf, "stream_id": sid}, GAUGE, 0.03, 0.02, None)
        add("naap_streams_active", wf, GAUGE, 2, 1, 0, 0.05)
        add("naap_streams_started_total", wf, COUNTER, rng.randint(0, 1000), 0.02, 0)
        add("naap_frames_out_total", wf, COUNTER, rng.randint(0, 10**8), fps * 2 * 15, 0)
        add("naap_frames_in_total", wf, COUNTER, rng.randint(0, 10**8), fps * 2 * 15, 0)
        add("naap_stream_receive_bytes_total", wf, COUNTER, rng.randint(0, 10**12), 24_000 * fps * 2 * 15, 0)
        add("naap_stream_transmit_bytes_total", wf, COUNTER, rng.randint(0, 10**12), 30_000 * fps * 2 * 15, 0)
        for cls in ("timeout", "model_error"):
            add("naap_stream_errors_total", {**wf, "error_class": cls}, COUNTER, rng.randint(0, 50), 0.005, 0)
        add("naap_stream_restarts_total", {**wf, "reason": "model_error"}, COUNTER, rng.randint(0, 50), 0.003, 0)
        for kind in ("cold", "warm"):
            for i, le in enumerate(STARTUP_LE):
                add("naap_stream_startup_seconds_bucket", {**wf, "startup": kind, "le": le}, COUNTER, 10 * i, 0.002 * i, 0)
            add("naap_stream_startup_seconds_count", {**wf, "startup": kind}, COUNTER, 110, 0.02, 0)
            add("naap_stream_startup_seconds_sum", {**wf, "startup": kind}, COUNTER, 300, 0.05, None)
        for i, le in enumerate(P2FF_LE):
            add("naap_stream_prompt_to_first_frame_seconds_bucket", {**wf, "le": le}, COUNTER, 20 * i, 0.05 * i, 0)
        add("naap_stream_prompt_to_first_frame_seconds_count", wf, COUNTER, 180, 0.5, 0)
        add("naap_stream_prompt_to_first_frame_seconds_sum", wf, COUNTER, 60, 0.15, None)
    for pipeline, model, _ in WORKFLOWS:
        add("livepeer_ai_container_in_use", {"pipeline": pipeline, "model_id": model}, GAUGE, gpus, 1, 0, 0.05)
        add("livepeer_ai_container_idle", {"pipeline": pipeline, "model_id": model}, GAUGE, 1, 1, 0, 0.05)
    add("livepeer_ai_current_live_pipelines", {"pipeline": WORKFLOWS[0][0]}, GAUGE, gpus * 2, 1, 0, 0.05)
    add("livepeer_orchestrator_swaps_total", {}, COUNTER, rng.randint(0, 100), 0.01, 0)
    add("livepeer_versions", {"version": "0.8.0"}, CONST, 1)
    for mode, share in (("user", 0.4), ("nice", 0.0), ("system", 0.1), ("idle", 0.45), ("iowait", 0.02), ("irq", 0.0),
                        ("softirq", 0.01), ("steal", 0.0)):  # fmt: skip
        add("naap_host_cpu_seconds_total", {"mode": mode}, COUNTER, round(rng.uniform(0, 1e6), 2), share * 32 * 15, 2)
    add("naap_host_cpus", {}, CONST, 32)
    add("naap_host_load1", {}, GAUGE, 12, 4, 2)
    add("naap_host_memory_total_bytes", {}, CONST, 128 * 2**30)
    add("naap_host_memory_available_bytes", {}, GAUGE, 64 * 2**30, 8 * 2**30, -3)
    add("naap_host_filesystem_size_bytes", {"mountpoint": "/"}, CONST, 2 * 2**40)
    add("naap_host_filesystem_avail_bytes", {"mountpoint": "/"}, GAUGE, 2**40, 2**20, -3, 0.3)
    for metric, step in (("naap_host_disk_read_bytes_total", 5e6), ("naap_host_disk_written_bytes_total", 2e7),
                         ("naap_host_network_receive_bytes_total", 2e8), ("naap_host_network_transmit_bytes_total", 2.5e8)):  # fmt: skip
        add(metric, {}, COUNTER, round(rng.uniform(0, 1e12)), step, 0)
    add("process_resident_memory_bytes", {}, GAUGE, 6e7, 5e6, -3, 0.5)
    add("process_cpu_seconds_total", {}, COUNTER, round(rng.uniform(0, 1e4), 2), 0.3, 2)
    add("process_open_fds", {}, GAUGE, 20, 3, 0, 0.1)
    return out


def _step(s: Series, r: float) -> float:
    """The next value of a series given a uniform random r in [0, 1)."""
    if s.kind == GAUGE:
        if s.change < 1.0 and r >= s.change and s.value != s.level:
            return s.value
        r = r / s.change if s.change < 1.0 else r
        v = s.level + s.spread * (2 * r - 1)
        s.value = v if s.decimals is None else round(v, s.decimals)
        return s.value
    if s.kind == COUNTER and s.spread:
        if s.decimals == 0 and s.spread < 1:  # a rare event: +1 with probability `spread`
            s.value += 1.0 if r < s.spread else 0.0
        else:
            inc = s.spread * 2 * r
            s.value += inc if s.decimals is None else round(inc, s.decimals)
    return s.value


@dataclass
class Fleet:
    """The generated fleet: per orchestrator its identity, RNG and series."""

    orchestrators: int
    gpus: int
    seed: int
    members: list[tuple[str, str, bytes, random.Random, list[Series]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        for o in range(self.orchestrators):
            rng = random.Random(self.seed * 1_000_003 + o)
            orch, inst = f"0x{o + 1:040x}", f"orch-{o}.example:9935"
            self.members.append((orch, inst, row_prefix(orch, inst), rng, _orchestrator_series(o, self.gpus, rng)))

    @property
    def samples_per_round(self) -> int:
        return sum(len(m[4]) for m in self.members)

    def scrape(self, i: int, t_ms: int) -> tuple[str, str, bytes, int, int]:
        """Orchestrator i's scrape at t_ms (+ up to 250 ms of its own jitter): (orchestrator, instance, RowBinary rows,
        samples, the sample time)."""
        orch, inst, prefix, rng, series = self.members[i]
        ts = t_ms + rng.randrange(250)
        rnd = rng.random
        rows = b"".join(prefix + s.head + _tail(ts, _step(s, rnd())) for s in series)
        return orch, inst, rows, len(series), ts


@dataclass
class BenchResult:
    orchestrators: int
    gpus: int
    hours: float
    interval_s: float
    seed: int
    samples: int = 0
    load_s: float = 0.0
    optimize_s: float = 0.0
    tables: dict[str, tuple[int, int]] = field(default_factory=dict)  # table -> (rows, bytes on disk)
    columns: dict[str, int] = field(default_factory=dict)  # samples column -> compressed bytes
    timings: list[tuple[str, float, float, str]] = field(default_factory=list)  # window, raw s, rollup s, source
    ingest: tuple[float, float, float] = (0.0, 0.0, 0.0)  # hours loaded, samples/s with views, without
    layouts: dict[str, tuple[int, int]] = field(default_factory=dict)  # samples layout -> (rows, bytes), first hour
    inputs: tuple[int, float, int] = (0, 0.0, 0)  # base windows computed, seconds per window, base window s
    scoring: list[tuple[str, float, int]] = field(default_factory=list)  # period, seconds, scores
    score_config: str = ""  # the current SLA config's version


async def load_fleet(wh: Warehouse, fleet: Fleet, rounds: int, interval_ms: int, batch_rows: int,
                     progress: Callable[[str], None], start_ms: int = DAY0_MS) -> int:  # fmt: skip
    """Every scrape of `rounds` rounds through ScrapeSink and the Writer; returns the samples written. Generation and
    inserts take turns: an insert streams its chunks from Python, and a generator running beside it in another
    thread would make it wait for the GIL at every chunk (measured: 5× slower)."""
    writer = Writer(wh, f"bench-catalog-{wh.database}", batch_rows=batch_rows, flush_interval_s=3600,
                    max_buffered_rows=4 * batch_rows, max_buffered_bytes=1 << 30)  # fmt: skip
    sink = ScrapeSink(writer, scraper="bench")
    total, t0 = 0, time.perf_counter()
    for r in range(rounds):
        slot = start_ms + r * interval_ms
        for i in range(fleet.orchestrators):
            orch, inst, rows, n, ts = fleet.scrape(i, slot)
            sink.add(ScrapeRecord(ts, slot, f"https://{inst}/metrics", orch, inst, True, 0.05, len(rows), n, "", "",
                                  scraper="bench", identity="checked"), rows, n)  # fmt: skip
            total += n
        if writer.queue_depth > 1 and not await writer.flush():
            raise RuntimeError("the warehouse refused the benchmark's rows")
        if r % max(1, rounds // 20) == 0 and r:
            progress(f"  {total:,} samples ({100 * r / rounds:.0f} %, {total / (time.perf_counter() - t0):,.0f}/s)")
    if not await writer.flush():
        raise RuntimeError("the warehouse refused the benchmark's rows")
    return total


def _ingest_cost(path: Path, orchestrators: int, gpus: int, seed: int, rounds: int, interval_ms: int,
                 batch_rows: int) -> tuple[float, float]:  # fmt: skip
    """Samples/s of the same rounds loaded into two fresh databases, with the rollup views and without them."""
    out = []
    for name, views in (("bench_views", True), ("bench_noviews", False)):
        wh = Warehouse(f"chdb://{path}", name)
        try:
            apply_migrations(wh)
            if not views:
                for res in ("1m", "5m", "1h"):
                    wh.command(f"DROP VIEW rollup_{res}_mv_v1")
            t = time.perf_counter()
            n = asyncio.run(load_fleet(wh, Fleet(orchestrators, gpus, seed), rounds, interval_ms, batch_rows, lambda _: None))
            out.append(n / (time.perf_counter() - t))
            wh.command(f"DROP DATABASE {name} SYNC")  # now, not in 8 minutes: the next run measures alone
        finally:
            wh.close()
    return out[0], out[1]


_PARTS = """SELECT table, sum(rows), sum(bytes_on_disk) FROM system.parts
WHERE database = {db:String} AND active GROUP BY table ORDER BY table"""
_COLUMNS = """SELECT name, sum(data_compressed_bytes) FROM system.columns
WHERE database = {db:String} AND table = 'samples' GROUP BY name ORDER BY name"""


# The samples table as migration 0001/0006 declare it, and one change proposed for the 2 B/sample goal: each series'
# rows contiguous (labels in the sorting key), so Gorilla and ZSTD see one series' values and labels in a row.
# The third also raises the codecs' ZSTD levels: the labels of one series repeat row after row once they are adjacent.
_BY_SERIES = "(metric, orchestrator, instance, labels, ts)"
LAYOUTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "current: ORDER BY (metric, orchestrator, instance, ts)": ("(metric, orchestrator, instance, ts)", ()),
    "proposed: ORDER BY (metric, orchestrator, instance, labels, ts)": (_BY_SERIES, ()),
    "proposed, with value Gorilla+ZSTD(3), ts DoubleDelta+ZSTD(3), labels ZSTD(6)": (_BY_SERIES, (
        "value Float64 CODEC(Gorilla, ZSTD(3))", "ts DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(3))",
        "labels Map(LowCardinality(String), String) CODEC(ZSTD(6))")),
}


def _layouts(wh: Warehouse, end_ms: int) -> dict[str, tuple[int, int]]:
    """(rows, bytes on disk) of the samples before `end_ms` copied into each of LAYOUTS (same columns and codecs)."""
    out = {}
    for i, (label, (order, columns)) in enumerate(LAYOUTS.items()):
        wh.command(f"DROP TABLE IF EXISTS layout_{i}")
        wh.command(f"CREATE TABLE layout_{i} AS samples ENGINE = MergeTree PARTITION BY toDate(ts) ORDER BY {order}")
        for column in columns:
            wh.command(f"ALTER TABLE layout_{i} MODIFY COLUMN {column}")
        wh.command(f"INSERT INTO layout_{i} SELECT * FROM samples WHERE ts < fromUnixTimestamp64Milli({int(end_ms)}, 'UTC')")
        wh.command(f"OPTIMIZE TABLE layout_{i} FINAL")
        rows, nbytes = wh.query(f"SELECT sum(rows), sum(bytes_on_disk) FROM system.parts WHERE database = {{db:String}} "
                                f"AND table = 'layout_{i}' AND active", {"db": wh.database}).rows[0]  # fmt: skip
        out[label] = (int(rows), int(nbytes))
        wh.command(f"DROP TABLE layout_{i} SYNC")
    return out


def _time(fn: Callable[[], Any], repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t)
    return statistics.median(runs)


def _time_scores(wh: Warehouse, res: BenchResult, end_ms: int, progress: Callable[[str], None]) -> None:
    """Score v1 as the collector runs it: inputs once per base window (timed over the last hour), written, then each
    period's scores from the stored inputs (5 m and 1 h measured; longer periods need a day of inputs, projected)."""
    from scoring.inputs_v1 import compute_inputs, write_inputs
    from scoring.publish_v1 import compute_scores_v1
    from scoring.sla_config import load_config

    config = load_config()
    base_ms = config.spec.base_window_s * 1000
    start = max(end_ms - H_MS, DAY0_MS)
    as_of = int(time.time() * 1000) + H_MS  # every loaded row counts
    windows = list(range(start, end_ms, base_ms))
    progress(f"score v1: inputs of {len(windows)} base windows, then scores per period")
    t = time.perf_counter()
    for ws in windows:
        write_inputs(wh, config, compute_inputs(wh, config, ws, as_of), as_of)
    res.inputs = (len(windows), (time.perf_counter() - t) / max(len(windows), 1), config.spec.base_window_s)
    res.score_config = config.version
    for period, secs in sorted(config.spec.periods.items(), key=lambda kv: kv[1].seconds):
        if secs.seconds * 1000 > end_ms - start:
            continue
        scores: list[Any] = []
        took = _time(lambda: scores.extend(compute_scores_v1(wh, config, period, end_ms, as_of)), 1)
        res.scoring.append((period, took, len(scores)))


def run_bench(orchestrators: int = 100, gpus: int = 4, hours: float = 24, interval_s: float = 15, seed: int = 1,
              data_dir: Path | None = None, batch_rows: int = 500_000, repeat: int = 3,
              progress: Callable[[str], None] = lambda _: None) -> BenchResult:  # fmt: skip
    """Generate, load, merge, measure (module doc). `data_dir`: keep the warehouse there (default: a temporary
    directory, removed after). `repeat`: timed runs per figure (the median is reported; raw over 24 h runs once)."""
    res = BenchResult(orchestrators, gpus, hours, interval_s, seed)
    tmp = Path(tempfile.mkdtemp(prefix="naap-bench-catalog-")) if data_dir is None else None
    path = data_dir or tmp
    assert path is not None
    wh = Warehouse(f"chdb://{path}", "bench")
    try:
        apply_migrations(wh)
        fleet = Fleet(orchestrators, gpus, seed)
        rounds = int(hours * 3600 / interval_s)
        progress(f"generating and loading {rounds} scrapes of {orchestrators} orchestrators ({fleet.samples_per_round:,} samples a round)")
        t = time.perf_counter()
        res.samples = asyncio.run(load_fleet(wh, fleet, rounds, int(interval_s * 1000), batch_rows, progress))
        res.load_s = time.perf_counter() - t
        progress("OPTIMIZE FINAL")
        t = time.perf_counter()
        for table in ("samples", "scrapes", "rollup_1m_v1", "rollup_5m_v1", "rollup_1h_v1"):
            wh.command(f"OPTIMIZE TABLE {table} FINAL")
        res.optimize_s = time.perf_counter() - t
        res.tables = {r[0]: (int(r[1]), int(r[2])) for r in wh.query(_PARTS, {"db": "bench"}).rows}
        res.columns = {r[0]: int(r[1]) for r in wh.query(_COLUMNS, {"db": "bench"}).rows}
        progress(f"the samples of the first hour in {len(LAYOUTS)} layouts")
        res.layouts = _layouts(wh, DAY0_MS + H_MS)
        cost_rounds = int(min(hours, 1) * 3600 / interval_s)
        progress(f"ingest cost of the rollup views: {cost_rounds} rounds again, with and without the views")
        res.ingest = (cost_rounds * interval_s / 3600,
                      *_ingest_cost(path, orchestrators, gpus, seed, cost_rounds, int(interval_s * 1000), batch_rows))  # fmt: skip
        end = DAY0_MS + int(hours * H_MS) // H_MS * H_MS
        for label, span in (("1h", H_MS), ("24h", 24 * H_MS)):
            if span > hours * H_MS:
                continue
            q = CatalogQuery(end - span, end, by=("orchestrator", "gpu_id", "workflow"))
            progress(f"timing the catalog over {label}")
            src = catalog(wh, q, TARGETS)["source"]
            rollup_s = _time(lambda: catalog(wh, q, TARGETS), repeat)
            raw_q = CatalogQuery(end - span, end, by=q.by, source="raw")
            raw_s = _time(lambda: catalog(wh, raw_q, TARGETS), 1 if span > H_MS else repeat)
            res.timings.append((label, raw_s, rollup_s, src))
        _time_scores(wh, res, end, progress)
    finally:
        wh.close()
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    return res


def format_result(res: BenchResult) -> str:
    """The figures as the command prints them."""
    raw_rows, raw_bytes = res.tables.get("samples", (0, 0))
    per = raw_bytes / raw_rows if raw_rows else 0.0
    lines = [
        f"naap bench catalog: {res.orchestrators} orchestrators × {res.gpus} GPUs, {res.hours:g} h scraped every "
        f"{res.interval_s:g} s (seed {res.seed})",
        f"  loaded {res.samples:,} samples in {res.load_s:.0f} s ({res.samples / res.load_s:,.0f} samples/s, generation "
        f"and the three rollup views included); OPTIMIZE FINAL {res.optimize_s:.0f} s",
        f"  ingest with the three rollup views {res.ingest[1]:,.0f} samples/s, without {res.ingest[2]:,.0f} "
        f"({res.ingest[1] / max(res.ingest[2], 1):.2f}x; the first {res.ingest[0]:g} h loaded again into fresh databases)",
        "  on disk after OPTIMIZE FINAL:",
    ]
    for table, (rows, nbytes) in sorted(res.tables.items()):
        lines.append(f"    {table:<22} {rows:>14,} rows {nbytes / 2**20:>10.1f} MiB {nbytes / max(rows, 1):>8.2f} B/row"
                     + (f" {nbytes / max(raw_rows, 1):>6.3f} B per raw sample" if table.startswith("rollup") else ""))
    lines.append(f"  samples: {per:.2f} B/sample (goal <= 2.00); by column, B/sample:")
    lines.append("    " + ", ".join(f"{k} {v / max(raw_rows, 1):.2f}" for k, v in sorted(res.columns.items(), key=lambda kv: -kv[1])))
    lines.append("  the first hour's samples re-laid out (same columns), B/sample after OPTIMIZE FINAL:")
    for label, (rows, nbytes) in res.layouts.items():
        lines.append(f"    {nbytes / max(rows, 1):.2f}  {label}")
    lines.append("  the whole catalog (17 metrics, by orchestrator × GPU × workflow), median seconds:")
    lines.append("    window      raw      rollup   source       raw/rollup")
    for label, raw_s, roll_s, src in res.timings:
        lines.append(f"    {label:<6} {raw_s:>9.3f} {roll_s:>9.3f}   {src:<12} {raw_s / roll_s:>8.1f}x")
    if res.inputs[0]:
        n, per, base_s = res.inputs
        lines.append(f"  score (current config {res.score_config}): inputs {per:.3f} s per {base_s} s base window (mean of {n}; computed "
                     f"once per window as data arrives: {per / base_s:.1%} of one core), then from the stored inputs:")
        for period, took, count in res.scoring:
            lines.append(f"    {period:<6} {took:>8.3f} s for {count:,} scores (per orchestrator and per workflow)")
    day = next((t for t in res.timings if t[0] == "24h"), None)
    if day is not None:
        lines.append(f"    7d     {7 * day[1]:>9.1f} {7 * day[2]:>9.3f}   extrapolated: 7 × the 24 h figures (only "
                     f"{res.hours:g} h of data loaded; both scale with the rows read)")
    return "\n".join(lines)
