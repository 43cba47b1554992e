"""GET /v1/gpu/metrics: per orchestrator, GPU and workflow performance over a trailing range."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import get
from litestar.datastructures import State
from litestar.params import Parameter

from api.params import duration_s, eth_address, short_text
from exporter.common.clock import now_ms
from scoring.catalog import GpuFilter, gpu_metrics


@get(
    "/v1/gpu/metrics",
    sync_to_thread=True,
    summary="Per-GPU metrics",
    description=(
        "Output FPS (p50/p95 of 5 s windows), jitter coefficient, GPU model and utilization per orchestrator, "
        "GPU and workflow over the trailing `time_range`. `region` is the region the exporter declares."
    ),
    tags=["gpu"],
)
def gpu_metrics_handler(
    state: State,
    o_wallet: Annotated[str | None, Parameter(description="Orchestrator eth address.")] = None,
    gpu_id: Annotated[str | None, Parameter(description="GPU UUID as reported by NVML.")] = None,
    region: Annotated[str | None, Parameter(description="Declared region.")] = None,
    workflow: Annotated[str | None, Parameter(description="model_id, or pipeline/model_id.")] = None,
    time_range: Annotated[str, Parameter(description="Trailing range: 90s, 15m, 1h, 7d (max 31d).")] = "15m",
) -> dict[str, Any]:
    f = GpuFilter(
        orchestrator=eth_address(o_wallet, "o_wallet"),
        gpu_id=short_text(gpu_id, "gpu_id"),
        region=short_text(region, "region", 64),
        workflow=short_text(workflow, "workflow"),
    )
    secs = duration_s(time_range, "time_range")
    end_ms = now_ms()
    rows = gpu_metrics(state.warehouse, f, end_ms - secs * 1000, end_ms)
    return {"time_range": time_range, "start": end_ms - secs * 1000, "end": end_ms, "count": len(rows), "gpus": rows}
