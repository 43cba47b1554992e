"""Rollups answer what raw answers: the catalog read from each rollup equals the catalog read from raw samples on the
same window and steps — counts, min, max, exact percentiles, FPS compliance, streams, PromQL increases — also after
OPTIMIZE FINAL has merged the rollup rows, after a retried insert through the writer, and when the rollups were
backfilled from rows that were there before migration 0008. A counter reset inside a bucket sends the question to
raw. Samples go in as the scraper writes them: RowBinary through warehouse.writer.Writer, with deduplication tokens.
"""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any

from scoring.catalog import CatalogQuery, catalog
from scoring.catalog.counters import extrapolate
from scoring.promql import extrapolated_rate
from scraper.rows import INSERT_SETTINGS, ROW_COLUMNS, ROW_FORMAT, row_prefix, row_tail, series_fragment
from warehouse.client import Warehouse
from warehouse.migrations import LEDGER_DDL, LEDGER_TABLE, apply_migrations, load_migrations
from warehouse.writer import Writer

T0 = 1_699_999_200_000  # a whole hour (UTC)
H = 3_600_000
TARGETS = {"sdxl": 20.0, "sd15": 30.0}
# Exact fields (counts, order statistics, compliance, increases); avg and integrals are sums of floats whose order
# differs between raw and a rollup (per bucket, then across buckets): equal to 1e-12.
INEXACT = {"avg", "stream_seconds", "inference_minutes", "avg_concurrent", "stream_hours", "value"}


def fleet(seed: int, hours: int = 2, resets_inside: bool = False) -> list[tuple]:
    """Rows (orchestrator, instance, metric, labels, ts, value) of 3 orchestrators × 2 GPUs × 2 workflows, scraped
    every 15 s with up to 1 s of jitter. Counters reset only at the first scrape of an hour (a bucket boundary at
    every resolution) unless `resets_inside`; some FPS series repeat values (a rollup's counts above 1)."""
    rng = random.Random(seed)
    rows: list[tuple] = []
    wfs = (("live-video-to-video", "sdxl"), ("live-video-to-video", "sd15"))
    counters: dict[tuple, float] = {}
    for o in range(3):
        orch = f"0x{o + 1:040x}"
        for i in range(hours * 240):
            t = T0 + i * 15_000 + rng.randint(0, 999)
            reset = i % 240 == 0 and i > 0

            def add(metric: str, labels: dict[str, str], v: float) -> None:
                rows.append((orch, "h:1", metric, tuple(sorted(labels.items())), t, float(v)))

            def count(metric: str, labels: dict[str, str], inc: float) -> None:
                key = (metric, tuple(sorted(labels.items())))
                v = 0.0 if reset else counters.get(key, rng.uniform(0, 50))
                counters[key] = v + inc
                add(metric, labels, counters[key])

            add("naap_exporter_build_info", {"orchestrator": orch, "region": ("eu", "us")[o % 2], "mode": "live"}, 1)
            for g in range(2):
                gpu = f"GPU-{o}-{g}"
                add("naap_gpu_info", {"gpu_id": gpu, "gpu_instance": "", "name": ("H100", "L40S")[g]}, 1)
                add("naap_gpu_utilization_ratio", {"gpu_id": gpu, "gpu_instance": ""}, round(rng.random(), 3))
                add("naap_gpu_cue_ratio", {"gpu_id": gpu, "gpu_instance": "", "method": "proxy", "confidence": "low"},
                    rng.random())
                count("naap_gpu_energy_joules_total", {"gpu_id": gpu, "gpu_instance": ""}, rng.uniform(3000, 6000))
                for w, (pipeline, model) in enumerate(wfs):
                    wf = {"pipeline": pipeline, "model_id": model, "gpu_id": gpu}
                    for s in range(2):
                        fps = rng.uniform(15, 35) if (o + s) % 2 else round(rng.uniform(15, 35), 1)
                        add("naap_stream_output_fps", {**wf, "stream_id": f"s{o}{g}{w}{s}"}, fps)
                        add("naap_stream_jitter_ratio", {**wf, "stream_id": f"s{o}{g}{w}{s}"}, rng.expovariate(20))
                    add("naap_streams_active", wf, rng.choice((1, 2, 2, 3)))
                    count("naap_streams_started_total", wf, rng.choice((0, 0, 0, 1)))
                    count("naap_stream_errors_total", {**wf, "error_class": "timeout"}, rng.choice((0, 0, 0, 0, 1)))
                    count("naap_stream_receive_bytes_total", wf, rng.randint(10**6, 10**7))
                    cum = 0.0
                    for le in ("0.25", "0.5", "1.0", "+Inf"):
                        cum += rng.choice((0, 0, 1))
                        count("naap_stream_prompt_to_first_frame_seconds_bucket", {**wf, "le": le}, cum)
            count("livepeer_orchestrator_swaps_total", {}, rng.choice((0, 0, 0, 0, 1)))
            if resets_inside and i == 130:  # mid-minute, mid-5-minutes, mid-hour
                counters[("naap_streams_started_total", tuple(sorted({"pipeline": wfs[0][0], "model_id": wfs[0][1],
                                                                      "gpu_id": f"GPU-{o}-0"}.items())))] = 0.0  # fmt: skip
    return rows


