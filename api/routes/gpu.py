"""GET /v1/gpu/metrics: per orchestrator, GPU and workflow, every field of the seeds' sample response and the rest of
the metric catalog, each with its sample count, over a trailing range or an explicit window."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

from litestar import Request, Response, get
from litestar.datastructures import State
from litestar.params import Parameter

from api import models as m
from api.params import MAX_RANGE_S, eth_address, short_text
from api.query import DATA_RESPONSES, DEFAULT_LIMIT, MAX_LIMIT, is_closed, norm_region, page, region, respond
from api.query import time_window, window, workflow
from api.reads import versions
from scoring.catalog import CATALOG, CatalogQuery, open_context
from scoring.catalog import streams as catalog_streams
from scoring.catalog.query import params as catalog_params
from scoring.catalog.result import Context
from scoring.sla_config import is_v1

# The catalog metrics a GPU row carries besides output FPS and jitter (docs/metrics.md).
_EXTRA = ("p2ff", "startup", "failure_rate", "restarts", "bandwidth", "streams", "missing_capacity", "cue", "gpu",
          "availability", "swap_rate", "capacity_rate", "host")  # fmt: skip


def fps_targets(config: Any) -> Any:
    """Output-FPS targets of the SLA config, as the catalog takes them."""
    return (lambda w: config.targets(w).output_fps) if is_v1(config) else config.fps_targets


def _r(x: float | None, digits: int) -> float | None:
    return None if x is None else round(x, digits)


def _rate(row: dict[str, Any], cls: type, **extra: Any) -> Any:
    lo, hi = row.get("wilson") or (None, None)
    return cls(value=row.get("value"), lower=lo, upper=hi, samples=int(row.get("samples", 0)), **extra)


def _gauges(row: dict[str, Any]) -> dict[str, m.GaugeFigures]:
    return {k: m.GaugeFigures(avg=v.get("avg"), min=v.get("min"), max=v.get("max"), samples=int(v.get("samples", 0)))
            for k, v in sorted(row.items()) if isinstance(v, dict) and "avg" in v}  # fmt: skip


def _latency(row: dict[str, Any]) -> m.LatencyFigures:
    return m.LatencyFigures(p50_s=row.get("p50"), p95_s=row.get("p95"), observations=row.get("observations"),
                            samples=int(row.get("samples", 0)))  # fmt: skip


def _host(row: dict[str, Any]) -> m.HostFigures:
    fs = {mp: _gauges(v) for mp, v in sorted((row.get("filesystems") or {}).items())}
    rates = {k: v for k, v in sorted(row.items()) if k.endswith(("_ratio", "_per_second")) and not isinstance(v, dict)}
    return m.HostFigures(gauges=_gauges({k: v for k, v in row.items() if k != "filesystems"}), rates=rates, filesystems=fs)


def gpu_rows(ctx: Context, targets: Any, wanted_region: str | None, vers: dict[str, dict[str, str]]) -> list[m.GpuRow]:
    """One row per (orchestrator, GPU, workflow) with output-FPS or jitter samples in the question's window."""
    res = {name: (catalog_streams.output_fps(ctx, targets) if name == "output_fps" else CATALOG[name](ctx)).rows
           for name in ("output_fps", "jitter", *_EXTRA)}  # fmt: skip
    allowed = None
    if wanted_region is not None:
        allowed = {o for o, r in ctx.lk.regions.items() if norm_region(r) == wanted_region}

    def keyed(name: str, *dims: str) -> dict[tuple, dict[str, Any]]:
        return {tuple(r[d] for d in dims): r for r in res[name]}

    fps, jit = keyed("output_fps", "orchestrator", "gpu_id", "workflow"), keyed("jitter", "orchestrator", "gpu_id", "workflow")
    stream = {n: keyed(n, "orchestrator", "gpu_id", "workflow")
              for n in ("p2ff", "failure_rate", "restarts", "bandwidth", "streams", "missing_capacity")}  # fmt: skip
    startup: dict[tuple, dict[str, m.LatencyFigures]] = {}
    for r in res["startup"]:
        startup.setdefault((r["orchestrator"], r["gpu_id"], r["workflow"]), {})[r["startup"]] = _latency(r)
    whole = [r for r in res["gpu"] if r.get("gpu_instance", "") == ""]
    gpu = {(r["orchestrator"], r["gpu_id"]): r for r in whole}
    cue: dict[tuple, list[m.CueFigures]] = {}
    for r in res["cue"]:
        if r.get("gpu_instance", "") == "":
            cue.setdefault((r["orchestrator"], r["gpu_id"]), []).append(m.CueFigures(
                method=r["method"], confidence=r["confidence"], avg=r.get("avg"), min=r.get("min"), max=r.get("max"),
                samples=int(r.get("samples", 0))))  # fmt: skip
    avail, swap, host = (keyed(n, "orchestrator") for n in ("availability", "swap_rate", "host"))
    cap = keyed("capacity_rate", "orchestrator", "workflow")
    tw = time_window(ctx.q.start_ms, ctx.q.end_ms)
    out = []
    for key in sorted(set(fps) | set(jit)):
        orch, gpu_id, wf = key
        if allowed is not None and orch not in allowed:
            continue
        f, j = fps.get(key), jit.get(key)
        s = {n: stream[n].get(key) for n in stream}
        g = gpu.get((orch, gpu_id))
        util = (g or {}).get("utilization_ratio")
        info = ctx.lk.gpu_info.get((orch, gpu_id), {})
        cues = sorted(cue.get((orch, gpu_id), []), key=lambda c: (c.method != "dcgm", c.method, c.confidence))
        best = cues[0] if cues else None
        fr, p2 = s["failure_rate"], s["p2ff"]
        pipeline, _, model_id = wf.partition("/")
        catalog = m.GpuCatalog(
            p2ff=_latency(p2) if p2 else None,
            startup=startup.get(key, {}),
            failure_rate=_rate(fr, m.FailureFigures, started=fr.get("started"), errors=fr.get("errors"),
                               by_class={c: v["errors"] for c, v in sorted((fr.get("by_class") or {}).items())
                                         if v.get("errors") is not None}) if fr else None,  # fmt: skip
            restarts=m.RestartFigures(per_stream_hour=s["restarts"].get("value"), restarts=s["restarts"].get("restarts"),
                                      stream_hours=s["restarts"].get("stream_hours"),
                                      samples=int(s["restarts"].get("samples", 0))) if s["restarts"] else None,  # fmt: skip
            bandwidth=m.BandwidthFigures(down_mbps=s["bandwidth"].get("down_mbps"), up_mbps=s["bandwidth"].get("up_mbps"),
                                         samples=int(s["bandwidth"].get("samples", 0))) if s["bandwidth"] else None,  # fmt: skip
            streams=m.StreamFigures(started=s["streams"].get("started"), stream_seconds=s["streams"].get("stream_seconds"),
                                    inference_minutes=s["streams"].get("inference_minutes"),
                                    avg_concurrent=s["streams"].get("avg_concurrent"),
                                    samples=int(s["streams"].get("samples", 0))) if s["streams"] else None,  # fmt: skip
            missing_capacity=s["missing_capacity"].get("refused") if s["missing_capacity"] else None,
            cue=cues,
            gpu=_gauges(g) if g else {},
            energy=m.EnergyFigures(joules=g["energy"].get("joules"), avg_watts=g["energy"].get("avg_watts"),
                                   samples=int(g["energy"].get("samples", 0))) if g and g.get("energy") else None,  # fmt: skip
            availability=_rate(avail[(orch,)], m.AvailabilityFigures, scheduled=int(avail[(orch,)]["scheduled"]),
                               successful=int(avail[(orch,)]["successful"])) if (orch,) in avail else None,  # fmt: skip
            swap_rate=_rate(swap[(orch,)], m.SwapFigures, swaps=swap[(orch,)].get("swaps"),
                            started=swap[(orch,)].get("started")) if (orch,) in swap else None,  # fmt: skip
            capacity_rate=m.CapacityFigures(value=cap[(orch, wf)].get("value"), in_use_minutes=cap[(orch, wf)].get("in_use_minutes"),
                                            idle_minutes=cap[(orch, wf)].get("idle_minutes"),
                                            samples=int(cap[(orch, wf)].get("samples", 0))) if (orch, wf) in cap else None,  # fmt: skip
            host=_host(host[(orch,)]) if (orch,) in host else None,
        )
        comp = (f or {}).get("compliance")
        out.append(m.GpuRow(
            o_wallet=orch, orchestrator=orch,
            orchestrator_agent_version=vers.get(orch, {}).get("agent") or None,
            livepeer_version=vers.get(orch, {}).get("livepeer") or None,
            gpu_id=gpu_id, gpu_model=ctx.lk.models.get((orch, gpu_id)) or None,
            vram_bytes=int(info["vram_bytes"]) if info.get("vram_bytes", "").isdigit() else None,
            cuda_version=info.get("cuda_version") or None,
            region=norm_region(ctx.lk.regions.get(orch)), workflow=wf, pipeline=pipeline, model_id=model_id,
            time_window=tw, streams=int(f["streams"]) if f else 0,
            output_fps=m.FpsFigures(p50=_r(f["p50"], 3), p95=_r(f["p95"], 3), min=f["min"], max=f["max"], avg=f["avg"],
                                    samples=int(f["samples"]),
                                    compliance=m.FpsCompliance(target=comp["target"], ok=int(comp["ok"]),
                                                               samples=int(comp["samples"]), value=comp["value"])
                                    if comp else None) if f else None,  # fmt: skip
            jitter_coefficient=m.JitterFigures(p50=_r(j["p50"], 4), p95=_r(j["p95"], 4), samples=int(j["samples"])) if j else None,
            gpu_utilization=m.UtilizationFigures(avg=_r(util["avg"], 4), samples=int(util["samples"])) if util else None,
            metrics=m.SeedMetrics(
                output_fps=_r(f["p50"], 3) if f else None,
                prompt_to_first_frame_latency_ms=_r(p2["p50"] * 1000, 1) if p2 and p2.get("p50") is not None else None,
                jitter_coefficient=_r(j["p50"], 4) if j else None,
                failure_rate_pct=_r(fr["value"] * 100, 4) if fr and fr.get("value") is not None else None,
                cuda_utilization_efficiency_pct=_r(best.avg * 100, 2) if best and best.avg is not None else None,
                cuda_utilization_efficiency_method=best.method if best else None,
                cuda_utilization_efficiency_confidence=best.confidence if best else None,
            ),
            samples=m.SeedSamples(
                output_fps=int(f["samples"]) if f else 0,
                prompt_to_first_frame_latency_ms=int(p2.get("samples", 0)) if p2 else 0,
                jitter_coefficient=int(j["samples"]) if j else 0,
                failure_rate_pct=int(fr.get("samples", 0)) if fr else 0,
                cuda_utilization_efficiency_pct=best.samples if best else 0,
            ),
            catalog=catalog,
        ))  # fmt: skip
    return out


