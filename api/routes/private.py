"""Private detail of one's own orchestrator, behind a Sign-In with Ethereum token (docs/api-auth.md):

    GET /v1/orchestrators/{address}/samples   the raw stored samples
    GET /v1/orchestrators/{address}/gpus      per GPU UUID (and MIG instance): identity, every NVML gauge, energy, CUE

Without a valid token: 401; with a token for another address: 403 (`api.routes.auth.require_address`). Answers are
`Cache-Control: private, no-store`: never kept by the server's cache or a shared one.
"""

from __future__ import annotations

from typing import Annotated

from litestar import Request, Response, get
from litestar.datastructures import State
from litestar.params import Parameter

from api import models as m
from api.params import short_text
from api.query import DATA_RESPONSES, DEFAULT_LIMIT, MAX_LIMIT, decode_cursor, encode_cursor, page, time_window, window
from api.reads import gpu_info, raw_samples
from api.routes.auth import BEARER_SECURITY, PRIVATE_ROUTE_RESPONSES, require_address
from scoring.catalog import CatalogQuery, open_context
from scoring.catalog import hardware as catalog_hardware
from scoring.catalog import streams as catalog_streams

PRIVATE = {"Cache-Control": "private, no-store"}
SAMPLES_MAX_S = 86400
GPUS_MAX_S = 7 * 86400
_RESPONSES = {**DATA_RESPONSES, **PRIVATE_ROUTE_RESPONSES}
_ADDRESS = Annotated[str, Parameter(description="Your orchestrator's eth address (the token's).")]


@get(
    "/v1/orchestrators/{address:str}/samples",
    sync_to_thread=True,
    summary="Your raw samples (private)",
    description=(
        "The samples stored for your orchestrator in `time_range` (at most 24 h; default 5m), oldest first, "
        "optionally one `metric` or one `gpu_id`: time (epoch ms), metric, labels, value (null for NaN/Inf) and the "
        "instance scraped. Needs `Authorization: Bearer <token>` for this address (POST /v1/auth/login)."
    ),
    tags=["private"],
    security=BEARER_SECURITY,
    responses=_RESPONSES,
)
def own_samples(
    request: Request,
    state: State,
    address: _ADDRESS,
    time_range: Annotated[str, Parameter(description="Trailing length (at most 24h) or an interval start/end.")] = "5m",
    metric: Annotated[str | None, Parameter(description="Only this metric name.", max_length=200)] = None,
    gpu_id: Annotated[str | None, Parameter(description="Only samples labelled with this GPU UUID.")] = None,
    cursor: Annotated[str | None, Parameter(description="`next_cursor` of the previous page.")] = None,
    limit: Annotated[int, Parameter(ge=1, le=MAX_LIMIT, description=f"Samples per page (at most {MAX_LIMIT}).")] = DEFAULT_LIMIT,
) -> Response[m.SamplesResponse]:
    orch = require_address(request, address)
    start, end = window(time_range, SAMPLES_MAX_S)
    after = decode_cursor(request, cursor, (int, str, str, str))  # (time, metric, instance, labels JSON)
    rows = raw_samples(state.warehouse, orch, start, end, short_text(metric, "metric", 200), short_text(gpu_id, "gpu_id"),
                       after, limit + 1)  # fmt: skip
    more = len(rows) > limit
    rows = rows[:limit]
    nxt = encode_cursor(request, rows[-1]["_key"]) if more else None
    body = m.SamplesResponse(
        orchestrator=orch, window_start=start, window_end=end, count=len(rows), limit=limit, next_cursor=nxt,
        samples=[m.RawSample(ts=r["ts"], metric=r["metric"], labels=r["labels"], value=r["value"], instance=r["instance"])
                 for r in rows],
    )  # fmt: skip
    return Response(body, headers=PRIVATE)


