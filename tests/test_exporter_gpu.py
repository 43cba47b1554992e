"""GPU families from NVML and DCGM, and CUE by both methods.

STAND-IN NOTICE: this machine has no GPU, NVML library or DCGM host engine. `RecordedNvml` below stands in
for the `pynvml` module and `RecordedDcgmReader` for DCGM's `DcgmReader`: they return hand-written readings
in NVML's and DCGM's documented units (milliwatts, MHz, KB/s, millijoules, ratios), shaped like an H100 SXM
and an RTX 4090, and raise pynvml's own NVMLError classes where real consumer cards do. They are not
captures from hardware. The dcgm-exporter path is tested for real: a local HTTP server serves a
dcgm-exporter-shaped exposition (tests/data/exporter/dcgm-exporter.prom).
"""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace

import pynvml
import pytest

from exporter.config import ExporterConfig
from exporter.cue.tables import CueTables
from exporter.gpu.dcgm import DcgmBindingsSource, DcgmExporterSource
from exporter.server import Exporter, ExporterServer
from exposition_helpers import families, scrape_when, serve_body, value

DATA = Path(__file__).parent / "data" / "exporter"
H100 = "GPU-5f1e8e0a-1b2c-4d3e-9f40-aa11bb22cc33"  # the UUIDs dcgm-exporter.prom uses
RTX = "GPU-77aa1c2d-3e4f-5a6b-7c8d-9e0f1a2b3c4d"


def _unsupported() -> Exception:
    return pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)


class RecordedNvml:
    """STAND-IN for the pynvml module (see the module docstring). GPU 0 is H100-like, GPU 1 RTX 4090-like."""

    NVML_TEMPERATURE_GPU = pynvml.NVML_TEMPERATURE_GPU
    NVML_CLOCK_SM = pynvml.NVML_CLOCK_SM
    NVML_CLOCK_MEM = pynvml.NVML_CLOCK_MEM
    NVML_PCIE_UTIL_TX_BYTES = pynvml.NVML_PCIE_UTIL_TX_BYTES
    NVML_PCIE_UTIL_RX_BYTES = pynvml.NVML_PCIE_UTIL_RX_BYTES
    NVML_MEMORY_ERROR_TYPE_CORRECTED = pynvml.NVML_MEMORY_ERROR_TYPE_CORRECTED
    NVML_MEMORY_ERROR_TYPE_UNCORRECTED = pynvml.NVML_MEMORY_ERROR_TYPE_UNCORRECTED
    NVML_VOLATILE_ECC = pynvml.NVML_VOLATILE_ECC
    nvmlEventTypeXidCriticalError = pynvml.nvmlEventTypeXidCriticalError

    GPUS = [
        {"uuid": H100, "name": "NVIDIA H100 80GB HBM3", "cc": (9, 0), "mem": (85_520_809_984, 61_203_070_976),
         "util": (87, 41), "power": 612_345, "limit": 700_000, "energy": 9_876_543_210, "temp": 71,
         "sm": 1980, "memclk": 2619, "tx": 1_250_000, "rx": 2_500_000, "enc": 0, "dec": 12, "ecc": (3, 0)},
        {"uuid": RTX, "name": "NVIDIA GeForce RTX 4090", "cc": (8, 9), "mem": (25_757_220_864, 9_663_676_416),
         "util": (12, 5), "power": 61_020, "limit": 450_000, "energy": None, "temp": 44,
         "sm": 2520, "memclk": 10501, "tx": 40_000, "rx": 80_000, "enc": 35, "dec": 0, "ecc": None},
    ]  # fmt: skip

    def __init__(self) -> None:
        self.events: list[SimpleNamespace] = []
        self.registered: list[int] = []

    def nvmlInit(self) -> None: ...
    def nvmlShutdown(self) -> None: ...
    def nvmlDeviceGetCount(self) -> int:
        return len(self.GPUS)

    def nvmlDeviceGetHandleByIndex(self, i: int) -> int:
        return i

    def nvmlSystemGetDriverVersion(self) -> str:
        return "580.95.05"

    def nvmlSystemGetCudaDriverVersion(self) -> int:
        return 13000

    def nvmlDeviceGetUUID(self, h: int) -> str:
        return self.GPUS[h]["uuid"]

    def nvmlDeviceGetName(self, h: int) -> bytes:
        return self.GPUS[h]["name"].encode()  # older pynvml returns bytes

    def nvmlDeviceGetCudaComputeCapability(self, h: int) -> tuple[int, int]:
        return self.GPUS[h]["cc"]

    def nvmlDeviceGetMemoryInfo(self, h: int) -> SimpleNamespace:
        total, used = self.GPUS[h]["mem"]
        return SimpleNamespace(total=total, used=used, free=total - used)

    def nvmlDeviceGetUtilizationRates(self, h: int) -> SimpleNamespace:
        gpu, mem = self.GPUS[h]["util"]
        return SimpleNamespace(gpu=gpu, memory=mem)

    def nvmlDeviceGetPowerUsage(self, h: int) -> int:
        return self.GPUS[h]["power"]

    def nvmlDeviceGetEnforcedPowerLimit(self, h: int) -> int:
        return self.GPUS[h]["limit"]

    def nvmlDeviceGetTotalEnergyConsumption(self, h: int) -> int:
        if self.GPUS[h]["energy"] is None:
            raise _unsupported()
        return self.GPUS[h]["energy"]

    def nvmlDeviceGetTemperature(self, h: int, sensor: int) -> int:
        return self.GPUS[h]["temp"]

    def nvmlDeviceGetClockInfo(self, h: int, clock: int) -> int:
        return self.GPUS[h]["sm" if clock == self.NVML_CLOCK_SM else "memclk"]

    def nvmlDeviceGetPcieThroughput(self, h: int, counter: int) -> int:
        return self.GPUS[h]["tx" if counter == self.NVML_PCIE_UTIL_TX_BYTES else "rx"]

    def nvmlDeviceGetEncoderUtilization(self, h: int) -> list[int]:
        return [self.GPUS[h]["enc"], 167_000]

    def nvmlDeviceGetDecoderUtilization(self, h: int) -> list[int]:
        return [self.GPUS[h]["dec"], 167_000]

    def nvmlDeviceGetTotalEccErrors(self, h: int, kind: int, counter: int) -> int:
        ecc = self.GPUS[h]["ecc"]
        if ecc is None:
            raise _unsupported()  # GeForce cards have no ECC
        return ecc[0] if kind == self.NVML_MEMORY_ERROR_TYPE_CORRECTED else ecc[1]

    def nvmlEventSetCreate(self) -> str:
        return "event-set"

    def nvmlDeviceRegisterEvents(self, h: int, mask: int, es: str) -> None:
        if h == 1:
            raise _unsupported()
        self.registered.append(h)

    def nvmlEventSetWait_v2(self, es: str, timeout_ms: int) -> SimpleNamespace:
        if not self.events:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_TIMEOUT)
        return self.events.pop(0)

    def nvmlEventSetFree(self, es: str) -> None: ...


