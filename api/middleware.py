"""Two things every data route shares, done once in front of the handlers:

1. **Unknown query parameters are a 400** naming them (a typo such as `?orchestator=` must not silently return
   everything). The parameters a route accepts are read from its handler's signature, so they are the ones its
   OpenAPI documents. So is a parameter given twice (`limit=1&limit=2`: which one was meant?) and, on `/v1/`
   routes, a parameter given empty (`o_wallet=` is not "no filter": leave it out). The Explorer's `/api/*` routes
   keep the leaderboard API's leniency (an empty parameter is no filter there). `/healthz`, `/metrics`, `/docs` and
   `/schema` are left alone.
2. **Conditional requests and a response cache.** A 200 answer to a GET gets a strong `ETag` (sha256 of the body);
   `If-None-Match` with a current ETag answers 304 without a body. Public answers (`Cache-Control: public, ...`, set
   by the route: `immutable` for a closed window, a short `max-age` for an open one) of requests without an
   `Authorization` header are kept in a bounded in-process LRU cache, keyed by path and query: an immutable answer
   until evicted, another for its max-age. A cached answer skips the handler and the warehouse entirely.

The rate limit (outside this middleware) still counts every request, cached or not.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from litestar.constants import RESERVED_KWARGS
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.params import BodyKwarg, CookieParameter, DependencyKwarg, HeaderParameter, ParameterKwarg, PathParameter
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import BadRequest

_PLAIN = re.compile(r"^/(healthz|metrics|docs)$|^/schema(/.*)?$")
_MAX_AGE = re.compile(r"max-age=(\d+)")
# id(handler) -> (handler, its query parameter names); the handler is kept so that its id is never reused
_ALLOWED: dict[int, tuple[Any, frozenset[str]]] = {}


def _allowed(handler: Any) -> frozenset[str]:
    """The query parameter names a handler takes (aliases included), path parameters excluded by the caller."""
    cached = _ALLOWED.get(id(handler))
    if cached is not None and cached[0] is handler:
        return cached[1]
    deps = set(handler.resolve_dependencies())
    names = set()
    for name, fd in handler.parsed_fn_signature.parameters.items():
        if name in RESERVED_KWARGS or name in deps:
            continue
        kd = fd.kwarg_definition
        if isinstance(kd, (BodyKwarg, DependencyKwarg)):
            continue
        if isinstance(kd, ParameterKwarg):
            if kd.header or kd.cookie or isinstance(kd, (HeaderParameter, CookieParameter, PathParameter)):
                continue
            names.add(kd.query or getattr(kd, "name", None) or name)
        else:
            names.add(name)
    out = frozenset(names)
    _ALLOWED[id(handler)] = (handler, out)
    return out


@dataclass
class _Entry:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    etag: bytes
    expires: float | None  # monotonic seconds; None: immutable


class ResponseCache:
    """A bounded LRU of public answers. Single event loop: no locking needed."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, _Entry] = OrderedDict()
        self._bytes = 0
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: str) -> _Entry | None:
        e = self._items.get(key)
        if e is None:
            self.misses += 1
            return None
        if e.expires is not None and e.expires <= time.monotonic():
            self._drop(key)
            self.misses += 1
            return None
        self._items.move_to_end(key)
        self.hits += 1
        return e

    def put(self, key: str, e: _Entry) -> None:
        size = len(e.body) + 256
        if size > self.max_bytes // 8:  # one answer never takes more than an eighth of the cache
            return
        if key in self._items:
            self._drop(key)
        self._items[key] = e
        self._bytes += size
        while self._bytes > self.max_bytes and self._items:
            self._drop(next(iter(self._items)))

    def _drop(self, key: str) -> None:
        e = self._items.pop(key)
        self._bytes -= len(e.body) + 256

    def clear(self) -> None:
        self._items.clear()
        self._bytes = 0


def _header(scope: Scope, name: bytes) -> bytes | None:
    for k, v in scope.get("headers", ()):
        if k == name:
            return v
    return None


def _etag_matches(if_none_match: bytes | None, etag: bytes) -> bool:
    if not if_none_match:
        return False
    for tag in if_none_match.split(b","):
        tag = tag.strip()
        if tag == b"*" or tag.removeprefix(b"W/") == etag:
            return True
    return False


