"""Turns GPU readings into Prometheus families (`naap_gpu_*`): one series per GPU and per MIG GPU instance,
labelled `gpu_id` (the physical GPU's UUID) and `gpu_instance` (the MIG GPU instance id; "" for the GPU
itself, which Prometheus stores as no label at all).

`GpuPoller` reads the source in the background and keeps, besides the last readings, the health of every GPU
it has seen since start (`naap_gpu_up`, `naap_gpu_read_errors_total`): a GPU that stops answering is reported
as down under its last known identity, never silently left out. `GpuCollector` renders the last readings
joined with the DCGM profiling snapshot, if a DCGM source is configured.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.registry import Collector

from exporter.gpu.source import GpuKey, GpuReading, GpuSource
from exporter.sources import Poller, SourceError

GPU_LABELS = ["gpu_id", "gpu_instance"]
MAX_TRACKED = 512  # GPUs and GPU instances whose health is kept (64 GPUs x 7 instances, and some churn)
# The MIG device name CUDA used before driver R470: MIG-<parent GPU UUID>/<GPU instance id>/<compute instance id>.
_LEGACY_MIG = re.compile(r"^MIG-(GPU-[0-9A-Za-z-]{1,90})/(\d{1,4})/\d{1,4}$")

# attribute of GpuReading -> (family name, help)
GAUGES: tuple[tuple[str, str, str], ...] = (
    ("utilization_ratio", "naap_gpu_utilization_ratio", "Fraction of the last sample period a kernel ran on the GPU (NVML)."),
    ("memory_utilization_ratio", "naap_gpu_memory_utilization_ratio", "Fraction of the last sample period device memory was read or written."),
    ("memory_used_bytes", "naap_gpu_memory_used_bytes", "Device memory in use."),
    ("memory_total_bytes", "naap_gpu_memory_total_bytes", "Device memory installed."),
    ("power_watts", "naap_gpu_power_watts", "Power draw."),
    ("power_limit_watts", "naap_gpu_power_limit_watts", "Enforced power limit."),
    ("temperature_celsius", "naap_gpu_temperature_celsius", "Core temperature."),
    ("sm_clock_hertz", "naap_gpu_sm_clock_hertz", "Current SM (graphics) clock."),
    ("memory_clock_hertz", "naap_gpu_memory_clock_hertz", "Current memory clock."),
    ("encoder_utilization_ratio", "naap_gpu_encoder_utilization_ratio", "Video encoder (NVENC) utilization."),
    ("decoder_utilization_ratio", "naap_gpu_decoder_utilization_ratio", "Video decoder (NVDEC) utilization."),
    ("xid_last", "naap_gpu_xid_last_code", "Code of the last critical XID error seen since the exporter started."),
)
COUNTERS: tuple[tuple[str, str, str], ...] = (
    ("energy_joules", "naap_gpu_energy_joules", "Energy consumed since the driver loaded."),
    ("xid_errors", "naap_gpu_xid_errors", "Critical XID errors seen since the exporter started (NVML events)."),
)
PROFILING_GAUGES: tuple[tuple[str, str, str], ...] = (
    ("graphics_engine_active", "naap_gpu_graphics_engine_active_ratio", "DCGM: fraction of time the graphics/compute engine was active."),
    ("sm_active", "naap_gpu_sm_active_ratio", "DCGM: fraction of cycles an SM had at least one warp assigned, averaged over SMs."),
    ("sm_occupancy", "naap_gpu_sm_occupancy_ratio", "DCGM: resident warps relative to the SMs' maximum, averaged over time."),
    ("dram_active", "naap_gpu_dram_active_ratio", "DCGM: fraction of cycles the memory interface was sending or receiving."),
)
PIPES = (("tensor_active", "tensor"), ("fp16_active", "fp16"), ("fp32_active", "fp32"), ("fp64_active", "fp64"))


@dataclass(frozen=True)
class GpuHealth:
    """One GPU or GPU instance seen since start: its last known identity and whether the last read got it."""

    uuid: str
    gpu_instance: str
    index: int
    name: str
    up: bool
    read_errors: int  # polls in which it could not be read
    error: str = ""  # why not, the last time


class GpuPoller(Poller):
    """Reads a GpuSource (NVML or simulated) in the background.

    `readings`: the readable GPUs of the last good poll ([] while the source is down: no stale values).
    `health`: every GPU and GPU instance seen since start, by key; never dropped, so a lost GPU stays visible as
    down. The source is up when at least one GPU was read; it is down when it is unavailable (no NVML), reports
    no GPUs, or none of its GPUs could be read.
    """

    def __init__(self, source: GpuSource, interval_s: float = 1.0, read_timeout_s: float | None = 10.0) -> None:
        super().__init__(interval_s)
        self.source = source
        self.name = source.name
        self.read_timeout_s = read_timeout_s
        self.readings: list[GpuReading] = []
        self.health: dict[GpuKey, GpuHealth] = {}
        self._aliases: dict[str, GpuKey] = {}

    def poll(self) -> None:
        src = self.source
        if not src.available():
            raise SourceError(getattr(src, "reason", "") or f"{src.name} unavailable")
        try:
            got = src.read()
        except Exception as e:
            self._account([], failed=str(e) or type(e).__name__)
            raise
        self._account(got)
        readable = [r for r in got if r.readable]
        if not got:
            raise SourceError(f"{src.name} reports no GPUs")
        if not readable:
            why = "; ".join(sorted({f"{r.uuid}: {r.error}" for r in got}))
            raise SourceError(f"no GPU could be read: {why[:300]}")
        aliases: dict[str, GpuKey] = {}
        for r in readable:
            if not r.gpu_instance:
                aliases[r.uuid] = r.key
                aliases[str(r.index)] = r.key
            for mig in r.mig_uuids or ((r.mig_uuid,) if r.mig_uuid else ()):
                aliases[mig] = r.key
        self.readings, self._aliases = readable, aliases  # whole objects replaced: renders never see a half

    def _account(self, got: list[GpuReading], failed: str = "") -> None:
        """Update `health` from one poll's readings (`failed`: the whole source failed, with this reason)."""
        old = self.health
        new: dict[GpuKey, GpuHealth] = {}
        for r in got:
            prev = old.get(r.key)
            errors = prev.read_errors if prev else 0
            name = r.name or (prev.name if prev else "")
            new[r.key] = GpuHealth(r.uuid, r.gpu_instance, r.index, name, r.readable,
                                   errors + (0 if r.readable else 1), r.error)  # fmt: skip
        readable_gpus = {r.uuid for r in got if r.readable and not r.gpu_instance}
        for key, prev in old.items():
            if key in new:
                continue
            if prev.gpu_instance and prev.uuid in readable_gpus:
                continue  # a MIG instance gone from a GPU that reads fine: MIG was reconfigured, not a fault
            why = failed or "no longer reported by the source"
            new[key] = replace(prev, up=False, read_errors=prev.read_errors + 1, error=why[:300])
        if len(new) > MAX_TRACKED:  # keep what is up, then the most recently seen
            keep = sorted(new, key=lambda k: not new[k].up)[:MAX_TRACKED]
            new = {k: new[k] for k in keep}
        self.health = new

    def drop(self) -> None:
        self.readings = []
        self._aliases = {}

    def resolve(self, gpu_id: str) -> GpuKey | None:
        """The reading a stream's `gpu_id` names: a GPU UUID, a MIG device UUID ("MIG-…", which maps to its GPU
        and GPU instance), CUDA's older "MIG-GPU-<uuid>/<gi>/<ci>" form, or an NVML index ("0"). None if unknown."""
        key = self._aliases.get(gpu_id)
        if key is not None:
            return key
        m = _LEGACY_MIG.match(gpu_id)
        return (m.group(1), m.group(2)) if m else None


