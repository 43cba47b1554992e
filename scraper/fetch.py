"""HTTP fetch of one exposition, bounded in time and bytes, with the address rules applied on every hop.

One aiohttp session (one connection pool) serves every target: at most `max_connections` connections in
use, at most `per_host` to one host:port, idle connections kept between scrapes (`keepalive_s`, longer than
the scrape interval, so a target costs one TCP handshake, not one per scrape). Names are resolved through a
guarded resolver that refuses forbidden addresses at connection time; IP literals and every redirect hop are
checked before any connection. Bodies are read in chunks and decompressed here, incrementally and never past
the byte cap, so neither a huge body (with or without Content-Length) nor a gzip bomb costs more than the cap.
The whole fetch, from connecting to the last byte, is bounded by `timeout_s` (hangs, slowloris).
"""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
import time
import zlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

import aiohttp
import yarl
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

from discovery.safety import RefusedAddress, address_refusal, url_refusal
from scraper import errors as E
from scraper.errors import ScrapeError

# Only the text format is asked for. OpenMetrics adds nothing the warehouse keeps (exemplars and units are not
# stored), the fast parser covers the text format, and prometheus-client's exporters (this project's included)
# answer OpenMetrics whenever it is listed at all, whatever its q-value. OpenMetrics sent anyway is parsed.
ACCEPT = "text/plain;version=0.0.4;q=1.0,*/*;q=0.1"
MAX_REDIRECTS = 3
_CHUNK = 65536


class GuardedResolver(AbstractResolver):
    """Resolves names, then refuses the answer if any address breaks the safety rules."""

    def __init__(self, allow_loopback: bool, inner: AbstractResolver | None = None) -> None:
        self.allow_loopback = allow_loopback
        self._inner = inner or ThreadedResolver()

    async def resolve(self, host: str, port: int = 0, family: int = 0) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        for r in results:
            reason = address_refusal(ipaddress.ip_address(r["host"]), self.allow_loopback)
            if reason is not None:
                raise RefusedAddress(host, f"{reason} ({r['host']})")
        return results

    async def close(self) -> None:
        await self._inner.close()


@dataclass
class FetchResult:
    body: bytes
    content_type: str
    status: int
    duration_s: float
    final_url: str
    wire_bytes: int = 0  # bytes as received (compressed)


class _Inflater:
    """gzip/deflate decoding that never produces more than `cap` bytes (multi-member gzip included)."""

    def __init__(self, encoding: str, cap: int) -> None:
        self._wbits = 16 + zlib.MAX_WBITS if encoding in ("gzip", "x-gzip") else zlib.MAX_WBITS
        self._d = zlib.decompressobj(self._wbits)
        self.cap = cap
        self.size = 0
        self.parts: list[bytes] = []

    def feed(self, data: bytes) -> None:
        while data:
            try:
                out = self._d.decompress(data, self.cap - self.size + 1)
            except zlib.error as e:
                raise ScrapeError(E.DECOMPRESS, f"broken compressed body: {e}") from None
            self.size += len(out)
            if self.size > self.cap or self._d.unconsumed_tail:
                raise ScrapeError(E.BODY_TOO_LARGE, f"body past cap {self.cap} bytes after decompression")
            self.parts.append(out)
            if self._d.eof and self._d.unused_data:
                data = self._d.unused_data  # another gzip member follows
                self._d = zlib.decompressobj(self._wbits)
            else:
                data = b""

    def finish(self) -> bytes:
        if not self._d.eof:
            raise ScrapeError(E.DECOMPRESS, "compressed body ended early")
        return b"".join(self.parts)