def _cache_key(scope: Scope) -> str:
    query = scope.get("query_string", b"").decode("latin-1")
    items = sorted(parse_qsl(query, keep_blank_values=True))
    return scope["path"] + "?" + "&".join(f"{k}={v}" for k, v in items)


def _check_values(path: str, pairs: list[tuple[str, str]]) -> None:
    """400 for a parameter given more than once and, on /v1/ routes, for one given empty."""
    seen: set[str] = set()
    for k, _ in pairs:
        if k in seen:
            raise BadRequest(f"query parameter {k[:40]!r} is given more than once; give it once")
        seen.add(k)
    if path.startswith("/v1/"):
        empty = sorted(k for k, v in pairs if v == "")
        if empty:
            raise BadRequest(f"query parameter {empty[0][:40]!r} is empty: give a value, or leave it out for no filter "
                             "(or the default)")  # fmt: skip


class ApiMiddleware(ASGIMiddleware):
    """Strict query parameters, ETags / 304 and the response cache (module docstring)."""

    scopes = (ScopeType.HTTP,)

    def __init__(self, cache: ResponseCache | None) -> None:
        self.cache = cache
        self.should_bypass_for_scope = lambda scope: bool(_PLAIN.match(scope["path"]))

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        query = scope.get("query_string", b"")
        if query:
            allowed = _allowed(scope["route_handler"]) - set(scope.get("path_params", {}))
            pairs = parse_qsl(query.decode("latin-1"), keep_blank_values=True)
            given = {k for k, _ in pairs}
            unknown = sorted(given - allowed)
            if unknown:
                known = ", ".join(sorted(allowed)) or "none"
                raise BadRequest(f"unknown query parameter{'s' if len(unknown) > 1 else ''} "
                                 f"{', '.join(repr(u[:40]) for u in unknown[:10])}; this route accepts: {known}")  # fmt: skip
            _check_values(scope["path"], pairs)
        if scope["method"] != "GET":
            await next_app(scope, receive, send)
            return
        inm = _header(scope, b"if-none-match")
        public = self.cache is not None and _header(scope, b"authorization") is None
        key = _cache_key(scope) if public else ""
        if public:
            hit = self.cache.get(key)  # type: ignore[union-attr]
            if hit is not None:
                await _replay(send, hit, inm)
                return
        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
                return
            if message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            await self._finish(send, start, b"".join(chunks), inm, key if public else None)

        await next_app(scope, receive, capture)

    async def _finish(self, send: Send, start: dict[str, Any], body: bytes, inm: bytes | None, key: str | None) -> None:
        status = int(start.get("status", 200))
        headers = [(k, v) for k, v in start.get("headers", [])]
        if status != 200:
            await send(start)  # type: ignore[arg-type]
            await send({"type": "http.response.body", "body": body, "more_body": False})
            return
        etag = b'"' + hashlib.sha256(body).hexdigest()[:32].encode() + b'"'
        headers = [(k, v) for k, v in headers if k.lower() != b"etag"] + [(b"etag", etag)]
        cc = next((v for k, v in headers if k.lower() == b"cache-control"), b"")
        entry = _Entry(status, headers, body, etag, None)
        if key is not None and cc.startswith(b"public"):
            if b"immutable" not in cc:
                m = _MAX_AGE.search(cc.decode("latin-1"))
                entry.expires = time.monotonic() + (int(m.group(1)) if m else 0)
            if entry.expires is None or entry.expires > time.monotonic():
                self.cache.put(key, entry)  # type: ignore[union-attr]
        await _replay(send, entry, inm)


async def _replay(send: Send, e: _Entry, inm: bytes | None) -> None:
    if _etag_matches(inm, e.etag):
        keep = [(k, v) for k, v in e.headers if k.lower() not in (b"content-length", b"content-type")]
        await send({"type": "http.response.start", "status": 304, "headers": keep})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        return
    await send({"type": "http.response.start", "status": e.status, "headers": e.headers})
    await send({"type": "http.response.body", "body": e.body, "more_body": False})