class GpuCollector(Collector):
    def __init__(self, poller: GpuPoller, dcgm: Poller | None = None) -> None:
        self.poller = poller
        self.dcgm = dcgm

    def profiling(self) -> dict[GpuKey, dict[str, float]]:
        """(uuid, gpu_instance) -> DCGM ratios: from the DCGM source if there is one, else what the GPU source
        carried. A DCGM key naming a MIG device UUID is mapped to its GPU and GPU instance."""
        snap = getattr(self.dcgm, "snapshot", None)
        if snap is not None and snap.by_gpu:
            out: dict[GpuKey, dict[str, float]] = {}
            for (uuid, gi), ratios in snap.by_gpu.items():
                if uuid.startswith("MIG-"):
                    uuid, gi = self.poller.resolve(uuid) or (uuid, gi)
                out.setdefault((uuid, gi), ratios)
            return out
        return {r.key: r.profiling for r in self.poller.readings if r.profiling}

    def collect(self) -> Iterator[Metric]:
        health = self.poller.health
        readings = self.poller.readings
        prof = self.profiling()
        if health:
            yield from self._health_families(health)
        if readings:
            yield from self._nvml_families(readings)
        if prof:
            yield from self._profiling_families(prof)

    def _health_families(self, health: dict[GpuKey, GpuHealth]) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "naap_gpu_up",
            "1 if the GPU (or MIG GPU instance) was read in the source's last poll, 0 if it is known but could not "
            "be read (fallen off the bus, lost, source down); every GPU seen since the exporter started.",
            labels=GPU_LABELS,
        )
        errors = CounterMetricFamily(
            "naap_gpu_read_errors", "Polls in which this GPU (or MIG GPU instance) could not be read.", labels=GPU_LABELS
        )
        for key in sorted(health):
            h = health[key]
            up.add_metric(list(key), 1.0 if h.up else 0.0)
            errors.add_metric(list(key), h.read_errors)
        yield up
        yield errors

    def _nvml_families(self, readings: list[GpuReading]) -> Iterator[Metric]:
        info = InfoMetricFamily(
            "naap_gpu",
            "GPU identity: UUID, MIG GPU instance and profile, model, VRAM, driver, CUDA and compute capability.",
            labels=["gpu_id", "gpu_instance", "gpu_index"],
        )
        for r in readings:
            info.add_metric(
                [r.uuid, r.gpu_instance, str(r.index)],
                {
                    "name": r.name,
                    "vram_bytes": str(r.memory_total_bytes or ""),
                    "driver_version": r.driver_version,
                    "cuda_version": r.cuda_version,
                    "compute_capability": r.compute_capability,
                    "gpu_instance_profile": r.gpu_instance_profile,
                    "mig_uuid": r.mig_uuid,
                },
            )
        yield info
        for kind, table in ((GaugeMetricFamily, GAUGES), (CounterMetricFamily, COUNTERS)):
            for attr, fam_name, help_text in table:
                fam = kind(fam_name, help_text, labels=GPU_LABELS)
                for r in readings:
                    v = getattr(r, attr)
                    if v is not None:
                        fam.add_metric([r.uuid, r.gpu_instance], float(v))
                if fam.samples:  # a field no GPU here supports: no family at all
                    yield fam
        pcie = GaugeMetricFamily(
            "naap_gpu_pcie_throughput_bytes_per_second",
            "PCIe throughput over NVML's last 20 ms sample, by direction (transmit = GPU to host).",
            labels=[*GPU_LABELS, "direction"],
        )
        ecc = CounterMetricFamily(
            "naap_gpu_ecc_errors", "Memory ECC errors since the driver loaded (volatile), by type.",
            labels=[*GPU_LABELS, "type"],
        )  # fmt: skip
        for r in readings:
            if r.pcie_tx_bytes_per_second is not None:
                pcie.add_metric([r.uuid, r.gpu_instance, "transmit"], r.pcie_tx_bytes_per_second)
            if r.pcie_rx_bytes_per_second is not None:
                pcie.add_metric([r.uuid, r.gpu_instance, "receive"], r.pcie_rx_bytes_per_second)
            if r.ecc_corrected_errors is not None:
                ecc.add_metric([r.uuid, r.gpu_instance, "corrected"], r.ecc_corrected_errors)
            if r.ecc_uncorrected_errors is not None:
                ecc.add_metric([r.uuid, r.gpu_instance, "uncorrected"], r.ecc_uncorrected_errors)
        if pcie.samples:
            yield pcie
        if ecc.samples:
            yield ecc

    def _profiling_families(self, prof: dict[GpuKey, dict[str, float]]) -> Iterator[Metric]:
        keys = sorted(prof)
        for field, fam_name, help_text in PROFILING_GAUGES:
            fam = GaugeMetricFamily(fam_name, help_text, labels=GPU_LABELS)
            for k in keys:
                v = prof[k].get(field)
                if v is not None:
                    fam.add_metric(list(k), v)
            if fam.samples:
                yield fam
        pipes = GaugeMetricFamily(
            "naap_gpu_pipe_active_ratio",
            "DCGM: fraction of cycles each arithmetic pipe (tensor, fp16, fp32, fp64) was active.",
            labels=[*GPU_LABELS, "pipe"],
        )
        for k in keys:
            for field, pipe in PIPES:
                v = prof[k].get(field)
                if v is not None:
                    pipes.add_metric([*k, pipe], v)
        if pipes.samples:
            yield pipes
