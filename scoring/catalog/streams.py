"""Catalog metrics of the streams an orchestrator serves (design §5): output FPS, jitter, prompt-to-first-frame,
startup, failure rate, swap rate, restarts per stream-hour, bandwidth. Definitions and units: docs/metrics.md."""

from __future__ import annotations

import math
from typing import Any

from exporter.streams.core import FAILURE_CLASSES
from scoring.catalog.counters import increases, integrals
from scoring.catalog.dims import ORCH, STREAM
from scoring.catalog.gauges import GaugeSpec, gauge_rows, workflows
from scoring.catalog.result import (
    Context,
    MetricResult,
    Targets,
    base,
    dims_of,
    grouped,
    ratio,
    step_seconds,
    target_of,
    wilson_interval,
)
from scoring.promql import histogram_quantile

FPS = "naap_stream_output_fps"
JITTER = "naap_stream_jitter_ratio"
P2FF = "naap_stream_prompt_to_first_frame_seconds_bucket"
STARTUP = "naap_stream_startup_seconds_bucket"
STARTED = "naap_streams_started_total"
ERRORS = "naap_stream_errors_total"
RESTARTS = "naap_stream_restarts_total"
SWAPS = "livepeer_orchestrator_swaps_total"
RX, TX = "naap_stream_receive_bytes_total", "naap_stream_transmit_bytes_total"
ACTIVE = "naap_streams_active"


def _stats(g: dict[str, Any]) -> dict[str, Any]:
    return {"samples": g["n"], "min": g["min"], "max": g["max"], "avg": g["sum"] / g["n"]}


def output_fps(ctx: Context, targets: Targets | None = None) -> MetricResult:
    """Output FPS of the 5 s windows (samples of naap_stream_output_fps): per group and step ``samples``, ``p50``,
    ``p95``, ``min``, ``max``, ``avg`` (frames/s), ``streams`` (distinct stream_ids) and ``compliance``: the share of
    samples at or above their workflow's target (``ok``/``samples``; ``target`` when the row is one workflow), or
    None without `targets`."""
    res = MetricResult("output_fps", "frames/s", ctx.src.name, (FPS,))
    tg: dict[str, float] = {}
    if targets is not None:
        for w in workflows(ctx.wh, ctx.q, ctx.src, FPS):
            t = target_of(targets, w)
            if t is not None:
                tg[w] = t
    spec = GaugeSpec((FPS,), STREAM, quantiles=(0.5, 0.95), compliance=targets is not None, streams=True)
    for g in gauge_rows(ctx.wh, ctx.q, ctx.src, ctx.lk, spec, tg):
        row = base(ctx, g["step"], dims_of(g, ctx, STREAM))
        row.update(_stats(g), p50=g["q0"], p95=g["q1"], streams=g["streams"])
        row["compliance"] = None
        if targets is not None:
            row["compliance"] = {"target": tg.get(g["workflow"]) if "workflow" in g else None,
                                 "ok": g["ok"], "samples": g["n"], "value": g["ok"] / g["n"]}  # fmt: skip
        res.rows.append(row)
    return res


def jitter(ctx: Context) -> MetricResult:
    """Jitter coefficient σ(fps)/μ(fps) over each stream's trailing minute (samples of naap_stream_jitter_ratio):
    ``samples``, ``p50``, ``p95``, ``min``, ``max``, ``avg`` (a ratio)."""
    res = MetricResult("jitter", "ratio", ctx.src.name, (JITTER,))
    for g in gauge_rows(ctx.wh, ctx.q, ctx.src, ctx.lk, GaugeSpec((JITTER,), STREAM, quantiles=(0.5, 0.95))):
        row = base(ctx, g["step"], dims_of(g, ctx, STREAM))
        row.update(_stats(g), p50=g["q0"], p95=g["q1"])
        res.rows.append(row)
    return res


