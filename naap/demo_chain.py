"""`naap demo --chain`: the demo fleet registered on a local chain, found by on-chain discovery.

A py-evm chain runs in this process with the Livepeer stand-in contracts; each simulated orchestrator is
registered in the BondingManager pool with a stake and a service URI on its own loopback address
(``https://127.0.0.N:8935``), and its exporter listens where the documented convention says the metrics are:
``http://127.0.0.N:<metrics port>/metrics``. Two more orchestrators show refusals: one registered a private
address, one no service URI at all. The collector reads the chain through loopback JSON-RPC, exactly as it
reads Arbitrum One.
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
from pathlib import Path

from exporter.common.net import EXPORTER_PORT
from naap.collector import Collector, Running
from naap.fleet import DEMO_OVERRIDES, Fleet, FleetMember, plan_fleet
from naap.settings import Settings, with_overrides

SERVICE_PORT = 8935  # go-livepeer's usual service port: only the host of the URI matters for metrics


def _port_free_everywhere(port: int, hosts: list[str]) -> bool:
    socks = []
    try:
        for h in hosts:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            socks.append(s)
            s.bind((h, port))
        return True
    except OSError:
        return False
    finally:
        for s in socks:
            s.close()


def common_port(hosts: list[str], tries: int = 50) -> int:
    """The convention's port when it is free on every host, else another port free on all of them."""
    if _port_free_everywhere(EXPORTER_PORT, hosts):
        return EXPORTER_PORT
    for _ in range(tries):
        with socket.socket() as s:
            s.bind((hosts[0], 0))
            port = s.getsockname()[1]
        if _port_free_everywhere(port, hosts):
            return port
    raise RuntimeError("no port is free on every loopback address of the fleet")


def plan_chain_fleet(n: int) -> list[FleetMember]:
    hosts = [f"127.0.0.{2 + i}" for i in range(n)]
    port = common_port(hosts)
    return [dataclasses.replace(m, host=h, port=port) for m, h in zip(plan_fleet(n), hosts)]


# Registered too, to show refusals: never connected to.
EXTRA = (
    ("0x" + "e1" * 20, "https://10.20.30.40:8935"),  # a private address: refused before any connection
    ("0x" + "e2" * 20, None),  # no service URI
)


def register_fleet(chain, members: list[FleetMember], extra: bool = True) -> int:  # noqa: ANN001 - LocalChain
    from discovery.localchain.chain import PoolEntry

    entries = [
        PoolEntry(m.orchestrator, (1000 - 10 * m.index) * 10**18, True, f"https://{m.host}:{SERVICE_PORT}") for m in members
    ]
    if extra:
        entries += [PoolEntry(addr, 5 * 10**18, True, uri) for addr, uri in EXTRA]
    return chain.set_pool(entries)


def chain_demo_settings(base: Settings, members: list[FleetMember], rpc_url: str, controller: str, data_dir: Path,
                        api_port: int) -> Settings:  # fmt: skip
    chain = {
        "rpc_urls": [rpc_url],
        "controller": controller,
        "metrics_port": members[0].port,
        "max_requests_per_s": 0,  # our own loopback chain: no rate to respect
    }
    return with_overrides(base, DEMO_OVERRIDES, {
        "warehouse": {"data_dir": data_dir, "dsn": None},  # always the demo's own embedded warehouse
        "discovery": {"interval_s": 30.0, "chain": chain},
        "api": {"host": "127.0.0.1", "port": api_port},
    })  # fmt: skip


async def run_chain_demo(base: Settings, n: int, api_port: int, data_dir: Path, stop: asyncio.Event) -> None:
    try:
        from discovery.localchain.chain import LocalChain
        from discovery.localchain.rpc import RpcServer
    except ImportError as e:
        raise RuntimeError(f"--chain needs the localchain extra (pip install -e '.[localchain]'): {e}") from None

    members = plan_chain_fleet(n)
    chain = await asyncio.to_thread(LocalChain)
    block = await asyncio.to_thread(register_fleet, chain, members)
    rpc = RpcServer(chain).start()
    fleet = Fleet(members)
    try:
        await asyncio.to_thread(fleet.start)
        controller = chain.controller.address
        print(f"local chain: JSON-RPC {rpc.url}  Controller {controller}  ({len(members) + len(EXTRA)} orchestrators registered, block {block})")
        print(f"started {n} simulated orchestrators, found through the chain:")
        for m in members:
            print(f"  {m.orchestrator}  {m.profile:<8} {m.region:<13} service https://{m.host}:{SERVICE_PORT}  metrics {m.url}")
        for addr, uri in EXTRA:
            print(f"  {addr}  (registered with {uri or 'no service URI'}: refused)")

        def ready(r: Running) -> None:
            print(f"\nwarehouse: {data_dir}")
            print(f"API:  {r.api_url}/v1/sla/compliance?period=5m")
            print(f"      {r.api_url}/v1/discovery/targets   (accepted and refused, with reasons)")
            print(f"      {r.api_url}/v1/discovery/http_sd   (for Prometheus http_sd_configs)")
            print(f"docs: {r.docs_url}")
            print(f"one walk by hand: naap discover --rpc {rpc.url} --controller {controller} --allow-loopback")
            print(f"{r.targets} targets, {r.refused} refused; scores appear after ~30 s; Ctrl-C stops everything.", flush=True)

        await Collector(chain_demo_settings(base, members, rpc.url, controller, data_dir, api_port)).run(stop, ready)
    finally:
        await asyncio.to_thread(fleet.stop)
        rpc.stop()