def open_gpu_context(wh: Any, q: CatalogQuery, wanted_region: str | None, source: str) -> Context:
    """The catalog context of `q`, with the region filter pushed into SQL when one declared label matches it."""
    ctx = open_context(wh, dataclasses.replace(q, source=source))
    if wanted_region is not None:
        raws = {r for r in ctx.lk.regions.values() if norm_region(r) == wanted_region}
        if len(raws) == 1:
            ctx.q = dataclasses.replace(ctx.q, region=raws.pop())
    return ctx


@get(
    "/v1/gpu/metrics",
    sync_to_thread=True,
    summary="Per-GPU metrics",
    description=(
        "One row per orchestrator, GPU and workflow with streams in the window: every field of the seeds' sample "
        "response (`metrics`: output_fps, prompt_to_first_frame_latency_ms, jitter_coefficient, failure_rate_pct, "
        "cuda_utilization_efficiency_pct with its method and confidence; orchestrator_agent_version, time_window, "
        "gpu_id) with each one's sample count (`samples`), and the rest of the metric catalog (`catalog`, "
        "docs/metrics.md). `time_range` is a trailing length ending now (15m) or an explicit window "
        "`start/end` (RFC 3339): a window on whole minutes is answered from the rollups, and a closed one is "
        "immutable. Filters combine (AND). `region` is the region the exporter declares, matched case-insensitively."
    ),
    tags=["gpu"],
    responses=DATA_RESPONSES,
)
def gpu_metrics_handler(
    request: Request,
    state: State,
    o_wallet: Annotated[str | None, Parameter(description="Orchestrator eth address (any case).")] = None,
    gpu_id: Annotated[str | None, Parameter(description="GPU UUID as reported by NVML.")] = None,
    region: Annotated[str | None, Parameter(description="Declared region (any case).", max_length=64)] = None,
    workflow: Annotated[str | None, Parameter(description="pipeline/model_id, or a model_id alone.")] = None,
    time_range: Annotated[str, Parameter(description="Trailing length (90s, 15m, 1h, 7d; at most 31d) or an "
                                         "interval start/end of RFC 3339 times.")] = "15m",  # fmt: skip
    cursor: Annotated[str | None, Parameter(description="`next_cursor` of the previous page.")] = None,
    limit: Annotated[int, Parameter(ge=1, le=MAX_LIMIT, description=f"Rows per page (at most {MAX_LIMIT}).")] = DEFAULT_LIMIT,
) -> Response[m.GpuMetricsResponse]:
    orch = eth_address(o_wallet, "o_wallet")
    gpu = short_text(gpu_id, "gpu_id")
    wanted = _region(region)
    wf = _workflow(workflow)
    start, end = window(time_range, MAX_RANGE_S)
    q = CatalogQuery(start, end, by=("orchestrator", "gpu_id", "workflow"), orchestrator=orch, gpu_id=gpu, workflow=wf)
    ctx = open_gpu_context(state.warehouse, q, wanted, state.get("catalog_source", "auto"))
    rows = gpu_rows(ctx, fps_targets(state.sla_config), wanted, versions(state.warehouse, ctx.src, catalog_params(ctx.q)))
    items, nxt = page(rows, lambda r: (r.orchestrator, r.gpu_id, r.workflow), request, cursor, limit, (str, str, str))
    body = m.GpuMetricsResponse(
        time_range=time_range, window_start=start, window_end=end, start=start, end=end,
        time_window=time_window(start, end), closed=is_closed(request, end), source=ctx.src.name,
        count=len(items), limit=limit, next_cursor=nxt, gpus=items,
    )  # fmt: skip
    return respond(request, body, body.closed)


def _region(value: str | None) -> str | None:
    return region(short_text(value, "region", 64))


def _workflow(value: str | None) -> str | None:
    return workflow(short_text(value, "workflow", 160))
