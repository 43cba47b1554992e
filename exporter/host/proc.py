"""Parsers of Linux's /proc files for the host source. Pure: text in, values out; no file is opened here.

Formats as proc(5) and the kernel's Documentation/admin-guide/iostats.rst and Documentation/block/stat.rst
describe them. A file that is not what the kernel writes — a truncated line, a field that is not a number, a
line the format requires missing — raises `ProcFormatError` naming the file and line; the poller counts that
as a failed read (the source goes down, nothing is shown from it), never a crash.

Which devices are counted (the rules the docs state):

* disks (`/proc/diskstats`): whole disks only, by name — `sda`, `vda`, `xvda`, `hda`, `nvme0n1`, `mmcblk0`,
  `sr0`, `nbd0`, … Left out: partitions (`sda1`, `vdb2`, `xvda1`, `nvme0n1p1`, `mmcblk0p1`, any `<…digit>p<n>`,
  `mmcblk0boot0`, `mmcblk0rpmb`), whose I/O their disk counts already; `loop*` (files), `ram*`, `zram*`
  (memory); `dm-*` (device-mapper: LVM, dm-crypt, multipath) and `md*` (software RAID), which are stacked on
  disks that are counted; and `nvme<c>c<p>n<n>` (a path of a native-multipath NVMe namespace, counted by
  its `nvme<c>n<n>` head). The name rule is node_exporter's default device exclusion plus the stacked ones.
* network (`/proc/net/dev`): every interface but loopback (`lo`). Traffic that crosses a bridge (a Docker
  bridge and its `veth*`) is counted on each interface it crosses, as the kernel counts it.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass

# /proc/stat's cpu line, in order (proc(5)); all are present since Linux 2.6.11. `guest` and `guest_nice`
# follow them but are left out: the kernel already counts them inside `user` and `nice`.
CPU_MODES = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
SECTOR_BYTES = 512  # /proc/diskstats counts 512-byte sectors whatever the device's own (Documentation/block/stat.rst)
KIB = 1024  # /proc/meminfo's "kB" is KiB
LOOPBACK = "lo"

_CPU_N = re.compile(r"cpu\d+")
_NOT_A_WHOLE_DISK = re.compile(
    r"(?:loop\d+(?:p\d+)?|z?ram\d+|dm-\d+|md\d+(?:p\d+)?"  # files, memory, stacked devices (and their partitions)
    r"|(?:[hsv]d|xvd)[a-z]+\d+"  # partitions of sd/hd/vd/xvd disks: sda1, vdb2, xvda1, sdaa3
    r"|.*\dp\d+"  # partitions of disks whose name ends in a digit: nvme0n1p1, mmcblk0p1, nbd0p1
    r"|mmcblk\d+(?:boot\d+|rpmb)"  # eMMC hardware partitions
    r"|nvme\d+c\d+n\d+)"  # a path of a native-multipath NVMe namespace
)


class ProcFormatError(ValueError):
    """A /proc file's content is not what the kernel writes (truncated, garbled, a required line missing)."""


@dataclass(frozen=True)
class CpuTimes:
    seconds: dict[str, float]  # CPU time by mode (CPU_MODES), seconds, summed over all CPUs (the `cpu` line)
    cpus: int  # online CPUs (`cpuN` lines)


@dataclass(frozen=True)
class Memory:
    total_bytes: int  # MemTotal
    available_bytes: int  # MemAvailable: the kernel's estimate of memory available without swapping


def _ints(fields: list[str], where: str) -> list[int]:
    try:
        out = [int(f) for f in fields]
    except ValueError:
        raise ProcFormatError(f"{where}: a field is not a whole number") from None
    if any(v < 0 for v in out):
        raise ProcFormatError(f"{where}: a negative counter")
    return out


def parse_stat(text: str, ticks_per_s: float) -> CpuTimes:
    """/proc/stat → CPU seconds by mode summed over CPUs (the `cpu` line, in USER_HZ ticks ÷ `ticks_per_s`,
    i.e. os.sysconf("SC_CLK_TCK")), and the number of `cpuN` lines (online CPUs)."""
    total: list[int] | None = None
    cpus = 0
    for n, line in enumerate(text.splitlines(), 1):
        fields = line.split()
        if not fields or not fields[0].startswith("cpu"):
            continue
        if fields[0] != "cpu" and not _CPU_N.fullmatch(fields[0]):
            raise ProcFormatError(f"/proc/stat line {n}: unknown cpu line {fields[0][:20]!r}")
        if len(fields) < 1 + len(CPU_MODES):
            got = len(fields) - 1
            raise ProcFormatError(f"/proc/stat line {n}: {got} fields, {len(CPU_MODES)} expected (truncated?)")
        values = _ints(fields[1 : 1 + len(CPU_MODES)], f"/proc/stat line {n}")
        if fields[0] == "cpu":
            if total is not None:
                raise ProcFormatError(f"/proc/stat line {n}: a second cpu line")
            total = values
        else:
            cpus += 1
    if total is None:
        raise ProcFormatError("/proc/stat: no cpu line")
    if cpus == 0:
        raise ProcFormatError("/proc/stat: no cpuN line")
    return CpuTimes({m: v / ticks_per_s for m, v in zip(CPU_MODES, total)}, cpus)


def parse_loadavg(text: str) -> float:
    """/proc/loadavg → the 1-minute load average (runnable plus uninterruptible tasks, exponentially averaged)."""
    fields = text.split()
    if len(fields) != 5 or "/" not in fields[3]:
        raise ProcFormatError(f"/proc/loadavg: {len(fields)} fields, 5 expected (truncated?)")
    try:
        load1 = float(fields[0])
    except ValueError:
        raise ProcFormatError("/proc/loadavg: the 1-minute load is not a number") from None
    if not (math.isfinite(load1) and load1 >= 0):
        raise ProcFormatError("/proc/loadavg: the 1-minute load is not a finite, non-negative number")
    return load1


