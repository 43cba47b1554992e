"""GPU readings through NVML (the `pynvml` module from NVIDIA's nvidia-ml-py package).

No GPU or no driver is normal (CI has none): the source reports itself unavailable, says so once in the
log, and the GPU families are simply absent. A field a given GPU does not support (NVML_ERROR_NOT_SUPPORTED
is common on consumer cards: ECC, some clocks, encoder stats on some SKUs) is left out, never reported as 0.

Critical XID errors arrive as NVML events, not as a counter: the source registers every GPU for them once
and drains the event set without waiting on each read, so `xid_errors` counts what happened since the
exporter started.
"""

from __future__ import annotations

import logging
from types import ModuleType
from typing import Any, Callable

from exporter.gpu.source import GpuReading

log = logging.getLogger(__name__)

_MAX_EVENTS_PER_READ = 256


def _text(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


class NvmlSource:
    name = "nvml"

    def __init__(self, nvml: ModuleType | Any | None = None) -> None:
        # `nvml` is injectable so tests can feed recorded values (a stand-in; the real path runs on GPUs).
        self._nvml = nvml
        self._ok: bool | None = None
        self.errors = 0
        self._static: dict[int, dict[str, Any]] = {}
        self._events: Any = None
        self._xid: dict[str, list[int]] = {}  # uuid -> [count, last code]

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
        self._register_xid_events(count)
        return True

    def _register_xid_events(self, count: int) -> None:
        n = self._nvml
        try:
            self._events = n.nvmlEventSetCreate()
        except Exception as e:
            log.info("NVML events unavailable (%s): no XID counts", e)
            return
        for i in range(count):
            try:
                h = n.nvmlDeviceGetHandleByIndex(i)
                n.nvmlDeviceRegisterEvents(h, n.nvmlEventTypeXidCriticalError, self._events)
                self._xid[_text(n.nvmlDeviceGetUUID(h))] = [0, -1]
            except Exception as e:  # not supported on this GPU (e.g. some consumer cards, vGPU)
                log.info("GPU %d: XID events not supported (%s)", i, e)

    def close(self) -> None:
        if self._ok and self._nvml is not None:
            if self._events is not None:
                self._get(self._nvml.nvmlEventSetFree, self._events)
            self._get(self._nvml.nvmlShutdown)
        self._ok = None

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

    def _drain_xid(self) -> None:
        n = self._nvml
        for _ in range(_MAX_EVENTS_PER_READ):
            try:
                ev = n.nvmlEventSetWait_v2(self._events, 0)
            except Exception:  # NVMLError_Timeout: nothing pending
                return
            uuid = _text(self._get(n.nvmlDeviceGetUUID, ev.device) or "")
            slot = self._xid.get(uuid)
            if slot is not None:
                slot[0] += 1
                slot[1] = int(ev.eventData)

    def read(self) -> list[GpuReading]:
        if not self.available():
            return []
        n = self._nvml
        try:
            count = n.nvmlDeviceGetCount()
        except Exception:
            self.errors += 1
            return []
        if self._events is not None:
            self._drain_xid()
        out: list[GpuReading] = []
        for i in range(count):
            h = self._get(n.nvmlDeviceGetHandleByIndex, i)
            if h is None:
                self.errors += 1
                continue
            r = GpuReading(index=i, **self._static_info(i, h))
            self._fill(r, h)
            out.append(r)
        return out

    def _fill(self, r: GpuReading, h: Any) -> None:
        n, get = self._nvml, self._get
        mem = get(n.nvmlDeviceGetMemoryInfo, h)
        if mem is not None:
            r.memory_total_bytes = int(mem.total)
            r.memory_used_bytes = int(mem.used)
        util = get(n.nvmlDeviceGetUtilizationRates, h)
        if util is not None:
            r.utilization_ratio = util.gpu / 100.0
            r.memory_utilization_ratio = util.memory / 100.0
        power = get(n.nvmlDeviceGetPowerUsage, h)  # milliwatts
        if power is not None:
            r.power_watts = power / 1000.0
        limit = get(n.nvmlDeviceGetEnforcedPowerLimit, h)
        if limit is not None:
            r.power_limit_watts = limit / 1000.0
        energy = get(n.nvmlDeviceGetTotalEnergyConsumption, h)  # millijoules since driver load (Volta+)
        if energy is not None:
            r.energy_joules = energy / 1000.0
        temp = get(n.nvmlDeviceGetTemperature, h, n.NVML_TEMPERATURE_GPU)
        if temp is not None:
            r.temperature_celsius = float(temp)
        sm = get(n.nvmlDeviceGetClockInfo, h, n.NVML_CLOCK_SM)  # MHz
        if sm is not None:
            r.sm_clock_hertz = sm * 1e6
        memclk = get(n.nvmlDeviceGetClockInfo, h, n.NVML_CLOCK_MEM)
        if memclk is not None:
            r.memory_clock_hertz = memclk * 1e6
        tx = get(n.nvmlDeviceGetPcieThroughput, h, n.NVML_PCIE_UTIL_TX_BYTES)  # KB/s over a 20 ms sample
        if tx is not None:
            r.pcie_tx_bytes_per_second = tx * 1024.0
        rx = get(n.nvmlDeviceGetPcieThroughput, h, n.NVML_PCIE_UTIL_RX_BYTES)
        if rx is not None:
            r.pcie_rx_bytes_per_second = rx * 1024.0
        enc = get(n.nvmlDeviceGetEncoderUtilization, h)  # [percent, sampling period µs]
        if enc is not None:
            r.encoder_utilization_ratio = enc[0] / 100.0
        dec = get(n.nvmlDeviceGetDecoderUtilization, h)
        if dec is not None:
            r.decoder_utilization_ratio = dec[0] / 100.0
        corrected = get(n.nvmlDeviceGetTotalEccErrors, h, n.NVML_MEMORY_ERROR_TYPE_CORRECTED, n.NVML_VOLATILE_ECC)
        if corrected is not None:
            r.ecc_corrected_errors = int(corrected)
        uncorrected = get(n.nvmlDeviceGetTotalEccErrors, h, n.NVML_MEMORY_ERROR_TYPE_UNCORRECTED, n.NVML_VOLATILE_ECC)
        if uncorrected is not None:
            r.ecc_uncorrected_errors = int(uncorrected)
        xid = self._xid.get(r.uuid)
        if xid is not None:
            r.xid_errors = xid[0]
            r.xid_last = xid[1] if xid[1] >= 0 else None
