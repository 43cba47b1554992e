"""GET /v1/select: the seeds' milestone-2 selection query — the best orchestrators for a job now, and why."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Response, get
from litestar.datastructures import State
from litestar.params import Parameter

from api import models as m
from api.errors import BadRequest
from api.params import short_text
from api.query import DATA_RESPONSES, MAX_LIMIT, iso, norm_region, page, region, respond
from api.reads import ScoreFilter, capabilities, latest_window_end, scores_at, score_regions, source_of
from api.routes.sla import workflow_filter
from api.scores import INSUFFICIENT, check_period, default_period, rank_key
from exporter.common.clock import now_ms

OFFER_WINDOW_MS = 15 * 60_000  # capacity and quotes older than this say nothing about "now"


@get(
    "/v1/select",
    sync_to_thread=True,
    summary="Select orchestrators for a job",
    description=(
        "The best orchestrators for a job of `workflow` now: those with an ok published score for the workflow in "
        "the latest window of `period` (default 1h), in `region` if given, with `score_lower` at least `min_score`, "
        "a known price at most `max_price` if given, and idle capacity unless the latest gauge says none; ranked on "
        "`score_lower`. Each comes with `why`; `excluded` counts the others by reason. Capacity, warmth and price "
        "are the latest of the last 15 minutes (go-livepeer's container gauges relayed by the exporter, the "
        "prober's quotes)."
    ),
    tags=["sla"],
    responses=DATA_RESPONSES,
)
def select(
    request: Request,
    state: State,
    workflow: Annotated[str, Parameter(description="pipeline/model_id (or a model_id) the job needs.")],
    region: Annotated[str | None, Parameter(description="Declared region (any case).", max_length=64)] = None,
    min_score: Annotated[float | None, Parameter(ge=0, le=100, description="Lowest acceptable score_lower (0-100).")] = None,
    max_price: Annotated[float | None, Parameter(ge=0, description="Highest acceptable price per unit (wei), as the "
                                                 "prober was quoted.")] = None,  # fmt: skip
    period: Annotated[str | None, Parameter(description="Scoring period; default 1h.")] = None,
    cursor: Annotated[str | None, Parameter(description="`next_cursor` of the previous page.")] = None,
    limit: Annotated[int, Parameter(ge=1, le=MAX_LIMIT, description=f"Orchestrators per page (at most {MAX_LIMIT}).")] = 5,
) -> Response[m.SelectResponse]:
    config = state.sla_config
    p = check_period(config, period) if period else default_period(config, "1h")
    wf = workflow_filter(workflow)
    if wf is None:
        raise BadRequest("workflow is required: pipeline/model_id or a model_id")
    wanted = region_filter(region)
    wh = state.warehouse
    end = latest_window_end(wh, p, config.version)
    rows = scores_at(wh, p, config.version, end, ScoreFilter(None, wf)) if end is not None else []
    regions = score_regions(wh, end, end - rows[0]["window_start"], source_of(state)) if rows and end is not None else {}
    now = now_ms()
    offers: dict[tuple[str, str], dict[str, Any]] = capabilities(wh, now - OFFER_WINDOW_MS, now, None) if rows else {}
    excluded: dict[str, int] = {}

    def drop(reason: str) -> None:
        excluded[reason] = excluded.get(reason, 0) + 1

    chosen = []
    for r in sorted(rows, key=rank_key):
        reg = norm_region(regions.get(r["orchestrator"]))
        offer = offers.get((r["orchestrator"], r["workflow"]), {})
        idle = offer.get("idle", offer.get("probe_idle"))
        in_use = offer.get("in_use", offer.get("probe_in_use"))
        price = offer.get("price")
        warm = offer.get("probe_warm")
        if warm is None and ("idle" in offer or "in_use" in offer):
            warm = (offer.get("idle", 0) + offer.get("in_use", 0)) > 0
        lo = r["score_lower"] if r["score_lower"] is not None else r["score"]
        if r["status"] == INSUFFICIENT or r["score"] is None:
            drop("insufficient_data")
        elif wanted is not None and reg != wanted:
            drop("region")
        elif min_score is not None and (lo is None or lo < min_score):
            drop("below_min_score")
        elif max_price is not None and price is None:
            drop("price_unknown")
        elif max_price is not None and price > max_price:
            drop("over_max_price")
        elif idle is not None and idle <= 0 and (in_use or 0) > 0:
            drop("no_idle_capacity")
        else:
            why = [f"score {r['score']} (interval {r['score_lower']}-{r['score_upper']}) for {r['workflow']} over the "
                   f"{p} window ending {iso(r['window_end'])}"]  # fmt: skip
            if min_score is not None:
                why.append(f"score_lower {lo} >= min_score {min_score:g}")
            if wanted is not None:
                why.append(f"declares region {reg}")
            if price is not None:
                why.append(f"quoted {price:g} wei per unit" + (f" <= max_price {max_price:g}" if max_price is not None else ""))
            if warm is not None:
                why.append("model warm" if warm else "model cold: the first job pays its startup")
            if idle is not None:
                why.append(f"{idle} idle runner container(s)")
            chosen.append(m.Selection(
                orchestrator=r["orchestrator"], workflow=r["workflow"], region=reg, score=r["score"],
                score_lower=r["score_lower"], score_upper=r["score_upper"],
                price_per_unit=float(price) if price is not None else None, warm=warm,
                capacity_idle=int(idle) if idle is not None else None, why=why,
            ))  # fmt: skip
    for i, s in enumerate(chosen, 1):
        s.why.append(f"rank {i} of {len(chosen)} eligible on score_lower")
    items, nxt = page(list(enumerate(chosen)), lambda ie: (ie[0],), request, cursor, limit, (int,))
    body = m.SelectResponse(
        workflow=wf, region=wanted, min_score=min_score, max_price=max_price, period=p, window_end=end,
        considered=len(rows), excluded=dict(sorted(excluded.items())), count=len(items), limit=limit, next_cursor=nxt,
        orchestrators=[s for _, s in items],
    )  # fmt: skip
    return respond(request, body, False)


def region_filter(value: str | None) -> str | None:
    return region(short_text(value, "region", 64))
