"""GPU readings through NVML (the `pynvml` module from NVIDIA's nvidia-ml-py package).

No GPU or no driver is normal (CI has none), but it is not a working source: `available()` is False, `reason`
says why, and the GPU poller reports `naap_exporter_source_up{source="nvml"} 0` (logged once, as a WARNING).
NVML initialisation is retried every `retry_s` (a driver loaded after the exporter started is picked up).

Two kinds of NVML error are told apart:

* a field this GPU does not support (NVML_ERROR_NOT_SUPPORTED is common on consumer cards: ECC, energy, some
  clocks; utilization on a MIG-enabled GPU, power and clocks on a MIG device) is left out, never reported as 0;
* an error that means the GPU itself cannot be read (`DEVICE_FAULTS`: NVML_ERROR_GPU_IS_LOST, _UNKNOWN,
  _RESET_REQUIRED, _GPU_NOT_FOUND, …), or a handle NVML no longer gives, makes the whole GPU unreadable for
  this read: it is returned as `GpuReading(readable=False, error=…)` under its last known identity (UUID and
  name as last read at that index), so it is reported as `naap_gpu_up 0`, never silently left out.

MIG: on a GPU whose current MIG mode is enabled, every MIG device (`nvmlDeviceGetMigDeviceHandleByIndex`) is
read too and grouped by GPU instance (`nvmlDeviceGetGpuInstanceId`): one extra reading per GPU instance, keyed
by the physical GPU's UUID and the GPU instance id — the pair dcgm-exporter labels `UUID` and `GPU_I_ID` —
with its profile ("1g.10gb", from the MIG device's name, else from the GPU instance's profile info), its
memory, its utilization where NVML gives it for MIG devices, its MIG device UUIDs ("MIG-…") and its SM count
(`nvmlDeviceGetAttributes`, which NVML supports for MIG device handles only).

Critical XID errors arrive as NVML events, not as a counter: the source registers every GPU for them once
and drains the event set without waiting on each read, so `xid_errors` counts what happened since the
exporter started.
"""

from __future__ import annotations

import logging
import re
import time
from types import ModuleType
from typing import Any, Callable

from exporter.gpu.source import GpuReading
from exporter.sources import SourceError

log = logging.getLogger(__name__)

_MAX_EVENTS_PER_READ = 256
MAX_GPUS = 64  # GPUs read per poll (NVML's count is input too)
MAX_MIG_DEVICES = 64  # MIG devices read per GPU
NVML_DEVICE_MIG_ENABLE = 1

# NVML return codes (nvml.h; stable ABI values) that mean the GPU itself cannot be read, as opposed to a field
# it does not support (NOT_SUPPORTED, NO_PERMISSION, FUNCTION_NOT_FOUND, NOT_FOUND, NO_DATA, ...).
DEVICE_FAULTS = {
    1: "NVML_ERROR_UNINITIALIZED",
    9: "NVML_ERROR_DRIVER_NOT_LOADED",
    11: "NVML_ERROR_IRQ_ISSUE",
    15: "NVML_ERROR_GPU_IS_LOST",
    16: "NVML_ERROR_RESET_REQUIRED",
    18: "NVML_ERROR_LIB_RM_VERSION_MISMATCH",
    28: "NVML_ERROR_GPU_NOT_FOUND",
    999: "NVML_ERROR_UNKNOWN",
}
_PROFILE = re.compile(r"[0-9A-Za-z.+_-]{1,32}")
_MIG_NAME = re.compile(r"\bMIG\s+(\S+)\s*$")


def _text(v: Any) -> str:
    return v.decode(errors="replace") if isinstance(v, bytes) else str(v)


def _why(e: BaseException) -> str:
    code = getattr(e, "value", None)
    name = DEVICE_FAULTS.get(code) if isinstance(code, int) else None
    text = str(e) or type(e).__name__
    return f"{text} ({name})" if name else text


class GpuFault(Exception):
    """This GPU cannot be read now (it fell off the bus, needs a reset, NVML lost it); the message says how."""


def _profile_of(mig_name: str) -> str:
    """'NVIDIA H100 80GB HBM3 MIG 1g.10gb' -> '1g.10gb' ("" when the name carries no profile)."""
    m = _MIG_NAME.search(mig_name)
    return m.group(1) if m and _PROFILE.fullmatch(m.group(1)) else ""


