"""A synthetic, deterministic history of a fleet's raw rows (scrapes and samples, with their arrival times), for the
replay test and `naap bench replay`: hours of data written in seconds, with the faults a replay must survive.

Profiles, cycled over the orchestrators: steady; flaky (a fifth of scrapes fail, stream errors); restarting (the
exporter restarts every 40 minutes: every counter starts again from zero); late (every tenth scrape's FPS samples
arrive 150 s late, back-dated into windows already scored); idle (the SDK is there, no streams). Rows carry an
explicit ingested_at, so a whole history can be inserted up front and scored "as of" any moment of it.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Iterator

from warehouse.client import Warehouse

PROFILES = ("steady", "flaky", "restarting", "late", "idle")
WORKFLOWS = (("live-video-to-video", "streamdiffusion-sdxl", 20.0), ("live-video-to-video", "streamdiffusion-sd15", 30.0))
P2FF_LE = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, math.inf)
STARTUP_LE = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, math.inf)
SAMPLE_COLUMNS = ("ts", "orchestrator", "instance", "metric", "labels", "value", "ingested_at")
SCRAPE_COLUMNS = ("ts", "scheduled_ts", "target", "orchestrator", "instance", "up", "duration_s", "bytes", "samples",
                  "error_class", "error", "scraper", "shard", "void", "identity", "dropped", "ingested_at")  # fmt: skip


def _le(b: float) -> str:
    return "+Inf" if math.isinf(b) else repr(b)


@dataclass
class _Counters:
    started: float = 0.0
    errors: float = 0.0
    p2ff: list[float] | None = None
    startup: list[float] | None = None
    swaps: float = 0.0

    def reset(self) -> None:
        self.started = self.errors = self.swaps = 0.0
        self.p2ff = [0.0] * len(P2FF_LE)
        self.startup = [0.0] * len(STARTUP_LE)


def orchestrators(n: int, seed: int = 0) -> list[tuple[str, str]]:
    """`n` (address, profile) pairs, deterministic for the seed."""
    rng = random.Random(seed)
    return [("0x" + "".join(rng.choice("0123456789abcdef") for _ in range(40)), PROFILES[i % len(PROFILES)]) for i in range(n)]


def generate(start_ms: int, hours: float, n: int = 5, interval_s: int = 10, seed: int = 0,
             streams_per_workflow: int = 2) -> Iterator[tuple[list[tuple], list[tuple]]]:  # fmt: skip
    """Yield (scrape rows, sample rows) one hour at a time (SCRAPE_COLUMNS, SAMPLE_COLUMNS order)."""
    rng = random.Random(seed)
    fleet = orchestrators(n, seed)
    counters = {addr: _Counters() for addr, _ in fleet}
    for c in counters.values():
        c.reset()
    step = interval_s * 1000
    end = start_ms + int(hours * 3_600_000)
    scrapes: list[tuple] = []
    samples: list[tuple] = []
    next_flush = start_ms + 3_600_000
    for ts in range(start_ms, end, step):
        for addr, profile in fleet:
            inst = f"{addr[2:10]}:9935"
            arrive = ts + 1000
            if profile == "flaky" and rng.random() < 0.2:
                scrapes.append((ts, ts, f"http://{inst}/metrics", addr, inst, 0, 0.05, 0, 0, "http_5xx", "500", "s1", "0/1",
                                0, "", {}, arrive))  # fmt: skip
                continue
            c = counters[addr]
            if profile == "restarting" and (ts - start_ms) % 2_400_000 == 0 and ts > start_ms:
                c.reset()
            rows = samples
            rows.append((ts, addr, inst, "naap_exporter_build_info", {"orchestrator": addr, "region": "test"}, 1.0, arrive))
            for pipeline, model, target in WORKFLOWS:
                lab = {"pipeline": pipeline, "model_id": model, "gpu_id": f"GPU-{addr[2:6]}"}
                active = 0 if profile == "idle" else streams_per_workflow
                rows.append((ts, addr, inst, "naap_streams_active", lab, float(active), arrive))
                c.started += 1 if active and rng.random() < 0.05 else 0
                c.errors += 1 if profile == "flaky" and active and rng.random() < 0.03 else 0
                rows.append((ts, addr, inst, "naap_streams_started_total", lab, c.started, arrive))
                if c.errors:
                    rows.append((ts, addr, inst, "naap_stream_errors_total", {**lab, "error_class": "timeout"}, c.errors, arrive))
                for s in range(active):
                    late = profile == "late" and rng.random() < 0.1
                    fps = max(0.0, target * (0.9 if profile == "flaky" else 1.0) * (1 + rng.gauss(0, 0.05)))
                    sl = {**lab, "stream_id": f"s{s}"}
                    rows.append((ts, addr, inst, "naap_stream_output_fps", sl, round(fps, 3), arrive + (150_000 if late else 0)))
                    rows.append((ts, addr, inst, "naap_stream_jitter_ratio", sl, round(abs(rng.gauss(0.04, 0.03)), 4), arrive))
                if active and rng.random() < 0.2:  # a prompt update's P2FF and, now and then, a cold start
                    p = rng.choice((0.2, 0.4, 0.8, 1.5))
                    c.p2ff = [v + (1 if p <= le else 0) for v, le in zip(c.p2ff or [], P2FF_LE)]
                if active and rng.random() < 0.05:
                    st = rng.choice((1.5, 3.0, 7.0))
                    c.startup = [v + (1 if st <= le else 0) for v, le in zip(c.startup or [], STARTUP_LE)]
                for le, v in zip(P2FF_LE, c.p2ff or []):
                    rows.append((ts, addr, inst, "naap_stream_prompt_to_first_frame_seconds_bucket", {**lab, "le": _le(le)}, v, arrive))
                for le, v in zip(STARTUP_LE, c.startup or []):
                    rows.append((ts, addr, inst, "naap_stream_startup_seconds_bucket", {**lab, "startup": "cold", "le": _le(le)}, v, arrive))
            rows.append((ts, addr, inst, "livepeer_orchestrator_swaps_total", {}, c.swaps, arrive))
            scrapes.append((ts, ts, f"http://{inst}/metrics", addr, inst, 1, 0.01, 10_000, 50, "ok", "", "s1", "0/1", 0,
                            "checked", {}, arrive))  # fmt: skip
        if ts + step >= next_flush or ts + step >= end:
            yield scrapes, samples
            scrapes, samples = [], []
            next_flush += 3_600_000


def insert_history(wh: Warehouse, start_ms: int, hours: float, n: int = 5, interval_s: int = 10, seed: int = 0) -> int:
    """Insert a generated history; returns the number of sample rows."""
    total = 0
    for scrapes, samples in generate(start_ms, hours, n, interval_s, seed):
        if scrapes:
            wh.insert_columns("scrapes", SCRAPE_COLUMNS, [list(c) for c in zip(*scrapes)])
        if samples:
            wh.insert_columns("samples", SAMPLE_COLUMNS, [list(c) for c in zip(*samples)])
        total += len(samples)
    return total
