"""Turns GPU readings into Prometheus families (`naap_gpu_*`), one series per GPU labelled `gpu_id` (UUID).

`GpuPoller` reads the source in the background; `GpuCollector` renders the last readings joined with the
DCGM profiling snapshot, if a DCGM source is configured.
"""

from __future__ import annotations

from typing import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.registry import Collector

from exporter.gpu.source import GpuReading, GpuSource
from exporter.sources import Poller

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


class GpuPoller(Poller):
    """Reads a GpuSource (NVML or simulated) in the background."""

    def __init__(self, source: GpuSource, interval_s: float = 1.0) -> None:
        super().__init__(interval_s)
        self.source = source
        self.name = source.name
        self.readings: list[GpuReading] = []

    def poll(self) -> None:
        before = getattr(self.source, "errors", 0)
        self.readings = self.source.read()
        if getattr(self.source, "errors", 0) > before:  # a device handle failed: partial read
            self.errors += getattr(self.source, "errors", 0) - before

    def drop(self) -> None:
        self.readings = []


class GpuCollector(Collector):
    def __init__(self, poller: GpuPoller, dcgm: Poller | None = None) -> None:
        self.poller = poller
        self.dcgm = dcgm

    def profiling(self) -> dict[str, dict[str, float]]:
        """uuid -> DCGM ratios: from the DCGM source if there is one, else what the GPU source carried."""
        snap = getattr(self.dcgm, "snapshot", None)
        if snap is not None and snap.by_uuid:
            return snap.by_uuid
        return {r.uuid: r.profiling for r in self.poller.readings if r.profiling}

    def collect(self) -> Iterator[Metric]:
        readings = self.poller.readings
        prof = self.profiling()
        if readings:
            yield from self._nvml_families(readings)
        if prof:
            yield from self._profiling_families(prof)

    def _nvml_families(self, readings: list[GpuReading]) -> Iterator[Metric]:
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
        for kind, table in ((GaugeMetricFamily, GAUGES), (CounterMetricFamily, COUNTERS)):
            for attr, fam_name, help_text in table:
                fam = kind(fam_name, help_text, labels=["gpu_id"])
                for r in readings:
                    v = getattr(r, attr)
                    if v is not None:
                        fam.add_metric([r.uuid], float(v))
                if fam.samples:  # a field no GPU here supports: no family at all
                    yield fam
        pcie = GaugeMetricFamily(
            "naap_gpu_pcie_throughput_bytes_per_second",
            "PCIe throughput over NVML's last 20 ms sample, by direction (transmit = GPU to host).",
            labels=["gpu_id", "direction"],
        )
        ecc = CounterMetricFamily(
            "naap_gpu_ecc_errors", "Memory ECC errors since the driver loaded (volatile), by type.", labels=["gpu_id", "type"]
        )
        for r in readings:
            if r.pcie_tx_bytes_per_second is not None:
                pcie.add_metric([r.uuid, "transmit"], r.pcie_tx_bytes_per_second)
            if r.pcie_rx_bytes_per_second is not None:
                pcie.add_metric([r.uuid, "receive"], r.pcie_rx_bytes_per_second)
            if r.ecc_corrected_errors is not None:
                ecc.add_metric([r.uuid, "corrected"], r.ecc_corrected_errors)
            if r.ecc_uncorrected_errors is not None:
                ecc.add_metric([r.uuid, "uncorrected"], r.ecc_uncorrected_errors)
        if pcie.samples:
            yield pcie
        if ecc.samples:
            yield ecc

    def _profiling_families(self, prof: dict[str, dict[str, float]]) -> Iterator[Metric]:
        uuids = sorted(prof)
        for key, fam_name, help_text in PROFILING_GAUGES:
            fam = GaugeMetricFamily(fam_name, help_text, labels=["gpu_id"])
            for u in uuids:
                v = prof[u].get(key)
                if v is not None:
                    fam.add_metric([u], v)
            if fam.samples:
                yield fam
        pipes = GaugeMetricFamily(
            "naap_gpu_pipe_active_ratio",
            "DCGM: fraction of cycles each arithmetic pipe (tensor, fp16, fp32, fp64) was active.",
            labels=["gpu_id", "pipe"],
        )
        for u in uuids:
            for key, pipe in PIPES:
                v = prof[u].get(key)
                if v is not None:
                    pipes.add_metric([u, pipe], v)
        if pipes.samples:
            yield pipes
