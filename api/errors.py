"""Every error leaves the API as JSON with a message: never a traceback, never HTML."""

from __future__ import annotations

import logging

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
