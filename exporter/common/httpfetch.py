"""The one bounded HTTP GET: a time cap over the whole exchange, a byte cap after decompression, redirects
followed only as far as allowed and only to URLs a check accepts, and every failure as a classified error.

Used by the scraper (hostile targets: `check_url` applies the address rules to every hop, a guarded resolver
checks names when connecting) and by the exporter's background sources (a co-located dcgm-exporter or
go-livepeer, operator-configured: no redirects at all). One aiohttp session per `HttpFetch` (one connection
pool: at most `max_connections` in use, `per_host` to one host:port, idle connections kept `keepalive_s`).
Bodies are read in chunks and gzip/deflate is decoded here, incrementally and never past the cap, so neither a
huge body (with or without Content-Length) nor a compression bomb costs more than the cap.
"""

from __future__ import annotations

import asyncio
import ssl
import time
import zlib
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import urljoin

import aiohttp
import yarl
from aiohttp.abc import AbstractResolver

# Error classes of a failed fetch (the scraper stores them in `scrapes.error_class`).
REFUSED_ADDRESS = "refused_address"  # the URL check refused the first URL
DNS = "dns"  # the name did not resolve
CONNECT = "connect"  # connection refused / reset / unreachable
TLS = "tls"  # handshake or certificate failure
TIMEOUT = "timeout"  # no complete answer within the time cap (hangs, slowloris)
HTTP_STATUS = "http_status"  # a non-2xx answer
REDIRECT = "redirect"  # too many redirects, no Location, or a hop the URL check refused
BODY_TOO_LARGE = "body_too_large"  # past the byte cap (after decompression)
DECOMPRESS = "decompress"  # broken or unsupported compressed body
CONNECTION = "connection"  # the server closed the connection mid-answer
PROTOCOL = "protocol"  # not a well-formed HTTP answer (status line, headers)

_CHUNK = 65536
_REDIRECTS = (301, 302, 303, 307, 308)


class FetchError(Exception):
    """A failed fetch: `error_class` (one of the constants above) and a short message."""

    def __init__(self, error_class: str, message: str) -> None:
        super().__init__(message)
        self.error_class = error_class


@dataclass
class FetchResult:
    body: bytes  # decompressed
    content_type: str
    status: int
    duration_s: float
    final_url: str
    wire_bytes: int = 0  # as received (compressed)


class Inflater:
    """gzip/deflate decoding that never produces more than `cap` bytes (multi-member gzip included)."""

    def __init__(self, encoding: str, cap: int) -> None:
        self._wbits = 16 + zlib.MAX_WBITS if encoding in ("gzip", "x-gzip") else zlib.MAX_WBITS
        self._decoder = zlib.decompressobj(self._wbits)
        self.cap = cap
        self.size = 0
        self.parts: list[bytes] = []

    def feed(self, data: bytes) -> None:
        while data:
            try:
                out = self._decoder.decompress(data, self.cap - self.size + 1)
            except zlib.error as e:
                raise FetchError(DECOMPRESS, f"broken compressed body: {e}") from None
            self.size += len(out)
            if self.size > self.cap or self._decoder.unconsumed_tail:
                raise FetchError(BODY_TOO_LARGE, f"body past cap {self.cap} bytes after decompression")
            self.parts.append(out)
            if self._decoder.eof and self._decoder.unused_data:
                data = self._decoder.unused_data  # another gzip member follows
                self._decoder = zlib.decompressobj(self._wbits)
            else:
                data = b""

    def finish(self) -> bytes:
        if not self._decoder.eof:
            raise FetchError(DECOMPRESS, "compressed body ended early")
        return b"".join(self.parts)


def short(e: BaseException | None) -> str:
    """An exception as at most 300 characters of text (its type name when it says nothing)."""
    text = str(e) if e is not None else ""
    return (text or type(e).__name__)[:300]


