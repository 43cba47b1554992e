"""What the /v1 routes share beyond single parameters (api/params.py): time windows, cursors, regions, workflows,
caching decisions and the errors every data route documents.

- A **window** is half-open, ``[start, end)`` in epoch ms. `time_range` is either a trailing length ("15m": the last
  15 minutes, ending now) or an ISO 8601 interval of two RFC 3339 times ("2026-01-01T00:00:00Z/2026-01-01T01:00:00Z"),
  the form every response's `time_window` has, so a window read once can be asked for again.
- A **cursor** is opaque to clients: base64url of the sort key of the last item served and a fingerprint of the
  query it belongs to (a cursor of another query is a 400), sealed with an HMAC-SHA256 under a key drawn per process:
  only cursors this process issued are read (an altered, hand-made or pre-restart cursor is a 400), and the key is
  still checked element by element against the route's sort key (its length and each element's type).
- A **closed** window can no longer change: its answer is sent `Cache-Control: public, max-age=31536000, immutable`;
  an open one gets a short max-age (api.cache_open_max_age_s).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
import re
import secrets
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Sequence, TypeVar

from litestar import Request, Response
from litestar.openapi.datastructures import ResponseSpec

from api.errors import BadRequest
from api.models import ErrorBody
from exporter.common.clock import now_ms

T = TypeVar("T")

MAX_LIMIT = 1000
DEFAULT_LIMIT = 100
IMMUTABLE = "public, max-age=31536000, immutable"

_TRAILING = re.compile(r"^(\d{1,6})([smhdw])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_REGION = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_WORKFLOW = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:+/-]{0,159}$")
_EPOCH_MS = re.compile(r"^\d{1,15}$")


def iso(ms: int) -> str:
    """RFC 3339 UTC with milliseconds only when there are some: 2026-01-01T00:00:00Z."""
    dt = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    text = dt.strftime("%Y-%m-%dT%H:%M:%S")
    return text + (f".{ms % 1000:03d}Z" if ms % 1000 else "Z")


def time_window(start_ms: int, end_ms: int) -> str:
    return f"{iso(start_ms)}/{iso(end_ms)}"


def instant_ms(value: str, name: str) -> int:
    """An RFC 3339 time with a zone (Z or ±hh:mm) or an integer of epoch milliseconds; no surrounding spaces (a value
    is echoed as given, so " 1h" is refused rather than answered as 1h)."""
    v = value
    if _EPOCH_MS.fullmatch(v):
        return int(v)
    try:
        dt = datetime.fromisoformat(v)
    except ValueError:
        raise BadRequest(f"{name} must be an RFC 3339 time such as 2026-01-01T00:00:00Z or epoch milliseconds; "
                         f"got {value[:40]!r}") from None  # fmt: skip
    if dt.tzinfo is None:
        raise BadRequest(f"{name} needs a time zone (Z or ±hh:mm); got {value[:40]!r}")
    ms = int(dt.timestamp() * 1000)
    if not 0 <= ms < 10**15:
        raise BadRequest(f"{name} is out of range")
    return ms


def window(time_range: str, max_s: int, now: int | None = None, name: str = "time_range") -> tuple[int, int]:
    """``(start_ms, end_ms)`` of a trailing length ("15m") or an ISO 8601 interval ("start/end")."""
    now = now_ms() if now is None else now
    text = time_range
    m = _TRAILING.fullmatch(text)
    if m:
        secs = int(m.group(1)) * _UNIT_S[m.group(2)]
        if not 1 <= secs <= max_s:
            raise BadRequest(f"{name} must be between 1s and {_span(max_s)}; got {time_range[:40]!r}")
        return now - secs * 1000, now
    if "/" in text:
        a, _, b = text.partition("/")
        start, end = instant_ms(a, f"{name} (start)"), instant_ms(b, f"{name} (end)")
        if end <= start:
            raise BadRequest(f"{name} must end after it starts")
        if end - start > max_s * 1000:
            raise BadRequest(f"{name} spans at most {_span(max_s)}")
        return start, end
    raise BadRequest(f"{name} must look like 90s, 15m, 1h, 7d or an interval start/end of RFC 3339 times; "
                     f"got {time_range[:40]!r}")  # fmt: skip


def _span(seconds: int) -> str:
    return f"{seconds // 86400}d" if seconds % 86400 == 0 else f"{seconds}s"


def region(value: str | None, name: str = "region") -> str | None:
    """A region filter, normalised to lower case."""
    if value is None or value == "":
        return None
    v = value.lower()
    if not _REGION.fullmatch(v):
        raise BadRequest(f"{name} must be letters, digits, '.', '_' or '-' (at most 64); got {value[:40]!r}")
    return v


def norm_region(raw: str | None) -> str | None:
    """A declared region label as served: lower case, None when empty."""
    v = (raw or "").strip().lower()
    return v or None


def workflow(value: str | None, name: str = "workflow") -> str | None:
    """A workflow filter: "pipeline/model_id" or a model_id alone."""
    if value is None or value == "":
        return None
    if not _WORKFLOW.fullmatch(value):
        raise BadRequest(f"{name} must be pipeline/model_id or a model_id (letters, digits and ._:+/-); got {value[:40]!r}")
    return value


def workflow_matches(wf: str, wanted: str | None) -> bool:
    """`wf` ("pipeline/model_id") is the workflow asked for, given as pipeline/model_id or model_id alone."""
    return wanted is None or wf == wanted or wf.partition("/")[2] == wanted


# ------------------------------------------------------------------------------------------------ cursors


def _fingerprint(request: Request) -> str:
    items = sorted((k, v) for k, v in request.query_params.multi_items() if k not in ("cursor", "limit"))
    return hashlib.sha256(repr((request.url.path, items)).encode()).hexdigest()[:16]


# The sealing key: per process, never stored; cursors do not outlive the process that issued them.
_CURSOR_KEY = secrets.token_bytes(32)
_MAC_BYTES = 16
_INVALID_CURSOR = "cursor is not valid: pass the next_cursor of a previous page unchanged"
_INT64 = (-(2**63), 2**63 - 1)

KeyTypes = Sequence[type | tuple[type, ...]]
"""The shape of a route's sort key: one entry per element, the type(s) it may have (str, int, float, type(None))."""


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(raw: bytes) -> bytes:
    return hmac.new(_CURSOR_KEY, raw, hashlib.sha256).digest()[:_MAC_BYTES]


