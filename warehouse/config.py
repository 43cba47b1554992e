"""The warehouse's configuration: where it is (a DSN, or the embedded default's data directory), the database,
retention, and how the writer batches. The `warehouse` section of the settings."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import Field, field_validator

from exporter.common.configfile import Section

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
DSN_SCHEMES = frozenset({"chdb", "http", "https", "clickhouse", "clickhouses"})


def default_data_dir() -> Path:
    """The per-user data directory (platformdirs), where the embedded warehouse lives by default."""
    try:
        import platformdirs

        return Path(platformdirs.user_data_dir("naap", appauthor=False))
    except ImportError:  # exporter-only installs never open a warehouse
        return Path.home() / ".local" / "share" / "naap"


class WarehouseSettings(Section):
    dsn: str | None = Field(
        None,
        description="clickhouse-connect DSN. Default: chdb://<data_dir>/warehouse (embedded chDB). "
        "http(s)://user:pass@host:8123 targets a ClickHouse server with the same code.",
    )
    data_dir: Path = Field(default_factory=default_data_dir, description="Where the embedded warehouse lives.")
    database: str = Field("naap", description="ClickHouse database holding every table.")
    sample_ttl_days: int = Field(30, ge=0, le=3650, description="Days raw samples are kept; 0 keeps them forever.")
    scrape_ttl_days: int = Field(
        400, ge=0, le=3650, description="Days scrape rows (availability's source) are kept; 0 keeps them forever."
    )
    void_ttl_days: int = Field(400, ge=0, le=3650, description="Days void windows are kept; 0 keeps them forever.")
    snapshot_ttl_days: int = Field(90, ge=0, le=3650, description="Days discovery snapshots are kept; 0 keeps them forever.")
    score_ttl_days: int = Field(0, ge=0, le=36500, description="Days published scores are kept; 0 (default) keeps them forever.")
    rollup_1m_ttl_days: int = Field(
        90, ge=0, le=36500, description="Days the 1-minute rollups (rollup_1m_v1) are kept; 0 keeps them forever."
    )
    rollup_5m_ttl_days: int = Field(
        400, ge=0, le=36500, description="Days the 5-minute rollups (rollup_5m_v1) are kept; 0 keeps them forever."
    )
    rollup_1h_ttl_days: int = Field(
        0, ge=0, le=36500, description="Days the 1-hour rollups (rollup_1h_v1) are kept; 0 (default) keeps them forever."
    )
    probe_ttl_days: int = Field(
        400, ge=0, le=36500, description="Days probe results (probe_runs, signed) are kept; 0 keeps them forever."
    )
    probe_sample_ttl_days: int = Field(
        30, ge=0, le=3650, description="Days the probes' per-second samples (probe_samples) are kept; 0 keeps them forever."
    )
    batch_rows: int = Field(50_000, ge=1, le=10_000_000, description="Flush a sample batch at this many rows.")
    flush_interval_s: float = Field(1.0, gt=0, le=60, description="Flush pending rows at least this often.")
    max_buffered_rows: int = Field(
        2_000_000, ge=1, description="Rows held while the warehouse is slow or down; past this the oldest batches are dropped."
    )
    max_buffered_mb: int = Field(
        256, ge=1, description="Encoded samples held while the warehouse is slow or down (MiB); past this the oldest batches are dropped."
    )
    connect_timeout_s: float = Field(
        5.0, ge=0.1, le=300, description="ClickHouse server only: time limit to connect; past it the request fails."
    )
    read_timeout_s: float = Field(
        30.0, ge=1, le=3600,
        description="ClickHouse server only: longest wait for the server's next bytes (a query running on a real server "
        "sends progress meanwhile); past it the request fails, so a hung server cannot hang naap.",
    )  # fmt: skip

    @field_validator("database")
    @classmethod
    def _plain_identifier(cls, v: str) -> str:
        if not _IDENTIFIER.match(v):
            raise ValueError("must be a plain identifier (letters, digits, underscore)")
        return v

    @field_validator("dsn")
    @classmethod
    def _known_scheme(cls, v: str | None) -> str | None:
        if v is None:
            return v
        scheme = v.split("://", 1)[0].lower() if "://" in v else ""
        if scheme not in DSN_SCHEMES:
            raise ValueError("must start with chdb://, http:// or https://")
        return v

    def resolved_dsn(self) -> str:
        if self.dsn:
            return self.dsn
        return f"chdb://{(self.data_dir / 'warehouse').resolve()}"
