"""GET /v1/regions: the regions orchestrators declare, normalised to lower case."""

from __future__ import annotations

from typing import Annotated

from litestar import Request, Response, get
from litestar.datastructures import State
from litestar.params import Parameter

from api import models as m
from api.query import DATA_RESPONSES, DEFAULT_LIMIT, MAX_LIMIT, is_closed, norm_region, page, respond, window
from api.reads import lookups, source_of

MAX_S = 31 * 86400


@get(
    "/v1/regions",
    sync_to_thread=True,
    summary="Regions",
    description=(
        "The regions orchestrators' exporters declare (the `region` label of their build info), lower case, with "
        "how many orchestrators declare each, over the hours covering `time_range` (default 24h). These are the "
        "values every `region` filter and field uses."
    ),
    tags=["network"],
    responses=DATA_RESPONSES,
)
def regions_handler(
    request: Request,
    state: State,
    time_range: Annotated[str, Parameter(description="Trailing length (at most 31d) or an interval start/end.")] = "24h",
    cursor: Annotated[str | None, Parameter(description="`next_cursor` of the previous page.")] = None,
    limit: Annotated[int, Parameter(ge=1, le=MAX_LIMIT, description=f"Regions per page (at most {MAX_LIMIT}).")] = DEFAULT_LIMIT,
) -> Response[m.RegionsResponse]:
    start, end = window(time_range, MAX_S)
    counts: dict[str, int] = {}
    for raw in lookups(state.warehouse, start, end, source_of(state)).regions.values():
        r = norm_region(raw)
        if r is not None:
            counts[r] = counts.get(r, 0) + 1
    entries = [m.RegionEntry(region=r, orchestrators=n) for r, n in counts.items()]
    items, nxt = page(entries, lambda e: (e.region,), request, cursor, limit, (str,))
    body = m.RegionsResponse(time_range=time_range, count=len(items), limit=limit, next_cursor=nxt, regions=items)
    return respond(request, body, is_closed(request, end))