class RecordedDcgmReader:
    """STAND-IN for DCGM's DcgmReader (see the module docstring): field id -> ratio per DCGM GPU id."""

    m_gpuIdToUUId = {0: H100}

    def GetLatestGpuValuesAsFieldIdDict(self) -> dict[int, dict[int, float]]:
        return {0: {1001: 0.9, 1002: 0.8, 1003: 0.3, 1004: 0.42, 1005: 0.55, 1006: 0.0, 1007: 0.10, 1008: 0.05,
                    1009: 123456.0}}  # fmt: skip


def test_nvml_families_units_and_unsupported_fields() -> None:
    nvml = RecordedNvml()
    x = Exporter(ExporterConfig(port=0, dcgm={"mode": "off"}), nvml_module=nvml)
    nvml.events.append(SimpleNamespace(device=0, eventData=79))  # "GPU has fallen off the bus"
    x.refresh()
    got = families(x.render(None)[0].decode())
    info = {lab["gpu_id"]: lab for lab, _ in got["naap_gpu_info"]}
    assert info[H100] == {"gpu_id": H100, "gpu_index": "0", "name": "NVIDIA H100 80GB HBM3", "vram_bytes": "85520809984",
                          "driver_version": "580.95.05", "cuda_version": "13.0", "compute_capability": "9.0"}  # fmt: skip
    assert value(got, "naap_gpu_power_watts", gpu_id=H100) == 612.345
    assert value(got, "naap_gpu_power_limit_watts", gpu_id=RTX) == 450.0
    assert value(got, "naap_gpu_utilization_ratio", gpu_id=H100) == 0.87
    assert value(got, "naap_gpu_memory_used_bytes", gpu_id=RTX) == 9_663_676_416
    assert value(got, "naap_gpu_sm_clock_hertz", gpu_id=H100) == 1.98e9
    assert value(got, "naap_gpu_memory_clock_hertz", gpu_id=RTX) == 10_501e6
    assert value(got, "naap_gpu_pcie_throughput_bytes_per_second", gpu_id=H100, direction="transmit") == 1_250_000 * 1024
    assert value(got, "naap_gpu_encoder_utilization_ratio", gpu_id=RTX) == 0.35
    assert value(got, "naap_gpu_decoder_utilization_ratio", gpu_id=H100) == 0.12
    assert value(got, "naap_gpu_energy_joules_total", gpu_id=H100) == 9_876_543.21
    assert value(got, "naap_gpu_ecc_errors_total", gpu_id=H100, type="corrected") == 3
    assert value(got, "naap_gpu_xid_errors_total", gpu_id=H100) == 1
    assert value(got, "naap_gpu_xid_last_code", gpu_id=H100) == 79
    # Not supported on the GeForce card: left out, never reported as zero.
    assert not [lab for lab, _ in got["naap_gpu_energy_joules_total"] if lab["gpu_id"] == RTX]
    assert not [lab for lab, _ in got["naap_gpu_ecc_errors_total"] if lab["gpu_id"] == RTX]
    assert not [lab for lab, _ in got["naap_gpu_xid_errors_total"] if lab["gpu_id"] == RTX]
    assert value(got, "naap_exporter_source_up", source="nvml") == 1


