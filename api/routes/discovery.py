"""GET /v1/discovery/http_sd (Prometheus HTTP service discovery) and /v1/discovery/targets (with refusals).

Both read the collector's current discovery snapshot through the `discovery` entry of the app state (an
object with `last`, `walks`, `failures`, `source_failures`: discovery.service.Discovery). An API process
that runs no discovery answers 503.
"""

from __future__ import annotations

from typing import Any

from litestar import get
from litestar.datastructures import State
from litestar.exceptions import HTTPException

from api import models as m
from discovery.http_sd import http_sd_groups, source_kind


class NoDiscovery(HTTPException):
    status_code = 503


def _discovery(state: State) -> Any:
    d = state.get("discovery")
    if d is None:
        raise NoDiscovery("this API process runs no discovery; ask the collector's API (naap collect)")
    return d


@get(
    "/v1/discovery/http_sd",
    summary="Targets for Prometheus http_sd",
    description=(
        "The targets this collector scrapes, as Prometheus HTTP service discovery JSON: point a stock "
        "Prometheus's `http_sd_configs` here to scrape the same exporters. One group per target with "
        "`__scheme__`, `__metrics_path__`, `orchestrator` and `naap_source` labels. Refused targets are not listed."
    ),
    tags=["discovery"],
)
async def http_sd(state: State) -> list[m.HttpSdGroup]:
    snap = _discovery(state).last
    return [m.HttpSdGroup(targets=g["targets"], labels=g["labels"]) for g in http_sd_groups(snap.accepted)] if snap is not None else []


@get(
    "/v1/discovery/targets",
    summary="Discovered and refused targets",
    description=(
        "The latest discovery walk: accepted targets, and refused ones with the reason (loopback, private, "
        "no_service_uri, malformed_service_uri, inactive, ...), the chain block it was read at, and counts of "
        "walks and failed walks. A failed walk keeps the last good targets in use."
    ),
    tags=["discovery"],
)
async def discovery_targets(state: State) -> m.DiscoveryTargetsResponse:
    d = _discovery(state)
    snap = d.last
    # Sources by kind (chain, config, file): a targets file's name is a local path, never shown publicly.
    by_kind: dict[str, int] = {}
    for name, n in d.source_failures.items():
        by_kind[source_kind(name)] = by_kind.get(source_kind(name), 0) + n
    body: dict[str, Any] = {"walks": d.walks, "failures": d.failures, "source_failures": by_kind}
    if snap is None:
        return m.DiscoveryTargetsResponse(**body, snapshot_id=None, accepted=[], refused=[])
    blocks = {name: r.block_number for name, r in snap.results.items() if r.block_number}
    return m.DiscoveryTargetsResponse(
        **body,
        snapshot_id=snap.snapshot_id,
        ts_ms=snap.ts_ms,
        blocks=blocks,
        failed_sources=sorted({source_kind(name) for name in snap.failed}),
        accepted=[
            m.DiscoveredTarget(url=t.url, orchestrator=t.orchestrator, source=source_kind(t.source)) for t in snap.accepted
        ],
        refused=[
            m.RefusedTarget(url=r.target.url, orchestrator=r.target.orchestrator, source=source_kind(r.target.source),
                            reason=r.reason)
            for r in snap.refused
        ],
    )  # fmt: skip
