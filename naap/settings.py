"""One typed settings object for the collector (scraper, discovery, scoring, API, warehouse).

Sources, lowest to highest precedence: defaults, a YAML file (``--config`` or ``NAAP_CONFIG``),
environment variables (``NAAP_<SECTION>__<FIELD>``, e.g. ``NAAP_SCRAPER__INTERVAL_S=5``), then
explicit overrides from CLI flags. Everything is validated at start-up; a bad value stops the
process with a message that names the field, before anything is started.
"""

from __future__ import annotations

import os
import re
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, InitSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict

# The YAML file's contents while load_settings builds a Settings: a source below the environment.
_FILE_DATA: ContextVar[dict[str, Any]] = ContextVar("naap_settings_file", default={})

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_ETH_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")


class SettingsError(ValueError):
    """Configuration that cannot be used; the message is meant for the operator."""


def default_data_dir() -> Path:
    try:
        import platformdirs

        return Path(platformdirs.user_data_dir("naap", appauthor=False))
    except ImportError:  # exporter-only installs never open a warehouse
        return Path.home() / ".local" / "share" / "naap"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class WarehouseSettings(_Section):
    dsn: str | None = Field(
        None,
        description="clickhouse-connect DSN. Default: chdb://<data_dir>/warehouse (embedded chDB). "
        "http(s)://user:pass@host:8123 targets a ClickHouse server with the same code.",
    )
    data_dir: Path = Field(default_factory=default_data_dir, description="Where the embedded warehouse lives.")
    database: str = Field("naap", description="ClickHouse database holding every table.")
    sample_ttl_days: int = Field(30, ge=0, le=3650, description="Days raw samples are kept; 0 keeps them forever.")
    batch_rows: int = Field(50_000, ge=1, le=10_000_000, description="Flush a sample batch at this many rows.")
    flush_interval_s: float = Field(1.0, gt=0, le=60, description="Flush pending rows at least this often.")
    max_buffered_rows: int = Field(
        2_000_000, ge=1, description="Rows held while the warehouse is slow or down; past this the oldest batches are dropped."
    )
    max_buffered_mb: int = Field(
        256, ge=1, description="Encoded samples held while the warehouse is slow or down (MiB); past this the oldest batches are dropped."
    )

    @field_validator("database")
    @classmethod
    def _db_ident(cls, v: str) -> str:
        if not _IDENT.match(v):
            raise ValueError("must be a plain identifier (letters, digits, underscore)")
        return v

    @field_validator("dsn")
    @classmethod
    def _dsn_scheme(cls, v: str | None) -> str | None:
        if v is None:
            return v
        scheme = v.split("://", 1)[0].lower() if "://" in v else ""
        if scheme not in {"chdb", "http", "https", "clickhouse", "clickhouses"}:
            raise ValueError("must start with chdb://, http:// or https://")
        return v

    def resolved_dsn(self) -> str:
        if self.dsn:
            return self.dsn
        return f"chdb://{(self.data_dir / 'warehouse').resolve()}"


class StaticTarget(_Section):
    url: str
    orchestrator: str = ""
    labels: dict[str, str] = Field(default_factory=dict)


class MetricsOverride(_Section):
    """Where one orchestrator's metrics are, when the convention does not fit: a whole URL or some parts."""

    url: str | None = Field(None, description="The whole metrics URL.")
    scheme: str | None = Field(None, pattern=r"^https?$")
    port: int | None = Field(None, ge=1, le=65535)
    path: str | None = Field(None, pattern=r"^/")

    @model_validator(mode="after")
    def _something(self) -> "MetricsOverride":
        if not (self.url or self.scheme or self.port or self.path):
            raise ValueError("give url, or one of scheme, port, path")
        if self.url and not re.match(r"^https?://[^/\s]+", self.url):
            raise ValueError("url must be an absolute http(s) URL")
        return self