def test_no_nvml_is_normal_families_absent_and_said_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="exporter")
    x = Exporter(ExporterConfig(port=0, dcgm={"mode": "off"}))  # the real pynvml: no library on this machine
    x.start()
    for _ in range(3):
        x.refresh()
    x.stop()
    got = families(x.render(None)[0].decode())
    assert not [n for n in got if n.startswith("naap_gpu_")]
    assert "naap_exporter_build_info" in got
    said = [r for r in caplog.records if "NVML unavailable" in r.getMessage()]
    assert len(said) == 1


def test_dcgm_bindings_give_profiling_and_high_confidence_cue() -> None:
    x = Exporter(ExporterConfig(port=0, dcgm={"mode": "bindings"}), nvml_module=RecordedNvml(),
                 dcgm_reader_factory=RecordedDcgmReader)  # fmt: skip
    x.refresh()
    got = families(x.render(None)[0].decode())
    assert value(got, "naap_gpu_pipe_active_ratio", gpu_id=H100, pipe="tensor") == 0.42
    assert value(got, "naap_gpu_sm_active_ratio", gpu_id=H100) == 0.8
    assert value(got, "naap_gpu_dram_active_ratio", gpu_id=H100) == 0.55
    peak = 989.5e12
    achieved = 0.42 * peak + 0.10 * 67e12 + 0.0 * 34e12 + 0.05 * 67e12
    assert value(got, "naap_gpu_cue_ratio", gpu_id=H100, method="dcgm", confidence="high") == pytest.approx(achieved / peak)
    assert value(got, "naap_gpu_achieved_flops", gpu_id=H100, method="dcgm") == pytest.approx(achieved)
    # The RTX card has no DCGM data (consumer GPUs lack DCP profiling): it falls back to the proxy.
    assert value(got, "naap_gpu_cue_ratio", gpu_id=RTX, method="proxy", confidence="medium") == 0.0


def test_absent_dcgm_bindings_are_normal(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="exporter")
    src = DcgmBindingsSource()
    assert not src.available()  # no DCGM here: an ImportError, logged once, no source
    assert any("DCGM bindings unavailable" in r.getMessage() for r in caplog.records)
    x = Exporter(ExporterConfig(port=0), nvml_module=RecordedNvml())  # dcgm mode auto
    assert x.dcgm is None


async def test_dcgm_exporter_url_is_scraped_over_http() -> None:
    runner, url = await serve_body((DATA / "dcgm-exporter.prom").read_bytes())
    cfg = ExporterConfig(host="127.0.0.1", port=0, push={"enabled": False}, dcgm={"url": url, "interval_s": 0.2})
    srv = ExporterServer(Exporter(cfg, nvml_module=RecordedNvml()))
    await srv.start()
    try:
        got = await scrape_when(srv.url, lambda: srv.exporter.dcgm.up)  # type: ignore[union-attr]
    finally:
        await srv.stop()
        await runner.cleanup()
    src = srv.exporter.dcgm
    assert isinstance(src, DcgmExporterSource)
    assert value(got, "naap_gpu_pipe_active_ratio", gpu_id=H100, pipe="tensor") == 0.42
    assert value(got, "naap_gpu_graphics_engine_active_ratio", gpu_id=RTX) == 0.101
    assert value(got, "naap_gpu_sm_occupancy_ratio", gpu_id=H100) == 0.35
    # fp32 1.7 is not a ratio and one sample has no UUID: both refused and counted, the rest kept.
    assert src.rejected_samples >= 2
    assert not [lab for lab, _ in got["naap_gpu_pipe_active_ratio"] if lab["gpu_id"] == RTX and lab["pipe"] == "fp32"]
    assert value(got, "naap_gpu_cue_ratio", gpu_id=H100, method="dcgm", confidence="high") > 0.42
    assert value(got, "naap_exporter_source_up", source="dcgm") == 1


