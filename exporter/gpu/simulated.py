"""A simulated GPU source for the demo, `naap exporter --simulate` and tests on machines without a GPU.

It is a stand-in, and says so: every reading's UUID starts with ``GPU-sim-``. Utilization and power follow
the load the simulated runner puts on each GPU, so dashboards built on it behave like real ones.
"""

from __future__ import annotations

import random
import uuid
from typing import Callable

from exporter.gpu.source import GpuReading

# name, VRAM bytes, power limit W, compute capability
SIMULATED_MODELS = {
    "H100": ("NVIDIA H100 80GB HBM3", 80 * 1024**3, 700.0, "9.0"),
    "L40S": ("NVIDIA L40S", 48 * 1024**3, 350.0, "8.9"),
    "A100": ("NVIDIA A100-SXM4-80GB", 80 * 1024**3, 400.0, "8.0"),
    "RTX4090": ("NVIDIA GeForce RTX 4090", 24 * 1024**3, 450.0, "8.9"),
    "RTX5090": ("NVIDIA GeForce RTX 5090", 32 * 1024**3, 575.0, "12.0"),
}


class SimulatedGpuSource:
    name = "simulated"

    def __init__(
        self,
        count: int = 1,
        model: str = "RTX4090",
        seed: int = 0,
        load: Callable[[str], float] | None = None,
    ) -> None:
        if model not in SIMULATED_MODELS:
            raise ValueError(f"unknown simulated GPU model {model!r}; choose from {sorted(SIMULATED_MODELS)}")
        self._rng = random.Random(seed)
        self._model = SIMULATED_MODELS[model]
        self._load = load or (lambda _uuid: 0.0)
        ns = uuid.UUID(int=seed & ((1 << 128) - 1))
        self.uuids = [f"GPU-sim-{uuid.uuid5(ns, str(i))}" for i in range(count)]
        self._temps = [35.0 + self._rng.random() * 5 for _ in range(count)]

    def available(self) -> bool:
        return bool(self.uuids)

    def read(self) -> list[GpuReading]:
        name, vram, limit, cc = self._model
        out = []
        for i, gid in enumerate(self.uuids):
            load = max(0.0, min(1.0, self._load(gid)))
            util = max(0.0, min(1.0, 0.03 + 0.9 * load + self._rng.gauss(0, 0.03)))
            # temperature relaxes towards a load-dependent equilibrium
            target_t = 34.0 + 45.0 * util
            self._temps[i] += (target_t - self._temps[i]) * 0.3
            out.append(
                GpuReading(
                    index=i,
                    uuid=gid,
                    name=name,
                    memory_total_bytes=vram,
                    memory_used_bytes=int(vram * (0.04 + 0.6 * load)),
                    utilization_ratio=round(util, 3),
                    memory_utilization_ratio=round(util * 0.6, 3),
                    power_watts=round(limit * (0.12 + 0.8 * util), 1),
                    power_limit_watts=limit,
                    temperature_celsius=round(self._temps[i], 1),
                    driver_version="580.95.05",
                    cuda_version="13.0",
                    compute_capability=cc,
                )
            )
        return out
