"""GET /metrics: the service's own health in Prometheus format (today: the scraper's telemetry)."""

from __future__ import annotations

from litestar import Response, get
from litestar.datastructures import State
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

_EMPTY = CollectorRegistry()


@get(
    "/metrics",
    sync_to_thread=False,
    summary="Service metrics",
    description="The collector's own health in Prometheus text format: scraper targets, scrapes by outcome, "
    "samples/s, scrape durations, overruns, warehouse queue depth and dropped batches.",
    tags=["health"],
)
def service_metrics(state: State) -> Response[bytes]:
    registry = state.get("metrics_registry") or _EMPTY
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
