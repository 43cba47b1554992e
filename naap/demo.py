"""The demo: a simulated fleet of orchestrators on loopback, scraped, scored and served by one collector.

Each simulated orchestrator is a real exporter process (naap/fleet.py) with its own quality profile; the
collector is the same code an independent party runs, with the demo's few differences applied as overrides
to the operator's settings: loopback allowed, a 5 s scrape interval, the fleet as static targets. With the prober
extra installed, each orchestrator also runs a stand-in of go-livepeer's live-video-to-video service (naap/fleet.py)
and the collector probes them every minute in the background (DEMO_PROBER), so probe results and the cross-check
against the exporters' self-reports show up beside the scores.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
from pathlib import Path
from typing import Any

from naap.collector import Collector, Running
from naap.demo_chain import run_chain_demo
from naap.fleet import DEMO_OVERRIDES, Fleet, FleetMember, plan_fleet
from naap.settings import Settings, with_overrides


# The demo's prober: on, loopback allowed, a pass a minute with 10 s probes, every orchestrator at once.
DEMO_PROBER: dict[str, Any] = {
    "enabled": True, "allow_loopback": True, "interval_s": 60.0, "duration_s": 10.0, "prompt_change_at_s": 5.0,
    "max_concurrency": 8, "crosscheck_window_s": 900.0,
}  # fmt: skip


def prober_installed() -> bool:
    """Whether the prober extra is installed (the demo's stand-ins and prober need it)."""
    return all(importlib.util.find_spec(m) is not None for m in ("grpc", "av", "numpy", "cryptography"))


def demo_settings(base: Settings, members: list[FleetMember], data_dir: Path, api_port: int, api_host: str = "127.0.0.1",
                  probes: bool = False) -> Settings:  # fmt: skip
    """`probes`: the members run stand-ins (their service address is a `service_uri` label) and the prober is on."""
    targets = [
        {"url": m.url, "orchestrator": m.orchestrator,
         "labels": {"region": m.region, "profile": m.profile, **({"service_uri": m.service_uri} if probes else {})}}
        for m in members
    ]  # fmt: skip
    over: dict[str, Any] = {
        "warehouse": {"data_dir": data_dir, "dsn": None},  # always the demo's own embedded warehouse
        "discovery": {"targets": targets},
        "api": {"host": api_host, "port": api_port},
    }
    if probes:  # the demo's own key and pins, in its data directory
        over["prober"] = {**DEMO_PROBER, "key_file": data_dir / "prober" / "ed25519.pem",
                          "pin_store": data_dir / "prober" / "tls_pins.json"}  # fmt: skip
    return with_overrides(base, DEMO_OVERRIDES, over)


async def run_demo(base: Settings, n: int, api_port: int, data_dir: Path, stop: asyncio.Event, chain: bool = False) -> None:
    """`chain`: discover the fleet from a local chain where it is registered, instead of a static list."""
    if chain:
        await run_chain_demo(base, n, api_port, data_dir, stop)
        return
    members = plan_fleet(n)
    probes = prober_installed()
    fleet = Fleet(members, standins=probes)
    # Start-up INFO lines (a new warehouse's migrations, the scrape schedule) would only push the page URL off the
    # screen; warnings and errors still show. The URL is printed once the API answers (ready below).
    for name in ("warehouse.migrations", "scraper.schedule"):
        logging.getLogger(name).setLevel(logging.WARNING)
    await asyncio.to_thread(fleet.start)
    try:
        def ready(r: Running) -> None:
            # The page URL first: it is what a newcomer opens; the fleet and the API URLs follow.
            print(f"pages: {r.api_url}/   <- open this: the leaderboard (also /network, /targets, /orchestrators/0x…)")
            print(f"\n{n} simulated orchestrators on loopback:")
            for m in members:
                print(f"  {m.orchestrator}  {m.profile:<8} {m.region:<13} {m.gpus}x {m.gpu_model:<8} {m.url}"
                      + (f"  service {m.service_uri}" if probes else ""))  # fmt: skip
            if not probes:
                print("(no probes: the prober extra is not installed — pip install 'naap-sla[prober]')")
            print(f"\nwarehouse: {data_dir}")
            print(f"API:  {r.api_url}/v1/sla/compliance?period=5m")
            print(f"      {r.api_url}/v1/gpu/metrics")
            if probes:
                print(f"      {r.api_url}/v1/prober/crosscheck   (probes against self-reports, a pass a minute;"
                      " the liar is flagged once two of its probes are in)")  # fmt: skip
            print(f"docs: {r.docs_url}")
            print("the first 5 m scores appear at the first 5-minute boundary with 3 minutes observed (within 7 minutes);"
                  " Ctrl-C stops everything.", flush=True)

        await Collector(demo_settings(base, members, data_dir, api_port, probes=probes)).run(stop, ready)
    finally:
        await asyncio.to_thread(fleet.stop)
