"""The metric catalog on known rows: every metric's figures computed by hand, from raw and from each rollup; the
prompt-to-first-frame quantile and the counter increases also checked against a real Prometheus 2.42.

The data: one minute, W = [T0, T0 + 60 s), samples at 0, 15, 30 and 45 s. For a counter sampled there PromQL's
increase over W extrapolates to the window's start (0 s away, closer than 1.1 × 15 s) and to its end (15 s away,
also closer): increase = (last − first) × 60/45 = (last − first) × 4/3 when no reset and the counter's zero point
is not nearer than the start. The values are chosen so that every figure below is a short hand calculation.
"""

from __future__ import annotations

import asyncio
import math
import subprocess
from pathlib import Path

import aiohttp
import pytest

from exporter.common.net import free_port
from scoring.catalog import CatalogQuery, catalog, gpu_metrics
from scoring.catalog.gpu_view import GpuFilter
from scraper.sink import SCRAPE_ROW_COLUMNS
from warehouse.client import Warehouse

A, B = "0x" + "a" * 40, "0x" + "b" * 40
T0 = 1_699_999_200_000  # 2023-11-14 22:00:00 UTC: on a whole hour, so every rollup divides the window
W = 60_000
OFFSETS = (0, 15_000, 30_000, 45_000)
SDXL = {"pipeline": "live-video-to-video", "model_id": "sdxl"}
SD15 = {"pipeline": "live-video-to-video", "model_id": "sd15"}
COLUMNS = ("ts", "orchestrator", "instance", "metric", "labels", "value")
SOURCES = ("raw", "rollup_1m")  # a one-minute window: the 5 m and 1 h rollups are checked against raw in test_rollups.py
TARGETS = {"live-video-to-video/sdxl": 20.0, "sd15": 30.0, "default": 99.0}
INC = 4 / 3  # see the module docstring


def series(orch: str, metric: str, labels: dict[str, str], values: list[float]) -> list[tuple]:
    return [(T0 + t, orch, "h:1", metric, labels, float(v)) for t, v in zip(OFFSETS, values)]


