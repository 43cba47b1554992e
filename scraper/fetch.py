"""The scraper's fetch: the bounded HTTP GET (exporter/common/httpfetch.py) with the address rules applied on
every hop and again at connection time.

One `Fetcher` (one connection pool) serves every target: at most `max_connections` connections in use, at
most `per_host` to one host:port, idle connections kept between scrapes (`keepalive_s`, longer than the scrape
interval, so a target costs one TCP handshake, not one per scrape). Names are resolved through a guarded
resolver that refuses forbidden addresses at connection time; IP literals and every redirect hop are checked
before any connection (discovery/safety.py). Time and bytes are capped by the bounded fetch.
"""

from __future__ import annotations

import ipaddress
import ssl

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

from discovery.safety import RefusedAddress, address_refusal, url_refusal
from exporter.common.httpfetch import FetchResult, HttpFetch
from exporter.common.meta import version

__all__ = ["ACCEPT", "FetchResult", "Fetcher", "GuardedResolver"]

# Only the text format is asked for. OpenMetrics adds nothing the warehouse keeps (exemplars and units are not
# stored), the fast parser covers the text format, and prometheus-client's exporters (this project's included)
# answer OpenMetrics whenever it is listed at all, whatever its q-value. OpenMetrics sent anyway is parsed.
ACCEPT = "text/plain;version=0.0.4;q=1.0,*/*;q=0.1"
MAX_REDIRECTS = 3


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


class Fetcher(HttpFetch):
    """HttpFetch for scrape targets: address rules on every URL and at connect time, up to 3 redirects."""

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
        self.allow_loopback = allow_loopback
        super().__init__(
            timeout_s, max_body_bytes, max_redirects=MAX_REDIRECTS,
            check_url=lambda url: url_refusal(url, allow_loopback),
            resolver=resolver or GuardedResolver(allow_loopback),
            max_connections=max_connections, per_host=per_host, keepalive_s=keepalive_s, ssl_context=ssl_context,
            headers={"Accept": ACCEPT, "User-Agent": f"naap-scraper/{version()}"},
        )  # fmt: skip
