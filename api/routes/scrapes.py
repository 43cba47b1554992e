"""GET /v1/scrapes/failures: an orchestrator's recent failed scrapes and their error classes (the `scrapes` table)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Response, get
from litestar.datastructures import State
from litestar.params import Parameter

from api import models as m
from api.params import eth_address
from api.query import DATA_RESPONSES, decode_cursor, encode_cursor, is_closed, respond, time_window, window

MAX_S = 7 * 86400
MAX_FAILURES = 200
# Keyset of the failures, newest first: (ts descending, then orchestrator, instance, target ascending).
_AFTER = ("(ts < fromUnixTimestamp64Milli({at:Int64}, 'UTC') OR (ts = fromUnixTimestamp64Milli({at:Int64}, 'UTC') "
          "AND (orchestrator, instance, target) > ({ao:String}, {ai:String}, {atg:String})))")  # fmt: skip


@get(
    "/v1/scrapes/failures",
    sync_to_thread=True,
    summary="Recent scrape failures",
    description=(
        "Scrapes of orchestrators' exporters over the trailing `time_range` (default 24h, at most 7d) or an interval "
        "start/end: how many were scheduled and failed, failures by error class (connect, timeout, http_5xx, "
        "identity, parse, ... — docs/scraper.md), and the failures themselves, newest first, `limit` a page (paged "
        "with `cursor`), each with its time (epoch ms), orchestrator, instance, error class, duration (s) and `void` "
        "(1: the scraper's own fault, not counted against availability). Error messages are not served: they can "
        "carry the target's answer."
    ),
    tags=["network"],
    responses=DATA_RESPONSES,
)
def scrape_failures(
    request: Request,
    state: State,
    orchestrator_id: Annotated[str | None, Parameter(description="Orchestrator eth address; omit for every orchestrator.")] = None,
    time_range: Annotated[str, Parameter(description="Trailing length (at most 7d) or an interval start/end.")] = "24h",
    cursor: Annotated[str | None, Parameter(description="`next_cursor` of the previous page.")] = None,
    limit: Annotated[int, Parameter(ge=1, le=MAX_FAILURES, description=f"Failures per page (at most {MAX_FAILURES}).")] = 20,
) -> Response[m.ScrapeFailuresResponse]:
    orch = eth_address(orchestrator_id, "orchestrator_id")
    start, end = window(time_range, MAX_S)
    after = decode_cursor(request, cursor, (int, str, str, str))  # (ts, orchestrator, instance, target)
    params: dict[str, Any] = {"a": start, "b": end, "n": limit + 1}
    cond = "ts >= fromUnixTimestamp64Milli({a:Int64}, 'UTC') AND ts < fromUnixTimestamp64Milli({b:Int64}, 'UTC')"
    if orch is not None:
        cond += " AND orchestrator = {orch:String}"
        params["orch"] = orch
    wh = state.warehouse
    by_class = {str(c): int(n) for c, n in wh.query(
        f"SELECT error_class, count() FROM scrapes WHERE {cond} AND up = 0 GROUP BY error_class ORDER BY error_class",
        params).rows}  # fmt: skip
    scheduled = int(wh.scalar(f"SELECT count() FROM scrapes WHERE {cond}", params) or 0)
    page_cond = cond
    if after is not None:
        page_cond += f" AND {_AFTER}"
        params.update(at=after[0], ao=after[1], ai=after[2], atg=after[3])
    rows = wh.query(
        f"SELECT toUnixTimestamp64Milli(ts), orchestrator, instance, target, error_class, duration_s, void FROM scrapes "
        f"WHERE {page_cond} AND up = 0 ORDER BY ts DESC, orchestrator, instance, target LIMIT {{n:UInt32}}", params,
    ).rows  # fmt: skip
    more = len(rows) > limit
    rows = rows[:limit]
    nxt = encode_cursor(request, [int(rows[-1][0]), rows[-1][1], rows[-1][2], rows[-1][3]]) if more else None
    failures = [m.ScrapeFailure(ts=int(ts), orchestrator=o, instance=i, error_class=c, duration_s=round(float(d), 4), void=int(v))
                for ts, o, i, _t, c, d, v in rows]  # fmt: skip
    body = m.ScrapeFailuresResponse(
        orchestrator=orch, time_range=time_range, window_start=start, window_end=end,
        time_window=time_window(start, end), scheduled=scheduled, failed=sum(by_class.values()),
        by_class=by_class, count=len(failures), limit=limit, next_cursor=nxt, failures=failures,
    )  # fmt: skip
    return respond(request, body, is_closed(request, end))