def encoded(rows: list[tuple]) -> bytes:
    """The rows as the scraper encodes them (scraper/rows.py RowBinary)."""
    return b"".join(row_prefix(o, i) + series_fragment(m, list(lb)) + row_tail(t, v) for o, i, m, lb, t, v in rows)


async def write(wh: Warehouse, rows: list[tuple], writer_id: str, chunk: int = 5000) -> Writer:
    """Through the one writer, in batches as a scraper would send them (each insert with its deduplication token)."""
    w = Writer(wh, writer_id, batch_rows=chunk)
    for k in range(0, len(rows), chunk):
        part = rows[k : k + chunk]
        w.add_encoded("samples", ROW_COLUMNS, ROW_FORMAT, encoded(part), len(part), INSERT_SETTINGS)
    assert await w.flush()
    return w


def same(a: Any, b: Any, path: str = "") -> list[str]:
    """Differences between a rollup answer `a` and the raw answer `b`: exact, except INEXACT fields (1e-12)."""
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            return [f"{path}: keys {sorted(set(a) ^ set(b))}"]
        return [d for k in a if k != "source" for d in same(a[k], b[k], f"{path}.{k}")]
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: {len(a)} rows vs {len(b)}"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in same(x, y, f"{path}[{i}]")]
    if isinstance(a, float) and isinstance(b, float) and path.rsplit(".", 1)[-1] in INEXACT:
        return [] if math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12) else [f"{path}: {a!r} vs {b!r}"]
    return [] if a == b or (a != a and b != b) else [f"{path}: {a!r} vs {b!r}"]


QUESTIONS = [  # (source, window start, end, step): each source with and without steps
    ("rollup_1m", T0 + 7 * 60_000, T0 + 67 * 60_000, None),
    ("rollup_1m", T0 + 7 * 60_000, T0 + 37 * 60_000, 120),
    ("rollup_5m", T0 + 5 * 60_000, T0 + 2 * H, None),
    ("rollup_5m", T0, T0 + 2 * H, 900),
    ("rollup_1h", T0, T0 + 2 * H, None),
    ("rollup_1h", T0, T0 + 2 * H, 3600),
]
BYS = [("orchestrator", "gpu_id", "workflow"), ("region", "gpu_model")]


def compare(wh: Warehouse) -> int:
    """Every catalog metric, each question and grouping, rollup vs raw; returns the number of rows compared."""
    rows = 0
    for source, start, end, step in QUESTIONS:
        for by in BYS:
            got = catalog(wh, CatalogQuery(start, end, step, by, source=source), TARGETS)
            want = catalog(wh, CatalogQuery(start, end, step, by, source="raw"), TARGETS)
            assert got["source"] == source and want["source"] == "raw"
            for name, res in got["metrics"].items():
                assert res["source"] in (source, "scrapes", "discovery_snapshots", "probe_runs", "none"), (source, name, res["source"])
                diff = same(res["rows"], want["metrics"][name]["rows"], name)
                assert not diff, (source, start, end, step, by, diff[:5])
                rows += len(res["rows"])
    return rows


async def test_rollups_equal_raw_before_and_after_merges_and_a_retried_insert(warehouse: Warehouse) -> None:
    rows = fleet(seed=11)
    first = await write(warehouse, rows, "scraper-a")
    assert first.stats.rows_written["samples"] == len(rows) == warehouse.scalar("SELECT count() FROM samples")
    compared = compare(warehouse)
    assert compared > 500
    # A retry of batches the server had already committed (same writer id, so the same tokens): dropped by the server
    # in `samples` and in every rollup fed from it.
    await write(warehouse, rows, "scraper-a")
    assert warehouse.scalar("SELECT count() FROM samples") == len(rows)
    assert warehouse.scalar("SELECT sum(n) FROM rollup_1m_v1") == len(rows)
    compare(warehouse)
    for table in ("samples", "rollup_1m_v1", "rollup_5m_v1", "rollup_1h_v1"):
        warehouse.command(f"OPTIMIZE TABLE {table} FINAL")
    # merged: one row per key and bucket
    assert warehouse.scalar("SELECT count() FROM rollup_1h_v1") == warehouse.scalar(
        "SELECT count() FROM (SELECT DISTINCT metric, orchestrator, instance, labels, bucket FROM rollup_1h_v1)")
    assert compare(warehouse) == compared


