"""The Litestar application: routes, OpenAPI, CORS, rate limits, caching, sign-in and JSON errors."""

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
from api.routes.datasets import datasets_handler
from api.routes.discovery import discovery_targets, http_sd
from api.routes.gpu import gpu_metrics_handler
from api.routes.health import healthz
from api.routes.metrics import service_metrics
from api.routes.pages import PAGE_ROUTES
from api.routes.prober import prober_crosscheck, prober_handler, prober_results
from api.routes.scrapes import scrape_failures
from api.routes.sla import sla_compliance
from api.routes.sla_targets import sla_targets
from api.auth import AuthConfig, AuthState
from api.middleware import ApiMiddleware, ResponseCache
from api.query import document_errors
from api.routes.auth import AUTH_EXCEPTION_HANDLERS, AUTH_ROUTES, BEARER_COMPONENTS
from api.routes.capabilities import network_capabilities
from api.routes.demand import network_demand
from api.routes.explorer import aggregated_stats, explorer_regions, pipelines, top_ai_score
from api.routes.leaderboard import leaderboard
from api.routes.private import PRIVATE_ROUTES
from api.routes.regions import regions_handler
from api.routes.select import select
from api.routes.sla_history import sla_history
from exporter.common.meta import version
from scoring.sla_config import AnyConfig
from warehouse.client import Warehouse

DESCRIPTION = (
    "Public, recomputable SLA metrics of the Livepeer AI video network: per orchestrator, GPU, workflow and "
    "region. Every score names the config version and hash it was computed with."
)


def create_app(
    warehouse: Warehouse, sla_config: AnyConfig, settings: ApiSettings | None = None, discovery: Any = None,
    prober: Any = None, catalog_source: str = "auto",
) -> Litestar:
    """`discovery`: the collector's Discovery (its `last` snapshot feeds /v1/discovery/*); None answers 503.
    `prober`: the collector's ProberStatus (prober/status.py) when it runs the prober; None: /v1/prober serves what
    the warehouse holds. `catalog_source`: auto (rollups where they answer) or raw (`naap bench api`'s baseline)."""
    settings = settings or ApiSettings()
    rate_limit = RateLimitConfig(
        rate_limit=("minute", settings.rate_limit_per_minute),
        # Anchored: an unanchored "/metrics" also matched inside "/v1/gpu/metrics" and exempted it.
        exclude=["^/healthz$", "^/docs$", "^/schema(/.*)?$", "^/metrics$", "^/static/"],  # /static: the pages' files
    )
    return Litestar(
        route_handlers=document_errors([sla_compliance, gpu_metrics_handler, healthz, docs_page, http_sd, discovery_targets, service_metrics,
                        prober_handler, prober_results, prober_crosscheck, datasets_handler,
                        sla_history, leaderboard, select, network_demand, network_capabilities, regions_handler,
                        aggregated_stats, top_ai_score, pipelines, explorer_regions, *AUTH_ROUTES, *PRIVATE_ROUTES,
                        sla_targets, scrape_failures]) + PAGE_ROUTES,
        state=State({"warehouse": warehouse, "sla_config": sla_config, "discovery": discovery, "prober": prober,
                     "api_settings": settings, "auth": AuthState(AuthConfig(**settings.auth_kwargs())),
                     "catalog_source": catalog_source}),
        exception_handlers={**EXCEPTION_HANDLERS, **AUTH_EXCEPTION_HANDLERS},  # type: ignore[arg-type]
        cors_config=CORSConfig(
            allow_origins=settings.cors_origins, allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "If-None-Match"],
            expose_headers=["ETag", "Retry-After", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "RateLimit-Policy",
                            "X-Score-Period"],
        ),
        # Rate limit first (it counts cached answers too), then strict parameters, ETags and the response cache.
        middleware=[rate_limit.middleware,
                    ApiMiddleware(ResponseCache(settings.cache_max_mb << 20) if settings.cache_max_mb else None)],
        openapi_config=OpenAPIConfig(
            title="NaaP SLA API",
            version=version(),
            description=DESCRIPTION,
            path="/schema",
            render_plugins=[JsonRenderPlugin()],
            components=BEARER_COMPONENTS,
        ),
        debug=False,
        logging_config=None,  # the process owns logging; Litestar must not reconfigure it
    )
