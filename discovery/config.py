"""Discovery's configuration: static targets and target files, the on-chain registry, and how often to walk.
The `discovery` section of the settings."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import Field, field_validator, model_validator

from exporter.common.configfile import Section
from exporter.common.eth import EthAddress, OptionalEthAddress, eth_address
from exporter.common.net import EXPORTER_PORT

ARBITRUM_CONTROLLER = "0xD8E8328501E9645d16Cf49539efC04f734606ee4"
_HTTP_URL = re.compile(r"^https?://[^/\s]+")


class StaticTarget(Section):
    url: str
    orchestrator: OptionalEthAddress = ""
    labels: dict[str, str] = Field(default_factory=dict)

    @field_validator("url")
    @classmethod
    def _usable_url(cls, v: str) -> str:
        from discovery.static import normalise_url  # the one reading of a target URL

        normalise_url(v)  # a ValueError saying what is wrong: a settings error naming this field
        return v


class MetricsOverride(Section):
    """Where one orchestrator's metrics are, when the convention does not fit: a whole URL or some parts."""

    url: str | None = Field(None, description="The whole metrics URL.")
    scheme: str | None = Field(None, pattern=r"^https?$")
    port: int | None = Field(None, ge=1, le=65535)
    path: str | None = Field(None, pattern=r"^/")

    @model_validator(mode="after")
    def _url_or_part(self) -> "MetricsOverride":
        if not (self.url or self.scheme or self.port or self.path):
            raise ValueError("give url, or one of scheme, port, path")
        if self.url and not _HTTP_URL.match(self.url):
            raise ValueError("url must be an absolute http(s) URL")
        return self


class ChainSettings(Section):
    rpc_urls: list[str] = Field(default_factory=list, description="Arbitrum One JSON-RPC URLs, tried in order.")
    controller: EthAddress = Field(ARBITRUM_CONTROLLER, description="Livepeer Controller address.")
    timeout_s: float = Field(10.0, gt=0, le=120, description="Time limit of one JSON-RPC request.")
    retries: int = Field(2, ge=0, le=10, description="Extra rounds over every RPC URL before a walk fails.")
    backoff_s: float = Field(0.5, ge=0, le=60, description="Pause after the first failed round; doubles per round.")
    max_requests_per_s: float = Field(20.0, ge=0, description="Request rate cap over all RPC URLs; 0: no cap.")
    concurrency: int = Field(4, ge=1, le=64, description="Orchestrators whose details are read at once.")
    max_pool_size: int = Field(1000, ge=1, description="A pool larger than this is treated as an inconsistent read.")
    active_only: bool = Field(True, description="Scrape only orchestrators in the active set.")
    metrics_scheme: str = Field("http", pattern=r"^https?$", description="Metrics URL convention: scheme.")
    metrics_port: int = Field(EXPORTER_PORT, ge=1, le=65535, description="Metrics URL convention: port on the service host.")
    metrics_path: str = Field("/metrics", pattern=r"^/", description="Metrics URL convention: path.")
    overrides: dict[str, MetricsOverride] = Field(
        default_factory=dict, description="Per-orchestrator metrics location, keyed by eth address."
    )

    @field_validator("rpc_urls")
    @classmethod
    def _http_urls(cls, v: list[str]) -> list[str]:
        for u in v:
            if not _HTTP_URL.match(u):
                raise ValueError(f"{u!r} is not an http(s) URL")
        return v

    @field_validator("overrides")
    @classmethod
    def _keyed_by_address(cls, v: dict[str, MetricsOverride]) -> dict[str, MetricsOverride]:
        out = {}
        for k, o in v.items():
            try:
                out[eth_address(k)] = o
            except ValueError:
                raise ValueError(f"keys must be eth addresses: {k[:60]!r}") from None
        return out


class DiscoverySettings(Section):
    targets: list[StaticTarget] = Field(default_factory=list, description="Static targets.")
    target_files: list[Path] = Field(
        default_factory=list, description="Prometheus file_sd files (JSON or YAML) or plain lists of URLs."
    )
    chain: ChainSettings | None = None
    interval_s: float = Field(300.0, gt=0, description="Re-discover this often.")
    resolve_names: bool = Field(
        True, description="Resolve target host names at each walk and refuse names of forbidden addresses."
    )

    @model_validator(mode="after")
    def _chain_needs_rpc(self) -> "DiscoverySettings":
        if self.chain is not None and not self.chain.rpc_urls:
            raise ValueError("chain discovery needs at least one URL in chain.rpc_urls")
        return self
