"""The simulated fleet: orchestrators as real exporter processes (`naap exporter --simulate`) on loopback, each
with its own quality profile. Used by `naap demo`, `naap demo --chain` and the end-to-end tests.

With `standins=True` (`naap demo`) each orchestrator also serves go-livepeer's live-video-to-video protocol: a
stand-in orchestrator (prober/standin/) per member, all in one more child process, whose behaviour matches the
member's exporter profile (STANDIN_PROFILES), so the prober's measurements and the exporter's self-report tell
the same story — except for `liar`, whose exporter reports a steady orchestrator while its stand-in serves half the
frames, late (the cross-check flags it: GET /v1/prober/crosscheck)."""

from __future__ import annotations

import hashlib
import json
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from typing import Any


# What a collector of the simulated fleet changes in the operator's settings (file, environment, defaults):
# loopback allowed, a 5 s scrape interval, scores every 10 s.
DEMO_OVERRIDES: dict[str, Any] = {
    "scraper": {"interval_s": 5.0, "timeout_s": 4.0, "allow_loopback": True},
    "scoring": {"interval_s": 10.0, "settle_s": 6.0},
}

PROFILE_CYCLE = ("steady", "jittery", "flaky", "slow", "offline", "steady", "jittery", "liar")
# The exporter profile a member runs (exporter/simulate.py PROFILES): its own name, except the liar's.
EXPORTER_PROFILE = {"liar": "steady"}
# The stand-in orchestrator's behaviour per member profile (prober/standin/profile.py fields), matching what the
# exporter profile reports: delivery ratio ≈ its fps_factor, startup ≈ its start times, faults on some streams.
STANDIN_PROFILES: dict[str, dict[str, Any]] = {
    "steady": {"delay_s": 0.1},
    "jittery": {"delay_s": 0.15, "jitter_s": 0.4, "drop_every": 20},
    "slow": {"delay_s": 0.3, "drop_every": 2, "cold_start_s": 1.5},
    "flaky": {"delay_s": 0.2, "restart_after_s": 4.0, "faults_every": 5},
    "offline": {"offline": True},
    "liar": {"delay_s": 1.5, "drop_every": 2, "control_delay_s": 1.0, "cold_start_s": 3.0},
}
# What every stand-in serves: the simulated exporters' workflows (exporter/simulate.py SIMULATED_WORKFLOWS).
STANDIN_MODELS = {"streamdiffusion-sdxl": 1, "streamdiffusion-sd15": 1}
REGIONS = ("us-east", "eu-west", "ap-southeast")
GPU_MODELS = ("H100", "RTX4090", "L40S", "A100", "RTX5090")


@dataclass(frozen=True)
class FleetMember:
    index: int
    orchestrator: str
    profile: str
    region: str
    gpu_model: str
    gpus: int
    streams: int
    port: int
    host: str = "127.0.0.1"  # `--chain` gives each orchestrator its own loopback address
    probe_port: int = 0  # its stand-in's gRPC port (the service address), when the fleet runs stand-ins
    https_port: int = 0  # its stand-in's HTTPS port (go-livepeer serves both on one port; the stand-in on two)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/metrics"

    @property
    def service_uri(self) -> str:
        return f"https://{self.host}:{self.probe_port}"


def demo_address(i: int) -> str:
    return "0x" + hashlib.sha256(f"naap-demo-orchestrator-{i}".encode()).hexdigest()[:40]


