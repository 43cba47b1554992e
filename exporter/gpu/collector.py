"""Turns GPU readings into Prometheus families (`naap_gpu_*`), one series per GPU labelled `gpu_id` (UUID)."""

from __future__ import annotations

import logging
import time
from typing import Iterator

from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.registry import Collector

from exporter.gpu.source import GpuReading, GpuSource

log = logging.getLogger(__name__)

# attribute of GpuReading -> (family name, help)
GAUGES: tuple[tuple[str, str, str], ...] = (
    ("utilization_ratio", "naap_gpu_utilization_ratio", "Fraction of time a kernel was running on the GPU (NVML)."),
    ("memory_utilization_ratio", "naap_gpu_memory_utilization_ratio", "Fraction of time device memory was read or written."),
    ("memory_used_bytes", "naap_gpu_memory_used_bytes", "Device memory in use."),
    ("memory_total_bytes", "naap_gpu_memory_total_bytes", "Device memory installed."),
    ("power_watts", "naap_gpu_power_watts", "Power draw."),
    ("power_limit_watts", "naap_gpu_power_limit_watts", "Enforced power limit."),
    ("temperature_celsius", "naap_gpu_temperature_celsius", "Core temperature."),
)


class GpuCollector(Collector):
    def __init__(self, source: GpuSource) -> None:
        self.source = source
        self.last_duration_s = 0.0
        self.errors = 0

    def readings(self) -> list[GpuReading]:
        t0 = time.perf_counter()
        try:
            return self.source.read()
        except Exception:  # a failing source must never break /metrics for the other families
            self.errors += 1
            log.exception("GPU source %s failed", self.source.name)
            return []
        finally:
            self.last_duration_s = time.perf_counter() - t0

    def collect(self) -> Iterator[Metric]:
        readings = self.readings()
        if not readings:
            return
        info = InfoMetricFamily(
            "naap_gpu",
            "GPU identity: UUID, model, VRAM, driver, CUDA and compute capability.",
            labels=["gpu_id", "gpu_index"],
        )
        for r in readings:
            info.add_metric(
                [r.uuid, str(r.index)],
                {
                    "name": r.name,
                    "vram_bytes": str(r.memory_total_bytes or ""),
                    "driver_version": r.driver_version,
                    "cuda_version": r.cuda_version,
                    "compute_capability": r.compute_capability,
                },
            )
        yield info
        for attr, fam_name, help_text in GAUGES:
            fam = GaugeMetricFamily(fam_name, help_text, labels=["gpu_id"])
            for r in readings:
                v = getattr(r, attr)
                if v is not None:
                    fam.add_metric([r.uuid], float(v))
            if fam.samples:
                yield fam
