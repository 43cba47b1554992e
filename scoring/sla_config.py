"""The versioned SLA config: loaded, validated, and identified by version + content hash."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from exporter.common.configfile import ConfigFileError, build_model
from scoring.sla_v1 import ConfigV1, SpecV1, SpecV2, SpecV21, config_v1

CURRENT = "sla-v2.1.yaml"


class ConfigError(ConfigFileError):
    """An SLA config that cannot be used; the message names the file and field."""


class _Workflow(BaseModel):
    model_config = ConfigDict(extra="forbid")
    output_fps: float = Field(gt=0, le=1000)


class _MinSamples(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scrapes: int = Field(ge=1)
    output_fps: int = Field(ge=1)


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: str = Field(pattern=r"^v[0-9][0-9a-z.\-]*$")
    periods: dict[str, int]
    step_s: int = Field(ge=1, le=86400)
    min_samples: _MinSamples
    weights: dict[str, float]
    fps_percentile: float = Field(gt=0, lt=1)
    workflows: dict[str, _Workflow]
    # What a scored subscore without enough data does to the score. v0 (released before this rule) left it out of
    # the weighted mean, which paid an orchestrator for hiding a family; every later version must say.
    missing_data: Literal["insufficient_data"] | None = None

    @field_validator("periods")
    @classmethod
    def _periods(cls, v: dict[str, int]) -> dict[str, int]:
        if not v:
            raise ValueError("at least one period")
        for name, secs in v.items():
            if not name.replace("_", "").isalnum() or not (60 <= secs <= 90 * 86400):
                raise ValueError(f"period {name!r}: name alphanumeric, 60 s <= length <= 90 days")
        return v

    @field_validator("weights")
    @classmethod
    def _weights(cls, v: dict[str, float]) -> dict[str, float]:
        unknown = set(v) - {"availability", "output_fps"}
        if unknown:
            raise ValueError(f"unknown subscores {sorted(unknown)}")
        if any(w < 0 for w in v.values()) or sum(v.values()) <= 0:
            raise ValueError("weights must be >= 0 with a positive sum")
        return v

    @model_validator(mode="after")
    def _default(self) -> "_Spec":
        if "default" not in self.workflows:
            raise ValueError("workflows needs a 'default' entry")
        if self.missing_data is None and self.version != "v0":
            raise ValueError("missing_data is required (insufficient_data): missing data must never pay")
        return self


@dataclass(frozen=True)
class SlaConfig:
    version: str
    hash: str
    periods: dict[str, int]
    step_s: int
    min_scrapes: int
    min_fps_samples: int
    weights: dict[str, float]
    fps_percentile: float
    fps_targets: dict[str, float]  # model_id -> target fps; "default" included
    missing_data: str = "insufficient_data"  # or "skip": v0's rule, kept so v0 scores replay


def _canonical_hash(data: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


# Either engine's config: v0.x (scoring/compute.py) or v1 (scoring/score_v1.py); `version` picks the engine.
AnyConfig = SlaConfig | ConfigV1


def is_v1(config: AnyConfig) -> bool:
    return isinstance(config, ConfigV1)


def parse_config(text: str, origin: str = "<config>") -> AnyConfig:
    """A config from YAML text: v0.x or v1 by its `version` field. Raises ConfigError naming `origin` and the field."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(f"{origin}: not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{origin}: must hold a mapping")
    version = str(data.get("version", ""))
    if version.startswith(("v1", "v2")):  # v2 = v1's engine with the prober's results (scoring/probe_totals.py)
        spec: type[SpecV1] = SpecV1
        if version.startswith("v2"):  # v2.1 is told by the key v2's schema forbids, so v2 keeps its hash
            probes = data.get("probes")
            spec = SpecV21 if isinstance(probes, dict) and "count_unreached" in probes else SpecV2
        try:
            return config_v1(build_model(spec, data, origin))
        except ConfigFileError as e:
            raise ConfigError(str(e)) from None
    try:
        spec = build_model(_Spec, data, origin)
    except ConfigFileError as e:
        raise ConfigError(str(e)) from None
    canonical = spec.model_dump(exclude_none=True)  # v0's hash is what it was before `missing_data` existed
    return SlaConfig(
        version=spec.version,
        hash=_canonical_hash(canonical),
        periods=dict(spec.periods),
        step_s=spec.step_s,
        min_scrapes=spec.min_samples.scrapes,
        min_fps_samples=spec.min_samples.output_fps,
        weights=dict(spec.weights),
        fps_percentile=spec.fps_percentile,
        fps_targets={k: w.output_fps for k, w in spec.workflows.items()},
        missing_data=spec.missing_data or "skip",
    )


def load_config(path: str | Path | None = None) -> AnyConfig:
    if path is None:
        text = resources.files("scoring.configs").joinpath(CURRENT).read_text(encoding="utf-8")
        return parse_config(text, f"scoring/configs/{CURRENT}")
    p = Path(path)
    try:
        return parse_config(p.read_text(encoding="utf-8"), str(p))
    except OSError as e:
        raise ConfigError(f"cannot read {p}: {e.strerror or e}") from None


def released_configs() -> dict[str, AnyConfig]:
    """Every released SLA config shipped in scoring/configs/, by version (for replaying published scores)."""
    out: dict[str, AnyConfig] = {}
    for entry in sorted(resources.files("scoring.configs").iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".yaml"):
            cfg = parse_config(entry.read_text(encoding="utf-8"), f"scoring/configs/{entry.name}")
            out[cfg.version] = cfg
    return out
