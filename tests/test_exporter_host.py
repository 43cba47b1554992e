"""The host source (`naap_host_*`): pure /proc parsers checked on files copied from a real /proc, and on
malformed variants of them; the poller's honest health (unreadable /proc, not Linux, garbled content: up 0,
counted, no host family, no crash); and the real /proc of the machine running the tests, read by a real
exporter served over loopback, with oracles that do not go through our parsers (sysconf, statvfs).

Fixtures: tests/data/exporter/proc/ (a copy of this project's test machine's /proc files),
tests/data/exporter/proc-malformed/ (the same files broken the ways a read can break them) and
tests/data/exporter/diskstats-partitions (hand-written: a host with partitions, LVM, RAID, loop and zram).
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import subprocess
from pathlib import Path
from typing import Callable

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from exporter.config import ExporterConfig, load_exporter_config
from exporter.exposition import TextEncoder
from exporter.host.collector import HostCollector, HostPoller
from exporter.host.proc import (
    CPU_MODES,
    CounterSum,
    ProcFormatError,
    filesystem_bytes,
    is_whole_disk,
    never_back,
    parse_diskstats,
    parse_loadavg,
    parse_meminfo,
    parse_net_dev,
    parse_stat,
)
from exporter.server import Exporter, ExporterServer
from exposition_helpers import families, scrape, value

DATA = Path(__file__).parent / "data" / "exporter"
PROC = DATA / "proc"
BAD = DATA / "proc-malformed"
PROMTOOL = shutil.which("promtool")
HOST_FAMILIES = {
    "naap_host_cpu_seconds_total", "naap_host_cpus", "naap_host_load1", "naap_host_memory_total_bytes",
    "naap_host_memory_available_bytes", "naap_host_filesystem_size_bytes", "naap_host_filesystem_avail_bytes",
    "naap_host_disk_read_bytes_total", "naap_host_disk_written_bytes_total",
    "naap_host_network_receive_bytes_total", "naap_host_network_transmit_bytes_total",
}  # fmt: skip
COUNTERS = ("naap_host_disk_read_bytes_total", "naap_host_disk_written_bytes_total",
            "naap_host_network_receive_bytes_total", "naap_host_network_transmit_bytes_total")  # fmt: skip

# What the fixture files say, read off them by eye (proc/stat's cpu line, meminfo, diskstats' vda line, net/dev).
STAT_CPU = (221317, 0, 78889, 1083935, 2003, 0, 1303, 36)  # user nice system idle iowait irq softirq steal, ticks
MEM_TOTAL, MEM_AVAILABLE = 24683652 * 1024, 23527168 * 1024
VDA_SECTORS = (22664874, 9773768)  # read, written
ETH0_BYTES = (762403310, 968956)  # received, transmitted


def _promtool(text: bytes) -> subprocess.CompletedProcess:
    assert PROMTOOL, "promtool is installed by `make test` (Debian package prometheus)"
    return subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, timeout=30)


def _host(got: dict[str, list]) -> set[str]:
    return {n for n in got if n.startswith("naap_host_")}


@pytest.fixture
def proc(tmp_path: Path) -> Path:
    """A writable copy of the fixture /proc tree."""
    return Path(shutil.copytree(PROC, tmp_path / "proc"))


# -- pure parsers on real files ---------------------------------------------------------------------------
def test_stat_gives_seconds_by_mode_summed_over_cpus_and_the_cpu_count() -> None:
    cpu = parse_stat((PROC / "stat").read_text(), ticks_per_s=100)
    assert cpu.seconds == {m: t / 100 for m, t in zip(CPU_MODES, STAT_CPU)}
    assert cpu.cpus == 2
    assert parse_stat((PROC / "stat").read_text(), ticks_per_s=250).seconds["user"] == 221317 / 250


def test_meminfo_loadavg_and_net_dev() -> None:
    mem = parse_meminfo((PROC / "meminfo").read_text())
    assert (mem.total_bytes, mem.available_bytes) == (MEM_TOTAL, MEM_AVAILABLE)
    assert parse_loadavg((PROC / "loadavg").read_text()) == 0.92
    # Loopback (lo, 1.5 GB each way in the file) is left out; the idle ifb interfaces are in, at 0.
    assert parse_net_dev((PROC / "net" / "dev").read_text()) == {"ifb0": (0, 0), "ifb1": (0, 0), "eth0": ETH0_BYTES}


def test_diskstats_counts_whole_disks_in_512_byte_sectors() -> None:
    # The real file: vda, eight loop devices and a zram device; only vda is a disk.
    assert parse_diskstats((PROC / "diskstats").read_text()) == {"vda": (VDA_SECTORS[0] * 512, VDA_SECTORS[1] * 512)}
    # 14-field lines (Linux before 4.18), partitions, LVM, RAID, loop, zram, an optical drive.
    got = parse_diskstats((DATA / "diskstats-partitions").read_text())
    assert got == {
        "nvme0n1": (200000 * 512, 400000 * 512), "nvme1n1": (80000 * 512, 20000 * 512),
        "sda": (10000 * 512, 4000 * 512), "sr0": (64 * 512, 0),
    }  # fmt: skip


@pytest.mark.parametrize(
    ("name", "whole"),
    [("sda", True), ("sdaa", True), ("vda", True), ("xvda", True), ("hda", True), ("nvme0n1", True),
     ("nvme12n3", True), ("mmcblk0", True), ("sr0", True), ("nbd0", True), ("rbd0", True),
     ("sda1", False), ("sdaa12", False), ("vdb2", False), ("xvda1", False), ("nvme0n1p1", False),
     ("mmcblk0p1", False), ("nbd0p1", False), ("mmcblk0boot0", False), ("mmcblk0rpmb", False),
     ("loop0", False), ("loop0p1", False), ("ram0", False), ("zram0", False), ("dm-0", False), ("md0", False),
     ("md127p1", False), ("nvme0c0n1", False)],
)  # fmt: skip
def test_whole_disk_rule(name: str, whole: bool) -> None:
    assert is_whole_disk(name) is whole


@pytest.mark.parametrize(
    ("fixture", "parse", "says"),
    [
        ("stat.truncated-line", lambda t: parse_stat(t, 100), "/proc/stat line 3: 3 fields, 8 expected"),
        ("stat.no-cpu-line", lambda t: parse_stat(t, 100), "/proc/stat: no cpu line"),
        ("stat.not-a-number", lambda t: parse_stat(t, 100), "/proc/stat line 1: a field is not a whole number"),
        ("meminfo.truncated-line", parse_meminfo, "/proc/meminfo line 3: MemAvailable is not '<number> kB'"),
        ("meminfo.no-memavailable", parse_meminfo, "/proc/meminfo: no MemAvailable line"),
        ("diskstats.truncated-line", parse_diskstats, "/proc/diskstats line 9: 7 fields, at least 14 expected"),
        ("net-dev.truncated-line", parse_net_dev, "/proc/net/dev line 6: not 'interface: 16 numbers'"),
        ("net-dev.no-colon", parse_net_dev, "/proc/net/dev line 6: not 'interface: 16 numbers'"),
        ("net-dev.no-header", parse_net_dev, "/proc/net/dev: no header"),
        ("loadavg.garbled", parse_loadavg, "/proc/loadavg: the 1-minute load is not a number"),
        ("loadavg.empty", parse_loadavg, "/proc/loadavg: 0 fields, 5 expected"),
    ],
)
def test_malformed_proc_content_is_a_format_error_naming_file_and_line(
    fixture: str, parse: Callable[[str], object], says: str
) -> None:
    with pytest.raises(ProcFormatError) as e:
        parse((BAD / fixture).read_text())
    assert str(e.value).startswith(says), str(e.value)


def test_more_content_the_kernel_never_writes() -> None:
    stat = (PROC / "stat").read_text()
    with pytest.raises(ProcFormatError, match="no cpuN line"):
        only_total = [ln for ln in stat.splitlines() if not ln.startswith("cpu") or ln.startswith("cpu ")]
        parse_stat("\n".join(only_total), 100)
    with pytest.raises(ProcFormatError, match="a negative counter"):
        parse_stat(stat.replace("cpu0 ", "cpu0 -", 1), 100)
    with pytest.raises(ProcFormatError, match="unknown cpu line"):
        parse_stat(stat.replace("cpu1 ", "cpuX ", 1), 100)
    meminfo = (PROC / "meminfo").read_text()
    with pytest.raises(ProcFormatError, match="MemAvailable is larger than MemTotal"):
        parse_meminfo(meminfo.replace("MemAvailable:   23527168", "MemAvailable:   99999999", 1))
    with pytest.raises(ProcFormatError, match="not a finite"):
        parse_loadavg("nan 0.1 0.1 1/2 3")


def test_filesystem_bytes_is_blocks_times_fragment_size(tmp_path: Path) -> None:
    st = os.statvfs(tmp_path)
    size, avail = filesystem_bytes(st)
    assert size == st.f_blocks * st.f_frsize and avail == st.f_bavail * st.f_frsize
    assert 0 <= avail <= size


# -- counters that stay counters ------------------------------------------------------------------------
def test_counter_sum_survives_devices_coming_going_and_restarting() -> None:
    c = CounterSum()
    assert c.add({"eth0": 1000, "veth1": 50}) == 1050  # first read: what the kernel counted since boot
    assert c.add({"eth0": 1100, "veth1": 80}) == 1180
    assert c.add({"eth0": 1200}) == 1280  # veth1's container stopped: its bytes stay counted, no drop
    assert c.add({"eth0": 1200, "veth2": 7}) == 1287  # a new interface counts from 0
    assert c.add({"eth0": 1200, "veth2": 7, "veth1": 90}) == 1297  # veth1 back: only what it added since
    assert c.add({"eth0": 30, "veth2": 7, "veth1": 90}) == 1327  # eth0 re-created: its counter restarted at 0


def test_counter_sum_forgets_the_oldest_gone_devices_past_its_cap() -> None:
    c = CounterSum(max_devices=2)
    c.add({"a": 10})
    c.add({"b": 5})
    c.add({"c": 1})  # three known, cap 2: "a" (gone longest) is forgotten, "b" kept
    assert set(c._last) == {"b", "c"}
    assert c.add({"b": 6, "c": 1}) == 17  # b continued from 5


def test_cpu_seconds_never_go_back() -> None:
    assert never_back({}, {"idle": 5.0}) == {"idle": 5.0}
    assert never_back({"idle": 5.0, "user": 1.0}, {"idle": 4.99, "user": 1.5}) == {"idle": 5.0, "user": 1.5}


# -- the poller and the page ----------------------------------------------------------------------------
def _exporter(proc_path: Path | str, **host: object) -> Exporter:
    cfg = ExporterConfig(host="127.0.0.1", port=0, nvml=False, push={"enabled": False},
                         host_metrics={"proc_path": str(proc_path), **host})  # fmt: skip
    return Exporter(cfg)


def test_the_page_from_fixture_files_has_every_host_family_and_is_promtool_clean(tmp_path: Path) -> None:
    x = _exporter(PROC, disk_path=str(tmp_path))
    x.refresh()
    text = x.render(None)[0]
    got = families(text.decode())
    assert _host(got) == HOST_FAMILIES
    assert sum(len(got[n]) for n in HOST_FAMILIES) == 18  # no per-CPU, per-disk or per-interface series
    tick = os.sysconf("SC_CLK_TCK")
    for mode, ticks in zip(CPU_MODES, STAT_CPU):
        assert value(got, "naap_host_cpu_seconds_total", mode=mode) == ticks / tick
    assert value(got, "naap_host_cpus") == 2 and value(got, "naap_host_load1") == 0.92
    assert value(got, "naap_host_memory_total_bytes") == MEM_TOTAL
    assert value(got, "naap_host_memory_available_bytes") == MEM_AVAILABLE
    assert value(got, "naap_host_disk_read_bytes_total") == VDA_SECTORS[0] * 512
    assert value(got, "naap_host_disk_written_bytes_total") == VDA_SECTORS[1] * 512
    assert value(got, "naap_host_network_receive_bytes_total") == ETH0_BYTES[0]
    assert value(got, "naap_host_network_transmit_bytes_total") == ETH0_BYTES[1]
    st = os.statvfs(tmp_path)
    assert value(got, "naap_host_filesystem_size_bytes", mountpoint=str(tmp_path)) == st.f_blocks * st.f_frsize
    assert value(got, "naap_exporter_source_up", source="host") == 1
    check = _promtool(text)
    assert check.returncode == 0 and not (check.stdout + check.stderr).strip(), check.stdout + check.stderr
    lines = text.decode().splitlines()
    assert "# TYPE naap_host_cpu_seconds_total counter" in lines and "# TYPE naap_host_load1 gauge" in lines
    assert "# TYPE naap_host_network_receive_bytes_total counter" in lines


def test_garbled_proc_is_counted_as_an_error_and_shows_no_host_family(
    proc: Path, caplog: pytest.LogCaptureFixture
) -> None:
    x = _exporter(proc)
    x.refresh()
    assert _host(families(x.render(None)[0].decode())) == HOST_FAMILIES
    good = (proc / "stat").read_text()
    shutil.copy(BAD / "stat.truncated-line", proc / "stat")
    with caplog.at_level(logging.INFO, logger="exporter.sources"):
        x.refresh()
        x.refresh()
    text = x.render(None)[0]
    got = families(text.decode())
    assert _host(got) == set()  # nothing stale
    assert value(got, "naap_exporter_source_up", source="host") == 0
    assert value(got, "naap_exporter_source_errors_total", source="host") == 2
    assert _promtool(text).returncode == 0  # the page itself is whole
    down = [r for r in caplog.records if "source host is down" in r.getMessage()]
    assert len(down) == 1 and down[0].levelno == logging.WARNING, [r.getMessage() for r in caplog.records]
    assert "/proc/stat line 3" in down[0].getMessage() and down[0].exc_info is None  # an expected failure: no traceback
    # Every other malformed file is refused the same way.
    for bad in sorted(BAD.iterdir()):
        fresh = Path(shutil.copytree(PROC, proc.parent / f"proc-{bad.name}"))
        shutil.copy(bad, fresh / bad.name.split(".")[0].replace("net-dev", "net/dev"))
        p = HostPoller(proc_path=str(fresh))
        p.refresh()
        assert (p.up, p.errors, p.snapshot) == (False, 1, None), bad.name
    # Fixed: back up, with the same values as before.
    (proc / "stat").write_text(good)
    x.refresh()
    got = families(x.render(None)[0].decode())
    assert value(got, "naap_exporter_source_up", source="host") == 1 and _host(got) == HOST_FAMILIES


def test_counters_do_not_go_back_when_devices_vanish_or_idle_steps_back(proc: Path) -> None:
    p = HostPoller(proc_path=str(proc))
    p.refresh()
    before = p.snapshot
    assert before is not None
    net = (proc / "net" / "dev").read_text()
    (proc / "net" / "dev").write_text("".join(ln + "\n" for ln in net.splitlines() if "eth0:" not in ln))
    stat = (proc / "stat").read_text()
    (proc / "stat").write_text(stat.replace(" 1083935 ", " 1083930 ", 1))  # idle 5 ticks back
    p.refresh()
    after = p.snapshot
    assert after is not None and p.up
    assert after.network_receive_bytes == before.network_receive_bytes == ETH0_BYTES[0]
    assert after.cpu_seconds["idle"] == before.cpu_seconds["idle"]


def test_no_proc_not_linux_and_a_missing_disk_path_are_down_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cases = {
        "unreadable /proc": (_exporter(tmp_path / "no-proc-here"), f"cannot read {tmp_path / 'no-proc-here'}/stat"),
        "not Linux": (_exporter("/proc"), "host metrics read Linux's /proc; this host is darwin"),
        "missing disk_path": (_exporter("/proc", disk_path=str(tmp_path / "gone")),
                              f"cannot statvfs {tmp_path / 'gone'}: No such file or directory"),
    }  # fmt: skip
    cases["not Linux"][0].host.platform = "darwin"  # type: ignore[union-attr]
    for what, (x, says) in cases.items():
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="exporter.sources"):
            for _ in range(3):
                x.refresh()
        got = families(x.render(None)[0].decode())
        assert _host(got) == set(), what
        assert value(got, "naap_exporter_source_up", source="host") == 0, what
        assert value(got, "naap_exporter_source_errors_total", source="host") == 3, what
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1 and says in warnings[0].getMessage(), (what, [r.getMessage() for r in caplog.records])


def test_configuration() -> None:
    cfg = ExporterConfig()
    assert (cfg.host, cfg.host_metrics.enabled, cfg.host_metrics.interval_s, cfg.host_metrics.disk_path) == (
        "0.0.0.0", True, 5.0, "/")
    # What `--no-host-metrics` passes: no host source, no host family, no host health series.
    off = Exporter(load_exporter_config(None, {"host_metrics": {"enabled": False}, "nvml": False,
                                               "push": {"enabled": False}}))  # fmt: skip
    off.refresh()
    got = families(off.render(None)[0].decode())
    assert off.host is None and _host(got) == set()
    assert all(lab["source"] != "host" for lab, _ in got.get("naap_exporter_source_up", []))
    for bad in ({"disk_path": "data"}, {"proc_path": "proc"}, {"interval_s": 0}, {"enable": False}):
        with pytest.raises(ValueError, match="host_metrics"):
            load_exporter_config(None, {"host_metrics": bad})


def test_simulate_mode_keeps_the_host_metrics_real() -> None:
    x = Exporter(ExporterConfig(simulate=True, port=0, gpus=1, streams=0))
    x.refresh()
    got = families(x.render(None)[0].decode())
    assert value(got, "naap_exporter_source_up", source="host") == 1
    assert value(got, "naap_host_memory_total_bytes") == os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


# -- the machine's own /proc, over loopback ----------------------------------------------------------------
async def test_real_proc_through_a_real_exporter_over_loopback() -> None:
    cfg = ExporterConfig(host="127.0.0.1", port=0, nvml=False, push={"enabled": False},
                         host_metrics={"interval_s": 0.05})  # fmt: skip
    srv = ExporterServer(Exporter(cfg))
    await srv.start()
    try:
        host = srv.exporter.host
        assert host is not None
        first = await scrape(srv.url)
        polls = host.polls
        for _ in range(200):  # wait for two more background reads (readiness, not a time limit on anything)
            if host.polls >= polls + 2:
                break
            await asyncio.sleep(0.05)
        second = await scrape(srv.url)
        async with aiohttp.ClientSession() as http, http.get(srv.url) as r:
            page = await r.read()
    finally:
        await srv.stop()
    assert host.polls >= polls + 2
    for got in (first, second):
        assert value(got, "naap_exporter_source_up", source="host") == 1
        assert _host(got) == HOST_FAMILIES
        # Oracles outside our parsers: sysconf (sysinfo(2) and /sys) and statvfs.
        assert value(got, "naap_host_cpus") == os.sysconf("SC_NPROCESSORS_ONLN")
        total = value(got, "naap_host_memory_total_bytes")
        assert total == os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        assert 0 < value(got, "naap_host_memory_available_bytes") <= total
        st = os.statvfs("/")
        size = value(got, "naap_host_filesystem_size_bytes", mountpoint="/")
        assert size == st.f_blocks * st.f_frsize
        assert 0 <= value(got, "naap_host_filesystem_avail_bytes", mountpoint="/") <= size
        assert value(got, "naap_host_load1") >= 0
        assert {lab["mode"] for lab, _ in got["naap_host_cpu_seconds_total"]} == set(CPU_MODES)
    cpu = [sum(v for _, v in got["naap_host_cpu_seconds_total"]) for got in (first, second)]
    assert cpu[1] > cpu[0] > 0  # CPU time went on between the two reads
    for mode in CPU_MODES:
        cpu_s = "naap_host_cpu_seconds_total"
        assert value(second, cpu_s, mode=mode) >= value(first, cpu_s, mode=mode)
    for name in COUNTERS:
        assert value(second, name) >= value(first, name) >= 0
    check = _promtool(page)
    assert check.returncode == 0 and not (check.stdout + check.stderr).strip(), check.stdout + check.stderr


def test_host_collector_renders_nothing_before_the_first_read() -> None:
    p = HostPoller(proc_path=str(PROC))
    reg = CollectorRegistry()
    reg.register(HostCollector(p))
    assert TextEncoder().encode(reg) == b""
    p.refresh()
    assert _host(families(TextEncoder().encode(reg).decode())) == HOST_FAMILIES
