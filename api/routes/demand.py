"""GET /v1/network/demand: network demand per hour, day or week — streams, inference minutes (by GPU model),
capacity rate, missing capacity, stake and fees."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any, Literal

from litestar import Request, Response, get
from litestar.datastructures import State
from litestar.params import Parameter, QueryParameter

from api import models as m
from api.errors import BadRequest
from api.params import eth_address, short_text
from api.query import DATA_RESPONSES, DEFAULT_LIMIT, MAX_LIMIT, instant_ms, is_closed, norm_region, page, region
from api.query import respond, time_window
from api.routes.sla import workflow_filter
from exporter.common.clock import now_ms
from scoring.catalog import CatalogQuery, open_context
from scoring.catalog import demand as catalog_demand
from scoring.catalog.result import Context

STEP_S = {"hour": 3600, "day": 86400, "week": 7 * 86400}
DEFAULT_SPAN_S = {"hour": 86400, "day": 7 * 86400, "week": 28 * 86400}
MAX_STEPS = 1000
WEEK_ORIGIN_MS = 4 * 86_400_000  # 1970-01-05, a Monday: weeks run Monday 00:00 UTC to Monday
GATEWAY_NOTE = ("the collector observes orchestrators, not the gateways that send them work: no source attributes "
                "demand to a gateway yet, so a gateway filter matches nothing")  # fmt: skip


def _floor(ms: int, step_ms: int, origin: int) -> int:
    return (ms - origin) // step_ms * step_ms + origin


def _ceil(ms: int, step_ms: int, origin: int) -> int:
    return -((origin - ms) // step_ms) * step_ms + origin


def demand_rows(ctx: Context, wanted_region: str | None) -> list[m.DemandRow]:
    """One row per step of the question (grouped by nothing but the step; inference minutes also by GPU model).
    Average concurrent streams = stream seconds / the step's seconds up to the question's as-of (now): the current
    hour is averaged over the time that has passed (docs/metrics.md)."""
    allowed = None if wanted_region is None else {o for o, r in ctx.lk.regions.items() if norm_region(r) == wanted_region}
    by_model = Context(ctx.wh, dataclasses.replace(ctx.q, by=("gpu_model",) if allowed is None else ("orchestrator", "gpu_model")),
                       ctx.src, ctx.lk)  # fmt: skip
    by_orch = Context(ctx.wh, dataclasses.replace(ctx.q, by=() if allowed is None else ("orchestrator",)), ctx.src, ctx.lk)

    def keep(r: dict[str, Any]) -> bool:
        return allowed is None or r.get("orchestrator") in allowed

    steps = {a: {"end": b, "started": None, "secs": None, "by_model": {}, "cap_u": None, "cap_i": None, "refused": None,
                 "stake": None, "samples": 0} for a, b in ctx.q.windows()}  # fmt: skip

    def add(s: dict[str, Any], k: str, v: Any) -> None:
        if v is not None:
            s[k] = (s[k] or 0.0) + float(v)

    for r in filter(keep, catalog_demand.streams(by_model).rows):
        s = steps[r["start"]]
        add(s, "started", r.get("started"))
        add(s, "secs", r.get("stream_seconds"))
        model = r.get("gpu_model") or "unknown"
        s["by_model"][model] = s["by_model"].get(model, 0.0) + float(r.get("inference_minutes") or 0.0)
        s["samples"] += int(r.get("samples", 0))
    for r in filter(keep, catalog_demand.capacity_rate(by_orch).rows):
        s = steps[r["start"]]
        add(s, "cap_u", r.get("in_use_minutes"))
        add(s, "cap_i", r.get("idle_minutes"))
        s["samples"] += int(r.get("samples", 0))
    for r in filter(keep, catalog_demand.missing_capacity(by_orch).rows):
        add(steps[r["start"]], "refused", r.get("refused"))
    for r in filter(keep, catalog_demand.stake(by_orch).rows):
        add(steps[r["start"]], "stake", r.get("stake_lpt"))
    as_of = ctx.q.as_of_ms if ctx.q.as_of_ms is not None else now_ms()
    out = []
    for a, s in sorted(steps.items()):
        secs, u, i = s["secs"], s["cap_u"], s["cap_i"]
        covered_s = max(0, min(s["end"], as_of) - a) / 1000
        out.append(m.DemandRow(
            window_start=a, window_end=s["end"], time_window=time_window(a, s["end"]), streams_started=s["started"],
            stream_seconds=secs, inference_minutes=secs / 60 if secs is not None else None,
            inference_minutes_by_gpu_model=dict(sorted(s["by_model"].items())),
            avg_concurrent_streams=secs / covered_s if secs is not None and covered_s > 0 else None,
            capacity_rate=(u / (u + i)) if u is not None and i is not None and u + i > 0 else None,
            capacity_in_use_minutes=u, capacity_idle_minutes=i, missing_capacity=s["refused"], stake_lpt=s["stake"],
            fees_eth=None, samples=s["samples"],
        ))  # fmt: skip
    return out


@get(
    "/v1/network/demand",
    sync_to_thread=True,
    summary="Network demand",
    description=(
        "Demand on the network per `interval` (hour by default; day and week aggregate it; weeks start on Monday, "
        "UTC) from `from` to `to` (rounded out to whole intervals; default the last day of hours, week of days or "
        "four weeks): streams started, stream seconds and inference minutes (also by GPU model), average concurrent "
        "streams, capacity rate (runner containers in use / available), missing capacity (requests refused for "
        "lack of room: a lower bound), bonded stake and fees. Filters combine. Whole hours are answered from the "
        "1 h rollup. `fees_eth` is always null: no source exposes fees yet (docs/metrics.md)."
    ),
    tags=["network"],
    responses=DATA_RESPONSES,
)
def network_demand(
    request: Request,
    state: State,
    gateway: Annotated[str | None, Parameter(description="Gateway eth address (no source attributes demand to "
                                             "gateways yet: a given gateway matches nothing).")] = None,  # fmt: skip
    region: Annotated[str | None, Parameter(description="Declared region of the orchestrators (any case).", max_length=64)] = None,
    workflow: Annotated[str | None, Parameter(description="pipeline/model_id (or a model_id).")] = None,
    interval: Annotated[Literal["hour", "day", "week"], Parameter(description="Step: hour, day or week.")] = "hour",
    from_: Annotated[str | None, QueryParameter(name="from", description="Start (RFC 3339 or epoch ms).")] = None,
    to: Annotated[str | None, Parameter(description="End (RFC 3339 or epoch ms); default now.")] = None,
    cursor: Annotated[str | None, Parameter(description="`next_cursor` of the previous page.")] = None,
    limit: Annotated[int, Parameter(ge=1, le=MAX_LIMIT, description=f"Rows per page (at most {MAX_LIMIT}).")] = DEFAULT_LIMIT,
) -> Response[m.DemandResponse]:
    gw = eth_address(gateway, "gateway")
    wanted = region_filter(region)
    wf = workflow_filter(workflow)
    step = STEP_S[interval] * 1000
    origin = WEEK_ORIGIN_MS if interval == "week" else 0
    now = now_ms()
    hi = instant_ms(to, "to") if to else now
    lo = instant_ms(from_, "from") if from_ else hi - DEFAULT_SPAN_S[interval] * 1000
    if lo >= hi:
        raise BadRequest("from must be before to")
    start, end = _floor(lo, step, origin), _ceil(hi, step, origin)
    if (end - start) // step > MAX_STEPS:
        raise BadRequest(f"from and to span at most {MAX_STEPS} intervals of {'an' if interval == 'hour' else 'a'} {interval}")
    notes: list[str] = []
    if gw is not None:
        rows: list[m.DemandRow] = []
        notes.append(GATEWAY_NOTE)
        src = "none"
    else:
        q = CatalogQuery(start, end, step_s=step // 1000, by=(), workflow=wf, source=state.get("catalog_source", "auto"), as_of_ms=now)
        ctx = open_context(state.warehouse, q)
        rows = demand_rows(ctx, wanted)
        src = ctx.src.name
        notes.append(catalog_demand.MISSING_CAPACITY_NOTE)
        notes.append(catalog_demand.FEES_NOTE)
    items, nxt = page(rows, lambda r: (r.window_start,), request, cursor, limit, (int,))
    body = m.DemandResponse(
        interval=interval, gateway=gw, region=wanted, workflow=wf, window_start=start, window_end=end,
        time_window=time_window(start, end), closed=is_closed(request, end), source=src, notes=notes,
        count=len(items), limit=limit, next_cursor=nxt, rows=items,
    )  # fmt: skip
    return respond(request, body, body.closed)


def region_filter(value: str | None) -> str | None:
    return region(short_text(value, "region", 64))