def distinct_ports(k: int, host: str = "127.0.0.1") -> list[int]:
    """k ports free a moment ago and distinct from each other (each held until all are picked)."""
    socks = []
    try:
        for _ in range(k):
            s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
            socks.append(s)
            s.bind((host, 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def plan_fleet(n: int) -> list[FleetMember]:
    ports = distinct_ports(3 * n)
    return [
        FleetMember(
            index=i,
            orchestrator=demo_address(i),
            profile=PROFILE_CYCLE[i % len(PROFILE_CYCLE)],
            region=REGIONS[i % len(REGIONS)],
            gpu_model=GPU_MODELS[i % len(GPU_MODELS)],
            gpus=1 + i % 2,
            streams=2 + (i % 3) * 2,
            port=ports[3 * i],
            probe_port=ports[3 * i + 1],
            https_port=ports[3 * i + 2],
        )
        for i in range(n)
    ]


def standin_spec(members: list[FleetMember]) -> dict[str, Any]:
    """The spec `python -m prober.standin.serve` reads: one stand-in per member, on its probe port."""
    return {"standins": [
        {"name": f"demo-{m.index}", "address": m.orchestrator, "host": m.host, "grpc_port": m.probe_port, "http_port": m.https_port,
         "profile": {"name": m.profile, "seed": m.index + 1, **STANDIN_PROFILES.get(m.profile, {})},
         "models": STANDIN_MODELS, "gpu": f"NVIDIA {m.gpu_model}"}
        for m in members
    ]}  # fmt: skip


def exporter_command(m: FleetMember) -> list[str]:
    return [
        sys.executable, "-m", "naap", "--log-level", "warning", "exporter", "--simulate",
        "--host", m.host, "--port", str(m.port), "--orchestrator", m.orchestrator,
        "--region", m.region, "--profile", EXPORTER_PROFILE.get(m.profile, m.profile), "--gpu-model", m.gpu_model,
        "--gpus", str(m.gpus), "--streams", str(m.streams), "--seed", str(m.index + 1),
    ]  # fmt: skip


class Fleet:
    """The simulated orchestrators as child processes."""

    def __init__(self, members: list[FleetMember], standins: bool = False) -> None:
        self.members = members
        self.procs: list[subprocess.Popen] = []
        self.standins = standins
        self.standin_proc: subprocess.Popen | None = None

    def start(self, timeout_s: float = 30.0) -> None:
        if self.standins:  # first: it imports PyAV and gRPC while the exporters start
            self.standin_proc = subprocess.Popen(
                [sys.executable, "-m", "prober.standin.serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            )  # fmt: skip
            assert self.standin_proc.stdin is not None
            self.standin_proc.stdin.write(json.dumps(standin_spec(self.members)) + "\n")
            self.standin_proc.stdin.flush()
        for m in self.members:
            self.procs.append(subprocess.Popen(exporter_command(m), stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL))
        deadline = time.monotonic() + timeout_s
        for m, p in zip(self.members, self.procs):
            while True:
                if p.poll() is not None:
                    self.stop()
                    raise RuntimeError(f"simulated orchestrator {m.index} exited with code {p.returncode}")
                try:
                    with urllib.request.urlopen(f"http://{m.host}:{m.port}/healthz", timeout=1):
                        break
                except OSError:
                    if time.monotonic() > deadline:
                        self.stop()
                        raise RuntimeError(f"simulated orchestrator {m.index} did not start within {timeout_s:g}s") from None
                    time.sleep(0.1)
        if self.standin_proc is not None:
            self._await_standins(deadline)

    def _await_standins(self, deadline: float) -> None:
        """Wait for the stand-ins' ready line (bounded by the start deadline)."""
        import selectors

        proc = self.standin_proc
        assert proc is not None and proc.stdout is not None
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(left):
                    self.stop()
                    raise RuntimeError("the stand-in orchestrators did not start in time")
                line = proc.stdout.readline()
                if not line:
                    self.stop()
                    raise RuntimeError(f"the stand-in orchestrators exited with code {proc.wait()}")
                if line.startswith('{"ready"'):
                    return
        finally:
            sel.close()

    def stop(self) -> None:
        if self.standin_proc is not None:
            if self.standin_proc.poll() is None:
                self.standin_proc.terminate()
            try:
                self.standin_proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.standin_proc.kill()
            self.standin_proc = None
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
        self.procs = []