def _histogram(ctx: Context, name: str, metric: str, extra: tuple[str, ...]) -> MetricResult:
    values, src = increases(ctx.wh, ctx.q, ctx.src, ctx.lk, (metric,), STREAM)
    res = MetricResult(name, "seconds", src.name, (metric,))
    groups: dict[tuple, dict[str, Any]] = {}
    for key, g in grouped(ctx, STREAM, values, extra + ("le",)).items():
        h = groups.setdefault(key[:-1], {**g, "buckets": {}, "n": 0})
        if g["value"] is not None:  # a bucket with fewer than 2 samples in the step has no increase
            h["buckets"][math.inf if g["le"] == "+Inf" else float(g["le"])] = g["value"]
        h["n"] += g["n"]
    for h in groups.values():
        obs = h["buckets"].get(math.inf)
        row = base(ctx, h["step"], dims_of(h, ctx, STREAM, extra))
        row.update(observations=obs, p50=histogram_quantile(0.5, h["buckets"]),
                   p95=histogram_quantile(0.95, h["buckets"]), samples=h["n"])  # fmt: skip
        res.rows.append(row)
    return res


def p2ff(ctx: Context) -> MetricResult:
    """Prompt-to-first-frame: PromQL ``histogram_quantile(q, sum by (le, dims) (increase(
    naap_stream_prompt_to_first_frame_seconds_bucket[step])))`` for q = 0.5, 0.95 (seconds; None without
    observations), ``observations`` (the +Inf bucket's increase) and ``samples`` (bucket samples read)."""
    return _histogram(ctx, "p2ff", P2FF, ())


def startup(ctx: Context) -> MetricResult:
    """Startup time, per startup kind (cold, warm, restart, unknown: always split, a cold start is not a warm
    one): as `p2ff`, over naap_stream_startup_seconds_bucket."""
    return _histogram(ctx, "startup", STARTUP, ("startup",))


def failure_rate(ctx: Context) -> MetricResult:
    """Failed / attempted inference requests: Σ increase(naap_stream_errors_total) / Σ increase(
    naap_streams_started_total), with its Wilson 95 % interval, and ``by_class`` per failure class of the taxonomy
    (errors and their share of starts). ``value`` None with no stream started."""
    values, src = increases(ctx.wh, ctx.q, ctx.src, ctx.lk, (STARTED, ERRORS), STREAM)
    res = MetricResult("failure_rate", "ratio", src.name, (ERRORS, STARTED))
    started = grouped(ctx, STREAM, [v for v in values if v.metric == STARTED])
    errors = grouped(ctx, STREAM, [v for v in values if v.metric == ERRORS], ("error_class",))
    rows: dict[tuple, dict[str, Any]] = {}
    for key, g in started.items():
        rows[key] = {"g": g, "started": g["value"], "errors": 0.0, "n": g["n"], "by_class": {}}  # None: unknown
    for key, g in errors.items():
        r = rows.setdefault(key[:-1], {"g": g, "started": 0.0, "errors": 0.0, "n": 0, "by_class": {}})
        r["errors"] += g["value"] or 0.0
        r["n"] += g["n"]
        r["by_class"][g["error_class"]] = g["value"] or 0.0
    for key in sorted(rows):
        r = rows[key]
        classes = {c: r["by_class"].get(c, 0.0) for c in (*FAILURE_CLASSES, *sorted(set(r["by_class"]) - set(FAILURE_CLASSES)))}
        row = base(ctx, r["g"]["step"], dims_of(r["g"], ctx, STREAM))
        started = r["started"] or 0.0
        row.update(started=r["started"], errors=r["errors"], value=ratio(r["errors"], started),
                   wilson=wilson_interval(r["errors"], started), samples=r["n"],
                   by_class={c: {"errors": e, "rate": ratio(e, started)} for c, e in classes.items()})  # fmt: skip
        res.rows.append(row)
    return res


