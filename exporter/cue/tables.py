"""The two data files CUE needs, loaded and validated: peak FLOP/s per GPU model, FLOPs per frame per model.

Both ship with the package (peak_flops.yaml, model_flops.yaml beside this file; every figure names its
source there) and both can be overridden by the operator's configuration.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator


class CueTableError(ValueError):
    pass


class PeakEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: str
    match: str
    fp16_tensor: float = Field(gt=0, description="TFLOP/s, dense")
    fp32: float = Field(gt=0, description="TFLOP/s")
    fp64: float | None = Field(None, ge=0, description="TFLOP/s")
    sms: int | None = Field(None, gt=0, le=1024, description="SMs of the whole GPU (scales the peak of a MIG instance)")
    source: str = Field(min_length=3)

    @field_validator("match")
    @classmethod
    def _regex(cls, v: str) -> str:
        try:
            re.compile(v)
        except re.error as e:
            raise ValueError(f"not a regular expression: {e}") from None
        return v


class PeakTable(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int
    reference: Literal["fp16_tensor"]
    gpus: list[PeakEntry] = Field(min_length=1)


class ModelEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    flops_per_frame: float = Field(ge=0)
    confidence: Literal["medium", "low"]
    derivation: str = Field(min_length=3)


class ModelTable(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int
    default_resolution: str
    models: dict[str, ModelEntry]


@dataclass(frozen=True)
class Peak:
    key: str
    fp16_tensor: float  # FLOP/s
    fp32: float
    fp64: float
    sms: int | None = None  # SMs of the whole GPU, when the table gives it

    def share(self, instance_sms: int | None) -> Peak | None:
        """The peak of a MIG instance with `instance_sms` SMs: this peak x instance_sms / sms (at most the whole
        GPU's). None when either SM count is unknown — then no proxy CUE rather than a guessed one."""
        if not self.sms or not instance_sms or instance_sms <= 0:
            return None
        f = min(1.0, instance_sms / self.sms)
        return Peak(f"{self.key}/{instance_sms}sm", self.fp16_tensor * f, self.fp32 * f, self.fp64 * f, instance_sms)


def _load(path: Path | None, packaged: str) -> Any:
    try:
        text = path.read_text() if path else resources.files("exporter.cue").joinpath(packaged).read_text()
        return yaml.safe_load(text)
    except OSError as e:
        raise CueTableError(f"cannot read {path or packaged}: {e.strerror or e}") from None
    except yaml.YAMLError as e:
        raise CueTableError(f"{path or packaged} is not valid YAML: {e}") from None


def _validated(model: type[BaseModel], data: Any, where: str) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        raise CueTableError(f"{where}: {'.'.join(map(str, first['loc']))}: {first['msg']}") from None


class CueTables:
    """Peak lookup by NVML name, FLOPs per frame by model_id (with the operator's overrides)."""

    def __init__(
        self,
        peak_path: Path | None = None,
        model_path: Path | None = None,
        model_overrides: dict[str, float] | None = None,
    ) -> None:
        peaks: PeakTable = _validated(PeakTable, _load(peak_path, "peak_flops.yaml"), str(peak_path or "peak_flops.yaml"))
        models: ModelTable = _validated(ModelTable, _load(model_path, "model_flops.yaml"), str(model_path or "model_flops.yaml"))
        self.peak_entries = peaks.gpus
        self._patterns = [(re.compile(e.match, re.IGNORECASE), e) for e in peaks.gpus]
        self.models: dict[str, ModelEntry] = dict(models.models)
        for model_id, flops in (model_overrides or {}).items():
            self.models[model_id] = ModelEntry(
                flops_per_frame=flops, confidence="medium", derivation="operator configuration (cue.model_flops)"
            )
        self._cache: dict[str, Peak | None] = {}

    def peak(self, gpu_name: str) -> Peak | None:
        if gpu_name not in self._cache:
            hit = next((e for rx, e in self._patterns if rx.search(gpu_name)), None)
            self._cache[gpu_name] = (
                Peak(hit.key, hit.fp16_tensor * 1e12, hit.fp32 * 1e12, (hit.fp64 or 0.0) * 1e12, hit.sms) if hit else None
            )
        return self._cache[gpu_name]

    def flops_per_frame(self, model_id: str) -> ModelEntry | None:
        return self.models.get(model_id)
