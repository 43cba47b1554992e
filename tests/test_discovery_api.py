"""The collector with on-chain discovery: re-discovers on its interval, scrapes what the chain lists, stores
each walk, and serves the targets as Prometheus http_sd JSON from the API."""

from __future__ import annotations

import asyncio

import aiohttp
from chain_fixtures import addr, chain, lpt, rpc  # noqa: F401

from exporter.config import ExporterConfig
from exporter.server import Exporter, ExporterServer
from discovery.localchain.chain import LocalChain, PoolEntry
from discovery.localchain.rpc import RpcServer
from discovery.metrics_url import Override
from naap.collector import Collector, Running
from naap.settings import Settings


async def _exporter(i: int) -> ExporterServer:
    cfg = ExporterConfig(host="127.0.0.1", port=0, simulate=True, gpus=1, streams=1, orchestrator=addr(i), seed=i)
    server = ExporterServer(Exporter(cfg, window_s=0.25))
    await server.start()
    return server


async def _until(predicate, timeout_s: float = 15.0) -> None:  # noqa: ANN001 - sync or async () -> bool
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not (await predicate() if asyncio.iscoroutinefunction(predicate) else predicate()):
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.2)


async def test_collector_discovers_from_the_chain_and_serves_http_sd(
    settings: Settings, chain: LocalChain, rpc: RpcServer, warehouse
) -> None:
    fleet = [await _exporter(i) for i in range(3)]
    # All on 127.0.0.1 with their own ports: per-orchestrator overrides say where the metrics are.
    chain.set_pool(
        [PoolEntry(addr(i), lpt(100 - i), True, "https://127.0.0.1:8935") for i in range(3)]
        + [PoolEntry(addr(8), lpt(1), True, "https://192.168.7.7:8935"), PoolEntry(addr(9), lpt(1), True, None)]
    )
    settings.discovery.interval_s = 0.5
    settings.scraper.interval_s = 1.0  # first: the timeout may not exceed the interval
    settings.scraper.timeout_s = 1.0  # far above a loopback answer's time
    settings.discovery.chain = {
        "rpc_urls": [rpc.url], "controller": chain.controller.address, "max_requests_per_s": 0, "timeout_s": 2,
        "overrides": {addr(i): {"url": s.url} for i, s in enumerate(fleet)},
    }  # fmt: skip
    collector = Collector(settings, with_scoring=False)
    stop = asyncio.Event()
    ready: asyncio.Future[Running] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(collector.run(stop, ready.set_result))
    try:
        running = await asyncio.wait_for(ready, 30)
        assert running.targets == 3 and running.refused == 2
        async with aiohttp.ClientSession() as http:

            async def get(path: str):  # noqa: ANN202
                async with http.get(running.api_url + path) as r:
                    assert r.status == 200 and r.content_type == "application/json"
                    return await r.json()

            groups = await get("/v1/discovery/http_sd")
            assert sorted(g["targets"][0] for g in groups) == sorted(s.url.split("/")[2] for s in fleet)
            assert {g["labels"]["orchestrator"] for g in groups} == {addr(i) for i in range(3)}
            assert all(g["labels"]["__metrics_path__"] == "/metrics" and g["labels"]["naap_source"] == "chain" for g in groups)
            listing = await get("/v1/discovery/targets")
            assert {(r["orchestrator"], r["reason"]) for r in listing["refused"]} == {(addr(8), "private"), (addr(9), "no_service_uri")}

            # addr(0) leaves the pool next: first let all three be scraped (the end asserts they were, while listed).
            def scraped_up() -> set[str]:
                return {r[0] for r in warehouse.query("SELECT DISTINCT orchestrator FROM scrapes WHERE up = 1").rows}

            await _until(lambda: {addr(0), addr(1), addr(2)} <= scraped_up(), timeout_s=30.0)

            # The pool changes; the next scheduled walk (every 0.5 s) picks it up, without a restart.
            fleet.append(await _exporter(3))
            chain.set_pool([PoolEntry(addr(3), lpt(50), True, "https://127.0.0.1:8935")])
            chain.remove(addr(0))
            collector.discovery.sources[1].overrides[addr(3)] = Override(url=fleet[3].url)

            async def changed() -> bool:
                return {g["labels"]["orchestrator"] for g in await get("/v1/discovery/http_sd")} == {addr(1), addr(2), addr(3)}

            await _until(changed)
            assert collector.schedule is not None
            await _until(lambda: {t.orchestrator for t in collector.schedule.targets} == {addr(1), addr(2), addr(3)})
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        for s in fleet:
            await s.stop()

    # Every walk is stored: accepted and refused rows with the block they were read at.
    rows = warehouse.query(
        "SELECT uniqExact(snapshot_id), countIf(status = 'refused' AND reason = 'private'), min(block_number) "
        "FROM discovery_snapshots WHERE source = 'chain'"
    ).rows[0]
    assert rows[0] >= 2 and rows[1] >= 2 and rows[2] > 0
    scraped = warehouse.query("SELECT DISTINCT orchestrator FROM scrapes WHERE up = 1").rows
    assert {addr(0), addr(1), addr(2)} <= {r[0] for r in scraped}


async def test_http_sd_without_discovery_is_a_json_503(warehouse, fast_sla) -> None:
    from litestar.testing import AsyncTestClient

    from api.app import create_app

    async with AsyncTestClient(app=create_app(warehouse, fast_sla)) as client:
        r = await client.get("/v1/discovery/http_sd")
        assert r.status_code == 503
        assert r.json()["status"] == 503 and "runs no discovery" in r.json()["message"]
