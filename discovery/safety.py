"""Target URL safety: which addresses a scraper may connect to.

Service URIs come from a public chain, so any of them may point at the scraper's own network. Every URL is
checked before use (scheme, host, literal IPs), and every name is checked again at connection time on the
addresses it resolves to (see scraper's guarded resolver), so DNS tricks and redirects get no further.

Refused by default: loopback, private (RFC 1918, ULA), link-local, multicast, unspecified, cloud metadata
addresses and names, and anything else that is not globally routable (CGNAT, documentation, reserved).
Loopback can be allowed explicitly (the demo and tests do); nothing else can.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Metadata services of the big clouds. The IPv4 one is link-local anyway; named for a clearer reason.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean, ...
        "169.254.170.2",  # AWS ECS task metadata
        "100.100.100.200",  # Alibaba Cloud
        "fd00:ec2::254",  # AWS IPv6
    )
)
METADATA_NAMES = frozenset({"metadata", "metadata.google.internal", "metadata.goog", "instance-data", "instance-data.ec2.internal"})


class RefusedAddress(OSError):
    """A connection the safety rules forbid. An OSError so HTTP clients surface it as a connect failure."""

    def __init__(self, host: str, reason: str) -> None:
        super().__init__(f"refused {host}: {reason}")
        self.host = host
        self.reason = reason


def _embedded_v4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    return None


def address_refusal(ip: IPAddress, allow_loopback: bool = False) -> str | None:
    """The reason this address is refused, or None when a scraper may connect to it."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_v4(ip)
        if inner is not None:
            reason = address_refusal(inner, allow_loopback)
            if reason is not None:
                return reason
    if ip in METADATA_ADDRESSES:
        return "metadata"
    if ip.is_loopback:
        return None if allow_loopback else "loopback"
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_link_local:
        return "link_local"
    if ip.is_multicast:
        return "multicast"
    if ip.is_private:
        return "private"
    if ip.is_reserved or not ip.is_global:
        return "not_global"
    return None


def url_refusal(url: str, allow_loopback: bool = False) -> str | None:
    """Checks that need no DNS: scheme, host, port, metadata names, literal IP addresses.

    Names are checked again on their resolved addresses when the scraper connects.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "malformed_url"
    if parts.scheme not in ("http", "https"):
        return "scheme"
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        return "no_host"
    if port == 0:
        return "malformed_url"
    if parts.username or parts.password:
        return "credentials_in_url"
    if host in METADATA_NAMES:
        return "metadata"
    if host == "localhost" or host.endswith(".localhost"):
        return None if allow_loopback else "loopback"
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None  # a name: checked at connection time
    return address_refusal(ip, allow_loopback)
