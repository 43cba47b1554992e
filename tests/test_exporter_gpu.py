"""GPU families from NVML and DCGM, and CUE by both methods.

STAND-IN NOTICE: this machine has no GPU, NVML library or DCGM host engine. `RecordedNvml` below stands in
for the `pynvml` module and `RecordedDcgmReader` for DCGM's `DcgmReader`: they return hand-written readings
in NVML's and DCGM's documented units (milliwatts, MHz, KB/s, millijoules, ratios), shaped like an H100 SXM
and an RTX 4090, and raise pynvml's own NVMLError classes where real cards do: NOT_SUPPORTED for fields a
card lacks, GPU_IS_LOST / UNKNOWN for a GPU fallen off the bus, NOT_FOUND for an empty MIG slot. Its MIG
mode (MIG devices, GPU instance ids, SM counts, "… MIG 1g.10gb" device names) follows nvidia-ml-py 13's
function names and NVML's documentation (nvmlDeviceGetAttributes answers for MIG device handles only). They
are not captures from hardware: the real NVML and MIG paths are unverified here. The dcgm-exporter path is
tested for real: a local HTTP server serves dcgm-exporter-shaped expositions (tests/data/exporter/).
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import subprocess
import threading
from pathlib import Path
from types import SimpleNamespace

import pynvml
import pytest
from prometheus_client.parser import text_string_to_metric_families as parse_text

from exporter.config import ExporterConfig
from exporter.cue.tables import CueTables
from exporter.gpu.collector import GpuPoller
from exporter.gpu.dcgm import DcgmBindingsSource, DcgmExporterSource
from exporter.gpu.nvml import NvmlSource
from exporter.errors import ExporterStartError
from exporter.server import Exporter, ExporterServer
from exposition_helpers import families, scrape_when, serve_body, value

DATA = Path(__file__).parent / "data" / "exporter"
H100 = "GPU-5f1e8e0a-1b2c-4d3e-9f40-aa11bb22cc33"  # the UUIDs dcgm-exporter.prom uses
RTX = "GPU-77aa1c2d-3e4f-5a6b-7c8d-9e0f1a2b3c4d"
PROMTOOL = shutil.which("promtool")


def _promtool(text: bytes) -> subprocess.CompletedProcess:
    assert PROMTOOL, "promtool is installed by `make test` (Debian package prometheus)"
    return subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, timeout=30)


def _unsupported() -> Exception:
    return pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)


# MIG devices of the H100 stand-in when MIG is on, by slot (None: an empty slot, NVML_ERROR_NOT_FOUND):
# (GPU instance id, profile, MIG device UUID, SMs, memory total, memory used). GPU instance 1 is split into two
# compute instances (two MIG devices sharing the instance's memory); 5 and 6 have the same profile.
MIG_1A = "MIG-0c3f3f0e-6b1d-5b8e-9f0a-1a2b3c4d5e01"
MIG_1B = "MIG-0c3f3f0e-6b1d-5b8e-9f0a-1a2b3c4d5e02"
MIG_5 = "MIG-5d2e1f00-7a6b-5c4d-8e9f-0a1b2c3d4e05"
MIG_6 = "MIG-6e3f2a11-8b7c-5d6e-9fa0-1b2c3d4e5f06"
H100_MIG = [
    (1, "3g.40gb", MIG_1A, 30, 42_949_672_960, 21_474_836_480),
    (1, "3g.40gb", MIG_1B, 30, 42_949_672_960, 21_474_836_480),
    None,
    (5, "1g.10gb", MIG_5, 16, 10_200_547_328, 2_147_483_648),
    (6, "1g.10gb", MIG_6, 16, 10_200_547_328, 8_589_934_592),
    None,
    None,
]


class RecordedNvml:
    """STAND-IN for the pynvml module (see the module docstring). GPU 0 is H100-like, GPU 1 RTX 4090-like.

    `lost[i] = code` makes every query of GPU i raise NVMLError(code) (a GPU fallen off the bus);
    `lost_handles[i] = code` makes NVML refuse its handle; `count` overrides how many GPUs NVML reports;
    `mig = True` turns MIG on for the H100 (the MIG devices of H100_MIG). Handles are the GPU index, and
    ("mig", index, slot) for MIG devices.
    """

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

    def __init__(self, mig: bool = False) -> None:
        self.events: list[SimpleNamespace] = []
        self.registered: list[int] = []
        self.lost: dict[int, int] = {}
        self.lost_handles: dict[int, int] = {}
        self.count: int | None = None
        self.mig = mig
        self.mig_slots = list(H100_MIG)

    def _gpu(self, h: object) -> dict:
        i = h[1] if isinstance(h, tuple) else h
        if i in self.lost:
            raise pynvml.NVMLError(self.lost[i])
        return self.GPUS[i]  # type: ignore[index]

    def _mig(self, h: tuple) -> tuple:
        self._gpu(h)
        return self.mig_slots[h[2]]  # type: ignore[return-value]

    def nvmlInit(self) -> None: ...
    def nvmlShutdown(self) -> None: ...
    def nvmlDeviceGetCount(self) -> int:
        return len(self.GPUS) if self.count is None else self.count

    def nvmlDeviceGetHandleByIndex(self, i: int) -> int:
        if i in self.lost_handles:
            raise pynvml.NVMLError(self.lost_handles[i])
        return i

    def nvmlSystemGetDriverVersion(self) -> str:
        return "580.95.05"

    def nvmlSystemGetCudaDriverVersion(self) -> int:
        return 13000

    def nvmlDeviceGetUUID(self, h: object) -> str:
        return self._mig(h)[2] if isinstance(h, tuple) else self._gpu(h)["uuid"]

    def nvmlDeviceGetName(self, h: object) -> bytes:
        if isinstance(h, tuple):
            return f"{self._gpu(h)['name']} MIG {self._mig(h)[1]}".encode()
        return self._gpu(h)["name"].encode()  # older pynvml returns bytes

    def nvmlDeviceGetCudaComputeCapability(self, h: int) -> tuple[int, int]:
        return self._gpu(h)["cc"]

    def nvmlDeviceGetMemoryInfo(self, h: object) -> SimpleNamespace:
        total, used = self._mig(h)[4:6] if isinstance(h, tuple) else self._gpu(h)["mem"]
        return SimpleNamespace(total=total, used=used, free=total - used)

    def nvmlDeviceGetUtilizationRates(self, h: object) -> SimpleNamespace:
        if isinstance(h, tuple) or (h == 0 and self.mig):
            self._gpu(h)
            raise _unsupported()  # NVML gives no utilization on MIG devices, nor on a MIG-enabled GPU
        gpu, mem = self._gpu(h)["util"]
        return SimpleNamespace(gpu=gpu, memory=mem)

    def nvmlDeviceGetPowerUsage(self, h: int) -> int:
        return self._gpu(h)["power"]

    def nvmlDeviceGetEnforcedPowerLimit(self, h: int) -> int:
        return self._gpu(h)["limit"]

    def nvmlDeviceGetTotalEnergyConsumption(self, h: int) -> int:
        if self._gpu(h)["energy"] is None:
            raise _unsupported()
        return self._gpu(h)["energy"]

    def nvmlDeviceGetTemperature(self, h: int, sensor: int) -> int:
        return self._gpu(h)["temp"]

    def nvmlDeviceGetClockInfo(self, h: int, clock: int) -> int:
        return self._gpu(h)["sm" if clock == self.NVML_CLOCK_SM else "memclk"]

    def nvmlDeviceGetPcieThroughput(self, h: int, counter: int) -> int:
        return self._gpu(h)["tx" if counter == self.NVML_PCIE_UTIL_TX_BYTES else "rx"]

    def nvmlDeviceGetEncoderUtilization(self, h: int) -> list[int]:
        return [self._gpu(h)["enc"], 167_000]

    def nvmlDeviceGetDecoderUtilization(self, h: int) -> list[int]:
        return [self._gpu(h)["dec"], 167_000]

    def nvmlDeviceGetTotalEccErrors(self, h: int, kind: int, counter: int) -> int:
        ecc = self._gpu(h)["ecc"]
        if ecc is None:
            raise _unsupported()  # GeForce cards have no ECC
        return ecc[0] if kind == self.NVML_MEMORY_ERROR_TYPE_CORRECTED else ecc[1]

    # MIG, as pynvml names it (nvidia-ml-py 13): the H100 is MIG-capable, the GeForce card is not.
    def nvmlDeviceGetMigMode(self, h: int) -> list[int]:
        self._gpu(h)
        if h == 1:
            raise _unsupported()
        return [1, 1] if self.mig else [0, 0]

    def nvmlDeviceGetMaxMigDeviceCount(self, h: int) -> int:
        self._gpu(h)
        return len(self.mig_slots) if self.mig and h == 0 else 0

    def nvmlDeviceGetMigDeviceHandleByIndex(self, h: int, slot: int) -> tuple:
        self._gpu(h)
        if not self.mig or h != 0 or self.mig_slots[slot] is None:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_FOUND)
        return ("mig", h, slot)

    def nvmlDeviceGetGpuInstanceId(self, h: tuple) -> int:
        return self._mig(h)[0]

    def nvmlDeviceGetAttributes(self, h: object) -> SimpleNamespace:
        if not isinstance(h, tuple):
            raise _unsupported()  # NVML supports it for MIG device handles only
        return SimpleNamespace(multiprocessorCount=self._mig(h)[3], gpuInstanceSliceCount=0, memorySizeMB=0)

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
    assert info[H100] == {"gpu_id": H100, "gpu_instance": "", "gpu_index": "0", "name": "NVIDIA H100 80GB HBM3",
                          "vram_bytes": "85520809984", "driver_version": "580.95.05", "cuda_version": "13.0",
                          "compute_capability": "9.0", "gpu_instance_profile": "", "mig_uuid": ""}  # fmt: skip
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
    assert value(got, "naap_gpu_up", gpu_id=H100) == 1 and value(got, "naap_gpu_up", gpu_id=RTX) == 1
    assert value(got, "naap_gpu_read_errors_total", gpu_id=RTX) == 0


def test_no_nvml_is_a_down_source_said_once_as_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="exporter")
    x = Exporter(ExporterConfig(port=0, dcgm={"mode": "off"}))  # the real pynvml: no library on this machine
    x.start()
    for _ in range(3):
        x.refresh()
    x.stop()
    got = families(x.render(None)[0].decode())
    assert not [n for n in got if n.startswith("naap_gpu_")]
    assert "naap_exporter_build_info" in got
    # Not loadable is not "up": the source says 0 and counts every failed read, and the log says so once.
    assert value(got, "naap_exporter_source_up", source="nvml") == 0
    assert value(got, "naap_exporter_source_errors_total", source="nvml") == 4  # start's read and three more
    said = [r for r in caplog.records if "NVML unavailable" in r.getMessage()]
    assert len(said) == 1 and said[0].levelno == logging.WARNING


def test_nvml_that_cannot_count_its_gpus_is_down_and_shows_nothing_stale() -> None:
    nvml = RecordedNvml()
    x = Exporter(ExporterConfig(port=0, dcgm={"mode": "off"}), nvml_module=nvml)
    x.refresh()
    assert value(families(x.render(None)[0].decode()), "naap_exporter_source_up", source="nvml") == 1

    def broken() -> int:
        raise pynvml.NVMLError(pynvml.NVML_ERROR_UNKNOWN)

    nvml.nvmlDeviceGetCount = broken  # type: ignore[method-assign]
    x.refresh()
    got = families(x.render(None)[0].decode())
    assert value(got, "naap_exporter_source_up", source="nvml") == 0
    assert value(got, "naap_exporter_source_errors_total", source="nvml") == 1
    # The first failed read drops every value; each GPU seen stays listed, as down, with its error counted.
    assert {n for n in got if n.startswith("naap_gpu_")} == {"naap_gpu_up", "naap_gpu_read_errors_total"}
    assert value(got, "naap_gpu_up", gpu_id=H100) == 0 and value(got, "naap_gpu_up", gpu_id=RTX) == 0
    assert value(got, "naap_gpu_read_errors_total", gpu_id=H100) == 1


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


def test_absent_dcgm_bindings_are_normal_in_auto_mode(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="exporter")
    src = DcgmBindingsSource()
    assert not src.available()  # no DCGM here: an ImportError
    assert "DCGM bindings unavailable" in src.reason
    x = Exporter(ExporterConfig(port=0), nvml_module=RecordedNvml())  # dcgm mode auto: no source, said at INFO
    assert x.dcgm is None
    said = [r for r in caplog.records if "DCGM bindings unavailable" in r.getMessage()]
    assert len(said) == 1 and said[0].levelno == logging.INFO


def test_explicitly_requested_dcgm_bindings_that_cannot_load_stop_start_up() -> None:
    with pytest.raises(ExporterStartError) as e:
        Exporter(ExporterConfig(port=0, dcgm={"mode": "bindings"}), nvml_module=RecordedNvml())
    message = str(e.value)
    assert message.startswith("--dcgm bindings: DCGM bindings unavailable (No module named 'DcgmReader')")
    assert "\n" not in message and "--dcgm-url" in message


def test_dcgm_bindings_that_give_no_profiling_value_are_down() -> None:
    class Blank(RecordedDcgmReader):  # STAND-IN: DCGM's blank sentinels, as on GPUs without profiling support
        def GetLatestGpuValuesAsFieldIdDict(self) -> dict[int, dict[int, float]]:
            return {0: {1001: 9.223372036854776e18, 1004: 9.223372036854776e18}}

    src = DcgmBindingsSource(reader_factory=Blank)
    src.refresh()
    assert not src.up and src.errors == 1 and src.snapshot.by_gpu == {}
    assert "no profiling value" in (src.last_error or "")


async def test_dcgm_exporter_url_is_scraped_over_http() -> None:
    runner, url = await serve_body((DATA / "dcgm-exporter.prom").read_bytes())
    cfg = ExporterConfig(host="127.0.0.1", port=0, push={"enabled": False}, dcgm={"url": url, "interval_s": 0.2, "timeout_s": 10})
    srv = ExporterServer(Exporter(cfg, nvml_module=RecordedNvml()))
    await srv.start()
    try:
        got = await scrape_when(srv.url, lambda: srv.exporter.dcgm.up, tries=400)  # type: ignore[union-attr]
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
    src = DcgmExporterSource(url, interval_s=0.1, timeout_s=10)  # the read must complete: the parse fails
    src.snapshot.by_gpu = {(H100, ""): {"tensor_active": 0.5}}  # a good earlier read
    try:
        await src.refresh_async()
    finally:
        await src.close()
        await runner.cleanup()
    assert src.errors == 1 and not src.up
    assert src.snapshot.by_gpu == {}  # dropped at the first failed read rather than shown as current


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


# -- GPUs that fall off the bus ------------------------------------------------------------------------------
def _series(got: dict[str, list], name: str, gpu_id: str) -> list:
    return [lab for lab, _ in got.get(name, []) if lab.get("gpu_id") == gpu_id]


@pytest.mark.parametrize(
    ("how", "code"),
    [("reads", pynvml.NVML_ERROR_GPU_IS_LOST), ("reads", pynvml.NVML_ERROR_UNKNOWN),
     ("handle", pynvml.NVML_ERROR_GPU_IS_LOST), ("handle", pynvml.NVML_ERROR_UNKNOWN)],
)  # fmt: skip
def test_a_gpu_lost_after_start_is_reported_down_never_silently_absent(how: str, code: int) -> None:
    nvml = RecordedNvml()
    x = Exporter(ExporterConfig(port=0, dcgm={"mode": "off"}), nvml_module=nvml)
    x.refresh()
    (nvml.lost if how == "reads" else nvml.lost_handles)[1] = code  # the RTX falls off the bus
    x.refresh()
    x.refresh()
    got = families(x.render(None)[0].decode())
    assert value(got, "naap_gpu_up", gpu_id=RTX, gpu_instance="") == 0
    assert value(got, "naap_gpu_read_errors_total", gpu_id=RTX) == 2
    # None of its other series remain (no stale values); the GPU still read is untouched, the source is up.
    assert [n for n in got if _series(got, n, RTX)] == ["naap_gpu_up", "naap_gpu_read_errors_total"]
    assert value(got, "naap_gpu_up", gpu_id=H100) == 1 and value(got, "naap_gpu_power_watts", gpu_id=H100) == 612.345
    assert value(got, "naap_exporter_source_up", source="nvml") == 1
    # Back on the bus: up again, its values back, its error count kept.
    (nvml.lost if how == "reads" else nvml.lost_handles).clear()
    x.refresh()
    got = families(x.render(None)[0].decode())
    assert value(got, "naap_gpu_up", gpu_id=RTX) == 1 and value(got, "naap_gpu_power_watts", gpu_id=RTX) == 61.02
    assert value(got, "naap_gpu_read_errors_total", gpu_id=RTX) == 2


def test_a_gpu_nvml_stops_counting_keeps_its_last_identity_and_all_gpus_lost_is_a_down_source() -> None:
    nvml = RecordedNvml()
    x = Exporter(ExporterConfig(port=0, dcgm={"mode": "off"}), nvml_module=nvml)
    x.refresh()
    nvml.count = 1  # NVML no longer lists the RTX at all
    x.refresh()
    got = families(x.render(None)[0].decode())
    assert value(got, "naap_gpu_up", gpu_id=RTX) == 0 and value(got, "naap_gpu_read_errors_total", gpu_id=RTX) == 1
    assert not _series(got, "naap_gpu_info", RTX)
    nvml.lost[0] = pynvml.NVML_ERROR_GPU_IS_LOST  # and now the H100 too: nothing can be read
    x.refresh()
    got = families(x.render(None)[0].decode())
    assert value(got, "naap_exporter_source_up", source="nvml") == 0
    assert {n for n in got if n.startswith("naap_gpu_")} == {"naap_gpu_up", "naap_gpu_read_errors_total"}
    assert value(got, "naap_gpu_up", gpu_id=H100) == 0 and value(got, "naap_gpu_up", gpu_id=RTX) == 0
    assert "GPU is lost" in (x.gpu_poller.last_error or "")  # type: ignore[union-attr]


def test_a_gpu_unreadable_from_the_first_read_is_listed_by_index() -> None:
    nvml = RecordedNvml()
    nvml.lost_handles[1] = pynvml.NVML_ERROR_UNKNOWN
    x = Exporter(ExporterConfig(port=0, dcgm={"mode": "off"}), nvml_module=nvml)
    x.refresh()
    got = families(x.render(None)[0].decode())
    assert value(got, "naap_gpu_up", gpu_id="GPU-index-1") == 0
    assert value(got, "naap_gpu_up", gpu_id=H100) == 1


async def test_a_hung_nvml_read_is_a_failed_read_and_what_it_returns_late_is_thrown_away() -> None:
    nvml = RecordedNvml()
    x = Exporter(ExporterConfig(port=0, dcgm={"mode": "off"}), nvml_module=nvml)
    poller = x.gpu_poller
    assert poller is not None
    poller.read_timeout_s = 10  # good reads: far above any normal read time
    await poller.refresh_async()
    assert poller.up and poller.readings
    release = threading.Event()
    count = nvml.nvmlDeviceGetCount

    def hangs() -> int:  # NVML blocking on a GPU that is falling off the bus
        release.wait(30)
        return count()

    nvml.nvmlDeviceGetCount = hangs  # type: ignore[method-assign]
    poller.read_timeout_s = 0.2  # short only where it must fire: `release` holds this read
    await poller.refresh_async()
    assert not poller.up and poller.readings == [] and "did not return" in (poller.last_error or "")
    await poller.refresh_async()  # the first read still hangs: no second thread, another failed read
    assert poller.errors == 2 and "has not returned" in (poller.last_error or "")
    got = families(x.render(None)[0].decode())
    assert value(got, "naap_exporter_source_up", source="nvml") == 0 and "naap_gpu_power_watts" not in got
    release.set()
    await poller._inflight  # type: ignore[misc]
    await asyncio.sleep(0)  # the done-callback runs
    assert poller.readings == []  # read long ago: not shown
    nvml.nvmlDeviceGetCount = count  # type: ignore[method-assign]
    poller.read_timeout_s = 10
    await poller.refresh_async()
    assert poller.up and len(poller.readings) == 2


# -- MIG -----------------------------------------------------------------------------------------------------
def test_mig_instances_of_one_gpu_are_told_apart_never_collapsed() -> None:
    x = Exporter(ExporterConfig(port=0, dcgm={"mode": "off"}), nvml_module=RecordedNvml(mig=True))
    x.refresh()
    text = x.render(None)[0].decode()
    got = families(text)
    info = {lab["gpu_instance"]: lab for lab, _ in got["naap_gpu_info"] if lab["gpu_id"] == H100}
    assert sorted(info) == ["", "1", "5", "6"]
    assert (info["5"]["gpu_instance_profile"], info["5"]["mig_uuid"]) == ("1g.10gb", MIG_5)
    assert (info["6"]["gpu_instance_profile"], info["6"]["mig_uuid"]) == ("1g.10gb", MIG_6)
    assert (info["1"]["gpu_instance_profile"], info["1"]["mig_uuid"]) == ("3g.40gb", MIG_1A)
    assert info[""]["gpu_instance_profile"] == "" and info["5"]["name"] == "NVIDIA H100 80GB HBM3"
    # Two instances with the same profile keep their own values.
    assert value(got, "naap_gpu_memory_used_bytes", gpu_id=H100, gpu_instance="5") == 2_147_483_648
    assert value(got, "naap_gpu_memory_used_bytes", gpu_id=H100, gpu_instance="6") == 8_589_934_592
    assert value(got, "naap_gpu_memory_total_bytes", gpu_id=H100, gpu_instance="1") == 42_949_672_960
    # Device-level fields stay on the GPU itself; utilization is not given for MIG: absent, not 0.
    assert value(got, "naap_gpu_power_watts", gpu_id=H100, gpu_instance="") == 612.345
    assert len(_series(got, "naap_gpu_power_watts", H100)) == 1
    assert not _series(got, "naap_gpu_utilization_ratio", H100)
    assert {lab["gpu_instance"] for lab, _ in got["naap_gpu_up"] if lab["gpu_id"] == H100} == {"", "1", "5", "6"}
    # No family holds the same label set twice.
    for fam in parse_text(text):
        keys = [(s.name, tuple(sorted(s.labels.items()))) for s in fam.samples]
        assert len(keys) == len(set(keys)), fam.name
    check = _promtool(text.encode())
    assert check.returncode == 0 and not (check.stdout + check.stderr).strip(), check.stdout + check.stderr


def test_a_mig_instance_removed_on_a_readable_gpu_is_forgotten_not_reported_lost() -> None:
    nvml = RecordedNvml(mig=True)
    x = Exporter(ExporterConfig(port=0, dcgm={"mode": "off"}), nvml_module=nvml)
    x.refresh()
    nvml.mig_slots[4] = None  # the operator destroyed GPU instance 6
    x.refresh()
    got = families(x.render(None)[0].decode())
    assert {lab["gpu_instance"] for lab, _ in got["naap_gpu_up"] if lab["gpu_id"] == H100} == {"", "1", "5"}
    nvml.lost[0] = pynvml.NVML_ERROR_GPU_IS_LOST  # the GPU itself is lost: it and its instances are down
    x.refresh()
    got = families(x.render(None)[0].decode())
    assert {(lab["gpu_instance"], v) for lab, v in got["naap_gpu_up"] if lab["gpu_id"] == H100} == {
        ("", 0), ("1", 0), ("5", 0)}  # fmt: skip


def test_mig_streams_map_to_their_instance_for_the_proxy_cue() -> None:
    nvml = RecordedNvml(mig=True)
    x = Exporter(ExporterConfig(port=0, dcgm={"mode": "off"}, cue={"model_flops": {"m": 1e12}}), nvml_module=nvml)
    x.refresh()
    clock = [0.0]
    x.streams._clock = lambda: clock[0]
    on5 = x.streams.start_stream("a", "live-video-to-video", "m", MIG_5)  # MIG device UUID, as CUDA sees it
    on6 = x.streams.start_stream("b", "live-video-to-video", "m", f"MIG-{H100}/6/0")  # CUDA's pre-R470 form
    on1 = x.streams.start_stream("c", "live-video-to-video", "m", MIG_1B)  # second compute instance of GI 1
    on5.frame_out(100)
    on6.frame_out(50)
    on1.frame_out(150)
    clock[0] += 5.0
    x.streams.tick()
    got = families(x.render(None)[0].decode())
    per_sm = 989.5e12 / 132  # H100 SXM: 132 SMs (peak table `sms`)
    cue = {lab["gpu_instance"]: v for lab, v in got["naap_gpu_cue_ratio"] if lab["gpu_id"] == H100}
    assert cue["5"] == pytest.approx(20 * 1e12 / (16 * per_sm))
    assert cue["6"] == pytest.approx(10 * 1e12 / (16 * per_sm))
    assert cue["1"] == pytest.approx(30 * 1e12 / (60 * per_sm))  # both compute instances' SMs
    assert cue[""] == pytest.approx(60 * 1e12 / 989.5e12)  # the whole GPU: every instance's streams
    assert value(got, "naap_gpu_peak_flops", gpu_id=H100, gpu_instance="5") == pytest.approx(16 * per_sm)


async def test_dcgm_exporter_gpu_instances_join_their_mig_readings() -> None:
    runner, url = await serve_body((DATA / "dcgm-exporter-mig.prom").read_bytes())
    cfg = ExporterConfig(host="127.0.0.1", port=0, push={"enabled": False}, dcgm={"url": url, "interval_s": 0.2, "timeout_s": 10})
    srv = ExporterServer(Exporter(cfg, nvml_module=RecordedNvml(mig=True)))
    await srv.start()
    try:
        got = await scrape_when(srv.url, lambda: srv.exporter.dcgm.up, tries=400)  # type: ignore[union-attr]
    finally:
        await srv.stop()
        await runner.cleanup()
    tensor = {lab["gpu_instance"]: v for lab, v in got["naap_gpu_pipe_active_ratio"] if lab["pipe"] == "tensor"}
    assert tensor == {"1": 0.33, "5": 0.61, "6": 0.05}  # three instances of one GPU, three series
    assert value(got, "naap_gpu_dram_active_ratio", gpu_id=H100, gpu_instance="6") == 0.07
    src = srv.exporter.dcgm
    assert isinstance(src, DcgmExporterSource)
    assert src.snapshot.profiles[(H100, "5")] == "1g.10gb"
    assert src.rejected_samples >= 1  # GPU_I_ID="x7" is not an instance id
    per_sm = 989.5e12 / 132
    achieved5 = 0.61 * 16 * per_sm + 0.02 * 16 * 67e12 / 132
    assert value(got, "naap_gpu_cue_ratio", gpu_id=H100, gpu_instance="5", method="dcgm") == pytest.approx(
        achieved5 / (16 * per_sm))  # fmt: skip
    assert value(got, "naap_gpu_achieved_flops", gpu_id=H100, gpu_instance="5", method="dcgm") == pytest.approx(achieved5)
    # The GPU itself has no DCGM row here (dcgm-exporter reports its instances): proxy over the whole GPU.
    assert value(got, "naap_gpu_cue_ratio", gpu_id=H100, gpu_instance="", method="proxy") == 0.0


async def test_a_poller_stops_when_cancelled_even_as_its_read_completes() -> None:
    """Regression: cancelling a source (exporter shutdown) in the very loop iteration its worker-thread read
    returns must stop it. (Python 3.11's asyncio.wait_for swallows such a cancellation: the exporter then never
    exited on SIGTERM.)"""
    poller = GpuPoller(NvmlSource(RecordedNvml()), interval_s=3600)
    task = asyncio.create_task(poller.run_forever())
    while poller._inflight is None:
        await asyncio.sleep(0)
    await asyncio.sleep(0)  # the poller is now waiting on its read
    poller._inflight.add_done_callback(lambda _: task.cancel())  # cancelled as the read completes
    done, _ = await asyncio.wait({task}, timeout=30)  # a bound for the failure case, not a speed check
    assert task in done and task.cancelled()
