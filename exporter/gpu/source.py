"""The contract between a GPU source and the GPU collector: a list of readings per scrape."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass
class GpuReading:
    """One GPU at one instant. Fields a source cannot read stay None and their series are omitted."""

    index: int
    uuid: str
    name: str
    memory_total_bytes: int | None = None
    memory_used_bytes: int | None = None
    utilization_ratio: float | None = None
    memory_utilization_ratio: float | None = None
    power_watts: float | None = None
    power_limit_watts: float | None = None
    temperature_celsius: float | None = None
    driver_version: str = ""
    cuda_version: str = ""
    compute_capability: str = ""
    extra: dict[str, float] = field(default_factory=dict)


class GpuSource(Protocol):
    name: str

    def available(self) -> bool: ...

    def read(self) -> list[GpuReading]: ...