def seal_cursor(payload: dict[str, Any]) -> str:
    """A cursor of `payload` ({"k": key, "f": fingerprint}) as this process issues it: base64url(JSON).base64url(MAC)."""
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return f"{_b64(raw)}.{_b64(_mac(raw))}"


def encode_cursor(request: Request, key: Sequence[Any]) -> str:
    return seal_cursor({"k": list(key), "f": _fingerprint(request)})


def _key_fits(key: Any, types: KeyTypes) -> bool:
    """`key` is a list of exactly len(types) JSON scalars, each of its declared type (a bool is no int; floats are
    finite; ints fit Int64, as the warehouse's keyset parameters need)."""
    if not isinstance(key, list) or len(key) != len(types):
        return False
    for v, t in zip(key, types):
        if isinstance(v, bool) or not isinstance(v, t):
            return False
        if isinstance(v, float) and not math.isfinite(v):
            return False
        if isinstance(v, int) and not _INT64[0] <= v <= _INT64[1]:
            return False
    return True


def decode_cursor(request: Request, cursor: str | None, types: KeyTypes) -> list[Any] | None:
    """The key after which the page starts, or None for the first page. 400 for a cursor this process did not issue
    (its MAC does not match), whose key is not of the route's shape `types`, or that belongs to another query."""
    if not cursor:
        return None
    try:
        if len(cursor) > 2048:
            raise ValueError
        body, dot, mac = cursor.partition(".")
        raw = _unb64(body)
        if not dot or not hmac.compare_digest(_unb64(mac), _mac(raw)):
            raise ValueError
        data = json.loads(raw)
        key, fp = data["k"], data["f"]
        if not _key_fits(key, types) or not isinstance(fp, str):
            raise ValueError
    except (ValueError, KeyError, TypeError, RecursionError, binascii.Error):
        raise BadRequest(_INVALID_CURSOR) from None
    if fp != _fingerprint(request):
        raise BadRequest("cursor belongs to another query: keep the other parameters as they were")
    return key


