"""From an orchestrator's on-chain service URI to the URL of its metrics: the documented convention.

The service URI is what go-livepeer registers with `-serviceAddr` (e.g. ``https://orch.example.com:8935``):
the address gateways send work to. The exporter runs on the same host, so by default the metrics are at

    http://<host of the service URI>:9935/metrics

(scheme, port and path configurable for everyone; any part, or the whole URL, overridable per orchestrator).

A service URI is attacker-controlled text from a public chain. It is used only when it is valid UTF-8, at most
MAX_SERVICE_URI_BYTES long, an absolute http(s) URL with a host, without credentials, whitespace or control
characters; anything else is a recorded reason, never an exception that stops the walk.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from discovery.safety import url_host
from discovery.static import normalise_url
from exporter.common.net import EXPORTER_PORT

DEFAULT_SCHEME = "http"
DEFAULT_PATH = "/metrics"
MAX_SERVICE_URI_BYTES = 2048
_BAD_CHARS = re.compile(r"[\x00-\x20\x7f-\x9f\\]")


class UriProblem(ValueError):
    """A service URI that cannot give a metrics URL; `reason` is recorded with the refused target."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@dataclass(frozen=True)
class Convention:
    scheme: str = DEFAULT_SCHEME
    port: int = EXPORTER_PORT
    path: str = DEFAULT_PATH


@dataclass(frozen=True)
class Override:
    """Per-orchestrator: a whole metrics URL, or any of scheme, port and path replacing the convention's."""

    url: str | None = None
    scheme: str | None = None
    port: int | None = None
    path: str | None = None


def decode_service_uri(raw: bytes) -> str:
    """The service URI as text, or UriProblem: no_service_uri, service_uri_too_long, malformed_service_uri."""
    if not raw:
        raise UriProblem("no_service_uri")
    if len(raw) > MAX_SERVICE_URI_BYTES:
        raise UriProblem("service_uri_too_long", f"{len(raw)} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise UriProblem("malformed_service_uri", "not UTF-8") from None
    check_service_uri(text)
    return text


def check_service_uri(uri: str) -> None:
    if _BAD_CHARS.search(uri):
        raise UriProblem("malformed_service_uri", "whitespace or control characters")
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError as e:
        raise UriProblem("malformed_service_uri", str(e)) from None
    if parts.scheme not in ("http", "https"):
        raise UriProblem("malformed_service_uri", "not an http(s) URL")
    if not parts.hostname:
        raise UriProblem("malformed_service_uri", "no host")
    if parts.username is not None or parts.password is not None:
        raise UriProblem("malformed_service_uri", "credentials in the URI")


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def metrics_url(service_uri: str | None, convention: Convention = Convention(), override: Override | None = None) -> str:
    """The metrics URL for a service URI (None: the orchestrator registered none); raises UriProblem."""
    if override is not None and override.url:
        try:
            return normalise_url(override.url)
        except ValueError as e:
            raise UriProblem("bad_override", str(e)) from None
    if service_uri is None:
        raise UriProblem("no_service_uri")
    check_service_uri(service_uri)
    hp = url_host(service_uri)
    if isinstance(hp, str):
        raise UriProblem("malformed_service_uri", hp)
    o = override or Override()
    scheme = o.scheme or convention.scheme
    port = o.port if o.port is not None else convention.port
    path = o.path or convention.path
    # The host as a resolver sees it (lowercase, IDNA, no trailing dot): two spellings of one host give one URL,
    # so orchestrators sharing a host are seen to collide instead of being scraped twice.
    return f"{scheme}://{_url_host(hp[0])}:{port}{path}"