async def test_a_dcgm_exporter_that_fails_is_counted_and_its_families_drop(tmp_path: Path) -> None:
    bad = tmp_path / "bad.prom"
    bad.write_text("this is { not an exposition\n")
    runner, url = await serve_body(bad.read_bytes())
    src = DcgmExporterSource(url, interval_s=0.1, timeout_s=1.0)
    src.snapshot.by_uuid = {H100: {"tensor_active": 0.5}}  # a good earlier read
    try:
        for _ in range(src.stale_after):
            await src.refresh_async()
    finally:
        await src.close()
        await runner.cleanup()
    assert src.errors == src.stale_after and not src.up
    assert src.snapshot.by_uuid == {}  # stale: dropped rather than shown as current


def test_proxy_cue_from_stream_fps_and_model_flops() -> None:
    nvml = RecordedNvml()
    x = Exporter(ExporterConfig(port=0, dcgm={"mode": "off"}, cue={"model_flops": {"my-model": 2e12}}), nvml_module=nvml)
    x.refresh()
    clock = [0.0]
    x.streams._clock = lambda: clock[0]
    a = x.streams.start_stream("a", "live-video-to-video", "streamdiffusion", H100)
    b = x.streams.start_stream("b", "live-video-to-video", "my-model", "1")  # gpu_id by NVML index
    c = x.streams.start_stream("c", "live-video-to-video", "streamdiffusion-sdxl", RTX)
    a.frame_out(100)
    b.frame_out(50)
    c.frame_out(75)
    clock[0] += 5.0
    x.streams.tick()
    got = families(x.render(None)[0].decode())
    h100 = 20 * 1.06e12 / 989.5e12
    rtx = (10 * 2e12 + 15 * 2.74e12) / 330.3e12
    assert value(got, "naap_gpu_cue_ratio", gpu_id=H100, method="proxy", confidence="medium") == pytest.approx(h100)
    # sdxl's per-frame figure is our scaling estimate: the GPU's proxy CUE is low confidence.
    assert value(got, "naap_gpu_cue_ratio", gpu_id=RTX, method="proxy", confidence="low") == pytest.approx(rtx)
    assert value(got, "naap_gpu_peak_flops", gpu_id=RTX, precision="fp16_tensor") == 330.3e12


@pytest.mark.parametrize(
    ("nvml_name", "key"),
    [
        ("NVIDIA H200", "H200"),
        ("NVIDIA H200 NVL", "H200-NVL"),
        ("NVIDIA H100 80GB HBM3", "H100"),
        ("NVIDIA H100 PCIe", "H100-PCIe"),
        ("NVIDIA H100 NVL", "H100-NVL"),
        ("NVIDIA A100-SXM4-80GB", "A100"),
        ("NVIDIA A100 80GB PCIe", "A100"),
        ("NVIDIA L40S", "L40S"),
        ("NVIDIA L40", "L40"),
        ("NVIDIA L4", "L4"),
        ("NVIDIA A10", "A10"),
        ("NVIDIA A40", "A40"),
        ("NVIDIA RTX A6000", "RTX-A6000"),
        ("NVIDIA RTX 6000 Ada Generation", "RTX-6000-Ada"),
        ("NVIDIA GeForce RTX 5090", "RTX-5090"),
        ("NVIDIA GeForce RTX 4090", "RTX-4090"),
        ("NVIDIA GeForce RTX 3090", "RTX-3090"),
        ("NVIDIA A10G", None),
        ("NVIDIA GeForce RTX 3090 Ti", None),
        ("NVIDIA GeForce RTX 4080", None),
    ],
)
def test_peak_table_matches_nvml_names(nvml_name: str, key: str | None) -> None:
    peak = CueTables().peak(nvml_name)
    assert (peak.key if peak else None) == key


def test_tables_name_their_sources() -> None:
    t = CueTables()
    assert all(e.source for e in t.peak_entries)
    for model_id in ("streamdiffusion", "streamdiffusion-sd15", "streamdiffusion-sdxl"):
        entry = t.flops_per_frame(model_id)
        assert entry is not None and entry.flops_per_frame > 1e11 and "[" in entry.derivation