def parse_meminfo(text: str) -> Memory:
    """/proc/meminfo → MemTotal and MemAvailable in bytes (the file says kB, meaning KiB). Both are required:
    MemAvailable exists since Linux 3.14."""
    found: dict[str, int] = {}
    for n, line in enumerate(text.splitlines(), 1):
        key, sep, rest = line.partition(":")
        if key not in ("MemTotal", "MemAvailable"):
            continue
        fields = rest.split()
        if not sep or len(fields) != 2 or fields[1] != "kB":
            raise ProcFormatError(f"/proc/meminfo line {n}: {key} is not '<number> kB' (truncated?)")
        found[key] = _ints(fields[:1], f"/proc/meminfo line {n}")[0] * KIB
    for key in ("MemTotal", "MemAvailable"):
        if key not in found:
            raise ProcFormatError(f"/proc/meminfo: no {key} line")
    if found["MemAvailable"] > found["MemTotal"]:
        raise ProcFormatError("/proc/meminfo: MemAvailable is larger than MemTotal")
    return Memory(found["MemTotal"], found["MemAvailable"])


def is_whole_disk(name: str) -> bool:
    """Whether /proc/diskstats' device `name` is counted: a whole disk, not a partition, loop, RAM or stacked
    device (the rule in this module's docstring)."""
    return not _NOT_A_WHOLE_DISK.fullmatch(name)


def parse_diskstats(text: str) -> dict[str, tuple[int, int]]:
    """/proc/diskstats → {whole disk: (bytes read, bytes written)} since boot: sectors read (field 6) and
    written (field 10) × 512. Every line must have the 14 fields Linux has written since 2.6 (4.18 adds 4, 5.5
    adds 2 more)."""
    out: dict[str, tuple[int, int]] = {}
    for n, line in enumerate(text.splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) < 14:
            raise ProcFormatError(f"/proc/diskstats line {n}: {len(fields)} fields, at least 14 expected (truncated?)")
        values = _ints(fields[:2] + fields[3:], f"/proc/diskstats line {n}")
        name = fields[2]
        if is_whole_disk(name):
            # values: major, minor, then the stat fields from reads completed on; sectors read / written are
            # the 3rd and 7th of those.
            out[name] = (values[2 + 2] * SECTOR_BYTES, values[2 + 6] * SECTOR_BYTES)
    return out


def parse_net_dev(text: str) -> dict[str, tuple[int, int]]:
    """/proc/net/dev → {interface: (bytes received, bytes transmitted)} since the interface appeared, every
    interface but loopback. Two header lines, then `name: 8 receive fields 8 transmit fields`."""
    lines = text.splitlines()
    if len(lines) < 2 or "|" not in lines[0] or "|" not in lines[1]:
        raise ProcFormatError("/proc/net/dev: no header (truncated?)")
    out: dict[str, tuple[int, int]] = {}
    for n, line in enumerate(lines[2:], 3):
        if not line.strip():
            continue
        name, sep, rest = line.partition(":")  # interface names cannot hold ':' (the kernel refuses them)
        fields = rest.split()
        if not sep or len(fields) != 16:
            raise ProcFormatError(f"/proc/net/dev line {n}: not 'interface: 16 numbers' (truncated?)")
        values = _ints(fields, f"/proc/net/dev line {n}")
        name = name.strip()
        if name != LOOPBACK:
            out[name] = (values[0], values[8])
    return out


def filesystem_bytes(st: os.statvfs_result) -> tuple[int, int]:
    """statvfs → (size, available) in bytes: blocks × fragment size, and the blocks an unprivileged user may
    still write (f_bavail, as df and node_exporter's node_filesystem_avail_bytes report it)."""
    frsize = st.f_frsize or st.f_bsize
    return st.f_blocks * frsize, st.f_bavail * frsize


class CounterSum:
    """The sum of per-device kernel counters (disk, network bytes), kept a true counter while devices come and
    go: it never goes down when a device disappears (a container's veth, an unplugged disk), and a device's
    own counter going back (the device was re-created under the same name) counts as restarting from 0.

    The first `add` gives the plain sum of what the kernel counted since boot. The last value of every device
    seen is kept, up to `max_devices` (the oldest gone ones are forgotten first), so a device missing from one
    read and back in the next is not counted twice.
    """

    def __init__(self, max_devices: int = 1024) -> None:
        self.total = 0
        self.max_devices = max_devices
        self._last: dict[str, int] = {}

    def add(self, values: dict[str, int]) -> int:
        """Fold one read's {device: counter}; the new total."""
        for name, v in values.items():
            prev = self._last.pop(name, None)
            self.total += v - prev if prev is not None and v >= prev else v
            self._last[name] = v  # re-inserted: the dict stays ordered by when each device was last seen
        if len(self._last) > self.max_devices:
            gone = [k for k in self._last if k not in values]
            for k in gone[: len(self._last) - self.max_devices]:
                del self._last[k]
        return self.total


def never_back(prev: dict[str, float], new: dict[str, float]) -> dict[str, float]:
    """CPU seconds by mode that never decrease: Linux's idle and iowait can step back a few ticks (NO_HZ
    accounting of idle CPUs); a counter must not, so each mode keeps the largest value seen."""
    return {m: max(v, prev.get(m, v)) for m, v in new.items()}
