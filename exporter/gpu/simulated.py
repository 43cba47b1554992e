"""A simulated GPU source for the demo, `naap exporter --simulate` and tests on machines without a GPU.

It is a stand-in, and says so: every reading's UUID starts with ``GPU-sim-``. Utilization, power, clocks
and PCIe traffic follow the load the simulated runner puts on each GPU, so dashboards built on it behave
like real ones. With `dcgm=True` it also reports DCGM-style profiling ratios (so the `dcgm` CUE method can
be seen without DCGM), labelled as coming from the simulation.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from typing import Callable

from exporter.gpu.source import GpuReading


@dataclass(frozen=True)
class SimModel:
    name: str  # as NVML reports it
    vram_bytes: int
    power_limit_watts: float
    compute_capability: str
    sm_clock_mhz: float  # boost clock under load
    memory_clock_mhz: float


SIMULATED_MODELS = {
    "H100": SimModel("NVIDIA H100 80GB HBM3", 80 * 1024**3, 700.0, "9.0", 1980.0, 2619.0),
    "L40S": SimModel("NVIDIA L40S", 48 * 1024**3, 350.0, "8.9", 2520.0, 9001.0),
    "A100": SimModel("NVIDIA A100-SXM4-80GB", 80 * 1024**3, 400.0, "8.0", 1410.0, 1593.0),
    "RTX4090": SimModel("NVIDIA GeForce RTX 4090", 24 * 1024**3, 450.0, "8.9", 2520.0, 10501.0),
    "RTX5090": SimModel("NVIDIA GeForce RTX 5090", 32 * 1024**3, 575.0, "12.0", 2407.0, 14001.0),
}


class SimulatedGpuSource:
    name = "simulated"

    def __init__(
        self,
        count: int = 1,
        model: str = "RTX4090",
        seed: int = 0,
        load: Callable[[str], float] | None = None,
        dcgm: bool = False,
    ) -> None:
        if model not in SIMULATED_MODELS:
            raise ValueError(f"unknown simulated GPU model {model!r}; choose from {sorted(SIMULATED_MODELS)}")
        self._rng = random.Random(seed)
        self._model = SIMULATED_MODELS[model]
        self._load = load or (lambda _uuid: 0.0)
        self._dcgm = dcgm
        ns = uuid.UUID(int=seed & ((1 << 128) - 1))
        self.uuids = [f"GPU-sim-{uuid.uuid5(ns, str(i))}" for i in range(count)]
        self._temps = [35.0 + self._rng.random() * 5 for _ in range(count)]
        self._energy = [0.0] * count

    @property
    def reason(self) -> str:
        return "" if self.uuids else "no simulated GPUs (--gpus 0)"

    def available(self) -> bool:
        return bool(self.uuids)

    def read(self) -> list[GpuReading]:
        m = self._model
        out = []
        for i, gid in enumerate(self.uuids):
            load = max(0.0, min(1.0, self._load(gid)))
            util = max(0.0, min(1.0, 0.03 + 0.9 * load + self._rng.gauss(0, 0.03)))
            # temperature relaxes towards a load-dependent equilibrium
            target_t = 34.0 + 45.0 * util
            self._temps[i] += (target_t - self._temps[i]) * 0.3
            power = round(m.power_limit_watts * (0.12 + 0.8 * util), 1)
            self._energy[i] += power  # as if read once a second
            r = GpuReading(
                index=i,
                uuid=gid,
                name=m.name,
                memory_total_bytes=m.vram_bytes,
                memory_used_bytes=int(m.vram_bytes * (0.04 + 0.6 * load)),
                utilization_ratio=round(util, 3),
                memory_utilization_ratio=round(util * 0.6, 3),
                power_watts=power,
                power_limit_watts=m.power_limit_watts,
                energy_joules=round(self._energy[i], 1),
                temperature_celsius=round(self._temps[i], 1),
                sm_clock_hertz=(345.0 + (m.sm_clock_mhz - 345.0) * min(1.0, util * 3)) * 1e6,
                memory_clock_hertz=m.memory_clock_mhz * 1e6,
                pcie_tx_bytes_per_second=round(2e6 + 4e7 * load),
                pcie_rx_bytes_per_second=round(2e6 + 3e7 * load),
                encoder_utilization_ratio=round(0.1 * load, 3),
                decoder_utilization_ratio=round(0.08 * load, 3),
                ecc_corrected_errors=0 if m.name.startswith(("NVIDIA H", "NVIDIA A", "NVIDIA L")) else None,
                ecc_uncorrected_errors=0 if m.name.startswith(("NVIDIA H", "NVIDIA A", "NVIDIA L")) else None,
                xid_errors=0,
                driver_version="580.95.05",
                cuda_version="13.0",
                compute_capability=m.compute_capability,
            )
            if self._dcgm:
                tensor = max(0.0, min(1.0, 0.55 * util + self._rng.gauss(0, 0.01)))
                r.profiling = {
                    "graphics_engine_active": round(util, 4),
                    "sm_active": round(0.85 * util, 4),
                    "sm_occupancy": round(0.4 * util, 4),
                    "tensor_active": round(tensor, 4),
                    "fp16_active": round(0.05 * util, 4),
                    "fp32_active": round(0.08 * util, 4),
                    "fp64_active": 0.0,
                    "dram_active": round(0.35 * util, 4),
                }
                r.profiling_source = "simulated"
            out.append(r)
        return out