def swap_rate(ctx: Context) -> MetricResult:
    """Streams where the gateway moved to another orchestrator / streams started: Σ increase(
    livepeer_orchestrator_swaps_total) / Σ increase(naap_streams_started_total), per orchestrator (go-livepeer's
    counter has no GPU or workflow), with its Wilson 95 % interval."""
    values, src = increases(ctx.wh, ctx.q, ctx.src, ctx.lk, (SWAPS, STARTED), ORCH)
    res = MetricResult("swap_rate", "ratio", src.name, (SWAPS, STARTED))
    swaps = grouped(ctx, ORCH, [v for v in values if v.metric == SWAPS])
    started = grouped(ctx, ORCH, [v for v in values if v.metric == STARTED])
    for key in sorted(set(swaps) | set(started)):
        g = swaps.get(key) or started[key]
        s, st = swaps.get(key, {}).get("value"), started.get(key, {}).get("value") or 0.0
        row = base(ctx, g["step"], dims_of(g, ctx, ORCH))
        row.update(swaps=s, started=st, value=ratio(s, st) if s is not None else None,
                   wilson=wilson_interval(s, st) if s is not None else None,
                   samples=swaps.get(key, {}).get("n", 0) + started.get(key, {}).get("n", 0))  # fmt: skip
        res.rows.append(row)
    return res


def restarts(ctx: Context) -> MetricResult:
    """Pipeline restarts per stream-hour: Σ increase(naap_stream_restarts_total) / (stream-seconds / 3600), stream-
    seconds being naap_streams_active integrated over the step (counters.integrals). ``value`` None without stream
    time."""
    values, src = increases(ctx.wh, ctx.q, ctx.src, ctx.lk, (RESTARTS,), STREAM)
    res = MetricResult("restarts", "restarts/stream-hour", src.name, (RESTARTS, ACTIVE))
    restarted = grouped(ctx, STREAM, values)
    active = grouped(ctx, STREAM, integrals(ctx.wh, ctx.q, ctx.src, ctx.lk, (ACTIVE,), STREAM))
    for key in sorted(set(restarted) | set(active)):
        g = restarted.get(key) or active[key]
        n = restarted.get(key, {}).get("value")
        hours = active.get(key, {}).get("value", 0.0) / 3600
        row = base(ctx, g["step"], dims_of(g, ctx, STREAM))
        row.update(restarts=n, stream_hours=hours, value=None if n is None else ratio(n, hours),
                   samples=restarted.get(key, {}).get("n", 0) + active.get(key, {}).get("n", 0))  # fmt: skip
        res.rows.append(row)
    return res


def bandwidth(ctx: Context) -> MetricResult:
    """Stream bandwidth: ``down_mbps`` = Σ increase(naap_stream_receive_bytes_total) × 8 / step seconds / 10⁶ (what
    the orchestrator received), ``up_mbps`` likewise from naap_stream_transmit_bytes_total (what it sent), and the
    byte increases."""
    values, src = increases(ctx.wh, ctx.q, ctx.src, ctx.lk, (RX, TX), STREAM)
    res = MetricResult("bandwidth", "Mbit/s", src.name, (RX, TX))
    rx = grouped(ctx, STREAM, [v for v in values if v.metric == RX])
    tx = grouped(ctx, STREAM, [v for v in values if v.metric == TX])
    for key in sorted(set(rx) | set(tx)):
        g = rx.get(key) or tx[key]
        secs = step_seconds(ctx, g["step"])
        rb, tb = rx.get(key, {}).get("value"), tx.get(key, {}).get("value")
        row = base(ctx, g["step"], dims_of(g, ctx, STREAM))
        row.update(rx_bytes=rb, tx_bytes=tb, down_mbps=None if rb is None else rb * 8 / secs / 1e6,
                   up_mbps=None if tb is None else tb * 8 / secs / 1e6,
                   samples=rx.get(key, {}).get("n", 0) + tx.get(key, {}).get("n", 0))  # fmt: skip
        res.rows.append(row)
    return res
