"""The per-GPU view /v1/gpu/metrics serves: one row per (orchestrator, GPU, workflow) with output FPS, jitter, the
GPU's identity and utilisation — the catalog's output_fps, jitter and gpu metrics joined on those dimensions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from scoring.catalog.hardware import gpu
from scoring.catalog.query import CatalogQuery
from scoring.catalog.result import Context, Targets, open_context
from scoring.catalog.streams import jitter, output_fps
from warehouse.client import Warehouse


@dataclass(frozen=True)
class GpuFilter:
    """The route's filters: orchestrator (lowercase eth address), GPU UUID, declared region, workflow (model_id or
    pipeline/model_id)."""

    orchestrator: str | None = None
    gpu_id: str | None = None
    region: str | None = None
    workflow: str | None = None


def _round(x: float | None, digits: int) -> float | None:
    return None if x is None else round(x, digits)


def gpu_metrics(wh: Warehouse, f: GpuFilter, start_ms: int, end_ms: int, targets: Targets | None = None,
                source: str = "auto") -> list[dict[str, Any]]:  # fmt: skip
    """Rows for the window ``[start_ms, end_ms)``, sorted by orchestrator, GPU, workflow; one per (orchestrator, GPU,
    workflow) that has output-FPS or jitter samples. Fields: o_wallet, gpu_id, gpu_model, vram_bytes, cuda_version,
    region (None when undeclared), workflow, pipeline, model_id, streams, output_fps {p50, p95 (3 decimals), min,
    max, avg, samples, compliance}, jitter_coefficient {p50, p95 (4 decimals), samples}, gpu_utilization {avg (4
    decimals), samples; the whole GPU}. FPS compliance is present when `targets` are given (catalog.output_fps)."""
    q = CatalogQuery(start_ms, end_ms, by=("orchestrator", "gpu_id", "workflow"), orchestrator=f.orchestrator,
                     gpu_id=f.gpu_id, workflow=f.workflow, region=f.region, source=source)  # fmt: skip
    ctx: Context = open_context(wh, q)
    rows: dict[tuple[str, str, str], dict[str, Any]] = {}
    for r in output_fps(ctx, targets).rows:
        rows.setdefault((r["orchestrator"], r["gpu_id"], r["workflow"]), {})["fps"] = r
    for r in jitter(ctx).rows:
        rows.setdefault((r["orchestrator"], r["gpu_id"], r["workflow"]), {})["jitter"] = r
    util = {(r["orchestrator"], r["gpu_id"]): r.get("utilization_ratio") for r in gpu(ctx).rows if r["gpu_instance"] == ""}
    out = []
    for (orch, gpu_id, workflow), m in sorted(rows.items()):
        fps, jit = m.get("fps"), m.get("jitter")
        pipeline, _, model_id = workflow.partition("/")
        info = ctx.lk.gpu_info.get((orch, gpu_id), {})
        u = util.get((orch, gpu_id))
        out.append({
            "o_wallet": orch,
            "gpu_id": gpu_id,
            "gpu_model": ctx.lk.models.get((orch, gpu_id)),
            "vram_bytes": int(info["vram_bytes"]) if info.get("vram_bytes", "").isdigit() else None,
            "cuda_version": info.get("cuda_version") or None,
            "region": ctx.lk.regions.get(orch) or None,
            "workflow": workflow,
            "pipeline": pipeline,
            "model_id": model_id,
            "streams": fps["streams"] if fps else 0,
            "output_fps": {
                "p50": _round(fps["p50"], 3), "p95": _round(fps["p95"], 3), "min": fps["min"], "max": fps["max"],
                "avg": fps["avg"], "samples": fps["samples"], "compliance": fps["compliance"],
            } if fps else None,
            "jitter_coefficient": {"p50": _round(jit["p50"], 4), "p95": _round(jit["p95"], 4), "samples": jit["samples"]}
            if jit else None,
            "gpu_utilization": {"avg": round(u["avg"], 4), "samples": u["samples"]} if u else None,
        })  # fmt: skip
    return out
