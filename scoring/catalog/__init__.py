"""The metric catalog (design §5, docs/metrics.md): every metric by orchestrator, GPU (UUID and model), workflow,
region and time, each with its sample count — from the rollups where the window allows, from the raw log otherwise.

    q = CatalogQuery(start_ms, end_ms, step_s=3600, by=("orchestrator", "workflow"))
    catalog(warehouse, q, targets=lambda w: config_v1.targets(w).output_fps)

Modules: query (the question, the source it reads), dims (dimensions as SQL and Python, the region and GPU-model
lookups), gauges and counters (the two readers, raw and rollup), streams / hardware / demand (the metrics),
gpu_view (/v1/gpu/metrics), result (what a metric returns).
"""

from __future__ import annotations

from typing import Any, Callable

from scoring.catalog import demand, hardware, probes, streams
from scoring.catalog.gpu_view import GpuFilter, gpu_metrics
from scoring.catalog.query import DIMENSIONS, CatalogQuery, pick_source
from scoring.catalog.result import Context, MetricResult, Targets, open_context
from warehouse.client import Warehouse

__all__ = ["CATALOG", "DIMENSIONS", "CatalogQuery", "Context", "GpuFilter", "MetricResult", "Targets", "catalog",
           "gpu_metrics", "open_context", "pick_source"]  # fmt: skip

# name -> the function computing it from a Context (output_fps also takes the targets).
CATALOG: dict[str, Callable[[Context], MetricResult]] = {
    "output_fps": streams.output_fps,
    "jitter": streams.jitter,
    "p2ff": streams.p2ff,
    "startup": streams.startup,
    "failure_rate": streams.failure_rate,
    "swap_rate": streams.swap_rate,
    "restarts": streams.restarts,
    "bandwidth": streams.bandwidth,
    "cue": hardware.cue,
    "gpu": hardware.gpu,
    "host": hardware.host,
    "availability": demand.availability,
    "streams": demand.streams,
    "capacity_rate": demand.capacity_rate,
    "missing_capacity": demand.missing_capacity,
    "stake": demand.stake,
    "fees": demand.fees,
    # measured by the prober (origin "probe"), beside the self-reported ones above
    "probe_startup": probes.probe_startup,
    "probe_p2ff": probes.probe_p2ff,
    "probe_e2e": probes.probe_e2e,
    "probe_output_fps": probes.probe_output_fps,
    "probe_failure_rate": probes.probe_failure_rate,
    "probe_swap_rate": probes.probe_swap_rate,
}


def catalog(wh: Warehouse, q: CatalogQuery, targets: Targets | None = None,
            metrics: tuple[str, ...] | None = None) -> dict[str, Any]:  # fmt: skip
    """Every metric of `CATALOG` (or those named in `metrics`) for `q`: {"start", "end" (ms), "step_s", "by",
    "source" (what the question reads: raw or a rollup; probe metrics read probe_runs), "metrics": {name:
    MetricResult.as_dict()}} — each metric says its `origin`: "self-reported" or "probe". `targets` are
    the output-FPS targets by workflow (see Targets); without them FPS compliance is None."""
    names = metrics or tuple(CATALOG)
    unknown = [n for n in names if n not in CATALOG]
    if unknown:
        raise ValueError(f"unknown catalog metrics {unknown}; known: {', '.join(CATALOG)}")
    ctx = open_context(wh, q)
    probed = probes.probe_metrics(ctx) if any(n in probes.NAMES for n in names) else {}  # one query for all six
    out: dict[str, Any] = {}
    for name in names:
        res = streams.output_fps(ctx, targets) if name == "output_fps" else probed.get(name) or CATALOG[name](ctx)
        out[name] = res.as_dict()
    return {"start": q.start_ms, "end": q.end_ms, "step_s": q.step_s, "by": list(q.by), "source": ctx.src.name,
            "metrics": out}  # fmt: skip
