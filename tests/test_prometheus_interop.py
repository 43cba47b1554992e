"""Interop: a stock Prometheus (Debian's package) finds our exporters through our http_sd endpoint and scrapes
them. Chain → collector discovery → /v1/discovery/http_sd → Prometheus → exporters, all on loopback.

Prometheus runs with its own temporary storage, listens on 127.0.0.1 only, and is stopped at the end.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path

import aiohttp
from chain_fixtures import addr, chain, lpt, rpc  # noqa: F401

from exporter.common.net import free_port
from discovery.localchain.chain import LocalChain, PoolEntry
from discovery.localchain.rpc import RpcServer
from exporter.config import ExporterConfig
from exporter.server import Exporter, ExporterServer
from naap.collector import Collector, Running
from naap.demo_chain import common_port
from naap.settings import Settings

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
HOSTS = [f"127.0.3.{i + 1}" for i in range(3)]


async def _prometheus_targets(http: aiohttp.ClientSession, base: str) -> list[dict]:
    try:
        async with http.get(f"{base}/api/v1/targets", params={"state": "active"}) as r:
            if r.status != 200:
                return []
            return (await r.json())["data"]["activeTargets"]
    except aiohttp.ClientError:
        return []


async def test_stock_prometheus_scrapes_the_fleet_through_http_sd(
    settings: Settings, chain: LocalChain, rpc: RpcServer, tmp_path: Path
) -> None:
    # A missing binary fails rather than skips: a skipped interop test would pass CI without checking anything.
    assert Path(PROMETHEUS).exists(), "prometheus is installed by `make test` (Debian package prometheus)"
    port = common_port(HOSTS)
    fleet = []
    for i, host in enumerate(HOSTS):
        cfg = ExporterConfig(host=host, port=port, simulate=True, gpus=1, streams=1, orchestrator=addr(i), seed=i + 1)
        server = ExporterServer(Exporter(cfg, window_s=0.25))
        await server.start()
        fleet.append(server)
    chain.set_pool(
        [PoolEntry(addr(i), lpt(10 - i), True, f"https://{h}:8935") for i, h in enumerate(HOSTS)]
        + [PoolEntry(addr(9), lpt(1), True, "https://10.0.0.9:8935")]  # refused: Prometheus must not see it
    )
    settings.discovery.chain = {"rpc_urls": [rpc.url], "controller": chain.controller.address, "metrics_port": port,
                                "max_requests_per_s": 0}  # fmt: skip
    collector = Collector(settings, with_scoring=False)
    stop = asyncio.Event()
    ready: asyncio.Future[Running] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(collector.run(stop, ready.set_result))
    prom: subprocess.Popen | None = None
    try:
        running = await asyncio.wait_for(ready, 30)
        (tmp_path / "prometheus.yml").write_text(
            "global: {scrape_interval: 1s, scrape_timeout: 1s}\n"
            "scrape_configs:\n"
            "  - job_name: naap\n"
            "    http_sd_configs:\n"
            f"      - url: {running.api_url}/v1/discovery/http_sd\n"
            "        refresh_interval: 1s\n"
        )
        prom_base = f"http://127.0.0.1:{free_port()}"
        prom_log = (tmp_path / "prometheus.log").open("wb")
        prom = subprocess.Popen(
            [PROMETHEUS, f"--config.file={tmp_path / 'prometheus.yml'}", f"--storage.tsdb.path={tmp_path / 'data'}",
             f"--web.listen-address={prom_base.removeprefix('http://')}", "--log.level=warn"],
            stdout=prom_log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        async with aiohttp.ClientSession() as http:
            deadline = asyncio.get_running_loop().time() + 60
            targets: list[dict] = []
            while asyncio.get_running_loop().time() < deadline:
                assert prom.poll() is None, f"prometheus exited: {(tmp_path / 'prometheus.log').read_text()[-2000:]}"
                targets = await _prometheus_targets(http, prom_base)
                if len(targets) == 3 and all(t["health"] == "up" for t in targets):
                    break
                await asyncio.sleep(0.5)
            assert len(targets) == 3 and all(t["health"] == "up" for t in targets), targets
            by_instance = {t["labels"]["instance"]: t for t in targets}
            assert set(by_instance) == {f"{h}:{port}" for h in HOSTS}
            for i, h in enumerate(HOSTS):
                t = by_instance[f"{h}:{port}"]
                assert t["labels"]["orchestrator"] == addr(i) and t["labels"]["naap_source"] == "chain"
                assert t["scrapeUrl"] == f"http://{h}:{port}/metrics"
            # Prometheus's own view of the scrapes: samples arrived from every exporter.
            async with http.get(f"{prom_base}/api/v1/query", params={"query": 'scrape_samples_scraped{job="naap"} > 0'}) as r:
                result = (await r.json())["data"]["result"]
            assert {s["metric"]["orchestrator"] for s in result} == {addr(i) for i in range(3)}
    finally:
        if prom is not None:
            prom.terminate()
            try:
                prom.wait(timeout=10)
            except subprocess.TimeoutExpired:
                prom.kill()
                prom.wait()
            prom_log.close()
        stop.set()
        await asyncio.wait_for(task, 30)
        for s in fleet:
            await s.stop()
