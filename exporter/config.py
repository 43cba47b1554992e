"""Exporter configuration: one validated object, from a YAML file and/or CLI flags (flags win).

    host: 0.0.0.0            # /metrics listener
    port: 9935
    orchestrator: "0x…"      # shown in naap_exporter_build_info
    region: us-east
    nvml: true
    gpu_interval_s: 1
    dcgm: {mode: auto, url: null, interval_s: 5}
    livepeer: {url: "http://127.0.0.1:7935/metrics", interval_s: 15}
    push: {enabled: true, host: 127.0.0.1, port: 9936, allow: ["127.0.0.0/8", "::1/128"]}
    cue: {model_flops: {my-model: 1.2e12}}
    host_metrics: {enabled: true, interval_s: 5, disk_path: /}   # the `host` source (`host` is the listen address)
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from exporter.common.configfile import ConfigFileError, Section, build_model, deep_update, read_yaml_mapping
from exporter.common.eth import OptionalEthAddress
from exporter.common.net import EXPORTER_PORT, PUSH_PORT
from exporter.gpu.simulated import SIMULATED_MODELS
from exporter.simulate import PROFILES

_LOOPBACK = ["127.0.0.0/8", "::1/128"]


class ExporterConfigError(ConfigFileError):
    """An exporter configuration that cannot be used; the message names the file and field."""


def _http_url(v: str | None) -> str | None:
    """An http(s) URL a source can fetch, or None; ValueError (the message names what is wrong) otherwise."""
    if v is None or v == "":
        return None
    if any(c.isspace() or ord(c) < 32 for c in v):
        raise ValueError("must be an http(s)://host[:port]/path URL without spaces or control characters")
    parts = urlsplit(v)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http(s)://host[:port]/path URL")
    try:
        port = parts.port
    except ValueError:
        raise ValueError("has a port that is not a number in 1..65535") from None
    if port == 0:
        raise ValueError("has port 0, which nothing can listen on")
    return v


class DcgmConfig(Section):
    mode: Literal["auto", "bindings", "url", "off"] = Field(
        "auto", description="auto: dcgm-exporter URL if set, else DCGM bindings if importable; off: never."
    )
    url: str | None = Field(None, description="A co-located dcgm-exporter's /metrics URL.")
    interval_s: float = Field(5.0, gt=0, le=3600)
    timeout_s: float = Field(3.0, gt=0, le=60)

    @field_validator("mode", mode="before")
    @classmethod
    def _yaml_off(cls, v: object) -> object:
        return "off" if v is False else v  # YAML 1.1 reads a bare `off` as false

    @field_validator("url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        return _http_url(v)

    @model_validator(mode="after")
    def _needs_url(self) -> DcgmConfig:
        if self.mode == "url" and not self.url:
            raise ValueError("dcgm.mode=url needs dcgm.url")
        return self


class LivepeerConfig(Section):
    url: str | None = Field(None, description="The local go-livepeer /metrics URL to relay (off when unset).")
    interval_s: float = Field(15.0, gt=0, le=3600)
    timeout_s: float = Field(5.0, gt=0, le=60)
    max_bytes: int = Field(16 << 20, gt=0, le=256 << 20)

    @field_validator("url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        return _http_url(v)


class PushConfig(Section):
    enabled: bool | None = Field(
        None, description="Accept pushes from runners in other processes/containers (default: on, off when simulating)."
    )
    host: str = Field("127.0.0.1", description="Push listener address (loopback by default).")
    port: int | None = Field(None, ge=0, le=65535, description="Default 9936; 0 (any free port) when port is 0.")
    allow: list[str] = Field(default_factory=lambda: list(_LOOPBACK), description="Peer networks allowed to push.")
    max_body_bytes: int = Field(256 * 1024, ge=1024, le=16 << 20)
    max_runners: int = Field(64, ge=1, le=4096)
    max_streams: int = Field(4096, ge=1, le=1 << 20)
    max_workflows: int = Field(256, ge=1, le=65536)
    stale_s: float = Field(15.0, gt=0, le=3600)

    @field_validator("allow")
    @classmethod
    def _nets(cls, v: list[str]) -> list[str]:
        for net in v:
            try:
                ipaddress.ip_network(net, strict=False)
            except ValueError:
                raise ValueError(f"{net!r} is not an IP network (e.g. 127.0.0.0/8, 172.17.0.0/16)") from None
        return v


class CueConfig(Section):
    peak_table: Path | None = Field(None, description="Replacement peak-FLOPS YAML (same shape as the shipped one).")
    model_flops: dict[str, float] = Field(default_factory=dict, description="FLOPs per output frame by model_id.")

    @field_validator("model_flops")
    @classmethod
    def _positive(cls, v: dict[str, float]) -> dict[str, float]:
        for k, x in v.items():
            if not (x >= 0 and x < 1e18):
                raise ValueError(f"{k}: FLOPs per frame must be in [0, 1e18)")
        return v


class HostMetricsConfig(Section):
    """The `host` source (exporter.host): this machine's CPU, load, memory, filesystem, disk and network."""

    enabled: bool = Field(True, description="Expose the host's CPU, load, memory, disk and network (naap_host_*).")
    interval_s: float = Field(5.0, gt=0, le=3600, description="Seconds between reads of /proc.")
    disk_path: str = Field(
        "/", min_length=1, max_length=4096, description="Absolute path whose filesystem's size and free space are shown."
    )
    proc_path: str = Field(
        "/proc", min_length=1, max_length=4096, description="Where procfs is mounted (/host/proc in a container)."
    )

    @field_validator("disk_path", "proc_path")
    @classmethod
    def _absolute(cls, v: str) -> str:
        if not v.startswith("/") or "\0" in v:
            raise ValueError("must be an absolute path")
        return v


