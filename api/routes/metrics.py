"""GET /metrics: the service's own health in Prometheus format (today: the scraper's telemetry)."""

from __future__ import annotations

from litestar import Response, get
from litestar.datastructures import State
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

_EMPTY = CollectorRegistry()


@get(
    "/metrics",
    sync_to_thread=True,  # collecting may read published scores from the warehouse (cached)
    summary="Service metrics",
    description="The collector's own health in Prometheus text format (scraper targets, scrapes by outcome, "
    "samples/s, scrape durations, overruns, warehouse queue depth and dropped batches) and, with a v1 SLA config, "
    "the latest published scores and the error budgets (naap_sla_*, naap_slo_*; docs/slo.md).",
    tags=["health"],
)
def service_metrics(state: State) -> Response[bytes]:
    registry = state.get("metrics_registry") or _EMPTY
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