def page(items: Sequence[T], key: Callable[[T], Sequence[Any]], request: Request, cursor: str | None,
         limit: int, types: KeyTypes) -> tuple[list[T], str | None]:  # fmt: skip
    """Keyset pagination over `items` sorted by `key`: the items after the cursor's key, at most `limit`, and the
    next cursor (None on the last page). `key` values must be JSON scalars (str, int, float, None sorts first) of the
    shape `types` (a cursor whose key is of another shape is a 400, never a comparison of unlike types)."""
    after = decode_cursor(request, cursor, types)
    ordered = sorted(items, key=lambda x: _sortable(key(x)))
    if after is not None:
        a = _sortable(after)
        ordered = [x for x in ordered if _sortable(key(x)) > a]
    out = ordered[:limit]
    nxt = encode_cursor(request, list(key(out[-1]))) if len(ordered) > limit and out else None
    return out, nxt


def _sortable(key: Iterable[Any]) -> tuple:
    return tuple((0, "") if v is None else (1, v) for v in key)


# ------------------------------------------------------------------------------------------------ caching


def cache_headers(request: Request, closed: bool) -> dict[str, str]:
    """Cache-Control for a public answer: immutable when its window is closed, a short max-age otherwise."""
    if closed:
        return {"Cache-Control": IMMUTABLE}
    settings = request.app.state.get("api_settings")
    max_age = int(getattr(settings, "cache_open_max_age_s", 10))
    return {"Cache-Control": f"public, max-age={max_age}" if max_age > 0 else "no-cache"}


def respond(request: Request, body: T, closed: bool) -> Response[T]:
    return Response(body, headers=cache_headers(request, closed))


def closed_after_ms(request: Request) -> int:
    """How long after its end a catalog window can no longer change (late samples are accepted until then)."""
    settings = request.app.state.get("api_settings")
    return int(getattr(settings, "closed_after_s", 3900) * 1000)


def is_closed(request: Request, end_ms: int, now: int | None = None) -> bool:
    now = now_ms() if now is None else now
    return end_ms <= now - closed_after_ms(request)


# ------------------------------------------------------------------------------------------------ OpenAPI


def _spec(text: str) -> ResponseSpec:
    return ResponseSpec(ErrorBody, description=text, generate_examples=False)


ERRORS_400 = _spec("A parameter is invalid or unknown: `message` names it, `details` lists each problem.")
ERRORS_404 = _spec("No such route or resource.")
ERRORS_429 = _spec("Rate limit exceeded: retry after the `Retry-After` header's seconds.")
ERRORS_503 = _spec("The warehouse is unavailable or a query ran past the server-side time limit: retry later.")
DATA_RESPONSES: dict[int, ResponseSpec] = {
    304: ResponseSpec(None, description="Not modified: the `If-None-Match` ETag is current."),
    400: ERRORS_400,
    429: ERRORS_429,
    503: ERRORS_503,
}
"""`responses=` of every public data route: the real error body for each status it can answer."""

_PLAIN_PATHS = ("/healthz", "/metrics", "/docs", "/schema")


def document_errors(handlers: list[Any]) -> list[Any]:
    """Every public route's OpenAPI names the real error body (ErrorBody) for 400, 429 and 503 unless it documents
    its own: Litestar would otherwise document its internal `{status_code, detail, extra}` shape, which the API never
    sends. The service's own routes (health, metrics, docs, schema) are left as they are."""
    for h in handlers:
        if any(p.startswith(_PLAIN_PATHS) for p in getattr(h, "paths", ())):
            continue
        responses = dict(getattr(h, "responses", None) or {})
        for status, spec in ((400, ERRORS_400), (429, ERRORS_429), (503, ERRORS_503)):
            responses.setdefault(status, spec)
        h.responses = responses
    return handlers
