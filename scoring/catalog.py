"""The metric catalog as SQL over the raw sample log: per orchestrator, GPU, workflow and region.

First cut: output FPS (p50/p95), jitter, GPU identity and utilization, over a trailing time range.
Region is what each exporter declares in its build info (self-declared, labelled as such in the API).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from warehouse.client import Warehouse


@dataclass(frozen=True)
class GpuFilter:
    orchestrator: str | None = None
    gpu_id: str | None = None
    region: str | None = None
    workflow: str | None = None  # model_id, or pipeline/model_id


_WINDOW = "ts >= fromUnixTimestamp64Milli({start:Int64}, 'UTC') AND ts < fromUnixTimestamp64Milli({end:Int64}, 'UTC')"

_REGIONS_SQL = f"""
SELECT orchestrator, argMax(labels['region'], ts) AS region
FROM samples
WHERE metric = 'naap_exporter_build_info' AND {_WINDOW} AND orchestrator != ''
GROUP BY orchestrator
"""

_STREAMS_SQL = f"""
SELECT orchestrator, labels['gpu_id'] AS gpu_id, labels['pipeline'] AS pipeline, labels['model_id'] AS model_id,
       countIf(metric = 'naap_stream_output_fps') AS fps_samples,
       quantileExactInclusiveIf(0.5)(value, metric = 'naap_stream_output_fps') AS fps_p50,
       quantileExactInclusiveIf(0.95)(value, metric = 'naap_stream_output_fps') AS fps_p95,
       countIf(metric = 'naap_stream_jitter_ratio') AS jitter_samples,
       quantileExactInclusiveIf(0.5)(value, metric = 'naap_stream_jitter_ratio') AS jitter_p50,
       uniqExactIf(labels['stream_id'], metric = 'naap_stream_output_fps') AS streams
FROM samples
WHERE metric IN ('naap_stream_output_fps', 'naap_stream_jitter_ratio') AND {_WINDOW} AND orchestrator != ''
  AND isFinite(value)
  {{filters}}
GROUP BY orchestrator, gpu_id, pipeline, model_id
ORDER BY orchestrator, gpu_id, pipeline, model_id
"""

_GPUS_SQL = f"""
SELECT orchestrator, labels['gpu_id'] AS gpu_id,
       argMaxIf(labels['name'], ts, metric = 'naap_gpu_info') AS gpu_model,
       argMaxIf(labels['vram_bytes'], ts, metric = 'naap_gpu_info') AS vram_bytes,
       argMaxIf(labels['cuda_version'], ts, metric = 'naap_gpu_info') AS cuda_version,
       avgIf(value, metric = 'naap_gpu_utilization_ratio') AS utilization_avg,
       countIf(metric = 'naap_gpu_utilization_ratio') AS utilization_samples
FROM samples
WHERE metric IN ('naap_gpu_info', 'naap_gpu_utilization_ratio') AND {_WINDOW} AND orchestrator != ''
  {{filters}}
GROUP BY orchestrator, gpu_id
"""


def _filters(f: GpuFilter, params: dict[str, Any]) -> str:
    clauses = []
    if f.orchestrator:
        clauses.append("orchestrator = {orch:String}")
        params["orch"] = f.orchestrator
    if f.gpu_id:
        clauses.append("labels['gpu_id'] = {gpu:String}")
        params["gpu"] = f.gpu_id
    return "".join(f" AND {c}" for c in clauses)


def _workflow_matches(workflow: str | None, pipeline: str, model_id: str) -> bool:
    if not workflow:
        return True
    return workflow in (model_id, f"{pipeline}/{model_id}")


def gpu_metrics(wh: Warehouse, f: GpuFilter, start_ms: int, end_ms: int) -> list[dict[str, Any]]:
    """One row per (orchestrator, GPU, workflow) with FPS, jitter and GPU details over the range."""
    params: dict[str, Any] = {"start": start_ms, "end": end_ms}
    regions = {r[0]: r[1] for r in wh.query(_REGIONS_SQL, params).rows}
    where = _filters(f, params)
    gpus = {(r[0], r[1]): r for r in wh.query(_GPUS_SQL.replace("{filters}", where), params).rows}
    out = []
    for row in wh.query(_STREAMS_SQL.replace("{filters}", where), params).rows:
        orch, gpu_id, pipeline, model_id, n_fps, p50, p95, n_jit, jit, streams = row
        region = regions.get(orch, "")
        if f.region and region != f.region:
            continue
        if not _workflow_matches(f.workflow, pipeline, model_id):
            continue
        g = gpus.get((orch, gpu_id))
        out.append(
            {
                "o_wallet": orch,
                "gpu_id": gpu_id,
                "gpu_model": g[2] if g else None,
                "vram_bytes": int(g[3]) if g and g[3].isdigit() else None,
                "cuda_version": (g[4] or None) if g else None,
                "region": region or None,
                "workflow": f"{pipeline}/{model_id}",
                "pipeline": pipeline,
                "model_id": model_id,
                "streams": int(streams),
                "output_fps": {"p50": round(p50, 3), "p95": round(p95, 3), "samples": int(n_fps)} if n_fps else None,
                "jitter_coefficient": {"p50": round(jit, 4), "samples": int(n_jit)} if n_jit else None,
                "gpu_utilization": (
                    {"avg": round(g[5], 4), "samples": int(g[6])} if g and g[6] else None
                ),
            }
        )
    return out