@get(
    "/v1/orchestrators/{address:str}/gpus",
    sync_to_thread=True,
    summary="Your GPUs in detail (private)",
    description=(
        "Per GPU UUID and MIG instance of your orchestrator over `time_range` (default 15m, at most 7 d): NVML "
        "identity (index, model, driver, CUDA, VRAM, MIG UUID), every gauge (utilisation, memory, power, "
        "temperature, clocks, encoder/decoder) with avg/min/max and samples, energy, CUE by method, and the workflows "
        "that ran on it. Needs `Authorization: Bearer <token>` for this address."
    ),
    tags=["private"],
    security=BEARER_SECURITY,
    responses=_RESPONSES,
)
def own_gpus(
    request: Request,
    state: State,
    address: _ADDRESS,
    time_range: Annotated[str, Parameter(description="Trailing length (at most 7d) or an interval start/end.")] = "15m",
    cursor: Annotated[str | None, Parameter(description="`next_cursor` of the previous page.")] = None,
    limit: Annotated[int, Parameter(ge=1, le=MAX_LIMIT, description=f"GPUs per page (at most {MAX_LIMIT}).")] = DEFAULT_LIMIT,
) -> Response[m.GpusResponse]:
    orch = require_address(request, address)
    start, end = window(time_range, GPUS_MAX_S)
    wh = state.warehouse
    ctx = open_context(wh, CatalogQuery(start, end, by=("orchestrator", "gpu_id", "gpu_instance", "workflow"),
                                        orchestrator=orch, source=state.get("catalog_source", "auto")))  # fmt: skip
    gauges = {(r["gpu_id"], r.get("gpu_instance", "")): r for r in catalog_hardware.gpu(ctx).rows}
    cue: dict[tuple[str, str], list[m.CueFigures]] = {}
    for r in catalog_hardware.cue(ctx).rows:
        cue.setdefault((r["gpu_id"], r.get("gpu_instance", "")), []).append(m.CueFigures(
            method=r["method"], confidence=r["confidence"], avg=r.get("avg"), min=r.get("min"), max=r.get("max"),
            samples=int(r.get("samples", 0))))  # fmt: skip
    workflows: dict[str, set[str]] = {}
    for r in catalog_streams.output_fps(ctx, None).rows:
        workflows.setdefault(r["gpu_id"], set()).add(r["workflow"])
    info = gpu_info(wh, orch, start, end)
    details = []
    for key in sorted(set(gauges) | set(info)):
        gpu_id, gi = key
        g, lab = gauges.get(key, {}), info.get(key, {})
        details.append(m.GpuDetail(
            gpu_id=gpu_id, gpu_instance=gi, gpu_model=lab.get("name") or ctx.lk.models.get((orch, gpu_id)) or None,
            gpu_index=lab.get("gpu_index") or None, driver_version=lab.get("driver_version") or None,
            cuda_version=lab.get("cuda_version") or None,
            vram_bytes=int(lab["vram_bytes"]) if lab.get("vram_bytes", "").isdigit() else None,
            mig_uuid=lab.get("mig_uuid") or None,
            gauges={k: m.GaugeFigures(avg=v.get("avg"), min=v.get("min"), max=v.get("max"), samples=int(v.get("samples", 0)))
                    for k, v in sorted(g.items()) if isinstance(v, dict) and "avg" in v},
            energy=m.EnergyFigures(joules=g["energy"].get("joules"), avg_watts=g["energy"].get("avg_watts"),
                                   samples=int(g["energy"].get("samples", 0))) if g.get("energy") else None,
            cue=sorted(cue.get(key, []), key=lambda c: (c.method, c.confidence)),
            workflows=sorted(workflows.get(gpu_id, set()) | (workflows.get(lab.get("mig_uuid", ""), set()) if lab.get("mig_uuid") else set())),
        ))  # fmt: skip
    items, nxt = page(details, lambda d: (d.gpu_id, d.gpu_instance), request, cursor, limit, (str, str))
    body = m.GpusResponse(orchestrator=orch, window_start=start, window_end=end, time_window=time_window(start, end),
                          count=len(items), limit=limit, next_cursor=nxt, gpus=items)  # fmt: skip
    return Response(body, headers=PRIVATE)


PRIVATE_ROUTES = [own_samples, own_gpus]