class NvmlSource:
    name = "nvml"

    def __init__(self, nvml: ModuleType | Any | None = None, retry_s: float = 60.0) -> None:
        # `nvml` is injectable so tests can feed recorded values (a stand-in; the real path runs on GPUs).
        self._nvml = nvml
        self._ok: bool | None = None
        self._tried_at = 0.0
        self.retry_s = retry_s
        self.reason = ""  # why the source is unavailable (one line), "" when it is available
        self._static: dict[str, dict[str, Any]] = {}  # uuid -> identity read once
        self._by_index: dict[int, tuple[str, str]] = {}  # index -> (uuid, name) last read there
        self._events: Any = None
        self._xid: dict[str, list[int]] = {}  # uuid -> [count, last code]

    def available(self) -> bool:
        """NVML loaded and at least one GPU; retried every `retry_s` seconds while not."""
        if self._ok:
            return True
        now = time.monotonic()
        if self._ok is None or now - self._tried_at >= self.retry_s:
            self._tried_at = now
            self._ok = self._init()
        return bool(self._ok)

    def _init(self) -> bool:
        try:
            if self._nvml is None:
                import pynvml  # noqa: PLC0415 - optional at import time of the package

                self._nvml = pynvml
            self._nvml.nvmlInit()
        except Exception as e:  # NVMLError_LibraryNotFound, DriverNotLoaded, ImportError, ...
            self.reason = (f"NVML unavailable ({_text(e) or type(e).__name__}): no GPU families — normal on a host "
                           "without an NVIDIA GPU (--no-nvml there)")  # fmt: skip
            return False
        try:
            count = int(self._nvml.nvmlDeviceGetCount())
        except Exception as e:
            self.reason = f"NVML unavailable (cannot count GPUs: {_why(e)}): no GPU families"
            self._shutdown()
            return False
        if count <= 0:
            self.reason = "NVML found no GPUs: no GPU families"
            self._shutdown()
            return False
        self.reason = ""
        log.info("NVML: %d GPU(s) found", count)
        self._register_xid_events(min(count, MAX_GPUS))
        return True

    def _shutdown(self) -> None:
        try:
            self._nvml.nvmlShutdown()
        except Exception:
            pass

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
                try:
                    self._nvml.nvmlEventSetFree(self._events)
                except Exception:
                    pass
            self._shutdown()
        self._ok = None

    def _get(self, fn: Callable[..., Any], *args: Any) -> Any:
        """One field: its value, None when this GPU does not support it; GpuFault when the GPU cannot be read."""
        try:
            return fn(*args)
        except Exception as e:
            if getattr(e, "value", None) in DEVICE_FAULTS:
                raise GpuFault(_why(e)) from None
            return None

    def _fn(self, name: str) -> Callable[..., Any]:
        """An NVML function by name; one that raises AttributeError when this pynvml lacks it (older releases)."""
        return getattr(self._nvml, name, None) or _absent

    def _static_info(self, uuid: str, h: Any) -> dict[str, Any]:
        # Identity, driver and capability do not change while the process runs: read once per UUID.
        if uuid not in self._static:
            n = self._nvml
            cc = self._get(n.nvmlDeviceGetCudaComputeCapability, h)
            cuda = self._get(n.nvmlSystemGetCudaDriverVersion)
            self._static[uuid] = {
                "name": _text(self._get(n.nvmlDeviceGetName, h) or "unknown")[:128],
                "driver_version": _text(self._get(n.nvmlSystemGetDriverVersion) or "")[:64],
                "cuda_version": f"{cuda // 1000}.{(cuda % 1000) // 10}" if isinstance(cuda, int) else "",
                "compute_capability": f"{cc[0]}.{cc[1]}" if cc else "",
            }
        return self._static[uuid]

    def _drain_xid(self) -> None:
        n = self._nvml
        for _ in range(_MAX_EVENTS_PER_READ):
            try:
                ev = n.nvmlEventSetWait_v2(self._events, 0)
            except Exception:  # NVMLError_Timeout: nothing pending
                return
            try:
                uuid = _text(n.nvmlDeviceGetUUID(ev.device))
            except Exception:  # the GPU that raised it may be the one that is lost
                continue
            slot = self._xid.get(uuid)
            if slot is not None:
                slot[0] += 1
                slot[1] = int(ev.eventData)

    def read(self) -> list[GpuReading]:
        """Every GPU (and MIG GPU instance); unreadable GPUs as readable=False. SourceError when NVML is
        unavailable or cannot enumerate the GPUs."""
        if not self.available():
            raise SourceError(self.reason)
        n = self._nvml
        try:
            count = int(n.nvmlDeviceGetCount())
        except Exception as e:
            raise SourceError(f"NVML cannot count GPUs: {_why(e)}") from None
        if self._events is not None:
            self._drain_xid()
        out: list[GpuReading] = []
        for i in range(min(count, MAX_GPUS)):
            try:
                out.extend(self._read_gpu(i))
            except GpuFault as e:
                out.append(self._unreadable(i, str(e)))
        return out

    def _unreadable(self, i: int, why: str) -> GpuReading:
        uuid, name = self._by_index.get(i, (f"GPU-index-{i}", ""))
        return GpuReading(index=i, uuid=uuid, name=name, readable=False, error=why[:300])

    def _read_gpu(self, i: int) -> list[GpuReading]:
        n = self._nvml
        try:
            h = n.nvmlDeviceGetHandleByIndex(i)
        except Exception as e:  # no handle: whatever the code, this GPU cannot be read
            raise GpuFault(f"no handle for GPU {i}: {_why(e)}") from None
        uuid = _text(self._get(n.nvmlDeviceGetUUID, h) or "")[:96]
        if not uuid:
            raise GpuFault(f"GPU {i} gives no UUID")
        static = self._static_info(uuid, h)
        r = GpuReading(index=i, uuid=uuid, **static)
        self._fill(r, h)
        instances = self._mig_instances(r, h)
        self._by_index[i] = (uuid, r.name)
        return [r, *instances]

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

    def _mig_instances(self, parent: GpuReading, h: Any) -> list[GpuReading]:
        """One reading per GPU instance of a MIG-enabled GPU ([] when MIG is off or not supported)."""
        n, get = self._nvml, self._get
        mode = get(self._fn("nvmlDeviceGetMigMode"), h)  # [current, pending]
        if not mode or mode[0] != NVML_DEVICE_MIG_ENABLE:
            return []
        parent.mig_enabled = True
        slots = get(self._fn("nvmlDeviceGetMaxMigDeviceCount"), h) or 0
        by_gi: dict[str, GpuReading] = {}
        for j in range(min(int(slots), MAX_MIG_DEVICES)):
            try:
                mh = self._fn("nvmlDeviceGetMigDeviceHandleByIndex")(h, j)
            except Exception as e:
                if getattr(e, "value", None) in DEVICE_FAULTS:
                    raise GpuFault(f"MIG device {j}: {_why(e)}") from None
                continue  # NVML_ERROR_NOT_FOUND: no MIG device in this slot
            gi = get(self._fn("nvmlDeviceGetGpuInstanceId"), mh)
            if not isinstance(gi, int) or gi < 0:
                continue
            mig_uuid = _text(get(n.nvmlDeviceGetUUID, mh) or "")[:96]
            inst = by_gi.get(str(gi))
            if inst is None:
                inst = by_gi[str(gi)] = self._instance(parent, h, mh, str(gi), mig_uuid)
            if mig_uuid:
                inst.mig_uuids = (*inst.mig_uuids, mig_uuid)
            attrs = get(self._fn("nvmlDeviceGetAttributes"), mh)
            sms = getattr(attrs, "multiprocessorCount", None)
            if isinstance(sms, int) and sms > 0:  # compute instances of one GPU instance add up
                inst.multiprocessor_count = (inst.multiprocessor_count or 0) + sms
        return [by_gi[k] for k in sorted(by_gi, key=int)]

    def _instance(self, parent: GpuReading, h: Any, mh: Any, gi: str, mig_uuid: str) -> GpuReading:
        n, get = self._nvml, self._get
        profile = _profile_of(_text(get(n.nvmlDeviceGetName, mh) or "")) or self._profile_by_id(h, int(gi))
        r = GpuReading(
            index=parent.index, uuid=parent.uuid, name=parent.name, driver_version=parent.driver_version,
            cuda_version=parent.cuda_version, compute_capability=parent.compute_capability,
            gpu_instance=gi, gpu_instance_profile=profile, mig_uuid=mig_uuid,
        )  # fmt: skip
        mem = get(n.nvmlDeviceGetMemoryInfo, mh)  # the GPU instance's memory
        if mem is not None:
            r.memory_total_bytes = int(mem.total)
            r.memory_used_bytes = int(mem.used)
        util = get(n.nvmlDeviceGetUtilizationRates, mh)  # NOT_SUPPORTED for MIG devices on today's drivers
        if util is not None:
            r.utilization_ratio = util.gpu / 100.0
            r.memory_utilization_ratio = util.memory / 100.0
        return r

    def _profile_by_id(self, h: Any, gi: int) -> str:
        """The GPU instance's profile name from NVML's profile info ("MIG 1g.10gb" -> "1g.10gb"), or ""."""
        get = self._get
        handle = get(self._fn("nvmlDeviceGetGpuInstanceById"), h, gi)
        info = get(self._fn("nvmlGpuInstanceGetInfo"), handle) if handle is not None else None
        pinfo = get(self._fn("nvmlDeviceGetGpuInstanceProfileInfoById"), h, info.profileId) if info is not None else None
        name = _text(getattr(pinfo, "name", b"") or "").removeprefix("MIG ").strip()
        return name if _PROFILE.fullmatch(name) else ""


def _absent(*_args: Any) -> Any:
    """Stands for an NVML function this pynvml does not have (an older nvidia-ml-py): the field is absent."""
    raise AttributeError("not in this pynvml")