class ChainSettings(_Section):
    rpc_urls: list[str] = Field(default_factory=list, description="Arbitrum One JSON-RPC URLs, tried in order.")
    controller: str = Field("0xD8E8328501E9645d16Cf49539efC04f734606ee4", description="Livepeer Controller address.")
    timeout_s: float = Field(10.0, gt=0, le=120, description="Time limit of one JSON-RPC request.")
    retries: int = Field(2, ge=0, le=10, description="Extra rounds over every RPC URL before a walk fails.")
    backoff_s: float = Field(0.5, ge=0, le=60, description="Pause after the first failed round; doubles per round.")
    max_requests_per_s: float = Field(20.0, ge=0, description="Request rate cap over all RPC URLs; 0: no cap.")
    concurrency: int = Field(4, ge=1, le=64, description="Orchestrators whose details are read at once.")
    max_pool_size: int = Field(1000, ge=1, description="A pool larger than this is treated as an inconsistent read.")
    active_only: bool = Field(True, description="Scrape only orchestrators in the active set.")
    metrics_scheme: str = Field("http", pattern=r"^https?$", description="Metrics URL convention: scheme.")
    metrics_port: int = Field(9935, ge=1, le=65535, description="Metrics URL convention: port on the service host.")
    metrics_path: str = Field("/metrics", pattern=r"^/", description="Metrics URL convention: path.")
    overrides: dict[str, MetricsOverride] = Field(
        default_factory=dict, description="Per-orchestrator metrics location, keyed by eth address."
    )

    @field_validator("controller")
    @classmethod
    def _addr(cls, v: str) -> str:
        if not _ETH_ADDRESS.match(v):
            raise ValueError("must be a 0x-prefixed 20-byte hex address")
        return v

    @field_validator("rpc_urls")
    @classmethod
    def _rpc_urls(cls, v: list[str]) -> list[str]:
        for u in v:
            if not re.match(r"^https?://[^/\s]+", u):
                raise ValueError(f"{u!r} is not an http(s) URL")
        return v

    @field_validator("overrides")
    @classmethod
    def _override_keys(cls, v: dict[str, MetricsOverride]) -> dict[str, MetricsOverride]:
        bad = [k for k in v if not _ETH_ADDRESS.match(k)]
        if bad:
            raise ValueError(f"keys must be eth addresses: {bad}")
        return {k.lower(): o for k, o in v.items()}


class DiscoverySettings(_Section):
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


class ScraperSettings(_Section):
    interval_s: float = Field(15.0, ge=0.1, le=3600, description="Scrape every target this often.")
    timeout_s: float = Field(10.0, gt=0, le=600, description="Whole-scrape time limit.")
    max_body_bytes: int = Field(16 * 1024 * 1024, ge=1024, description="Body size cap (after decompression).")
    sample_limit: int = Field(200_000, ge=1, description="Samples per scrape past which the scrape fails.")
    label_name_max: int = Field(128, ge=1, description="Longest label name accepted; longer fails the scrape.")
    label_value_max: int = Field(1024, ge=1, description="Longest label value accepted; longer fails the scrape.")
    labels_per_series_max: int = Field(64, ge=1, description="Most labels on one series; more fails the scrape.")
    allow_loopback: bool = Field(False, description="Allow 127.0.0.0/8 and ::1 targets (demo and tests only).")
    max_concurrency: int = Field(256, ge=1, le=100_000, description="Most scrapes in flight at once (one connection pool).")
    shard: str = Field("0/1", description="i/N: scrape only targets whose stable hash mod N is i.")
    per_host_connections: int = Field(2, ge=1, le=64, description="Most connections to one host:port at once.")
    timestamp_max_age_s: float = Field(
        300.0, ge=0, description="Exposition timestamps older than this (vs the scrape time) are replaced by the scrape time."
    )
    timestamp_max_future_s: float = Field(
        60.0, ge=0, description="Exposition timestamps further ahead than this are replaced by the scrape time."
    )
    series_cache_entries: int = Field(
        500_000, ge=0, description="Series the fast parser keeps rendered across scrapes (all targets together; ~400 B each)."
    )
    void_min_targets: int = Field(
        5, ge=1, description="A round in which at least this many targets all fail to be reached is void (the scraper's fault)."
    )
    metrics_host: str = Field("127.0.0.1", description="Standalone `naap scrape`: address of the /metrics listener.")
    metrics_port: int | None = Field(
        None, ge=0, le=65535, description="Standalone `naap scrape`: serve the scraper's own /metrics on this port (0 picks one)."
    )

    @field_validator("shard")
    @classmethod
    def _shard(cls, v: str) -> str:
        m = re.fullmatch(r"(\d+)/(\d+)", v.strip())
        if not m or int(m.group(2)) < 1 or int(m.group(1)) >= int(m.group(2)):
            raise ValueError("must be i/N with 0 <= i < N, e.g. 0/1 or 2/4")
        return v.strip()

    @model_validator(mode="after")
    def _timeout_fits(self) -> "ScraperSettings":
        if self.timeout_s > self.interval_s:
            raise ValueError(f"timeout_s ({self.timeout_s}) must not exceed interval_s ({self.interval_s})")
        return self

    @property
    def shard_index(self) -> int:
        return int(self.shard.split("/")[0])

    @property
    def shard_count(self) -> int:
        return int(self.shard.split("/")[1])