def known_rows() -> list[tuple]:
    a1 = {**SDXL, "gpu_id": "GPU-A1"}
    b1 = {**SD15, "gpu_id": "GPU-B1"}
    rows = [
        *series(A, "naap_exporter_build_info", {"orchestrator": A, "region": "eu", "version": "0", "mode": "live"}, [1] * 4),
        *series(B, "naap_exporter_build_info", {"orchestrator": B, "region": "us", "version": "0", "mode": "live"}, [1] * 4),
        *series(A, "naap_gpu_info", {"gpu_id": "GPU-A1", "gpu_instance": "", "name": "H100", "vram_bytes": "85899345920",
                                     "cuda_version": "12.4", "mig_uuid": ""}, [1] * 4),
        *series(A, "naap_gpu_info", {"gpu_id": "GPU-A1", "gpu_instance": "1", "name": "H100", "vram_bytes": "10737418240",
                                     "cuda_version": "12.4", "mig_uuid": "MIG-A1-1"}, [1] * 4),
        *series(B, "naap_gpu_info", {"gpu_id": "GPU-B1", "gpu_instance": "", "name": "RTX 4090", "vram_bytes": "25769803776",
                                     "cuda_version": "12.4", "mig_uuid": ""}, [1] * 4),
        # output FPS: A's two streams on GPU-A1, B's one; a third A stream on the MIG slice
        *series(A, "naap_stream_output_fps", {**a1, "stream_id": "s1"}, [20, 21, 19, 22]),
        *series(A, "naap_stream_output_fps", {**a1, "stream_id": "s2"}, [18, 20, 25, 17]),
        *series(B, "naap_stream_output_fps", {**b1, "stream_id": "s3"}, [30, 30, 29, 31]),
        *series(A, "naap_stream_output_fps", {**SDXL, "gpu_id": "MIG-A1-1", "stream_id": "s4"}, [10, 10, 10, 10]),
        *series(A, "naap_stream_jitter_ratio", {**a1, "stream_id": "s1"}, [0.1, 0.2, 0.3, 0.4]),
        # stream counters of A / sdxl / GPU-A1
        *series(A, "naap_streams_started_total", a1, [0, 3, 6, 9]),
        *series(A, "naap_stream_errors_total", {**a1, "error_class": "timeout"}, [0, 0, 3, 3]),
        *series(A, "naap_stream_errors_total", {**a1, "error_class": "model_error"}, [3, 3, 3, 6]),
        *series(A, "naap_stream_errors_total", {**a1, "error_class": "capacity"}, [0, 0, 0, 3]),
        *series(A, "naap_stream_restarts_total", {**a1, "reason": "model_error"}, [0, 0, 3, 3]),
        *series(A, "naap_streams_active", a1, [2, 2, 2, 2]),
        *series(A, "naap_stream_receive_bytes_total", a1, [0, 3e6, 6e6, 9e6]),
        *series(A, "naap_stream_transmit_bytes_total", a1, [0, 6e6, 12e6, 18e6]),
        *series(A, "livepeer_orchestrator_swaps_total", {}, [0, 0, 0, 3]),
        # prompt-to-first-frame histogram: cumulative buckets 0.5 s, 1 s, +Inf
        *series(A, "naap_stream_prompt_to_first_frame_seconds_bucket", {**a1, "le": "0.5"}, [0, 1, 2, 3]),
        *series(A, "naap_stream_prompt_to_first_frame_seconds_bucket", {**a1, "le": "1.0"}, [0, 2, 4, 6]),
        *series(A, "naap_stream_prompt_to_first_frame_seconds_bucket", {**a1, "le": "+Inf"}, [0, 3, 6, 9]),
        *series(A, "naap_stream_startup_seconds_bucket", {**a1, "startup": "cold", "le": "5.0"}, [0, 0, 0, 3]),
        *series(A, "naap_stream_startup_seconds_bucket", {**a1, "startup": "cold", "le": "+Inf"}, [0, 0, 3, 6]),
        # GPU gauges (whole GPU and MIG slice 1), CUE by method, energy
        *series(A, "naap_gpu_utilization_ratio", {"gpu_id": "GPU-A1", "gpu_instance": ""}, [0.5, 0.7, 0.9, 0.7]),
        *series(A, "naap_gpu_power_watts", {"gpu_id": "GPU-A1", "gpu_instance": ""}, [300, 310, 320, 330]),
        *series(A, "naap_gpu_memory_used_bytes", {"gpu_id": "GPU-A1", "gpu_instance": "1"}, [10, 10, 10, 10]),
        *series(A, "naap_gpu_energy_joules_total", {"gpu_id": "GPU-A1", "gpu_instance": ""}, [0, 4500, 9000, 13500]),
        *series(A, "naap_gpu_cue_ratio", {"gpu_id": "GPU-A1", "gpu_instance": "", "method": "proxy", "confidence": "low"},
                [0.5, 0.6, 0.7, 0.8]),
        *series(A, "naap_gpu_cue_ratio", {"gpu_id": "GPU-A1", "gpu_instance": "", "method": "dcgm", "confidence": "high"},
                [0.9, 0.9, 0.9, 0.9]),
        # host
        *series(A, "naap_host_cpu_seconds_total", {"mode": "idle"}, [0, 30, 60, 90]),
        *series(A, "naap_host_cpu_seconds_total", {"mode": "iowait"}, [5, 5, 5, 5]),
        *series(A, "naap_host_cpu_seconds_total", {"mode": "user"}, [0, 15, 30, 45]),
        *series(A, "naap_host_load1", {}, [1, 2, 3, 2]),
        *series(A, "naap_host_memory_available_bytes", {}, [4e9, 3e9, 2e9, 3e9]),
        *series(A, "naap_host_filesystem_avail_bytes", {"mountpoint": "/"}, [7e9, 7e9, 7e9, 7e9]),
        *series(A, "naap_host_disk_read_bytes_total", {}, [0, 1500, 3000, 4500]),
        # go-livepeer capacity gauges (no GPU label)
        *series(A, "livepeer_ai_container_in_use", SDXL, [1, 1, 1, 1]),
        *series(A, "livepeer_ai_container_idle", SDXL, [3, 3, 3, 3]),
        # NaN is no catalog input (a staleness marker neither)
        (T0 + 50_000, A, "h:1", "naap_stream_output_fps", {**a1, "stream_id": "s1"}, math.nan),
        # outside the window: ignored
        (T0 + W, A, "h:1", "naap_stream_output_fps", {**a1, "stream_id": "s1"}, 1000.0),
        (T0 - 1, A, "h:1", "naap_stream_output_fps", {**a1, "stream_id": "s1"}, 1000.0),
    ]
    return rows


