"""Known rows for the API's tests: published v1 scores, samples, scrapes and probe results whose answers are worked
out by hand in the tests (tests/test_api_v1.py, test_api_explorer.py, test_api_private.py, test_api_fuzz.py).

Four orchestrators: A declares region "EU-West" (mixed case on purpose), B "eu-west", C "us-east", D none. Scores are
published for period 1h at windows ending T0+1h and T0+2h and for 24h at T0+2h, where T0 is three whole hours before
now (so the windows are published, closed, and within the Explorer's default last 24 hours).
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

from scoring.history import SAMPLE_COLUMNS, SCRAPE_COLUMNS
from scoring.publish_v1 import SCORE_COLUMNS
from scoring.sla_config import load_config
from warehouse.client import Warehouse

H = 3_600_000
A, B, C, D = (f"0x{c * 40}" for c in "abcd")
SDXL = "live-video-to-video/streamdiffusion-sdxl"
SD15 = "live-video-to-video/streamdiffusion-sd15"
GPU_A, GPU_B, GPU_C = "GPU-aaaaaaaa-0000-0000-0000-000000000001", "GPU-bbbbbbbb-0000-0000-0000-000000000002", "GPU-cccccccc-0000-0000-0000-000000000003"
REGION_LABEL = {A: "EU-West", B: "eu-west", C: "us-east"}
FPS_A = [18.0, 19.0, 20.0, 21.0, 22.0, 18.0, 19.0, 20.0, 21.0, 22.0]  # p50 20, p95 22, 6 of 10 >= 20
JITTER_A = [0.05] * 5 + [0.15] * 5  # p50 0.1


def t0() -> int:
    return (int(time.time() * 1000) // H - 3) * H


def groups(av: float | None, lat: float | None, rel: float | None, con: float | None) -> dict[str, Any]:
    w = {"availability": 0.3, "latency": 0.15, "reliability": 0.25, "consistency": 0.3, "efficiency": 0.0}
    members = {"availability": ["availability"], "latency": ["p2ff", "startup", "e2e"], "reliability": ["failure_rate", "swap_rate"],
               "consistency": ["output_fps", "jitter"], "efficiency": ["cue"]}  # fmt: skip
    vals = {"availability": av, "latency": lat, "reliability": rel, "consistency": con, "efficiency": None}
    return {g: {"weight": w[g], "metrics": members[g], "value": v, "lower": None if v is None else round(v - 0.05, 6),
                "upper": None if v is None else min(1.0, round(v + 0.05, 6))} for g, v in vals.items()}  # fmt: skip


def metrics(ok: bool) -> dict[str, Any]:
    m = {
        "availability": {"group": "availability", "scored": True, "status": "ok" if ok else "insufficient_samples",
                         "events": 240.0, "good": 236.0, "value": 0.983333, "lower": 0.957907, "upper": 0.993513},
        "output_fps": {"group": "consistency", "scored": True, "status": "ok", "events": 720.0, "good": 700.0,
                       "value": 0.972222, "lower": 0.957, "upper": 0.98, "mean": 20.1, "min": 17.0, "max": 23.0},
        "failure_rate": {"group": "reliability", "scored": True, "status": "ok", "events": 10.0, "good": 9.0,
                         "value": 0.526316, "lower": 0.0, "upper": 1.0, "failures": 1.0, "attempts": 10.0,
                         "streams_started": 10.0, "by_class": {"timeout": 1.0}, "rate": 0.1, "rate_lower": 0.017876,
                         "rate_upper": 0.404150},
        "swap_rate": {"group": "reliability", "scored": False, "reason": "gateway-side", "status": "report_only",
                      "swaps": 0.0, "streams_started": 10.0, "target": 0.05, "rate": 0.0},
        "e2e": {"group": "latency", "scored": False, "reason": "needs the prober", "status": "no_source"},
        "cue": {"group": "efficiency", "scored": False, "reason": "self-reported", "status": "report_only", "target": 0.8,
                "by_method": {"proxy": {"samples": 60, "at_target": 0, "share_at_target": 0.0, "mean": 0.5,
                                        "lower": 0.0, "upper": 0.06}}},
        "p2ff": {"group": "latency", "scored": True, "status": "no_events", "events": 0.0, "good": 0.0, "value": None,
                 "lower": None, "upper": None, "p50_s": None, "p95_s": None},
    }
    return m


# (period, window_end offset from T0 in hours, orchestrator, workflow, score, lower, upper, groups or None)
SCORES: list[tuple] = [
    ("1h", 2, A, "", 90.0, 80.0, 95.0, (1.0, 0.8, 0.9, 0.85)),
    ("1h", 2, B, "", 92.0, 70.0, 99.0, (0.95, 0.9, 0.95, 0.9)),
    ("1h", 2, C, "", 60.0, 55.0, 65.0, (0.7, 0.5, 0.6, 0.6)),
    ("1h", 2, D, "", None, None, None, None),
    ("1h", 2, A, SDXL, 88.0, 78.0, 94.0, (1.0, 0.7, 0.9, 0.8)),
    ("1h", 2, B, SD15, 95.0, 85.0, 99.0, (0.95, 0.95, 0.95, 0.95)),
    ("1h", 2, C, SDXL, 50.0, 40.0, 60.0, (0.7, None, 0.5, 0.4)),
    ("1h", 1, A, "", 70.0, 60.0, 80.0, (0.9, 0.6, 0.7, 0.6)),
    ("1h", 1, B, "", 80.0, 75.0, 85.0, (0.9, 0.8, 0.8, 0.8)),
    ("1h", 1, A, SDXL, 72.0, 62.0, 82.0, (0.9, 0.6, 0.7, 0.7)),
    ("24h", 2, A, "", 85.0, 80.0, 90.0, (1.0, 0.8, 0.9, 0.85)),
    ("24h", 2, B, "", 91.0, 88.0, 94.0, (0.95, 0.9, 0.95, 0.9)),
    ("24h", 2, A, SDXL, 84.0, 79.0, 89.0, (1.0, 0.75, 0.9, 0.8)),
    ("24h", 2, B, SD15, 93.0, 90.0, 96.0, (0.95, 0.92, 0.96, 0.9)),
    ("24h", 2, C, SDXL, 55.0, 45.0, 65.0, (0.7, 0.4, 0.5, 0.4)),
]


def score_rows(t: int) -> list[tuple]:
    cfg = load_config()
    rows = []
    for period, off, orch, wf, score, lo, hi, g in SCORES:
        end = t + off * H
        start = end - {"1h": H, "24h": 24 * H}[period]
        ok = score is not None
        status = "ok" if ok else "insufficient_data"
        detail = {"period": period, "window_start": start, "window_end": end, "as_of": end + 31_000,
                  "config_version": cfg.version, "config_hash": cfg.hash, "workflow": wf,
                  "coverage": 1.0 if ok else 0.2, "observed_windows": 60 if ok else 12, "windows": 60,
                  "score_lower": lo, "score_upper": hi, "groups": groups(*(g or (None, None, None, None))),
                  "metrics": metrics(ok), "reasons": [] if ok else ["coverage 0.200 below the period's minimum 0.5"]}  # fmt: skip
        rows.append((end + 31_000, start, end, period, orch, wf, cfg.version, cfg.hash, score, lo, hi,
                     1.0 if ok else 0.2, status, json.dumps(detail, sort_keys=True, separators=(",", ":")), end + 31_000))  # fmt: skip
    return rows


def sample_rows(t: int, now: int) -> list[tuple]:
    """Samples of [T0, T0+10 min) every minute for A, B, C, and container gauges 5 minutes ago."""
    out: list[tuple] = []

    def add(ts: int, orch: str, metric: str, labels: dict[str, str], value: float) -> None:
        out.append((ts, orch, f"{orch[2:6]}:9935", metric, labels, float(value), ts + 500))

    for i in range(10):
        ts = t + i * 60_000
        for orch, gpu, wf, fps, jit in ((A, GPU_A, SDXL, FPS_A[i], JITTER_A[i]), (B, GPU_B, SD15, 30.0, 0.02),
                                        (C, GPU_C, SDXL, 10.0, 0.3)):  # fmt: skip
            pipeline, _, model = wf.partition("/")
            add(ts, orch, "naap_exporter_build_info", {"orchestrator": orch, "version": "0.3.1",
                                                       **({"region": REGION_LABEL[orch]} if orch in REGION_LABEL else {})}, 1)  # fmt: skip
            add(ts, orch, "livepeer_versions", {"version": "0.8.5"}, 1)
            add(ts, orch, "naap_gpu_info", {"gpu_id": gpu, "gpu_index": "0", "name": "NVIDIA GeForce RTX 4090",
                                            "vram_bytes": "25769803776", "cuda_version": "12.4", "driver_version": "550.54"}, 1)  # fmt: skip
            add(ts, orch, "naap_gpu_utilization_ratio", {"gpu_id": gpu}, 0.75)
            add(ts, orch, "naap_gpu_cue_ratio", {"gpu_id": gpu, "method": "proxy", "confidence": "low"}, 0.5)
            if orch == A:
                add(ts, orch, "naap_gpu_cue_ratio", {"gpu_id": gpu, "method": "dcgm", "confidence": "high"}, 0.8)
            lab = {"pipeline": pipeline, "model_id": model, "gpu_id": gpu}
            add(ts, orch, "naap_stream_output_fps", {**lab, "stream_id": "s1"}, fps)
            add(ts, orch, "naap_stream_jitter_ratio", {**lab, "stream_id": "s1"}, jit)
            add(ts, orch, "naap_streams_active", lab, 1)
            last = i == 9
            add(ts, orch, "naap_streams_started_total", lab, 10 if last else 0)
            add(ts, orch, "naap_stream_errors_total", {**lab, "error_class": "timeout"}, 1 if last else 0)
            for le, v in (("0.5", 3), ("1.0", 4), ("+Inf", 4)):  # P2FF: 3 events <= 0.5 s, 1 in (0.5, 1]
                add(ts, orch, "naap_stream_prompt_to_first_frame_seconds_bucket", {**lab, "le": le}, v if last else 0)
    for orch, wf, in_use, idle in ((A, SDXL, 1, 1), (B, SD15, 2, 0), (C, SDXL, 0, 0)):
        pipeline, _, model = wf.partition("/")
        for k in (6, 5):
            ts = now - k * 60_000
            add(ts, orch, "livepeer_ai_container_in_use", {"pipeline": pipeline, "model_id": model}, in_use)
            add(ts, orch, "livepeer_ai_container_idle", {"pipeline": pipeline, "model_id": model}, idle)
    return out


def scrape_rows(t: int) -> list[tuple]:
    """A: 10 scrape slots, 9 successful."""
    rows = []
    for i in range(10):
        ts = t + i * 60_000
        up = 0 if i == 4 else 1
        rows.append((ts, ts, f"http://{A[2:6]}:9935/metrics", A, f"{A[2:6]}:9935", up, 0.01, 1000, 50,
                     "ok" if up else "http_5xx", "", "s1", "0/1", 0, "checked", {}, ts + 500))  # fmt: skip
    return rows


PROBE_COLUMNS = ("probe_id", "period_id", "period_seed", "started_at", "ended_at", "orchestrator", "target", "service_uri",
                 "region", "workflow", "model_id", "outcome", "warm", "price_per_unit", "capacity_idle", "capacity_in_use",
                 "result_json", "signature", "prober_key")  # fmt: skip


def probe_rows(now: int) -> list[tuple]:
    """The prober was quoted: A sdxl 1200 wei/unit (warm), B sd15 5000 (warm)."""
    out = []
    for i, (orch, model, price) in enumerate(((A, "streamdiffusion-sdxl", 1200.0), (B, "streamdiffusion-sd15", 5000.0))):
        ts = now - 4 * 60_000
        out.append((f"p{i}", "per1", "seed", ts, ts + 20_000, orch, "https://o:8935", "https://o:8935", "eu-west",
                    "live-video-to-video", model, "ok", 1, price, 1, 1, "{}", "", ""))  # fmt: skip
    return out


def load(wh: Warehouse) -> int:
    """Insert every known row; returns T0."""
    t = t0()
    now = int(time.time() * 1000)
    wh.insert_rows("sla_scores", SCORE_COLUMNS, score_rows(t))
    samples = sample_rows(t, now)
    wh.insert_columns("samples", SAMPLE_COLUMNS, [list(c) for c in zip(*samples)])
    scrapes = scrape_rows(t)
    wh.insert_columns("scrapes", SCRAPE_COLUMNS, [list(c) for c in zip(*scrapes)])
    wh.insert_rows("probe_runs", PROBE_COLUMNS, probe_rows(now))
    return t


def approx(a: float | None, b: float, tol: float = 1e-9) -> bool:
    return a is not None and math.isclose(a, b, rel_tol=tol, abs_tol=tol)
