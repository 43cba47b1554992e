"""The contract between GPU sources and the GPU collector: a list of readings per poll."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

# DCGM profiling fields (ratios 0..1) a reading may carry, by our short name.
PROFILING_FIELDS = (
    "graphics_engine_active",
    "sm_active",
    "sm_occupancy",
    "tensor_active",
    "fp16_active",
    "fp32_active",
    "fp64_active",
    "dram_active",
)


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
    energy_joules: float | None = None  # since the driver loaded (a counter)
    temperature_celsius: float | None = None
    sm_clock_hertz: float | None = None
    memory_clock_hertz: float | None = None
    pcie_tx_bytes_per_second: float | None = None
    pcie_rx_bytes_per_second: float | None = None
    encoder_utilization_ratio: float | None = None
    decoder_utilization_ratio: float | None = None
    ecc_corrected_errors: int | None = None  # volatile: since the driver loaded
    ecc_uncorrected_errors: int | None = None
    xid_errors: int | None = None  # critical XID events seen since the exporter started
    xid_last: int | None = None
    driver_version: str = ""
    cuda_version: str = ""
    compute_capability: str = ""
    profiling: dict[str, float] = field(default_factory=dict)  # PROFILING_FIELDS, from DCGM
    profiling_source: str = ""


class GpuSource(Protocol):
    name: str

    def available(self) -> bool: ...

    def read(self) -> list[GpuReading]: ...