def scrape_rows() -> list[tuple]:
    def row(orch: str, t: int, up: int, void: int = 0) -> tuple:
        return (t, t, "http://x/metrics", orch, "h:1", up, 0.01, 100, 10, "" if up else "connect", "", "s1", "0/1",
                void, "checked", {})  # fmt: skip

    return [*(row(A, T0 + t, int(t != 30_000)) for t in OFFSETS), *(row(B, T0 + t, 1) for t in OFFSETS),
            row(B, T0 + 50_000, 0, void=1)]  # fmt: skip


@pytest.fixture
def known(warehouse: Warehouse) -> Warehouse:
    warehouse.insert_rows("samples", COLUMNS, known_rows())
    warehouse.insert_rows("scrapes", SCRAPE_ROW_COLUMNS, scrape_rows())
    snap = ("ts", "snapshot_id", "source", "block_number", "orchestrator", "service_uri", "metrics_url", "stake",
            "active", "status", "reason")  # fmt: skip
    warehouse.insert_rows("discovery_snapshots", snap, [
        (T0 - 600_000, "w1", "chain", 1, A, "https://a", "https://a/metrics", 1000.0, 1, "accepted", ""),
        (T0 + 30_000, "w2", "chain", 2, A, "https://a", "https://a/metrics", 1500.0, 1, "accepted", ""),
        (T0 + 30_000, "w2", "chain", 2, B, "https://b", "https://b/metrics", 200.0, 1, "accepted", ""),
        (T0 + 30_000, "w2", "config", 0, A, "", "https://a/metrics", 0.0, 1, "accepted", ""),
        (T0 + W, "w3", "chain", 3, A, "https://a", "https://a/metrics", 9999.0, 1, "accepted", ""),  # after the end
    ])  # fmt: skip
    return warehouse


def quantile_inclusive(values: list[float], p: float) -> float:
    """ClickHouse's quantileExactInclusive, by its definition: h = p(n − 1) + 1, x_k + (h − k)(x_{k+1} − x_k)."""
    x = sorted(values)
    h = p * (len(x) - 1) + 1
    k = int(h)
    return x[-1] if k >= len(x) else x[k - 1] + (h - k) * (x[k] - x[k - 1])


