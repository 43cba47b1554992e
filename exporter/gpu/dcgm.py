"""DCGM profiling fields (SM active, tensor / FP16 / FP32 / FP64 pipe active, DRAM active), optional.

Two ways in, both optional; absent DCGM is normal and said once in the log:
  * the DCGM Python bindings (`DcgmReader`, shipped with the datacenter-gpu-manager package under
    /usr/local/dcgm/bindings/python3 or /usr/share/datacenter-gpu-manager-4/bindings/python3), talking to the
    host's nv-hostengine;
  * a co-located NVIDIA dcgm-exporter, scraped at its /metrics URL (labels `UUID`, `gpu`, `modelName`, and on
    MIG GPU instances `GPU_I_ID` and `GPU_I_PROFILE`; `UUID` is then the physical GPU's).

Both give ratios in 0..1 keyed by (GPU UUID, GPU instance id or ""), which the GPU collector joins to the NVML
readings and the CUE collector turns into the `dcgm` method. Two GPU instances of one GPU keep two keys. The
bindings read whole GPUs only (DcgmReader's GPU entities); per-instance profiling comes from dcgm-exporter.

Either way, a source that answers but gives no profiling value at all (profiling not supported on these
GPUs, the profiling metric set not enabled, another profiler holding the counters) is down, not up-and-empty.
"""

from __future__ import annotations

import logging
import math
import os
import re
import sys
from typing import Any, Callable

from prometheus_client.parser import text_string_to_metric_families

from exporter.gpu.source import GpuKey
from exporter.sources import HttpPoller, Poller, SourceError

log = logging.getLogger(__name__)

# DCGM field id, dcgm-exporter metric name, our short name.
PROFILING = (
    (1001, "DCGM_FI_PROF_GR_ENGINE_ACTIVE", "graphics_engine_active"),
    (1002, "DCGM_FI_PROF_SM_ACTIVE", "sm_active"),
    (1003, "DCGM_FI_PROF_SM_OCCUPANCY", "sm_occupancy"),
    (1004, "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE", "tensor_active"),
    (1005, "DCGM_FI_PROF_DRAM_ACTIVE", "dram_active"),
    (1006, "DCGM_FI_PROF_PIPE_FP64_ACTIVE", "fp64_active"),
    (1007, "DCGM_FI_PROF_PIPE_FP32_ACTIVE", "fp32_active"),
    (1008, "DCGM_FI_PROF_PIPE_FP16_ACTIVE", "fp16_active"),
)
_BY_ID = {fid: short for fid, _, short in PROFILING}
_BY_NAME = {name: short for _, name, short in PROFILING}
BINDINGS_PATHS = ("/usr/local/dcgm/bindings/python3", "/usr/share/datacenter-gpu-manager-4/bindings/python3")
MAX_GPUS = 64
MAX_KEYS = 512  # GPUs and MIG GPU instances in one dcgm-exporter body
_PROFILE = re.compile(r"[0-9A-Za-z.+_-]{1,32}")


def _ratio(v: Any) -> float | None:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    # DCGM marks blank values with huge sentinels; anything outside 0..1 is not a ratio.
    return x if math.isfinite(x) and 0.0 <= x <= 1.0 else None


class ProfilingSnapshot:
    """(uuid, gpu_instance) -> {short field name: ratio in 0..1}, plus what the source said about each GPU
    (model name, MIG GPU instance profile)."""

    def __init__(self) -> None:
        self.by_gpu: dict[GpuKey, dict[str, float]] = {}
        self.names: dict[GpuKey, str] = {}
        self.profiles: dict[GpuKey, str] = {}


