"""Every error leaves the API as JSON with a message: never a traceback. The one exception: an error on a page route
(api/routes/pages.py: `/`, `/orchestrators…`, `/network`, `/targets`), or on any path outside `/v1` that a browser
asks for as HTML, is a small HTML page with the same status and message — a person reads it, not a program."""

from __future__ import annotations

import logging

import html

from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, TooManyRequestsException, ValidationException

from warehouse.client import WarehouseError

log = logging.getLogger(__name__)


class BadRequest(HTTPException):
    status_code = 400


def _body(status: int, message: str, details: object | None = None) -> dict:
    body: dict = {"status": status, "message": message}
    if details:
        body["details"] = details
    return body


def validation_details(extra: object) -> list[dict]:
    """Litestar's validation problems as `[{"message", "key", "source"}]` (the documented ErrorDetail shape)."""
    items = extra if isinstance(extra, list) else [extra] if extra else []
    out = []
    for item in items:
        if isinstance(item, dict):
            out.append({"message": str(item.get("message", "invalid"))[:300],
                        **{k: str(getattr(item[k], "value", item[k])) for k in ("key", "source") if item.get(k) is not None}})
        else:
            out.append({"message": str(item)[:300]})
    return out


PAGE_PATHS = ("/orchestrators", "/network", "/targets")
_API_PATHS = ("/v1/", "/static/", "/docs", "/schema", "/healthz", "/metrics")
_TITLES = {400: "Not a valid request", 404: "Not found", 405: "Method not allowed", 429: "Too many requests"}


def wants_page(request: Request) -> bool:
    """Whether an error on this request is answered as an HTML page: a page route, or a browser (Accept: text/html)
    asking for a path outside the API's."""
    path = request.url.path
    if path == "/" or path.startswith(PAGE_PATHS):
        return True
    return not path.startswith(_API_PATHS) and "text/html" in request.headers.get("accept", "")


def error_page(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """A small self-contained HTML error page (no script; the pages' stylesheet) with a link to the leaderboard."""
    title = _TITLES.get(status, "Error")
    body = (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, '
            f'initial-scale=1"><title>{status} {title} · NaaP SLA</title><link rel="icon" href="data:,">'
            f'<link rel="stylesheet" href="/static/pages.css"></head><body><main><h1>{status} · {title}</h1>'
            f'<p class="error" id="error-message">{html.escape(message)}</p>'
            '<p>Pages: <a href="/">leaderboard</a> · <a href="/network">network</a> · <a href="/targets">targets</a>; '
            'one orchestrator: <code>/orchestrators/0x&lt;40 hex digits&gt;</code>. The API: <a href="/docs">/docs</a>.</p>'
            '</main></body></html>\n')  # fmt: skip
    return Response(body, status_code=status, headers=headers or {}, media_type=MediaType.HTML)


def http_exception_handler(request: Request, exc: HTTPException) -> Response:
    headers = dict(exc.headers or {})
    details = None
    message = exc.detail or "error"
    if isinstance(exc, ValidationException):
        details = validation_details(exc.extra)
        named = "; ".join(f"{d['key']}: {d['message']}" if d.get("key") else d["message"] for d in details)
        named = named or (exc.detail if exc.detail and exc.detail != "Bad Request" else "")
        message = f"invalid request parameters: {named}"[:500] if named else "invalid request parameters"
    if isinstance(exc, TooManyRequestsException):
        message = "rate limit exceeded; retry later"
        reset = headers.get("RateLimit-Reset")
        headers["Retry-After"] = str(reset) if reset else "60"
    if wants_page(request):
        return error_page(exc.status_code, message, headers)
    return Response(
        _body(exc.status_code, message, details), status_code=exc.status_code, headers=headers, media_type=MediaType.JSON
    )


def warehouse_exception_handler(request: Request, exc: WarehouseError) -> Response:
    log.error("warehouse error on %s: %s", request.url.path, exc)
    return Response(_body(503, "the warehouse is unavailable; retry later"), status_code=503, media_type=MediaType.JSON,
                    headers={"Retry-After": "5"})


def internal_exception_handler(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s", request.url.path)
    return Response(_body(500, "internal error"), status_code=500, media_type=MediaType.JSON)


EXCEPTION_HANDLERS = {
    HTTPException: http_exception_handler,
    WarehouseError: warehouse_exception_handler,
    Exception: internal_exception_handler,
}