class HttpFetch:
    """GET with caps. `check_url(url)` returns a refusal reason or None; it runs on the first URL and on every
    redirect hop. `resolver` replaces aiohttp's (the scraper's refuses forbidden addresses at connect time)."""

    def __init__(
        self,
        timeout_s: float,
        max_body_bytes: int,
        *,
        max_redirects: int = 0,
        check_url: Callable[[str], str | None] | None = None,
        resolver: AbstractResolver | None = None,
        max_connections: int = 100,
        per_host: int = 0,
        keepalive_s: float = 15.0,
        ssl_context: ssl.SSLContext | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.timeout_s = timeout_s
        self.max_body_bytes = max_body_bytes
        self.max_redirects = max_redirects
        self._check_url = check_url
        self._resolver = resolver
        self._max_connections = max_connections
        self._per_host = per_host
        self._keepalive_s = keepalive_s
        self._ssl_context = ssl_context
        self._headers = {"Accept-Encoding": "gzip", **(headers or {})}
        self._session: aiohttp.ClientSession | None = None
        # Per URL: the check's verdict and the parsed URL. Both are pure functions of the URL string, and a
        # target's URL is the same on every fetch; bounded, since redirects can name arbitrary URLs.
        self._checked: dict[str, tuple[str | None, yarl.URL | None]] = {}

    async def __aenter__(self) -> "HttpFetch":
        await self.open()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    async def open(self) -> None:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self._max_connections,
                limit_per_host=self._per_host,
                keepalive_timeout=self._keepalive_s,
                resolver=self._resolver,
                ttl_dns_cache=60,
                enable_cleanup_closed=True,
                ssl=self._ssl_context if self._ssl_context is not None else True,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=self.timeout_s),
                headers=self._headers,
                auto_decompress=False,  # decompressed here, under the byte cap
                trust_env=False,  # never route through a proxy from the environment
            )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def fetch(self, url: str, headers: dict[str, str] | None = None) -> FetchResult:
        """The answer to GET `url`, or FetchError. Opens the session on first use."""
        if self._session is None:
            await self.open()
        t0 = time.perf_counter()
        try:
            async with asyncio.timeout(self.timeout_s):
                return await self._fetch(url, t0, headers)
        except TimeoutError:
            raise FetchError(TIMEOUT, f"no complete answer within {self.timeout_s:g}s") from None

    async def _fetch(self, url: str, t0: float, headers: dict[str, str] | None) -> FetchResult:
        assert self._session is not None
        for hop in range(self.max_redirects + 1):
            reason, parsed = self._check(url)
            if reason is not None:
                raise FetchError(REFUSED_ADDRESS if hop == 0 else REDIRECT, f"refused {url}: {reason}")
            try:
                async with self._session.get(parsed, allow_redirects=False, headers=headers) as resp:
                    if resp.status in _REDIRECTS:
                        location = resp.headers.get("Location")
                        if not location:
                            raise FetchError(REDIRECT, f"HTTP {resp.status} without Location")
                        if hop == self.max_redirects:
                            break
                        url = urljoin(url, location)
                        continue
                    if not 200 <= resp.status < 300:
                        raise FetchError(HTTP_STATUS, f"HTTP {resp.status}")
                    body, wire = await self._read_capped(resp)
                    return FetchResult(body, resp.headers.get("Content-Type", ""), resp.status,
                                       time.perf_counter() - t0, url, wire)  # fmt: skip
            except FetchError:
                raise
            except aiohttp.ClientConnectorDNSError as e:
                if isinstance(e.os_error, FetchError):
                    raise e.os_error from None
                refused = _refusal_in(e.os_error)
                if refused is not None:
                    raise FetchError(REFUSED_ADDRESS, refused) from None
                raise FetchError(DNS, f"cannot resolve {e.host}") from None
            except (aiohttp.ClientConnectorCertificateError, aiohttp.ClientSSLError, ssl.SSLError) as e:
                raise FetchError(TLS, f"TLS failure: {short(e)}") from None
            except aiohttp.ClientConnectorError as e:
                refused = _refusal_in(e.os_error)
                if refused is not None:
                    raise FetchError(REFUSED_ADDRESS, refused) from None
                raise FetchError(CONNECT, f"cannot connect to {e.host}:{e.port}: {short(e.os_error)}") from None
            except aiohttp.ClientPayloadError as e:
                raise FetchError(CONNECTION, short(e)) from None
            except aiohttp.ClientResponseError as e:
                # aiohttp's own complaints about the answer: malformed status line, oversized headers, ...
                raise FetchError(PROTOCOL, f"malformed HTTP answer: {short(e)}") from None
            except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError, ConnectionError) as e:
                if isinstance(getattr(e, "__cause__", None), ssl.SSLError) or "SSL" in str(e):
                    raise FetchError(TLS, f"TLS failure: {short(e)}") from None
                raise FetchError(CONNECTION, short(e)) from None
            except (aiohttp.InvalidURL, ValueError) as e:
                raise FetchError(REFUSED_ADDRESS, f"unusable URL: {short(e)}") from None
        raise FetchError(REDIRECT, f"more than {self.max_redirects} redirects")

    def _check(self, url: str) -> tuple[str | None, yarl.URL | None]:
        hit = self._checked.get(url)
        if hit is None:
            reason = self._check_url(url) if self._check_url is not None else None
            parsed = None
            if reason is None:
                try:
                    parsed = yarl.URL(url)
                except (ValueError, TypeError) as e:
                    reason = f"malformed_url ({short(e)})"
            hit = (reason, parsed)
            if len(self._checked) >= 100_000:
                self._checked.clear()
            self._checked[url] = hit
        return hit

    async def _read_capped(self, resp: aiohttp.ClientResponse) -> tuple[bytes, int]:
        cap = self.max_body_bytes
        encoding = resp.headers.get("Content-Encoding", "").strip().lower()
        if encoding not in ("", "identity", "gzip", "x-gzip", "deflate"):
            raise FetchError(DECOMPRESS, f"unsupported Content-Encoding {encoding[:40]!r}")
        inflater = Inflater(encoding, cap) if encoding not in ("", "identity") else None
        # Compressed, incompressible data is a little larger than itself: allow that much on the wire.
        wire_cap = cap if inflater is None else cap + cap // 64 + 1024
        declared = resp.content_length
        if declared is not None and declared > wire_cap:
            raise FetchError(BODY_TOO_LARGE, f"Content-Length {declared} > cap {cap}")  # before reading any
        chunks: list[bytes] = []
        wire = 0
        async for chunk in resp.content.iter_chunked(_CHUNK):
            wire += len(chunk)
            if wire > wire_cap:
                raise FetchError(BODY_TOO_LARGE, f"body past cap {cap} bytes")
            if inflater is not None:
                inflater.feed(chunk)
            else:
                chunks.append(chunk)
        if inflater is not None:
            return inflater.finish(), wire
        return b"".join(chunks), wire


def _refusal_in(error: BaseException | None) -> str | None:
    """A resolver that refuses an address raises an OSError carrying `refusal` (see the scraper's guarded
    resolver); aiohttp wraps it. Its message, or None for an ordinary network error."""
    if error is not None and getattr(error, "refusal", None):
        return str(error)
    return None