class ScoringSettings(_Section):
    config: Path | None = Field(None, description="SLA config YAML; default: the packaged current version.")
    interval_s: float = Field(60.0, gt=0, description="Recompute scores this often.")


class ApiSettings(_Section):
    host: str = Field("127.0.0.1", description="API listen address.")
    port: int = Field(8000, ge=0, le=65535, description="API port (0 picks a free one).")
    cors_origins: list[str] = Field(default_factory=lambda: ["*"], description="Origins allowed to embed the API (CORS).")
    rate_limit_per_minute: int = Field(600, ge=1, description="Public requests per client per minute.")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="NAAP_", env_nested_delimiter="__", extra="forbid", validate_assignment=True
    )

    warehouse: WarehouseSettings = Field(default_factory=WarehouseSettings)
    scraper: ScraperSettings = Field(default_factory=ScraperSettings)
    discovery: DiscoverySettings = Field(default_factory=DiscoverySettings)
    scoring: ScoringSettings = Field(default_factory=ScoringSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # First wins: CLI overrides, then the environment, then the YAML file, then defaults.
        return (init_settings, env_settings, InitSettingsSource(settings_cls, init_kwargs=_FILE_DATA.get()))


def _format_validation_error(err: ValidationError, origin: str) -> str:
    lines = [f"invalid configuration ({origin}):"]
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "(root)"
        lines.append(f"  {loc}: {e['msg']}")
    return "\n".join(lines)


def load_settings(config_file: str | Path | None = None, overrides: dict[str, Any] | None = None) -> Settings:
    """Build the settings from file, environment and overrides; raise SettingsError on any problem."""
    path = config_file or os.environ.get("NAAP_CONFIG")
    data: dict[str, Any] = {}
    origin = "defaults and environment"
    if path:
        p = Path(path)
        try:
            text = p.read_text()
        except OSError as e:
            raise SettingsError(f"cannot read config file {p}: {e.strerror or e}") from None
        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise SettingsError(f"config file {p} is not valid YAML: {e}") from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise SettingsError(f"config file {p} must hold a mapping of sections, got {type(loaded).__name__}")
        data = loaded
        origin = f"{p}, environment and flags"
    token = _FILE_DATA.set(data)
    try:
        return Settings(**(overrides or {}))
    except ValidationError as e:
        raise SettingsError(_format_validation_error(e, origin)) from None
    finally:
        _FILE_DATA.reset(token)
