"""The scraper's configuration: interval, caps, concurrency, shard, timestamp bounds and its own /metrics.
The `scraper` section of the settings."""

from __future__ import annotations

import re

from pydantic import Field, field_validator, model_validator

from exporter.common.configfile import Section


class ScraperSettings(Section):
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
        3600.0, ge=0, description="Samples stamped longer ago than this (vs the scrape's start) are dropped and counted, "
        "never re-dated (Prometheus: the head's one-hour appendable window)."
    )
    timestamp_max_future_s: float = Field(
        600.0, ge=0, description="Samples stamped further ahead than this are dropped and counted (Prometheus: ten minutes)."
    )
    shed_at: float = Field(
        0.8, gt=0, le=1, description="Skip scrapes (void, counted) while the write queue is this full, so that nothing "
        "already scraped has to be dropped."
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
