"""GET /v1/network/capabilities: per orchestrator and model, warm or cold, capacity idle and in use, GPU models and
the price where the prober was quoted one."""

from __future__ import annotations

from typing import Annotated

from litestar import Request, Response, get
from litestar.datastructures import State
from litestar.params import Parameter

from api import models as m
from api.params import eth_address, short_text
from api.query import DATA_RESPONSES, DEFAULT_LIMIT, MAX_LIMIT, is_closed, norm_region, page, region, respond
from api.query import window, workflow_matches
from api.reads import capabilities, gpu_models, lookups, source_of
from api.routes.sla import workflow_filter

MAX_S = 7 * 86400
DAY_MS = 86_400_000


@get(
    "/v1/network/capabilities",
    sync_to_thread=True,
    summary="Network capabilities",
    description=(
        "What each orchestrator offers, per workflow (pipeline/model_id): whether the model is warm, its runner "
        "containers idle and in use (the latest of go-livepeer's `livepeer_ai_container_*` gauges the exporter "
        "relays, else the prober's last quote), the orchestrator's GPUs by model, and the price per unit the prober "
        "was last quoted, over the trailing `time_range` (default 15m) or an explicit window; regions and GPU models "
        "are those declared in the last day at least."
    ),
    tags=["network"],
    responses=DATA_RESPONSES,
)
def network_capabilities(
    request: Request,
    state: State,
    orchestrator_id: Annotated[str | None, Parameter(description="Orchestrator eth address.")] = None,
    workflow: Annotated[str | None, Parameter(description="pipeline/model_id (or a model_id).")] = None,
    region: Annotated[str | None, Parameter(description="Declared region (any case).", max_length=64)] = None,
    time_range: Annotated[str, Parameter(description="Trailing length (at most 7d) or an interval start/end.")] = "15m",
    cursor: Annotated[str | None, Parameter(description="`next_cursor` of the previous page.")] = None,
    limit: Annotated[int, Parameter(ge=1, le=MAX_LIMIT, description=f"Rows per page (at most {MAX_LIMIT}).")] = DEFAULT_LIMIT,
) -> Response[m.CapabilitiesResponse]:
    orch = eth_address(orchestrator_id, "orchestrator_id")
    wf = workflow_filter(workflow)
    wanted = region_of(region)
    start, end = window(time_range, MAX_S)
    wh = state.warehouse
    offers = capabilities(wh, start, end, orch)
    lk = lookups(wh, min(start, end - DAY_MS), end, source_of(state))  # what an orchestrator declared in the last day at least
    regions, gpus = lk.regions, gpu_models(lk)
    rows = []
    for (o, w), e in offers.items():
        reg = norm_region(regions.get(o))
        if not workflow_matches(w, wf) or (wanted is not None and reg != wanted):
            continue
        idle, in_use = e.get("idle", e.get("probe_idle")), e.get("in_use", e.get("probe_in_use"))
        warm = e.get("probe_warm")
        if warm is None and ("idle" in e or "in_use" in e):
            warm = (e.get("idle", 0) + e.get("in_use", 0)) > 0
        pipeline, _, model_id = w.partition("/")
        rows.append(m.Capability(
            orchestrator=o, workflow=w, pipeline=pipeline, model_id=model_id, region=reg, warm=warm,
            capacity_idle=int(idle) if idle is not None else None, capacity_in_use=int(in_use) if in_use is not None else None,
            gpu_models=dict(sorted(gpus.get(o, {}).items())),
            price_per_unit=float(e["price"]) if e.get("price") is not None else None,
            last_seen=e["last_seen"] or None, sources=sorted(e["sources"]),
        ))  # fmt: skip
    items, nxt = page(rows, lambda c: (c.orchestrator, c.workflow), request, cursor, limit, (str, str))
    body = m.CapabilitiesResponse(time_range=time_range, window_start=start, window_end=end, count=len(items),
                                  limit=limit, next_cursor=nxt, capabilities=items)  # fmt: skip
    return respond(request, body, is_closed(request, end))


def region_of(value: str | None) -> str | None:
    return region(short_text(value, "region", 64))
