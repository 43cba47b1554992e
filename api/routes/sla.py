"""GET /v1/sla/compliance: published SLA scores with their subscores, inputs, intervals and config version."""

from __future__ import annotations

from typing import Annotated

from litestar import Request, Response, get
from litestar.datastructures import State
from litestar.params import Parameter

from api import models as m
from api.params import eth_address, short_text
from api.query import DATA_RESPONSES, DEFAULT_LIMIT, MAX_LIMIT, page, respond, time_window, workflow
from api.reads import ScoreFilter, latest_window_end, scores_at, score_regions, source_of
from api.scores import check_period, entry, scoring_version, window_end_param


@get(
    "/v1/sla/compliance",
    sync_to_thread=True,
    summary="SLA compliance scores",
    description=(
        "The published SLA score (0-100) per orchestrator for one window of `period`: the latest one, or the one "
        "ending at `window_end`. Each entry has its interval (`score_lower`, `score_upper`), coverage, the v1 "
        "subscores (`groups`) and every metric with its events, value and Wilson interval (`metrics`), the window, "
        "`as_of`, and the config version and hash needed to recompute it (`naap replay`). Cells with too few "
        "samples say `insufficient_data` (with `reasons`) instead of a number. Without `workflow`, the "
        "orchestrators' own scores (every workflow together); with it, that workflow's scores. A published window "
        "never changes: asked for by `window_end`, it is served immutable."
    ),
    tags=["sla"],
    responses=DATA_RESPONSES,
)
def sla_compliance(
    request: Request,
    state: State,
    orchestrator_id: Annotated[str | None, Parameter(description="Orchestrator eth address; omit to list every orchestrator.")] = None,
    period: Annotated[str, Parameter(description="Scoring period, one of the configured periods (e.g. 5m, 1h, 24h, 7d).")] = "1h",
    workflow: Annotated[str | None, Parameter(description="pipeline/model_id (or a model_id): that workflow's scores.")] = None,
    window_end: Annotated[str | None, Parameter(description="End of the published window (RFC 3339 or epoch ms); "
                                                "default the latest.")] = None,  # fmt: skip
    cursor: Annotated[str | None, Parameter(description="`next_cursor` of the previous page.")] = None,
    limit: Annotated[int, Parameter(ge=1, le=MAX_LIMIT, description=f"Entries per page (at most {MAX_LIMIT}).")] = DEFAULT_LIMIT,
) -> Response[m.ComplianceResponse]:
    config = state.sla_config
    check_period(config, period)
    orch = eth_address(orchestrator_id, "orchestrator_id")
    wf = workflow_filter(workflow)
    wh = state.warehouse
    latest = latest_window_end(wh, period, config.version)
    asked = window_end_param(window_end)
    end = asked if asked is not None else latest
    rows = scores_at(wh, period, config.version, end, ScoreFilter(orch, wf)) if end is not None else []
    regions = score_regions(wh, end, end - rows[0]["window_start"], source_of(state)) if rows and end is not None else {}
    entries = [entry(r, config, regions) for r in rows]
    items, nxt = page(entries, lambda e: (e.orchestrator, e.workflow), request, cursor, limit, (str, str))
    start = end - config.periods[period] * 1000 if end is not None else None
    closed = asked is not None and latest is not None and asked <= latest
    body = m.ComplianceResponse(
        period=period, config_version=config.version, config_hash=config.hash, scoring_version=scoring_version(config),
        window_start=start, window_end=end, time_window=time_window(start, end) if end is not None and start is not None else None,
        closed=closed, count=len(items), limit=limit, next_cursor=nxt, orchestrators=items,
    )  # fmt: skip
    return respond(request, body, closed)


def workflow_filter(value: str | None) -> str | None:
    return workflow(short_text(value, "workflow", 160))
