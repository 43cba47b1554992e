"""Liveness and readiness."""

from __future__ import annotations

from typing import Any

from litestar import Response, get
from litestar.datastructures import State

from exporter.common.meta import version


@get("/healthz", sync_to_thread=True, summary="Health", tags=["health"])
def healthz(state: State) -> Response[dict[str, Any]]:
    ok = state.warehouse.ping()
    body = {"status": "ok" if ok else "degraded", "warehouse": "ok" if ok else "unreachable", "version": version()}
    return Response(body, status_code=200 if ok else 503)
