"""The simulated fleet: orchestrators as real exporter processes (`naap exporter --simulate`) on loopback, each
with its own quality profile. Used by `naap demo`, `naap demo --chain` and the end-to-end tests."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from typing import Any

from exporter.common.net import free_port

# What a collector of the simulated fleet changes in the operator's settings (file, environment, defaults):
# loopback allowed, a 5 s scrape interval, scores every 10 s.
DEMO_OVERRIDES: dict[str, Any] = {
    "scraper": {"interval_s": 5.0, "timeout_s": 4.0, "allow_loopback": True},
    "scoring": {"interval_s": 10.0, "settle_s": 6.0},
}

PROFILE_CYCLE = ("steady", "jittery", "flaky", "slow", "offline", "steady", "jittery", "steady")
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

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/metrics"


def demo_address(i: int) -> str:
    return "0x" + hashlib.sha256(f"naap-demo-orchestrator-{i}".encode()).hexdigest()[:40]


def plan_fleet(n: int) -> list[FleetMember]:
    return [
        FleetMember(
            index=i,
            orchestrator=demo_address(i),
            profile=PROFILE_CYCLE[i % len(PROFILE_CYCLE)],
            region=REGIONS[i % len(REGIONS)],
            gpu_model=GPU_MODELS[i % len(GPU_MODELS)],
            gpus=1 + i % 2,
            streams=2 + (i % 3) * 2,
            port=free_port(),
        )
        for i in range(n)
    ]


def exporter_command(m: FleetMember) -> list[str]:
    return [
        sys.executable, "-m", "naap", "--log-level", "warning", "exporter", "--simulate",
        "--host", m.host, "--port", str(m.port), "--orchestrator", m.orchestrator,
        "--region", m.region, "--profile", m.profile, "--gpu-model", m.gpu_model,
        "--gpus", str(m.gpus), "--streams", str(m.streams), "--seed", str(m.index + 1),
    ]  # fmt: skip


class Fleet:
    """The simulated orchestrators as child processes."""

    def __init__(self, members: list[FleetMember]) -> None:
        self.members = members
        self.procs: list[subprocess.Popen] = []

    def start(self, timeout_s: float = 30.0) -> None:
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

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
        self.procs = []
