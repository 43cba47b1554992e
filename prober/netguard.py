"""Where the prober may connect. Service URIs come from the chain and channel URLs from the orchestrator's reply,
so both are attacker-controlled: the same address rules as the scraper (discovery/safety.py: no loopback unless
allowed, no private, link-local, metadata or other non-global addresses) are applied to every host before
connecting, and again on the addresses a name resolves to at connection time (`GuardedResolver`), so DNS
rebinding gets no further. Channel URLs must also be on the service URI's own origin (go-livepeer builds them
as `ServiceURI + "/ai/trickle/" + name`, server/ai_http.go), which keeps a reply from sending the prober anywhere else.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

from discovery.safety import RefusedAddress, address_refusal, url_refusal
from prober import errors
from prober.errors import ProbeFailure


def origin(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an http(s) URL, default ports filled in; ValueError when malformed."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url[:120]!r}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.scheme, parts.hostname.lower(), port


def check_url(url: str, allow_loopback: bool) -> tuple[str, str, int]:
    """(scheme, host, port) of `url` when its form and any literal address pass the rules; otherwise
    ProbeFailure(`refused_address`, excluded: the prober's own policy). Names are checked on their addresses by GuardedResolver."""
    reason = url_refusal(url, allow_loopback)
    if reason is not None:
        raise ProbeFailure(errors.REFUSED_ADDRESS, errors.EXCLUDED, f"refused {url[:120]!r}: {reason}")
    try:
        return origin(url)
    except ValueError as e:
        raise ProbeFailure(errors.REFUSED_ADDRESS, errors.EXCLUDED, str(e)) from None


def check_same_origin(url: str, service_uri: str) -> None:
    """ProbeFailure(`unknown`, orchestrator) unless `url` has the service URI's scheme, host and port."""
    try:
        same = origin(url) == origin(service_uri)
    except ValueError:
        same = False
    if not same:
        raise ProbeFailure(errors.UNKNOWN, errors.ORCHESTRATOR, f"channel URL {url[:120]!r} is not on {service_uri[:120]!r}")


class GuardedResolver(AbstractResolver):
    """aiohttp resolver that refuses addresses the safety rules forbid (raises RefusedAddress, an OSError)."""

    def __init__(self, allow_loopback: bool) -> None:
        self.allow_loopback = allow_loopback
        self._inner = ThreadedResolver()

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_UNSPEC) -> list[ResolveResult]:
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            ip = None
        if ip is not None:
            reason = address_refusal(ip, self.allow_loopback)
            if reason is not None:
                raise RefusedAddress(host, reason)
            fam = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
            return [{"hostname": host, "host": str(ip), "port": port, "family": fam, "proto": 0, "flags": socket.AI_NUMERICHOST}]
        found = await self._inner.resolve(host, port, family)
        for r in found:
            reason = address_refusal(ipaddress.ip_address(r["host"].split("%", 1)[0]), self.allow_loopback)
            if reason is not None:
                raise RefusedAddress(host, reason)
        return found

    async def close(self) -> None:
        await self._inner.close()


async def resolve_checked(host: str, port: int, allow_loopback: bool) -> str:
    """One address of `host` that the rules allow (the literal itself for an IP), for a connection that must not
    resolve again (gRPC). ProbeFailure `refused_address` (excluded) or `dns` (errors.dns_failure)."""
    resolver = GuardedResolver(allow_loopback)
    try:
        found = await resolver.resolve(host, port)
    except RefusedAddress as e:
        raise ProbeFailure(errors.REFUSED_ADDRESS, errors.EXCLUDED, str(e)) from None
    except OSError as e:
        raise errors.dns_failure(host, e) from None
    finally:
        await resolver.close()
    if not found:
        raise errors.dns_failure(host, None)
    return found[0]["host"]