class DcgmBindingsSource(Poller):
    name = "dcgm"
    method = "bindings"

    def __init__(self, interval_s: float = 5.0, reader_factory: Callable[[], Any] | None = None) -> None:
        super().__init__(interval_s)
        # Injectable like NvmlSource's module: tests pass a stand-in reader; the real one needs DCGM.
        self._factory = reader_factory
        self._reader: Any = None
        self.reason = ""
        self.snapshot = ProfilingSnapshot()

    def available(self) -> bool:
        """Whether a DcgmReader could be made; when not, `reason` says why (not logged here: the caller decides
        whether that is normal — `dcgm.mode: auto` — or a start-up error — `dcgm.mode: bindings`)."""
        if self._reader is not None:
            return True
        factory = self._factory or _real_reader
        try:
            self._reader = factory()
        except Exception as e:  # ImportError (no bindings), DCGMError (no hostengine), ...
            self.reason = f"DCGM bindings unavailable ({str(e) or type(e).__name__})"
            return False
        self.reason = ""
        return True

    def poll(self) -> None:
        if self._reader is None and not self.available():
            raise SourceError(self.reason)
        try:
            values = self._reader.GetLatestGpuValuesAsFieldIdDict()
        except Exception as e:  # DCGMError: the host engine went away, ...
            raise SourceError(f"DCGM read failed: {str(e) or type(e).__name__}") from None
        uuids = getattr(self._reader, "m_gpuIdToUUId", {}) or {}
        snap = ProfilingSnapshot()
        for gpu_id, fields in list(values.items())[:MAX_GPUS]:
            uuid = str(uuids.get(gpu_id, ""))[:96] or f"GPU-index-{gpu_id}"
            got = {}
            for fid, v in fields.items():
                short = _BY_ID.get(fid)
                r = _ratio(v)
                if short is not None and r is not None:
                    got[short] = r
            if got:
                snap.by_gpu[(uuid, "")] = got
        if not snap.by_gpu:
            raise SourceError("DCGM gave no profiling value for any GPU (not supported on these GPUs, or another "
                              "profiler holds the counters)")  # fmt: skip
        self.snapshot = snap

    def drop(self) -> None:
        self.snapshot = ProfilingSnapshot()


def _real_reader() -> Any:
    for path in BINDINGS_PATHS:
        if os.path.isdir(path) and path not in sys.path:
            sys.path.append(path)
    from DcgmReader import DcgmReader  # noqa: PLC0415 - only present where DCGM is installed

    # Profiling fields are sampled by the host engine; 1 s updates (µs) are what dcgm-exporter uses too.
    return DcgmReader(fieldIds=[fid for fid, _, _ in PROFILING], updateFrequency=1_000_000)


class DcgmExporterSource(HttpPoller):
    """Profiling fields scraped from a co-located dcgm-exporter (`--dcgm-url http://127.0.0.1:9400/metrics`)."""

    name = "dcgm"
    method = "dcgm-exporter"

    def __init__(self, url: str, interval_s: float = 5.0, timeout_s: float = 3.0, max_bytes: int = 4 << 20) -> None:
        super().__init__(url, interval_s, timeout_s, max_bytes)
        self.snapshot = ProfilingSnapshot()
        self.rejected_samples = 0

    async def poll_async(self) -> None:
        self.snapshot = self.parse(await self.fetch())

    def parse(self, text: str) -> ProfilingSnapshot:
        snap = ProfilingSnapshot()
        try:
            for fam in text_string_to_metric_families(text):
                short = _BY_NAME.get(fam.name)
                if short is None:
                    continue
                for s in fam.samples:
                    uuid = s.labels.get("UUID", "")
                    gi = s.labels.get("GPU_I_ID", "")
                    r = _ratio(s.value)
                    if not uuid.startswith(("GPU-", "MIG-")) or len(uuid) > 96 or r is None:
                        self.rejected_samples += 1
                        continue
                    if gi and not (gi.isdigit() and len(gi) <= 4):  # a GPU instance id is a small integer
                        self.rejected_samples += 1
                        continue
                    key = (uuid, gi)
                    if key not in snap.by_gpu and len(snap.by_gpu) >= MAX_KEYS:
                        self.rejected_samples += 1
                        continue
                    snap.by_gpu.setdefault(key, {})[short] = r
                    name = s.labels.get("modelName", "")
                    if name and len(name) <= 96:
                        snap.names[key] = name
                    profile = s.labels.get("GPU_I_PROFILE", "")
                    if gi and _PROFILE.fullmatch(profile):
                        snap.profiles[key] = profile
        except ValueError as e:
            raise SourceError(f"{self.url}: not a Prometheus exposition ({e})") from None
        if not snap.by_gpu:
            raise SourceError(f"{self.url}: no DCGM_FI_PROF_* samples (is the profiling metric set enabled?)")
        return snap

    def drop(self) -> None:
        self.snapshot = ProfilingSnapshot()
