"""Target URL safety: which addresses a scraper may connect to.

Service URIs come from a public chain, so any of them may point at the scraper's own network. Every URL is
checked before use (scheme, host, literal IPs in every spelling), names are resolved at discovery time and
their addresses checked (`resolved_refusal`), and every name is checked again at connection time on the
addresses it resolves to then (the scraper's guarded resolver), so DNS tricks and redirects get no further.

Refused by default: loopback, private (RFC 1918, ULA), link-local, multicast, unspecified, cloud metadata
addresses and names, and anything else that is not globally routable (CGNAT, documentation, benchmarking,
reserved, NAT64/6to4/Teredo/IPv4-mapped forms of any of these). The table of non-global networks is written
out here rather than taken from `ipaddress.is_global`, whose answers changed between Python patch releases.
Loopback can be allowed explicitly (the demo and tests do); nothing else can. An address written in a legacy
numeric form (2130706433, 0x7f000001, 127.1, 0177.0.0.1) is refused as `non_canonical_ip` even where the
address itself would be allowed: one spelling per address.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from typing import Awaitable, Callable
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]

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

# IANA special-purpose registries: the blocks that are not globally reachable (reason "not_global" unless a
# more specific check below names them). Loopback, private, link-local and multicast are checked first.
_NOT_GLOBAL = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8", "100.64.0.0/10", "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "198.18.0.0/15",
        "198.51.100.0/24", "203.0.113.0/24", "240.0.0.0/4", "255.255.255.255/32",
        "::/96", "64:ff9b:1::/48", "100::/64", "2001::/23", "2001:db8::/32", "3fff::/20", "5f00::/16", "fec0::/10",
    )
)  # fmt: skip
_PRIVATE = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"))
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# What a host may look like after IDNA encoding: letters, digits, hyphen, underscore, dots.
_HOST_NAME = re.compile(r"^[a-z0-9_]([a-z0-9_-]{0,62})(\.[a-z0-9_]([a-z0-9_-]{0,62}))*$")


class RefusedAddress(OSError):
    """A connection the safety rules forbid. An OSError so HTTP clients surface it as a connect failure."""

    def __init__(self, host: str, reason: str) -> None:
        super().__init__(f"refused {host}: {reason}")
        self.host = host
        self.reason = reason
        self.refusal = reason  # what exporter.common.httpfetch looks for to classify it as refused_address


def _embedded_v4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _NAT64:  # a NAT64 gateway would carry the connection to this IPv4 address
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def address_refusal(ip: IPAddress, allow_loopback: bool = False) -> str | None:
    """The reason this address is refused, or None when a scraper may connect to it."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:
            ip = ipaddress.IPv6Address(str(ip).split("%", 1)[0])
        inner = _embedded_v4(ip)
        if inner is not None:
            reason = address_refusal(inner, allow_loopback)
            if reason is not None or ip.ipv4_mapped is not None or ip in _NAT64:
                return reason  # mapped and NAT64 addresses reach the IPv4 address itself: its verdict is final
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
    if any(ip in n for n in _PRIVATE if n.version == ip.version):
        return "private"
    if any(ip in n for n in _NOT_GLOBAL if n.version == ip.version):
        return "not_global"
    if ip.is_private or ip.is_reserved or not ip.is_global:
        return "not_global"
    return None


def _legacy_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """Numeric hosts that resolvers read as IPv4 though they are not dotted quads: 2130706433, 0x7f.1, 127.1."""
    if not re.fullmatch(r"[0-9a-fx.]+", host) or not host[0].isdigit():
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def url_host(url: str) -> tuple[str, int] | str:
    """(host, port) of an http(s) URL with the host in the form resolvers see it, or the reason it is unusable."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "malformed_url"
    if parts.scheme not in ("http", "https"):
        return "scheme"
    if parts.username is not None or parts.password is not None:
        return "credentials_in_url"
    raw = (parts.hostname or "").rstrip(".")
    if not raw:
        return "no_host"
    if port == 0:
        return "malformed_url"
    if port is None:
        port = 443 if parts.scheme == "https" else 80
    if ":" in raw:  # an IPv6 literal (brackets already removed)
        return raw.lower(), port
    try:
        # IDNA with nameprep maps look-alikes (fullwidth letters, ...) to what a resolver would look up.
        host = raw.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return "malformed_host"
    if not _HOST_NAME.match(host):
        return "malformed_host"
    return host, port


def literal_ip(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return _legacy_ipv4(host)


def url_refusal(url: str, allow_loopback: bool = False) -> str | None:
    """Checks that need no DNS: scheme, host, port, credentials, metadata names, literal IP addresses.

    Names are checked on their resolved addresses by `resolved_refusal` and again when the scraper connects.
    """
    hp = url_host(url)
    if isinstance(hp, str):
        return hp
    host = hp[0]
    if host in METADATA_NAMES:
        return "metadata"
    if host == "localhost" or host.endswith(".localhost"):
        return None if allow_loopback else "loopback"
    ip = literal_ip(host)
    if ip is None:
        return None  # a name
    reason = address_refusal(ip, allow_loopback)
    if reason is None and not is_canonical_ip(host):
        # 2130706433, 0x7f000001, 127.1, 0177.0.0.1: resolvers read them as an address, HTTP clients disagree
        # on them, and two spellings of one exporter would be scraped twice. One spelling per address.
        return f"{NON_CANONICAL_IP} (write {host} as {ip})"
    return reason


NON_CANONICAL_IP = "non_canonical_ip"


def is_canonical_ip(host: str) -> bool:
    """True when `host` is an IP address in its standard spelling (a dotted quad without leading zeros, or an
    IPv6 literal), False for the legacy forms `literal_ip` also reads."""
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True


def collision_key(url: str) -> str:
    """The URL with its host as one spelling per address, for finding two targets that reach one exporter:
    `localhost` (and `localhost.`, any case) is 127.0.0.1. Unusable URLs are their own key."""
    hp = url_host(url)
    if isinstance(hp, str):
        return url
    host, port = hp
    if host == "localhost":
        host = "127.0.0.1"
    parts = urlsplit(url)
    shown = f"[{host}]" if ":" in host else host
    return parts._replace(netloc=f"{shown}:{port}").geturl()


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(i[4][0]) for i in infos})


async def resolved_refusal(
    url: str, allow_loopback: bool = False, resolver: Resolver = system_resolver, timeout_s: float = 2.0
) -> str | None:
    """url_refusal, then for a name: every address it resolves to must pass too.

    A name that does not resolve now is not refused here: the scraper's own attempts record that failure
    against the target, and its connection-time check still applies to whatever the name resolves to later.
    """
    reason = url_refusal(url, allow_loopback)
    if reason is not None:
        return reason
    hp = url_host(url)
    assert not isinstance(hp, str)
    host, port = hp
    if literal_ip(host) is not None or host == "localhost" or host.endswith(".localhost"):
        return None
    try:
        async with asyncio.timeout(timeout_s):
            addresses = await resolver(host, port)
    except (OSError, TimeoutError, UnicodeError):
        return None
    for a in addresses:
        try:
            ip = ipaddress.ip_address(a.split("%", 1)[0])
        except ValueError:
            return "malformed_host"
        r = address_refusal(ip, allow_loopback)
        if r is not None:
            return f"{r} ({host} resolves to {a})"
    return None
