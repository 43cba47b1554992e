"""`naap bench probe`: what one prober sustains against stand-in orchestrators on this machine, and how exactly it
measures (docs/prober.md, "Benchmark").

Two phases:
1. Throughput and CPU: K stand-ins in a process of their own (prober/standin/serve.py), this process running passes
   (every stand-in probed once per pass, `concurrency` at once) until `probes` probes ran. Printed: probes per
   minute, the prober process's CPU seconds per probe and its CPU utilisation (the stand-ins' CPU separately), and
   the probes/minute one core would sustain at that cost. The event loop's worst stall (the prober's own health
   check) is printed too: past `max_loop_lag_s` probes become the prober's fault.
2. Accuracy: stand-ins in this process (so their clock is the prober's), probed one at a time, each with a known
   injected output delay. Per probe the stand-in records the ground truth on the shared monotonic clock: how long it
   held each output segment (published − its input segment's arrival: the injected delay plus any processing
   overrun) and, for the prompt change, when the control message arrived and when the first segment processed with
   the new params was published. Errors: the probe's E2E p50 minus the median hold; the probe's P2FF minus
   (first changed segment published − control message arrived). What remains is the transport and measurement
   overhead on loopback (the goal: within 5 ms at the median).
No figure is asserted: a benchmark prints (design §8).
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from prober.config import ProberSettings
from prober.factory import build_prober
from prober.schedule import period_seed
from prober.targets import OrchestratorTarget

MODEL = "streamdiffusion"


@dataclass
class BenchResult:
    standins: int
    concurrency: int
    duration_s: float
    delay_s: float
    probes: int = 0
    ok: int = 0
    wall_s: float = 0.0
    prober_cpu_s: float = 0.0
    standin_cpu_s: float = 0.0
    loop_lag_max_ms: float = 0.0
    probe_wall_s: list[float] = field(default_factory=list)
    classes: dict[str, int] = field(default_factory=dict)
    accuracy: list[dict[str, Any]] = field(default_factory=list)

    @property
    def probes_per_min(self) -> float:
        return 60 * self.ok / self.wall_s if self.wall_s else 0.0

    @property
    def cpu_per_probe_s(self) -> float:
        return self.prober_cpu_s / self.probes if self.probes else 0.0


def _cpu_s() -> float:
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime


def _proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a child process so far (Linux /proc)."""
    try:
        fields_ = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields_[11]) + int(fields_[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def _settings(tmp: Path, duration_s: float, concurrency: int, **over: Any) -> ProberSettings:
    return ProberSettings(
        allow_loopback=True, duration_s=duration_s, max_concurrency=concurrency, key_file=tmp / "key.pem",
        pin_store=tmp / "pins.json", prompt_change_at_s=duration_s / 2, budget_share=1.0, void_min_probes=10_000, **over,
    )  # fmt: skip


async def _throughput(res: BenchResult, probes: int, tmp: Path, progress: Callable[[str], None]) -> None:
    spec = {"standins": [{"name": f"bench-{i}", "profile": {"delay_s": res.delay_s, "seed": i + 1}, "models": {MODEL: 1}}
                         for i in range(res.standins)]}  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-m", "prober.standin.serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write(json.dumps(spec) + "\n")
        proc.stdin.flush()
        line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 60)
        ready = json.loads(line)["ready"]
        targets = [OrchestratorTarget(r["address"], r["grpc_target"]) for r in ready]
        prober = build_prober(_settings(tmp, res.duration_s, res.concurrency))
        try:
            await prober.run_pass(targets[:1], "bench/warmup", "warmup")  # imports, codecs, pins: not measured
            cpu0, child0, t0 = _cpu_s(), _proc_cpu_s(proc.pid), time.monotonic()
            n = 0
            while res.probes < probes:
                n += 1
                report = await prober.run_pass(targets, f"bench/{n}", period_seed(f"bench/{n}", ""))
                for r in report.results:
                    res.probes += 1
                    res.ok += r["outcome"] == "ok"
                    cls = r["error_class"] or "ok"
                    res.classes[cls] = res.classes.get(cls, 0) + 1
                    res.loop_lag_max_ms = max(res.loop_lag_max_ms, r.get("loop_lag_max_ms") or 0.0)
                    if r.get("duration_ms"):
                        res.probe_wall_s.append(r["duration_ms"] / 1000)
                progress(f"  throughput: {res.probes}/{probes} probes")
            res.wall_s = time.monotonic() - t0
            res.prober_cpu_s = _cpu_s() - cpu0
            res.standin_cpu_s = _proc_cpu_s(proc.pid) - child0
        finally:
            await prober.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


async def _accuracy(res: BenchResult, n: int, tmp: Path, progress: Callable[[str], None]) -> None:
    from prober.datasets import dataset_path, load
    from prober.probe import ProbeTarget, run_probe
    from prober.standin.orchestrator import ModelSpec, StandIn
    from prober.standin.profile import Profile
    from prober.tlspin import PinStore

    s = _settings(tmp, res.duration_s, 1)
    item = next(i for i in load(dataset_path(s.datasets_dir, s.datasets[0])).items if i.model_id == MODEL)
    for k in range(n):
        delay = res.delay_s * (1 + k % 3)  # three injected delays
        async with StandIn(f"acc-{k}", profile=Profile(delay_s=delay, status_interval_s=1.0, seed=k), models={MODEL: ModelSpec()}) as o:
            r = await run_probe(ProbeTarget(o.grpc_target, MODEL, o.address), item, s, pins=PinStore(None))
            runner = o.runners[-1]
        hold = statistics.median(runner.holds) if runner.holds else None
        gen = max(runner.change_arrived, default=0)
        truth_p2ff = (runner.first_published[gen] - runner.change_arrived[gen]) if gen and gen in runner.first_published else None
        res.accuracy.append({
            "delay_ms": delay * 1000, "outcome": r.outcome, "hold_ms": None if hold is None else hold * 1000,
            "e2e_p50_ms": r.e2e_p50_ms, "e2e_error_ms": None if hold is None or r.e2e_p50_ms is None else r.e2e_p50_ms - hold * 1000,
            "p2ff_ms": r.p2ff_ms, "p2ff_truth_ms": None if truth_p2ff is None else truth_p2ff * 1000,
            "p2ff_error_ms": None if truth_p2ff is None or r.p2ff_ms is None else r.p2ff_ms - truth_p2ff * 1000,
        })  # fmt: skip
        progress(f"  accuracy: {k + 1}/{n} probes")


def run_bench(standins: int = 8, probes: int = 32, concurrency: int = 8, duration_s: float = 6.0, delay_s: float = 0.2,
              accuracy_probes: int = 9, progress: Callable[[str], None] = lambda _m: None) -> BenchResult:  # fmt: skip
    res = BenchResult(standins, concurrency, duration_s, delay_s)
    with tempfile.TemporaryDirectory(prefix="naap-bench-probe-") as d:
        progress(f"phase 1: {probes} probes of {duration_s:g} s against {standins} stand-ins (another process), {concurrency} at once")
        asyncio.run(_throughput(res, probes, Path(d), progress))
        progress(f"phase 2: {accuracy_probes} probes one at a time against in-process stand-ins with known delays")
        asyncio.run(_accuracy(res, accuracy_probes, Path(d), progress))
    return res


def _med(xs: list[float]) -> str:
    return f"{statistics.median(xs):.1f}" if xs else "-"


def format_result(r: BenchResult) -> str:
    util = r.prober_cpu_s / r.wall_s if r.wall_s else 0.0
    mean_wall = statistics.fmean(r.probe_wall_s) if r.probe_wall_s else 0.0
    per_core = 60 / r.cpu_per_probe_s if r.cpu_per_probe_s else 0.0
    e2e = [a["e2e_error_ms"] for a in r.accuracy if a["e2e_error_ms"] is not None]
    p2ff = [a["p2ff_error_ms"] for a in r.accuracy if a["p2ff_error_ms"] is not None]
    lines = [
        f"probe benchmark: {r.standins} stand-ins, {r.concurrency} probes at once, {r.duration_s:g} s of 24 fps 256x144 input each, "
        f"injected delay {r.delay_s * 1000:.0f} ms",
        f"  probes run               {r.probes} ({r.ok} ok; classes {dict(sorted(r.classes.items()))}) in {r.wall_s:.1f} s",
        f"  probes per minute        {r.probes_per_min:.1f}   (at most concurrency x 60 s / mean probe wall time "
        f"{mean_wall:.2f} s = {r.concurrency * 60 / mean_wall if mean_wall else 0:.0f}, with every stand-in answering)",
        f"  prober CPU per probe     {r.cpu_per_probe_s:.3f} s   ({util * 100:.0f} % of one core on average; stand-ins: "
        f"{r.standin_cpu_s / max(1, r.probes):.3f} s per probe in their own process)",
        f"  one core would sustain   {per_core:.0f} probes/min of this length (CPU-bound projection)",
        f"  event loop worst stall   {r.loop_lag_max_ms:.1f} ms",
        "  measurement error against the stand-in's ground truth (measured - truth, ms):",
        f"    {'delay':>6} {'hold':>8} {'e2e_p50':>8} {'e2e err':>8} {'p2ff':>8} {'truth':>8} {'p2ff err':>8}",
    ]
    fmt = lambda v: "-" if v is None else f"{v:.1f}"  # noqa: E731
    for a in r.accuracy:
        lines.append(f"    {a['delay_ms']:>6.0f} {fmt(a['hold_ms']):>8} {fmt(a['e2e_p50_ms']):>8} {fmt(a['e2e_error_ms']):>8} "
                     f"{fmt(a['p2ff_ms']):>8} {fmt(a['p2ff_truth_ms']):>8} {fmt(a['p2ff_error_ms']):>8}")  # fmt: skip
    lines.append(f"  E2E error p50 {_med(e2e)} ms (max {max(e2e, default=float('nan')):.1f}); P2FF error p50 {_med(p2ff)} ms "
                 f"(max {max(p2ff, default=float('nan')):.1f}); goal: within 5 ms p50")  # fmt: skip
    return "\n".join(lines)