class Fetcher:
    def __init__(
        self,
        timeout_s: float,
        max_body_bytes: int,
        allow_loopback: bool = False,
        max_connections: int = 256,
        per_host: int = 2,
        keepalive_s: float = 30.0,
        resolver: AbstractResolver | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.timeout_s = timeout_s
        self.max_body_bytes = max_body_bytes
        self.allow_loopback = allow_loopback
        self._resolver = resolver or GuardedResolver(allow_loopback)
        self._max_connections = max_connections
        self._per_host = per_host
        self._keepalive_s = keepalive_s
        self._ssl_context = ssl_context
        self._session: aiohttp.ClientSession | None = None
        # Per URL: the safety verdict and the parsed URL. Both are pure functions of the URL string, and a
        # target's URL is the same on every scrape; bounded, since redirects can name arbitrary URLs.
        self._checked: dict[str, tuple[str | None, yarl.URL | None]] = {}

    async def __aenter__(self) -> "Fetcher":
        await self.open()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    async def open(self) -> None:
        if self._session is None:
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
                headers={"Accept": ACCEPT, "Accept-Encoding": "gzip", "User-Agent": "naap-scraper/0.1"},
                auto_decompress=False,  # decompressed here, under the byte cap
                trust_env=False,  # never route through a proxy from the environment
            )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def open_connections(self) -> int:
        c = self._session.connector if self._session is not None else None
        if c is None:
            return 0
        return len(getattr(c, "_acquired", ())) + sum(len(v) for v in getattr(c, "_conns", {}).values())

    async def fetch(self, url: str) -> FetchResult:
        t0 = time.perf_counter()
        try:
            async with asyncio.timeout(self.timeout_s):
                return await self._fetch(url, t0)
        except TimeoutError:
            raise ScrapeError(E.TIMEOUT, f"no complete answer within {self.timeout_s:g}s") from None

    async def _fetch(self, url: str, t0: float) -> FetchResult:
        assert self._session is not None, "Fetcher.open() first"
        for hop in range(MAX_REDIRECTS + 1):
            reason, parsed = self._check(url)
            if reason is not None:
                cls = E.REFUSED_ADDRESS if hop == 0 else E.REDIRECT
                raise ScrapeError(cls, f"refused {url}: {reason}")
            try:
                async with self._session.get(parsed, allow_redirects=False) as resp:
                    if resp.status in (301, 302, 303, 307, 308):
                        location = resp.headers.get("Location")
                        if not location:
                            raise ScrapeError(E.REDIRECT, f"HTTP {resp.status} without Location")
                        url = urljoin(url, location)
                        continue
                    if resp.status >= 300 or resp.status < 200:
                        raise ScrapeError(E.HTTP_STATUS, f"HTTP {resp.status}")
                    body, wire = await self._read_capped(resp)
                    return FetchResult(
                        body=body,
                        content_type=resp.headers.get("Content-Type", ""),
                        status=resp.status,
                        duration_s=time.perf_counter() - t0,
                        final_url=url,
                        wire_bytes=wire,
                    )
            except ScrapeError:
                raise
            except aiohttp.ClientConnectorDNSError as e:
                if isinstance(e.os_error, RefusedAddress):
                    raise ScrapeError(E.REFUSED_ADDRESS, str(e.os_error)) from None
                raise ScrapeError(E.DNS, f"cannot resolve {e.host}") from None
            except (aiohttp.ClientConnectorCertificateError, aiohttp.ClientSSLError, ssl.SSLError) as e:
                raise ScrapeError(E.TLS, f"TLS failure: {_short(e)}") from None
            except aiohttp.ClientConnectorError as e:
                if isinstance(e.os_error, RefusedAddress):
                    raise ScrapeError(E.REFUSED_ADDRESS, str(e.os_error)) from None
                raise ScrapeError(E.CONNECT, f"cannot connect to {e.host}:{e.port}: {_short(e.os_error)}") from None
            except aiohttp.ClientPayloadError as e:
                raise ScrapeError(E.CONNECTION, _short(e)) from None
            except aiohttp.ClientResponseError as e:
                # aiohttp's own complaints about the answer: malformed status line, oversized headers, ...
                raise ScrapeError(E.PROTOCOL, f"malformed HTTP answer: {_short(e)}") from None
            except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError, ConnectionError) as e:
                if isinstance(getattr(e, "__cause__", None), ssl.SSLError) or "SSL" in str(e):
                    raise ScrapeError(E.TLS, f"TLS failure: {_short(e)}") from None
                raise ScrapeError(E.CONNECTION, _short(e)) from None
            except (aiohttp.InvalidURL, ValueError) as e:
                raise ScrapeError(E.REFUSED_ADDRESS, f"unusable URL: {_short(e)}") from None
        raise ScrapeError(E.REDIRECT, f"more than {MAX_REDIRECTS} redirects")

    def _check(self, url: str) -> tuple[str | None, "yarl.URL | None"]:
        hit = self._checked.get(url)
        if hit is None:
            reason = url_refusal(url, self.allow_loopback)
            parsed = None
            if reason is None:
                try:
                    parsed = yarl.URL(url)
                except (ValueError, TypeError) as e:
                    reason = f"malformed_url ({_short(e)})"
            hit = (reason, parsed)
            if len(self._checked) >= 100_000:
                self._checked.clear()
            self._checked[url] = hit
        return hit

    async def _read_capped(self, resp: aiohttp.ClientResponse) -> tuple[bytes, int]:
        cap = self.max_body_bytes
        encoding = resp.headers.get("Content-Encoding", "").strip().lower()
        if encoding not in ("", "identity", "gzip", "x-gzip", "deflate"):
            raise ScrapeError(E.DECOMPRESS, f"unsupported Content-Encoding {encoding[:40]!r}")
        inflater = _Inflater(encoding, cap) if encoding not in ("", "identity") else None
        # Compressed, incompressible data is a little larger than itself: allow that much on the wire.
        wire_cap = cap if inflater is None else cap + cap // 64 + 1024
        declared = resp.content_length
        if declared is not None and declared > wire_cap:
            raise ScrapeError(E.BODY_TOO_LARGE, f"Content-Length {declared} > cap {cap}")  # before reading any
        chunks: list[bytes] = []
        wire = 0
        async for chunk in resp.content.iter_chunked(_CHUNK):
            wire += len(chunk)
            if wire > wire_cap:
                raise ScrapeError(E.BODY_TOO_LARGE, f"body past cap {cap} bytes")
            if inflater is not None:
                inflater.feed(chunk)
            else:
                chunks.append(chunk)
        if inflater is not None:
            return inflater.finish(), wire
        return b"".join(chunks), wire


def _short(e: BaseException | None) -> str:
    text = str(e) if e is not None else ""
    return (text or type(e).__name__)[:300]
