"""The demo: a simulated fleet of orchestrators on loopback, scraped, scored and served by one collector.

Each simulated orchestrator is a real exporter process (`naap exporter --simulate`) with its own quality
profile; the collector is the same code an independent party runs, with loopback allowed by configuration.
"""

from __future__ import annotations

import asyncio
import hashlib
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from naap.settings import Settings

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


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


def demo_settings(members: list[FleetMember], data_dir: Path, api_port: int, api_host: str = "127.0.0.1") -> Settings:
    return Settings(
        warehouse={"data_dir": data_dir},
        scraper={"interval_s": 5.0, "timeout_s": 4.0, "allow_loopback": True},
        discovery={
            "targets": [
                {"url": m.url, "orchestrator": m.orchestrator, "labels": {"region": m.region, "profile": m.profile}}
                for m in members
            ],
        },
        scoring={"interval_s": 10.0},
        api={"host": api_host, "port": api_port},
    )


async def run_demo(n: int, api_port: int, data_dir: Path, stop: asyncio.Event, chain: bool = False) -> None:
    """`chain`: discover the fleet from a local chain where it is registered, instead of a static list."""
    from naap.collector import Collector, Running

    if chain:
        from naap.demo_chain import run_chain_demo

        await run_chain_demo(n, api_port, data_dir, stop)
        return
    members = plan_fleet(n)
    fleet = Fleet(members)
    await asyncio.to_thread(fleet.start)
    try:
        print(f"started {n} simulated orchestrators on loopback:")
        for m in members:
            print(f"  {m.orchestrator}  {m.profile:<8} {m.region:<13} {m.gpus}x {m.gpu_model:<8} {m.url}")

        def ready(r: Running) -> None:
            print(f"\nwarehouse: {data_dir}")
            print(f"API:  {r.api_url}/v1/sla/compliance?period=5m")
            print(f"      {r.api_url}/v1/gpu/metrics")
            print(f"docs: {r.docs_url}")
            print("scores appear after ~30 s (3 scrapes); Ctrl-C stops everything.", flush=True)

        await Collector(demo_settings(members, data_dir, api_port)).run(stop, ready)
    finally:
        await asyncio.to_thread(fleet.stop)
