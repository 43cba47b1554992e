"""GET /v1/sla/history: published scores over time."""

from __future__ import annotations

from typing import Annotated

from litestar import Request, Response, get
from litestar.datastructures import State
from litestar.params import Parameter, QueryParameter

from api import models as m
from api.errors import BadRequest
from api.params import MAX_RANGE_S, eth_address
from api.query import DATA_RESPONSES, DEFAULT_LIMIT, MAX_LIMIT, decode_cursor, encode_cursor, instant_ms, respond
from api.reads import ScoreFilter, latest_window_end, score_history, score_regions, source_of
from api.routes.sla import workflow_filter
from api.scores import check_period, entry, scoring_version
from exporter.common.clock import now_ms


@get(
    "/v1/sla/history",
    sync_to_thread=True,
    summary="SLA score history",
    description=(
        "Every published score of `period` whose window ends between `from` and `to` (both included; default the "
        "last 24 h, at most 31 days), oldest first: the same entries as /v1/sla/compliance. Without `workflow`, the "
        "orchestrators' own scores; with it, that workflow's. Once every window up to `to` is published the answer "
        "is immutable."
    ),
    tags=["sla"],
    responses=DATA_RESPONSES,
)
def sla_history(
    request: Request,
    state: State,
    orchestrator_id: Annotated[str | None, Parameter(description="Orchestrator eth address; omit for every orchestrator.")] = None,
    workflow: Annotated[str | None, Parameter(description="pipeline/model_id (or a model_id): that workflow's scores.")] = None,
    period: Annotated[str, Parameter(description="Scoring period, one of the configured periods.")] = "1h",
    from_: Annotated[str | None, QueryParameter(name="from", description="First window end (RFC 3339 or epoch ms); "
                                           "default `to` minus 24 h.")] = None,  # fmt: skip
    to: Annotated[str | None, Parameter(description="Last window end (RFC 3339 or epoch ms); default now.")] = None,
    cursor: Annotated[str | None, Parameter(description="`next_cursor` of the previous page.")] = None,
    limit: Annotated[int, Parameter(ge=1, le=MAX_LIMIT, description=f"Entries per page (at most {MAX_LIMIT}).")] = DEFAULT_LIMIT,
) -> Response[m.HistoryResponse]:
    config = state.sla_config
    check_period(config, period)
    orch = eth_address(orchestrator_id, "orchestrator_id")
    wf = workflow_filter(workflow)
    hi = instant_ms(to, "to") if to else now_ms()
    lo = instant_ms(from_, "from") if from_ else hi - 86_400_000
    if lo > hi:
        raise BadRequest("from must not be after to")
    if hi - lo > MAX_RANGE_S * 1000:
        raise BadRequest(f"from and to span at most {MAX_RANGE_S // 86400} days")
    after = decode_cursor(request, cursor, (int, str, str))  # (window_end, orchestrator, workflow)
    wh = state.warehouse
    rows = score_history(wh, period, config.version, lo, hi, ScoreFilter(orch, wf),
                         tuple(after) if after else None, limit + 1)  # type: ignore[arg-type]  # fmt: skip
    more = len(rows) > limit
    rows = rows[:limit]
    regions = score_regions(wh, rows[-1]["window_end"], rows[-1]["window_end"] - rows[0]["window_start"], source_of(state)) if rows else {}
    nxt = encode_cursor(request, [rows[-1]["window_end"], rows[-1]["orchestrator"], rows[-1]["workflow"]]) if more else None
    latest = latest_window_end(wh, period, config.version)
    closed = latest is not None and latest >= hi
    body = m.HistoryResponse(
        period=period, config_version=config.version, config_hash=config.hash, scoring_version=scoring_version(config),
        window_start=lo, window_end=hi, closed=closed, count=len(rows), limit=limit, next_cursor=nxt,
        scores=[entry(r, config, regions) for r in rows],
    )  # fmt: skip
    return respond(request, body, closed)