def wilson(k: float, n: float, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval, textbook form: (p + z²/2n ± z·√(p(1−p)/n + z²/4n²)) / (1 + z²/n)."""
    p = k / n
    c, m, d = p + z * z / (2 * n), z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)), 1 + z * z / n
    return max(0.0, (c - m) / d), min(1.0, (c + m) / d)


def one(rows: list[dict], **match: object) -> dict:
    found = [r for r in rows if all(r.get(k) == v for k, v in match.items())]
    assert len(found) == 1, (match, rows)
    return found[0]


def close(a: float | None, b: float, rel: float = 1e-12) -> bool:
    return a is not None and math.isclose(a, b, rel_tol=rel, abs_tol=1e-12)


@pytest.mark.parametrize("source", SOURCES)
def test_stream_metrics_by_hand(known: Warehouse, source: str) -> None:
    q = CatalogQuery(T0, T0 + W, by=("orchestrator", "gpu_id", "workflow"), source=source)
    out = catalog(known, q, targets=TARGETS)
    assert out["source"] == source and out["start"] == T0 and out["end"] == T0 + W
    m = out["metrics"]
    fps = one(m["output_fps"]["rows"], orchestrator=A, gpu_id="GPU-A1")
    a_values = [20, 21, 19, 22, 18, 20, 25, 17]
    assert fps["samples"] == 8 and fps["streams"] == 2 and fps["min"] == 17 and fps["max"] == 25
    assert fps["avg"] == sum(a_values) / 8 == 20.25
    assert fps["p50"] == 20.0 and fps["p95"] == quantile_inclusive(a_values, 0.95) == 22 + (0.95 * 7 + 1 - 7) * 3
    assert fps["compliance"] == {"target": 20.0, "ok": 5, "samples": 8, "value": 5 / 8}  # 20, 21, 22, 20, 25
    b = one(m["output_fps"]["rows"], orchestrator=B)
    assert b["compliance"] == {"target": 30.0, "ok": 3, "samples": 4, "value": 0.75} and b["p50"] == 30.0
    mig = one(m["output_fps"]["rows"], gpu_id="MIG-A1-1")
    assert mig["compliance"]["ok"] == 0 and mig["samples"] == 4
    jit = one(m["jitter"]["rows"], orchestrator=A)
    assert jit["samples"] == 4 and jit["p50"] == 0.2 + 0.5 * (0.3 - 0.2) and jit["min"] == 0.1 and jit["max"] == 0.4

    # P2FF: increases 3·4/3 = 4 (≤ 0.5 s), 8 (≤ 1 s), 12 (all). p50: rank 6 in (0.5, 1]: 0.5 + 0.5·(6 − 4)/(8 − 4).
    # p95: rank 11.4 lies past the last finite bucket: its bound, 1.0.
    p2ff = one(m["p2ff"]["rows"], orchestrator=A)
    assert close(p2ff["observations"], 12) and close(p2ff["p50"], 0.75) and p2ff["p95"] == 1.0 and p2ff["samples"] == 12
    # startup, cold: +Inf 0,0,3,6 → 6·4/3 = 8; ≤ 5 s 0,0,0,3 → 4 (zero point: first value 0). p50: rank 4 → 5.0
    st = one(m["startup"]["rows"], orchestrator=A)
    assert st["startup"] == "cold" and close(st["observations"], 8) and close(st["p50"], 5.0)

    # Failure rate: started 9·4/3 = 12; timeout 3·4/3 = 4; model_error 3·4/3 = 4 (zero point 45·3/3 = 45 s, not
    # nearer than the start); capacity 4. 12 errors / 12 starts.
    fr = one(m["failure_rate"]["rows"], orchestrator=A)
    assert close(fr["started"], 12) and close(fr["errors"], 12) and close(fr["value"], 1.0)
    assert close(fr["by_class"]["timeout"]["errors"], 4) and close(fr["by_class"]["model_error"]["rate"], 1 / 3)
    assert fr["by_class"]["gateway_reset"] == {"errors": 0.0, "rate": 0.0} and list(fr["by_class"])[0] == "timeout"
    assert all(close(x, y) for x, y in zip(fr["wilson"], wilson(12, 12)))
    sw = one(m["swap_rate"]["rows"], orchestrator=A)
    assert close(sw["swaps"], 4) and close(sw["value"], 4 / 12) and "gpu_id" not in sw
    assert all(close(x, y) for x, y in zip(sw["wilson"], wilson(4, 12)))
    # Restarts: 4 over stream time Σ(2, 2, 2, 2) × 15 s = 120 s = 1/30 h → 120 per stream-hour.
    rs = one(m["restarts"]["rows"], orchestrator=A)
    assert close(rs["restarts"], 4) and close(rs["stream_hours"], 1 / 30) and close(rs["value"], 120)
    # Bandwidth: 12 MB received and 24 MB sent in 60 s → 1.6 and 3.2 Mbit/s.
    bw = one(m["bandwidth"]["rows"], orchestrator=A)
    assert close(bw["rx_bytes"], 12e6) and close(bw["down_mbps"], 1.6) and close(bw["up_mbps"], 3.2)
    # Demand: 12 streams started, 120 stream-seconds = 2 inference minutes, 2 concurrent on average.
    s = one(m["streams"]["rows"], orchestrator=A)
    assert close(s["started"], 12) and s["stream_seconds"] == 120 and s["inference_minutes"] == 2 and s["avg_concurrent"] == 2
    mc = one(m["missing_capacity"]["rows"], orchestrator=A)
    assert close(mc["refused"], 4) and "gateway" in m["missing_capacity"]["note"]
    # Capacity: in use 1 × 4 × 15 s = 1 min, idle 3 min → 25 %.
    cap = one(m["capacity_rate"]["rows"], orchestrator=A)
    assert cap["in_use_minutes"] == 1 and cap["idle_minutes"] == 3 and cap["value"] == 0.25 and "gpu_id" not in cap
    for name, res in m.items():  # the counters here reset nowhere: every metric read where the question said
        assert res["source"] in (source, "scrapes", "discovery_snapshots", "probe_runs", "none"), name


@pytest.mark.parametrize("source", SOURCES)
def test_hardware_availability_stake_and_fees_by_hand(known: Warehouse, source: str) -> None:
    m = catalog(known, CatalogQuery(T0, T0 + W, by=("orchestrator", "gpu_id"), source=source))["metrics"]
    cue = sorted(m["cue"]["rows"], key=lambda r: r["method"])
    assert [(r["method"], r["confidence"], r["samples"]) for r in cue] == [("dcgm", "high", 4), ("proxy", "low", 4)]
    assert close(cue[0]["avg"], 0.9) and close(cue[1]["avg"], 0.65)  # never averaged together
    whole = one(m["gpu"]["rows"], gpu_id="GPU-A1", gpu_instance="")
    assert whole["utilization_ratio"]["samples"] == 4 and close(whole["utilization_ratio"]["avg"], 0.7)
    assert whole["utilization_ratio"]["min"] == 0.5 and whole["power_watts"]["avg"] == 315
    assert close(whole["energy"]["joules"], 18_000) and close(whole["energy"]["avg_watts"], 300)
    assert one(m["gpu"]["rows"], gpu_id="GPU-A1", gpu_instance="1")["memory_used_bytes"]["avg"] == 10
    host = one(m["host"]["rows"], orchestrator=A)
    # busy: user 45·4/3 = 60 s of idle 120 + iowait 0 + user 60 → 1/3; disk 4500·4/3 = 6000 B in 60 s
    assert close(host["cpu_busy_ratio"], 1 / 3) and close(host["disk_read_bytes_per_second"], 100)
    assert host["load1"]["avg"] == 2 and host["memory_available_bytes"]["min"] == 2e9
    assert host["filesystems"] == {"/": {"avail_bytes": {"samples": 4, "avg": 7e9, "min": 7e9, "max": 7e9}}}
    av = {r["orchestrator"]: r for r in m["availability"]["rows"]}
    assert (av[A]["scheduled"], av[A]["successful"], av[A]["value"]) == (4, 3, 0.75)
    assert (av[B]["scheduled"], av[B]["value"]) == (4, 1.0)  # its void slot counts neither way
    assert av[A]["wilson"] == pytest.approx(wilson(3, 4), rel=1e-12)
    stake = {r["orchestrator"]: r["stake_lpt"] for r in m["stake"]["rows"]}
    assert stake == {A: 1500.0, B: 200.0}  # the latest chain snapshot before the end; config rows carry none
    assert m["fees"]["rows"] == [{"start": T0, "end": T0 + W, "fees_eth": None}] and "no source" in m["fees"]["note"]


@pytest.mark.parametrize("source", ["raw", "rollup_1m"])
def test_grouping_filters_and_steps(known: Warehouse, source: str) -> None:
    by_region = catalog(known, CatalogQuery(T0, T0 + W, by=("region",), source=source), TARGETS, ("output_fps", "stake"))
    fps = {r["region"]: r for r in by_region["metrics"]["output_fps"]["rows"]}
    assert set(fps) == {"eu", "us"} and fps["eu"]["samples"] == 12 and fps["us"]["samples"] == 4
    assert fps["eu"]["compliance"]["target"] is None and fps["eu"]["compliance"]["ok"] == 5  # targets per workflow
    assert {r["region"]: r["stake_lpt"] for r in by_region["metrics"]["stake"]["rows"]} == {"eu": 1500.0, "us": 200.0}
    # GPU model through the MIG slice's UUID: A's slice stream counts under H100.
    models = catalog(known, CatalogQuery(T0, T0 + W, by=("gpu_model",), source=source), None, ("output_fps", "streams"))
    assert {r["gpu_model"]: r["samples"] for r in models["metrics"]["output_fps"]["rows"]} == {"H100": 12, "RTX 4090": 4}
    assert models["metrics"]["output_fps"]["rows"][0]["compliance"] is None  # no targets given
    assert one(models["metrics"]["streams"]["rows"], gpu_model="H100")["inference_minutes"] == 2
    # Filters: workflow by model_id alone, region, GPU model.
    for kw in ({"workflow": "sd15"}, {"region": "us"}, {"gpu_model": "RTX 4090"}, {"orchestrator": B}):
        got = catalog(known, CatalogQuery(T0, T0 + W, source=source, **kw), TARGETS, ("output_fps",))
        assert [(r["orchestrator"], r["samples"]) for r in got["metrics"]["output_fps"]["rows"]] == [(B, 4)], kw
    # Steps of 30 s: samples at 0 and 15 s, then 30 and 45 s. In [0, 30) the counter extrapolates to both edges
    # (0 and 15 s away): increase = 2 × the difference.
    steps = catalog(known, CatalogQuery(T0, T0 + W, step_s=30, by=("orchestrator",), orchestrator=A,
                                        source="raw" if source == "raw" else "auto"), TARGETS, ("output_fps", "bandwidth"))  # fmt: skip
    fps_steps = steps["metrics"]["output_fps"]["rows"]
    assert [(r["start"], r["end"], r["samples"]) for r in fps_steps] == [(T0, T0 + 30_000, 6), (T0 + 30_000, T0 + W, 6)]
    assert [r["rx_bytes"] for r in steps["metrics"]["bandwidth"]["rows"]] == [6e6, 6e6]
    assert steps["source"] == "raw"  # a 30 s step divides no rollup


def test_the_source_is_the_coarsest_rollup_that_divides_the_window() -> None:
    from scoring.catalog import pick_source

    H = 3_600_000
    assert pick_source(CatalogQuery(T0, T0 + 24 * H, step_s=3600)).name == "rollup_1h"
    assert pick_source(CatalogQuery(T0, T0 + H, step_s=300)).name == "rollup_5m"
    assert pick_source(CatalogQuery(T0 + 60_000, T0 + H)).name == "rollup_1m"
    assert pick_source(CatalogQuery(T0 + 1, T0 + H)).name == "raw"
    assert pick_source(CatalogQuery(T0, T0 + H, step_s=90)).name == "raw"
    with pytest.raises(ValueError, match="whole 1h"):
        CatalogQuery(T0, T0 + 60_000, source="rollup_1h")
    with pytest.raises(ValueError, match="unknown dimensions"):
        CatalogQuery(T0, T0 + H, by=("colour",))


def test_gpu_metrics_keeps_its_fields_and_extends_them(known: Warehouse) -> None:
    rows = gpu_metrics(known, GpuFilter(), T0, T0 + W, targets=TARGETS)
    assert [(r["o_wallet"], r["gpu_id"]) for r in rows] == [(A, "GPU-A1"), (A, "MIG-A1-1"), (B, "GPU-B1")]
    a = rows[0]
    assert a["gpu_model"] == "H100" and a["vram_bytes"] == 85899345920 and a["cuda_version"] == "12.4"
    assert a["region"] == "eu" and a["workflow"] == "live-video-to-video/sdxl" and a["model_id"] == "sdxl"
    assert a["streams"] == 2 and a["output_fps"]["p50"] == 20.0 and a["output_fps"]["samples"] == 8
    assert a["output_fps"]["compliance"]["value"] == 5 / 8
    assert a["jitter_coefficient"] == {"p50": 0.25, "p95": round(quantile_inclusive([0.1, 0.2, 0.3, 0.4], 0.95), 4), "samples": 4}
    assert a["gpu_utilization"] == {"avg": 0.7, "samples": 4}
    assert rows[1]["gpu_model"] == "H100" and rows[2]["gpu_utilization"] is None
    assert [r["o_wallet"] for r in gpu_metrics(known, GpuFilter(region="us"), T0, T0 + W)] == [B]


# -- Prometheus 2.42 as the oracle ---------------------------------------------------------------------------

PROMTOOL, PROMETHEUS = "/usr/bin/promtool", "/usr/bin/prometheus"


def _openmetrics(rows: list[tuple], metrics: set[str]) -> str:
    """The rows of `metrics` as an OpenMetrics body with timestamps (seconds), families left untyped."""
    lines = []
    for t, orch, inst, metric, labels, v in sorted(rows, key=lambda r: (r[3], sorted(r[4].items()), r[0])):
        if metric in metrics and not math.isnan(v):
            lbl = ",".join(f'{k}="{x}"' for k, x in sorted({**labels, "orchestrator": orch}.items()))
            lines.append(f"{metric}{{{lbl}}} {v!r} {t / 1000:.3f}")
    return "\n".join(lines) + "\n# EOF\n"


async def _prometheus_answers(tmp_path: Path, body: str, queries: dict[str, str], at_ms: int) -> dict[str, list]:
    (tmp_path / "in.om").write_text(body)
    subprocess.run([PROMTOOL, "tsdb", "create-blocks-from", "openmetrics", str(tmp_path / "in.om"), str(tmp_path / "data")],
                   check=True, capture_output=True, timeout=60)  # fmt: skip
    addr = f"127.0.0.1:{free_port()}"
    prom = subprocess.Popen([PROMETHEUS, "--config.file=/dev/null", f"--storage.tsdb.path={tmp_path / 'data'}",
                             "--storage.tsdb.retention.time=100y", f"--web.listen-address={addr}", "--log.level=warn"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)  # fmt: skip
    out: dict[str, list] = {}
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
            for _ in range(300):  # up to ~30 s for the server to open its port
                try:
                    async with http.get(f"http://{addr}/-/ready") as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                assert prom.poll() is None, "prometheus exited"
                await asyncio.sleep(0.1)
            for name, expr in queries.items():
                async with http.get(f"http://{addr}/api/v1/query", params={"query": expr, "time": f"{at_ms / 1000:.3f}"}) as r:
                    body_ = await r.json()
                assert body_["status"] == "success", body_
                out[name] = body_["data"]["result"]
    finally:
        prom.terminate()
        prom.wait(timeout=10)
    return out


@pytest.mark.timeout(120)
async def test_prometheus_agrees_on_histogram_quantiles_and_increases(known: Warehouse, tmp_path: Path) -> None:
    """The catalog's P2FF and startup quantiles, failure rate and bandwidth, from raw and from the 1 m rollup, equal
    what a stock Prometheus 2.42 answers for the same samples (loaded as TSDB blocks with promtool)."""
    assert Path(PROMETHEUS).exists() and Path(PROMTOOL).exists(), "make test installs Debian's prometheus package"
    hist = "naap_stream_prompt_to_first_frame_seconds_bucket"
    queries = {
        "p50": f"histogram_quantile(0.5, sum by (le) (increase({hist}[60s])))",
        "p95": f"histogram_quantile(0.95, sum by (le) (increase({hist}[60s])))",
        "p60": f"histogram_quantile(0.6, sum by (le) (increase({hist}[60s])))",
        "startup": "histogram_quantile(0.5, sum by (le) (increase(naap_stream_startup_seconds_bucket[60s])))",
        "failure": "sum(increase(naap_stream_errors_total[60s])) / sum(increase(naap_streams_started_total[60s]))",
        "down": "sum(rate(naap_stream_receive_bytes_total[60s])) * 8 / 1e6",
    }
    metrics = {hist, "naap_stream_startup_seconds_bucket", "naap_stream_errors_total", "naap_streams_started_total",
               "naap_stream_receive_bytes_total"}  # fmt: skip
    prom = await _prometheus_answers(tmp_path, _openmetrics(known_rows(), metrics), queries, T0 + W)
    want = {k: float(v[0]["value"][1]) for k, v in prom.items()}
    for source in ("raw", "rollup_1m"):
        q = CatalogQuery(T0, T0 + W, by=("orchestrator",), orchestrator=A, source=source)
        m = catalog(known, q, None, ("p2ff", "startup", "failure_rate", "bandwidth"))["metrics"]
        p2ff = m["p2ff"]["rows"][0]
        assert close(p2ff["p50"], want["p50"], 1e-9) and close(p2ff["p95"], want["p95"], 1e-9), (source, p2ff, want)
        assert close(m["startup"]["rows"][0]["p50"], want["startup"], 1e-9)
        assert close(m["failure_rate"]["rows"][0]["value"], want["failure"], 1e-9)
        assert close(m["bandwidth"]["rows"][0]["down_mbps"], want["down"], 1e-9)
    # p60: rank 7.2 of 12 inside (0.5, 1]: 0.5 + 0.5 · (7.2 − 4)/(8 − 4) = 0.9, by hand and by Prometheus
    from scoring.promql import histogram_quantile

    assert close(want["p60"], 0.9, 1e-9)
    assert close(histogram_quantile(0.6, {0.5: 4.0, 1.0: 8.0, math.inf: 12.0}), want["p60"], 1e-9)


def test_average_concurrency_of_an_open_step_divides_by_the_time_covered(known: Warehouse) -> None:
    # A's 2 streams over [T0, T0 + W) (120 stream-seconds). Asked over a 2 W step whose data runs to T0 + W (its
    # as-of, "now"): the average is over the W that has passed — 2 — not over the whole step (which would say 1).
    open_step = CatalogQuery(T0, T0 + 2 * W, by=("orchestrator",), source="raw", as_of_ms=T0 + W)
    s = one(catalog(known, open_step, targets=TARGETS)["metrics"]["streams"]["rows"], orchestrator=A)
    assert s["stream_seconds"] == 120 and s["avg_concurrent"] == 2
    closed = CatalogQuery(T0, T0 + 2 * W, by=("orchestrator",), source="raw")  # as-of now: long past the step
    s = one(catalog(known, closed, targets=TARGETS)["metrics"]["streams"]["rows"], orchestrator=A)
    assert s["stream_seconds"] == 120 and s["avg_concurrent"] == 1
    # the seconds covered, step by step: whole, cut by the as-of, nothing yet
    from types import SimpleNamespace

    from scoring.catalog.result import covered_seconds

    q = SimpleNamespace(q=CatalogQuery(T0, T0 + 3 * W, step_s=W // 1000, as_of_ms=T0 + W + 15_000))
    assert [covered_seconds(q, i) for i in range(3)] == [60, 15, 0]  # type: ignore[arg-type]
