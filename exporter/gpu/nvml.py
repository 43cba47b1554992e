"""GPU readings through NVML (the `pynvml` module from NVIDIA's nvidia-ml-py package).

No GPU or no driver is normal (CI has none): the source reports itself unavailable, says so once in the
log, and the GPU families are simply absent. A field a given GPU does not support (NVML_ERROR_NOT_SUPPORTED
is common on consumer cards) is left out, not reported as zero.
"""

from __future__ import annotations

import logging
from types import ModuleType
from typing import Any, Callable

from exporter.gpu.source import GpuReading

log = logging.getLogger(__name__)


def _text(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


class NvmlSource:
    name = "nvml"

    def __init__(self, nvml: ModuleType | None = None) -> None:
        # `nvml` is injectable so tests can feed recorded values (a stand-in; the real path runs on GPUs).
        self._nvml = nvml
        self._ok: bool | None = None
        self.errors = 0
        self._static: dict[int, dict[str, Any]] = {}

    def available(self) -> bool:
        if self._ok is None:
            self._ok = self._init()
        return self._ok

    def _init(self) -> bool:
        try:
            if self._nvml is None:
                import pynvml  # noqa: PLC0415 - optional at import time of the package

                self._nvml = pynvml
            self._nvml.nvmlInit()
            count = self._nvml.nvmlDeviceGetCount()
        except Exception as e:  # NVMLError_LibraryNotFound, DriverNotLoaded, ImportError, ...
            log.info("NVML unavailable (%s): no GPU families will be exposed", e)
            return False
        if count == 0:
            log.info("NVML found no GPUs: no GPU families will be exposed")
            return False
        log.info("NVML: %d GPU(s) found", count)
        return True

    def _get(self, fn: Callable[..., Any], *args: Any) -> Any:
        try:
            return fn(*args)
        except Exception:
            return None

    def _static_info(self, i: int, h: Any) -> dict[str, Any]:
        # Identity, driver and capability do not change while the process runs: read once.
        if i not in self._static:
            n = self._nvml
            cc = self._get(n.nvmlDeviceGetCudaComputeCapability, h)
            cuda = self._get(n.nvmlSystemGetCudaDriverVersion)
            self._static[i] = {
                "uuid": _text(self._get(n.nvmlDeviceGetUUID, h) or f"GPU-index-{i}"),
                "name": _text(self._get(n.nvmlDeviceGetName, h) or "unknown"),
                "driver_version": _text(self._get(n.nvmlSystemGetDriverVersion) or ""),
                "cuda_version": f"{cuda // 1000}.{(cuda % 1000) // 10}" if isinstance(cuda, int) else "",
                "compute_capability": f"{cc[0]}.{cc[1]}" if cc else "",
            }
        return self._static[i]

    def read(self) -> list[GpuReading]:
        if not self.available():
            return []
        n = self._nvml
        out: list[GpuReading] = []
        try:
            count = n.nvmlDeviceGetCount()
        except Exception:
            self.errors += 1
            return []
        for i in range(count):
            h = self._get(n.nvmlDeviceGetHandleByIndex, i)
            if h is None:
                self.errors += 1
                continue
            info = self._static_info(i, h)
            r = GpuReading(index=i, **info)
            mem = self._get(n.nvmlDeviceGetMemoryInfo, h)
            if mem is not None:
                r.memory_total_bytes = int(mem.total)
                r.memory_used_bytes = int(mem.used)
            util = self._get(n.nvmlDeviceGetUtilizationRates, h)
            if util is not None:
                r.utilization_ratio = util.gpu / 100.0
                r.memory_utilization_ratio = util.memory / 100.0
            power = self._get(n.nvmlDeviceGetPowerUsage, h)
            if power is not None:
                r.power_watts = power / 1000.0
            limit = self._get(n.nvmlDeviceGetEnforcedPowerLimit, h)
            if limit is not None:
                r.power_limit_watts = limit / 1000.0
            temp = self._get(n.nvmlDeviceGetTemperature, h, getattr(n, "NVML_TEMPERATURE_GPU", 0))
            if temp is not None:
                r.temperature_celsius = float(temp)
            out.append(r)
        return out
