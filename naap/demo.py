"""The demo: a simulated fleet of orchestrators on loopback, scraped, scored and served by one collector.

Each simulated orchestrator is a real exporter process (naap/fleet.py) with its own quality profile; the
collector is the same code an independent party runs, with the demo's few differences applied as overrides
to the operator's settings: loopback allowed, a 5 s scrape interval, the fleet as static targets.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from naap.collector import Collector, Running
from naap.demo_chain import run_chain_demo
from naap.fleet import DEMO_OVERRIDES, Fleet, FleetMember, plan_fleet
from naap.settings import Settings, with_overrides


def demo_settings(base: Settings, members: list[FleetMember], data_dir: Path, api_port: int, api_host: str = "127.0.0.1") -> Settings:
    targets = [
        {"url": m.url, "orchestrator": m.orchestrator, "labels": {"region": m.region, "profile": m.profile}}
        for m in members
    ]
    return with_overrides(base, DEMO_OVERRIDES, {
        "warehouse": {"data_dir": data_dir},
        "discovery": {"targets": targets},
        "api": {"host": api_host, "port": api_port},
    })  # fmt: skip


async def run_demo(base: Settings, n: int, api_port: int, data_dir: Path, stop: asyncio.Event, chain: bool = False) -> None:
    """`chain`: discover the fleet from a local chain where it is registered, instead of a static list."""
    if chain:
        await run_chain_demo(base, n, api_port, data_dir, stop)
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
            print("the first 5 m scores appear at the first 5-minute boundary with 3 minutes observed (within 7 minutes);"
                  " Ctrl-C stops everything.", flush=True)

        await Collector(demo_settings(base, members, data_dir, api_port)).run(stop, ready)
    finally:
        await asyncio.to_thread(fleet.stop)
