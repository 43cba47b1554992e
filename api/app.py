"""The Litestar application: routes, OpenAPI, CORS, rate limits and JSON errors."""

from __future__ import annotations

from typing import Any

from litestar import Litestar
from litestar.config.cors import CORSConfig
from litestar.datastructures import State
from litestar.middleware.rate_limit import RateLimitConfig
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin

from api.config import ApiSettings
from api.docs import docs_page
from api.errors import EXCEPTION_HANDLERS
from api.routes.discovery import discovery_targets, http_sd
from api.routes.gpu import gpu_metrics_handler
from api.routes.health import healthz
from api.routes.metrics import service_metrics
from api.routes.sla import sla_compliance
from exporter.common.meta import version
from scoring.sla_config import AnyConfig
from warehouse.client import Warehouse

DESCRIPTION = (
    "Public, recomputable SLA metrics of the Livepeer AI video network: per orchestrator, GPU, workflow and "
    "region. Every score names the config version and hash it was computed with."
)


def create_app(
    warehouse: Warehouse, sla_config: AnyConfig, settings: ApiSettings | None = None, discovery: Any = None
) -> Litestar:
    """`discovery`: the collector's Discovery (its `last` snapshot feeds /v1/discovery/*); None answers 503."""
    settings = settings or ApiSettings()
    rate_limit = RateLimitConfig(
        rate_limit=("minute", settings.rate_limit_per_minute),
        # Anchored: an unanchored "/metrics" also matched inside "/v1/gpu/metrics" and exempted it.
        exclude=["^/healthz$", "^/docs$", "^/schema(/.*)?$", "^/metrics$"],
    )
    return Litestar(
        route_handlers=[sla_compliance, gpu_metrics_handler, healthz, docs_page, http_sd, discovery_targets, service_metrics],
        state=State({"warehouse": warehouse, "sla_config": sla_config, "discovery": discovery}),
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        cors_config=CORSConfig(allow_origins=settings.cors_origins, allow_methods=["GET", "OPTIONS"]),
        middleware=[rate_limit.middleware],
        openapi_config=OpenAPIConfig(
            title="NaaP SLA API",
            version=version(),
            description=DESCRIPTION,
            path="/schema",
            render_plugins=[JsonRenderPlugin()],
        ),
        debug=False,
        logging_config=None,  # the process owns logging; Litestar must not reconfigure it
    )
