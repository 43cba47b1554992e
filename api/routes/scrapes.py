"""GET /v1/scrapes/failures: an orchestrator's recent failed scrapes and their error classes (the `scrapes` table)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Response, get
from litestar.datastructures import State
from litestar.params import Parameter

from api.params import eth_address
from api.query import DATA_RESPONSES, is_closed, respond, time_window, window

MAX_S = 7 * 86400
MAX_FAILURES = 200


@get(
    "/v1/scrapes/failures",
    sync_to_thread=True,
    summary="Recent scrape failures",
    description=(
        "Scrapes of orchestrators' exporters over the trailing `time_range` (default 24h, at most 7d) or an interval "
        "start/end: how many were scheduled and failed, failures by error class (connect, timeout, http_5xx, "
        "identity, parse, ... — docs/scraper.md), and the latest `limit` failures, newest first, each with its "
        "time (epoch ms), error class, duration (s) and `void` (1: the scraper's own fault, not counted against "
        "availability). Error messages are not served: they can carry the target's answer."
    ),
    tags=["network"],
    responses=DATA_RESPONSES,
)
def scrape_failures(
    request: Request,
    state: State,
    orchestrator_id: Annotated[str | None, Parameter(description="Orchestrator eth address; omit for every orchestrator.")] = None,
    time_range: Annotated[str, Parameter(description="Trailing length (at most 7d) or an interval start/end.")] = "24h",
    limit: Annotated[int, Parameter(ge=1, le=MAX_FAILURES, description=f"Failures listed (at most {MAX_FAILURES}).")] = 20,
) -> Response[dict[str, Any]]:
    orch = eth_address(orchestrator_id, "orchestrator_id")
    start, end = window(time_range, MAX_S)
    params: dict[str, Any] = {"a": start, "b": end, "n": limit}
    cond = "ts >= fromUnixTimestamp64Milli({a:Int64}, 'UTC') AND ts < fromUnixTimestamp64Milli({b:Int64}, 'UTC')"
    if orch is not None:
        cond += " AND orchestrator = {orch:String}"
        params["orch"] = orch
    wh = state.warehouse
    by_class = {str(c): int(n) for c, n in wh.query(
        f"SELECT error_class, count() FROM scrapes WHERE {cond} AND up = 0 GROUP BY error_class ORDER BY error_class",
        params).rows}  # fmt: skip
    scheduled = int(wh.scalar(f"SELECT count() FROM scrapes WHERE {cond}", params) or 0)
    rows = wh.query(
        f"SELECT toUnixTimestamp64Milli(ts), orchestrator, error_class, duration_s, void FROM scrapes WHERE {cond} "
        "AND up = 0 ORDER BY ts DESC, orchestrator LIMIT {n:UInt32}", params,
    ).rows  # fmt: skip
    failures = [{"ts": int(ts), "orchestrator": o, "error_class": c, "duration_s": round(float(d), 4), "void": int(v)}
                for ts, o, c, d, v in rows]  # fmt: skip
    body = {
        "orchestrator": orch, "time_range": time_range, "window_start": start, "window_end": end,
        "time_window": time_window(start, end), "scheduled": scheduled, "failed": sum(by_class.values()),
        "by_class": by_class, "count": len(failures), "limit": limit, "failures": failures,
    }  # fmt: skip
    return respond(request, body, is_closed(request, end))
