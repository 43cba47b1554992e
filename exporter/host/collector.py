"""The host source: this machine's CPU, load, memory, filesystem, disk I/O and network counters as `naap_host_*`.

`HostPoller` reads /proc (stat, loadavg, meminfo, diskstats, net/dev) and statvfs(disk_path) in a worker
thread every `interval_s` (5 s by default) and keeps one `HostSnapshot`; `HostCollector` renders it. Health
is the exporter's usual: `naap_exporter_source_up{source="host"}` is 1 after a read of every file that
parsed, and on a host that is not Linux, a /proc that cannot be read, a disk_path statvfs refuses, or content
that is not what the kernel writes (`ProcFormatError`: a truncated line, …) the read fails: the source is 0,
its error counter goes up, the log says so once (WARNING) and no `naap_host_*` family is shown (never stale
values). All or nothing: one source, one up.

Eighteen series in all, none per CPU, disk or interface (sums; the rules of what is summed are in
`exporter.host.proc`). In simulate mode these are still this machine's own, real values.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from exporter.host.proc import (
    CPU_MODES,
    CounterSum,
    ProcFormatError,
    filesystem_bytes,
    never_back,
    parse_diskstats,
    parse_loadavg,
    parse_meminfo,
    parse_net_dev,
    parse_stat,
)
from exporter.sources import Poller, SourceError

MAX_PROC_BYTES = 4 << 20  # a /proc file larger than this is not read whole (/proc/stat on 1000s of CPUs is ~1 MiB)


@dataclass(frozen=True)
class HostSnapshot:
    cpu_seconds: dict[str, float]  # seconds by mode (CPU_MODES), summed over CPUs, never decreasing (/proc/stat)
    cpus: int  # online CPUs (/proc/stat cpuN lines)
    load1: float  # 1-minute load average (/proc/loadavg)
    memory_total_bytes: int  # /proc/meminfo MemTotal
    memory_available_bytes: int  # /proc/meminfo MemAvailable
    filesystem_size_bytes: int  # statvfs(disk_path): f_blocks × f_frsize
    filesystem_avail_bytes: int  # statvfs(disk_path): f_bavail × f_frsize
    disk_read_bytes: int  # /proc/diskstats sectors read × 512, summed over whole disks (CounterSum)
    disk_written_bytes: int  # /proc/diskstats sectors written × 512, summed over whole disks (CounterSum)
    network_receive_bytes: int  # /proc/net/dev receive bytes, summed over non-loopback interfaces (CounterSum)
    network_transmit_bytes: int  # /proc/net/dev transmit bytes, summed over non-loopback interfaces (CounterSum)


class HostPoller(Poller):
    """Reads the host's /proc files and statvfs(`disk_path`) in a worker thread; `snapshot` is the last good read
    (None while the source is down).

    `proc_path`: where procfs is mounted ("/proc"; "/host/proc" for an exporter in a container given the host's
    /proc, as node_exporter's --path.procfs). `platform`: sys.platform, settable so a test can play another OS.
    """

    name = "host"

    def __init__(self, interval_s: float = 5.0, disk_path: str = "/", proc_path: str = "/proc",
                 platform: str = sys.platform) -> None:  # fmt: skip
        super().__init__(interval_s)
        self.disk_path = disk_path
        self.proc_path = Path(proc_path)
        self.platform = platform
        self.snapshot: HostSnapshot | None = None
        self._cpu: dict[str, float] = {}  # largest CPU seconds seen, by mode
        self._disk_read, self._disk_written = CounterSum(), CounterSum()
        self._net_rx, self._net_tx = CounterSum(), CounterSum()

    def _read(self, name: str) -> str:
        path = self.proc_path / name
        try:
            with open(path, "rb") as f:
                data = f.read(MAX_PROC_BYTES + 1)
        except OSError as e:
            raise SourceError(f"cannot read {path}: {e.strerror or e}") from None
        if len(data) > MAX_PROC_BYTES:
            raise SourceError(f"{path} is larger than {MAX_PROC_BYTES} bytes")
        return data.decode("utf-8", errors="replace")  # only interface names may be other than ASCII

    def poll(self) -> None:
        if not self.platform.startswith("linux"):
            raise SourceError(f"host metrics read Linux's /proc; this host is {self.platform}")
        texts = {name: self._read(name) for name in ("stat", "loadavg", "meminfo", "diskstats", "net/dev")}
        try:
            st = os.statvfs(self.disk_path)
        except OSError as e:
            raise SourceError(f"cannot statvfs {self.disk_path}: {e.strerror or e}") from None
        try:
            cpu = parse_stat(texts["stat"], float(os.sysconf("SC_CLK_TCK")))
            load1 = parse_loadavg(texts["loadavg"])
            mem = parse_meminfo(texts["meminfo"])
            disks = parse_diskstats(texts["diskstats"])
            nets = parse_net_dev(texts["net/dev"])
        except ProcFormatError as e:
            raise SourceError(f"{e} (under {self.proc_path})") from None
        size, avail = filesystem_bytes(st)
        # Everything parsed: only now fold into the counters (a failed read leaves them as they were).
        self._cpu = never_back(self._cpu, cpu.seconds)
        self.snapshot = HostSnapshot(
            cpu_seconds=self._cpu, cpus=cpu.cpus, load1=load1,
            memory_total_bytes=mem.total_bytes, memory_available_bytes=mem.available_bytes,
            filesystem_size_bytes=size, filesystem_avail_bytes=avail,
            disk_read_bytes=self._disk_read.add({d: r for d, (r, _) in disks.items()}),
            disk_written_bytes=self._disk_written.add({d: w for d, (_, w) in disks.items()}),
            network_receive_bytes=self._net_rx.add({i: r for i, (r, _) in nets.items()}),
            network_transmit_bytes=self._net_tx.add({i: t for i, (_, t) in nets.items()}),
        )  # fmt: skip

    def drop(self) -> None:
        self.snapshot = None


class HostCollector(Collector):
    """Renders the host poller's last snapshot; nothing while the source is down."""

    def __init__(self, poller: HostPoller) -> None:
        self.poller = poller

    def collect(self) -> Iterator[Metric]:
        s = self.poller.snapshot
        if s is None:
            return
        cpu = CounterMetricFamily(
            "naap_host_cpu_seconds",
            "Seconds the host's CPUs spent in each mode since boot, summed over CPUs (/proc/stat cpu line; "
            "guest time is inside user and nice).",
            labels=["mode"],
        )
        for mode in CPU_MODES:
            cpu.add_metric([mode], s.cpu_seconds[mode])
        yield cpu
        yield GaugeMetricFamily("naap_host_cpus", "Online CPUs (/proc/stat cpuN lines).", value=s.cpus)
        yield GaugeMetricFamily(
            "naap_host_load1", "1-minute load average: runnable and uninterruptible tasks (/proc/loadavg).",
            value=s.load1,
        )
        yield GaugeMetricFamily("naap_host_memory_total_bytes", "Memory installed: /proc/meminfo MemTotal, in bytes.",
                                value=s.memory_total_bytes)  # fmt: skip
        yield GaugeMetricFamily(
            "naap_host_memory_available_bytes",
            "Memory available to start new work without swapping: /proc/meminfo MemAvailable, in bytes.",
            value=s.memory_available_bytes,
        )
        for name, help_text, v in (
            ("naap_host_filesystem_size_bytes", "Size of the filesystem holding mountpoint (statvfs), in bytes.",
             s.filesystem_size_bytes),
            ("naap_host_filesystem_avail_bytes", "Bytes an unprivileged user may still write on the filesystem "
             "holding mountpoint (statvfs f_bavail).", s.filesystem_avail_bytes),
        ):  # fmt: skip
            fam = GaugeMetricFamily(name, help_text, labels=["mountpoint"])
            fam.add_metric([self.poller.disk_path], v)
            yield fam
        for name, help_text, v in (
            ("naap_host_disk_read_bytes", "Bytes read from the host's whole disks since boot (/proc/diskstats "
             "sectors x 512; partitions, loop, RAM, device-mapper and md devices left out).", s.disk_read_bytes),
            ("naap_host_disk_written_bytes", "Bytes written to the host's whole disks since boot (/proc/diskstats "
             "sectors x 512; partitions, loop, RAM, device-mapper and md devices left out).", s.disk_written_bytes),
            ("naap_host_network_receive_bytes", "Bytes received on the host's network interfaces but loopback "
             "(/proc/net/dev).", s.network_receive_bytes),
            ("naap_host_network_transmit_bytes", "Bytes sent on the host's network interfaces but loopback "
             "(/proc/net/dev).", s.network_transmit_bytes),
        ):  # fmt: skip
            yield CounterMetricFamily(name, help_text, value=v)