class ExporterConfig(Section):
    host: str = Field("0.0.0.0", description="Address to listen on.")
    port: int = Field(EXPORTER_PORT, ge=0, le=65535, description="Port to listen on (0 picks a free one).")
    orchestrator: OptionalEthAddress = Field("", description="This orchestrator's Ethereum address (shown in build info).")
    region: str = Field("", max_length=64, description="Declared region, e.g. us-east.")
    nvml: bool = Field(True, description="Read GPUs through NVML when a driver is present.")
    gpu_interval_s: float = Field(1.0, gt=0, le=3600, description="How often GPUs are read.")
    window_s: float = Field(5.0, gt=0, le=60, description="FPS window; jitter uses the trailing 12 windows.")
    dcgm: DcgmConfig = Field(default_factory=DcgmConfig)
    livepeer: LivepeerConfig = Field(default_factory=LivepeerConfig)
    push: PushConfig = Field(default_factory=PushConfig)
    cue: CueConfig = Field(default_factory=CueConfig)
    # Named host_metrics, not host: `host` is the listen address. Real values in simulate mode too.
    host_metrics: HostMetricsConfig = Field(default_factory=HostMetricsConfig)
    simulate: bool = Field(False, description="Serve a simulated GPU source and runner instead of real ones.")
    gpus: int = Field(1, ge=0, le=64, description="Simulated GPUs.")
    streams: int = Field(4, ge=0, le=4096, description="Simulated concurrent streams.")
    profile: str = Field("steady", description=f"Simulated quality profile: {', '.join(PROFILES)}.")
    gpu_model: str = Field("RTX4090", description=f"Simulated GPU model: {', '.join(SIMULATED_MODELS)}.")
    simulate_dcgm: bool = Field(False, description="Simulated GPUs also report DCGM profiling (CUE method dcgm).")
    seed: int = Field(0, description="Seed of the simulation (stable UUIDs and noise).")

    @field_validator("region")
    @classmethod
    def _region(cls, v: str) -> str:
        if v and not re.fullmatch(r"[A-Za-z0-9._-]+", v):
            raise ValueError("letters, digits, '.', '_' and '-' only")
        return v

    @field_validator("profile")
    @classmethod
    def _profile(cls, v: str) -> str:
        if v not in PROFILES:
            raise ValueError(f"unknown profile; choose from {', '.join(PROFILES)}")
        return v

    @field_validator("gpu_model")
    @classmethod
    def _model(cls, v: str) -> str:
        if v not in SIMULATED_MODELS:
            raise ValueError(f"unknown model; choose from {', '.join(SIMULATED_MODELS)}")
        return v

    @model_validator(mode="after")
    def _ports(self) -> ExporterConfig:
        # Resolve the push defaults: a simulated exporter has no runner to push (and a demo fleet of them
        # must not fight over one port); an exporter on an ephemeral port takes an ephemeral push port.
        if self.push.enabled is None:
            self.push.enabled = not self.simulate
        if self.push.port is None:
            self.push.port = 0 if self.port == 0 else PUSH_PORT
        if self.push.enabled and self.push.port and self.push.port == self.port:
            raise ValueError("push.port must differ from port (pushes get their own loopback listener)")
        return self


def load_exporter_config(path: str | Path | None, overrides: dict[str, Any]) -> ExporterConfig:
    """File first, then flags (None means "not given"); nested sections merge key by key."""
    data: dict[str, Any] = {}
    try:
        if path:
            data = read_yaml_mapping(path)

        def given(d: dict[str, Any]) -> dict[str, Any]:
            out = {}
            for k, v in d.items():
                if isinstance(v, dict):
                    v = given(v)
                    if v:
                        out[k] = v
                elif v is not None:
                    out[k] = v
            return out

        deep_update(data, given(overrides))
        return build_model(ExporterConfig, data, f"{path}, flags" if path else "flags")
    except ConfigFileError as e:
        raise ExporterConfigError(str(e)) from None
