"""Exporter configuration: one validated object, from a YAML file and/or CLI flags."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from exporter.gpu.simulated import SIMULATED_MODELS
from exporter.simulate import PROFILES

DEFAULT_PORT = 9935  # discovery's convention: metrics at http://<service host>:9935/metrics

_ETH = re.compile(r"^0x[0-9a-fA-F]{40}$")


class ExporterConfigError(ValueError):
    pass


class ExporterConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = Field("0.0.0.0", description="Address to listen on.")
    port: int = Field(DEFAULT_PORT, ge=0, le=65535, description="Port to listen on (0 picks a free one).")
    orchestrator: str = Field("", description="This orchestrator's Ethereum address (shown in build info).")
    region: str = Field("", max_length=64, description="Declared region, e.g. us-east.")
    nvml: bool = Field(True, description="Read GPUs through NVML when a driver is present.")
    simulate: bool = Field(False, description="Serve a simulated GPU source and runner instead of real ones.")
    gpus: int = Field(1, ge=0, le=64, description="Simulated GPUs.")
    streams: int = Field(4, ge=0, le=4096, description="Simulated concurrent streams.")
    profile: str = Field("steady", description=f"Simulated quality profile: {', '.join(PROFILES)}.")
    gpu_model: str = Field("RTX4090", description=f"Simulated GPU model: {', '.join(SIMULATED_MODELS)}.")
    seed: int = Field(0, description="Seed of the simulation (stable UUIDs and noise).")

    @field_validator("orchestrator")
    @classmethod
    def _addr(cls, v: str) -> str:
        if v and not _ETH.match(v):
            raise ValueError("must be a 0x-prefixed 20-byte hex address")
        return v.lower()

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


def load_exporter_config(path: str | Path | None, overrides: dict[str, Any]) -> ExporterConfig:
    data: dict[str, Any] = {}
    if path:
        try:
            loaded = yaml.safe_load(Path(path).read_text())
        except OSError as e:
            raise ExporterConfigError(f"cannot read {path}: {e.strerror or e}") from None
        except yaml.YAMLError as e:
            raise ExporterConfigError(f"{path} is not valid YAML: {e}") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise ExporterConfigError(f"{path} must hold a mapping")
        data.update(loaded or {})
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return ExporterConfig(**data)
    except ValidationError as e:
        lines = ["invalid exporter configuration:"]
        lines += [f"  {'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors()]
        raise ExporterConfigError("\n".join(lines)) from None
