"""GET /v1/leaderboard: orchestrators ranked on the lower bound of their published score."""

from __future__ import annotations

from typing import Annotated

from litestar import Request, Response, get
from litestar.datastructures import State
from litestar.params import Parameter

from api import models as m
from api.params import short_text
from api.query import DATA_RESPONSES, DEFAULT_LIMIT, MAX_LIMIT, norm_region, page, region, respond, time_window
from api.reads import ScoreFilter, latest_window_end, scores_at, score_regions, source_of
from api.routes.sla import workflow_filter
from api.scores import INSUFFICIENT, answering_period, check_period, default_period, group_values, rank_key, window_end_param


@get(
    "/v1/leaderboard",
    sync_to_thread=True,
    summary="Leaderboard",
    description=(
        "Orchestrators ranked on `score_lower`, the score with every rate at its Wilson lower bound: an orchestrator "
        "with few events cannot outrank a proven one by luck. Each entry carries its interval and group values. "
        "Scores that are `insufficient_data` are listed after the ranked ones, without a rank. Without `workflow`, "
        "the orchestrators' own scores; with it, that workflow's. Without `period`, the longest period of at most a day "
        "whose latest published window has a score with data (24h, else 1h, else 5m: a fresh deployment publishes "
        "its short periods first), echoed as `period` (pass it back to page); with `window_end` and no `period`, "
        "24h. The window is the latest published, or the one ending at `window_end` (immutable then)."
    ),
    tags=["sla"],
    responses=DATA_RESPONSES,
)
def leaderboard(
    request: Request,
    state: State,
    workflow: Annotated[str | None, Parameter(description="pipeline/model_id (or a model_id).")] = None,
    region: Annotated[str | None, Parameter(description="Declared region (any case).", max_length=64)] = None,
    period: Annotated[str | None, Parameter(description="Scoring period; default the longest period of at most a day "
                                            "whose latest window has a score with data (24h, else 1h, else 5m), "
                                            "echoed in the answer.")] = None,  # fmt: skip
    window_end: Annotated[str | None, Parameter(description="End of the published window (RFC 3339 or epoch ms); "
                                                "default the latest.")] = None,  # fmt: skip
    cursor: Annotated[str | None, Parameter(description="`next_cursor` of the previous page.")] = None,
    limit: Annotated[int, Parameter(ge=1, le=MAX_LIMIT, description=f"Entries per page (at most {MAX_LIMIT}).")] = DEFAULT_LIMIT,
) -> Response[m.LeaderboardResponse]:
    config = state.sla_config
    wf = workflow_filter(workflow)
    wanted = _region(region)
    wh = state.warehouse
    asked = window_end_param(window_end)
    if period or asked is not None:
        p = check_period(config, period) if period else default_period(config, "24h")
        latest = latest_window_end(wh, p, config.version)
        end = asked if asked is not None else latest
        rows = scores_at(wh, p, config.version, end, ScoreFilter(None, wf)) if end is not None else []
    else:  # no period asked: the longest one that answers (api.scores.answering_period)
        p, latest, rows = answering_period(wh, config, ScoreFilter(None, wf))
        end = latest
    regions = score_regions(wh, end, end - rows[0]["window_start"], source_of(state)) if rows and end is not None else {}
    if wanted is not None:
        rows = [r for r in rows if norm_region(regions.get(r["orchestrator"])) == wanted]
    rows.sort(key=rank_key)
    entries = []
    rank = 0
    for r in rows:
        ok = r["status"] != INSUFFICIENT and r["score"] is not None
        rank += 1 if ok else 0
        entries.append(m.LeaderboardEntry(
            rank=rank if ok else None, orchestrator=r["orchestrator"], workflow=r["workflow"],
            region=norm_region(regions.get(r["orchestrator"])), score=r["score"], score_lower=r["score_lower"],
            score_upper=r["score_upper"], coverage=r["coverage"], status=r["status"], insufficient_data=not ok,
            groups=group_values(r),
        ))  # fmt: skip
    # Pages follow the ranking: the key is the entry's position, fixed for one window.
    indexed = list(enumerate(entries))
    items, nxt = page(indexed, lambda ie: (ie[0],), request, cursor, limit, (int,))
    start = end - config.periods[p] * 1000 if end is not None else None
    closed = asked is not None and latest is not None and asked <= latest
    body = m.LeaderboardResponse(
        period=p, workflow=wf or "", region=wanted, config_version=config.version, config_hash=config.hash,
        window_start=start, window_end=end,
        time_window=time_window(start, end) if start is not None and end is not None else None, closed=closed,
        count=len(items), limit=limit, next_cursor=nxt, entries=[e for _, e in items],
    )  # fmt: skip
    return respond(request, body, closed)


def _region(value: str | None) -> str | None:
    return region(short_text(value, "region", 64))
