"""The contract between GPU sources and the GPU collector: a list of readings per poll.

A reading is one GPU, or one MIG GPU instance of a GPU, at one instant. It is identified by its key
`(uuid, gpu_instance)`: `uuid` is always the physical GPU's UUID (`GPU-…`), `gpu_instance` is "" for the
GPU itself and the GPU instance id ("1", "2", …) for a MIG instance — the pair dcgm-exporter labels as
`UUID` and `GPU_I_ID`. Two instances of one GPU therefore never share a key.

A reading with `readable=False` says a GPU the source knows of could not be read this time (fallen off the
bus, NVML_ERROR_GPU_IS_LOST, NVML_ERROR_UNKNOWN, …): it carries only the GPU's last known identity and the
reason, and the collector shows it as `naap_gpu_up 0` with no other values.
"""

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

GpuKey = tuple[str, str]  # (physical GPU UUID, GPU instance id or "" for the whole GPU)


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
    # MIG. On the GPU itself: mig_enabled. On a MIG GPU instance: gpu_instance (the GPU instance id, as
    # dcgm-exporter's GPU_I_ID), its profile ("1g.10gb", as GPU_I_PROFILE), the MIG device UUID ("MIG-…", what
    # CUDA_VISIBLE_DEVICES and `nvidia-smi -L` show; the first compute instance's when the GPU instance is split
    # further) and its SM count (for the instance's share of the GPU's peak FLOP/s).
    gpu_instance: str = ""
    gpu_instance_profile: str = ""
    mig_uuid: str = ""
    mig_uuids: tuple[str, ...] = ()  # every MIG device (compute instance) UUID of this GPU instance
    mig_enabled: bool = False
    multiprocessor_count: int | None = None
    # Health of this GPU in this read: False when it is known but could not be read (error says why).
    readable: bool = True
    error: str = ""

    @property
    def key(self) -> GpuKey:
        return (self.uuid, self.gpu_instance)


class GpuSource(Protocol):
    """What the GPU poller reads. `available()`: whether the source can be read at all (when False, `reason`
    says why, one line). `read()`: one reading per GPU and per MIG GPU instance, GPUs that could not be read
    included with `readable=False`; raises (SourceError) when the source as a whole cannot be read."""

    name: str
    reason: str

    def available(self) -> bool: ...

    def read(self) -> list[GpuReading]: ...