async def test_a_reset_inside_a_bucket_sends_counters_to_raw(warehouse: Warehouse) -> None:
    await write(warehouse, fleet(seed=5, hours=1, resets_inside=True), "scraper-b")
    for source in ("rollup_1m", "rollup_5m", "rollup_1h"):
        q = CatalogQuery(T0, T0 + H, by=("orchestrator", "workflow"), source=source)
        got = catalog(warehouse, q, TARGETS, ("failure_rate", "streams", "output_fps"))["metrics"]
        want = catalog(warehouse, CatalogQuery(T0, T0 + H, by=q.by, source="raw"), TARGETS,
                       ("failure_rate", "streams", "output_fps"))["metrics"]  # fmt: skip
        assert got["failure_rate"]["source"] == "raw" and got["streams"]["source"] == "raw", source
        assert got["output_fps"]["source"] == source  # gauges are unaffected
        assert not same(got, want)


def test_the_rollup_extrapolation_is_promqls_bit_for_bit() -> None:
    """`extrapolate` from a summary (n, first, last, result with the resets) equals scoring.promql's reference on the
    samples themselves, for random series and windows."""
    rng = random.Random(3)
    checked = 0
    for _ in range(3000):
        start = rng.randint(0, 10**6)
        end = start + rng.choice((60_000, 300_000, 3_600_000, rng.randint(1, 10**6)))
        n = rng.choice((1, 2, 3, rng.randint(2, 50)))
        ts = sorted(rng.sample(range(start, end), min(n, end - start)))
        v, pts = rng.choice((0.0, rng.uniform(0, 1e6))), []
        for t in ts:
            v = rng.choice((0.0, rng.uniform(0, 5))) if rng.random() < 0.1 else v + rng.expovariate(0.1)
            pts.append((t, v))
        result = pts[-1][1] - pts[0][1] if pts else 0.0
        for a, b in zip(pts, pts[1:]):
            if b[1] < a[1]:
                result += a[1]
        want = extrapolated_rate(pts, start, end, True, False)
        got = extrapolate(len(pts), pts[0], pts[-1], result, start, end) if pts else None
        assert got == want or (got != got and want != want), (pts, start, end, got, want)
        assert extrapolate(len(pts), pts[0], pts[-1], result, start, end, rate=True) == extrapolated_rate(
            pts, start, end, True, True) if len(pts) > 1 else True  # fmt: skip
        checked += len(pts) > 1
    assert checked > 2000


async def test_migrating_backfills_the_rollups_from_rows_already_there(chdb_dir: Path, db_name: str) -> None:
    wh = Warehouse(f"chdb://{chdb_dir}", db_name)
    try:
        # A warehouse as it was before 0008: migrations 1..7 applied and recorded, samples written.
        wh.command(LEDGER_DDL)
        for mig in load_migrations():
            if mig.version < 8:
                for stmt in mig.statements:
                    wh.command(stmt)
                wh.insert_rows(LEDGER_TABLE, ["version", "name", "checksum", "applied_at"],
                               [(mig.version, mig.name, mig.checksum, 0)])  # fmt: skip
        assert not wh.scalar("EXISTS TABLE rollup_1m_v1")
        rows = fleet(seed=23, hours=1)
        await write(wh, rows[: len(rows) // 2], "before")
        applied = [m.version for m in apply_migrations(wh)]
        assert applied[0] == 8 and applied == sorted(applied), applied  # 0008 and whatever came after it
        await write(wh, rows[len(rows) // 2 :], "after")  # the rest arrives through the views
        assert wh.scalar("SELECT sum(n) FROM rollup_5m_v1") == len(rows)
        for source in ("rollup_1m", "rollup_5m", "rollup_1h"):
            q = CatalogQuery(T0, T0 + H, by=("orchestrator", "gpu_id", "workflow"), source=source)
            got = catalog(wh, q, TARGETS)
            want = catalog(wh, CatalogQuery(T0, T0 + H, by=q.by, source="raw"), TARGETS)
            assert not same(got["metrics"], want["metrics"]), source
    finally:
        wh.command(f"DROP DATABASE IF EXISTS `{db_name}` SYNC")
        wh.close()
