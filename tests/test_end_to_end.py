"""The whole pull pipe, for real: exporters on loopback → scraper → chDB → scoring → Litestar API over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
from typing import AsyncIterator

import aiohttp
import pytest

from exporter.config import ExporterConfig
from exporter.server import Exporter, ExporterServer
from exporter.simulate import PROFILES, Profile
from naap.collector import Collector, Running
from naap.fleet import demo_address
from naap.settings import Settings

# Offline 40 % of the time, in cycles short enough for a test. The 2.5 s cycle is no multiple of the 1 s scrape
# interval, so successive scrapes land on five phases 0.5 s apart and two of every five find it offline.
OFTEN_OFFLINE = Profile("often-offline", offline_every_s=2.5, offline_for_s=1.0)


async def _fleet(profiles: list[Profile]) -> list[ExporterServer]:
    servers = []
    for i, p in enumerate(profiles):
        cfg = ExporterConfig(host="127.0.0.1", port=0, simulate=True, gpus=1, streams=2,
                             orchestrator=demo_address(i), region=["eu", "us"][i % 2], seed=i + 1)  # fmt: skip
        srv = ExporterServer(Exporter(cfg, profile=p, window_s=0.25))
        await srv.start()
        servers.append(srv)
    return servers


@contextlib.asynccontextmanager
async def running_collector(settings: Settings, sla) -> AsyncIterator[tuple[Collector, Running]]:  # noqa: ANN001
    collector = Collector(settings, sla_config=sla)
    stop = asyncio.Event()
    ready: asyncio.Future[Running] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(collector.run(stop, ready.set_result))
    try:
        yield collector, await asyncio.wait_for(ready, 30)
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


async def _poll_compliance(api_url: str, params: dict, done, timeout_s: float = 60.0) -> dict:  # noqa: ANN001
    """GET /v1/sla/compliance until `done(body)` holds; the deadline only guards against a hang."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    body: dict = {}
    async with aiohttp.ClientSession() as http:
        while True:
            async with http.get(f"{api_url}/v1/sla/compliance", params=params) as r:
                assert r.status == 200
                body = await r.json()
            if done(body):
                return body
            assert loop.time() < deadline, f"no such score in {timeout_s} s: {body}"
            await asyncio.sleep(0.2)


async def test_fleet_is_scraped_scored_and_served(settings: Settings, fast_sla) -> None:
    profiles = [PROFILES["steady"], PROFILES["jittery"], OFTEN_OFFLINE]
    fleet = await _fleet(profiles)
    settings.discovery.targets = [
        {"url": s.url, "orchestrator": s.config.orchestrator, "labels": {"region": s.config.region}} for s in fleet
    ]
    # A limit far above a loopback answer's time (interval first: the timeout may not exceed it).
    settings.scraper.interval_s = 1.0
    settings.scraper.timeout_s = 1.0
    settings.scoring.interval_s = 0.5
    settings.api.cache_open_max_age_s = 0  # the polls below must see each new score, not a reused answer
    orchs = {s.config.orchestrator for s in fleet}

    def enough(body: dict) -> bool:  # every orchestrator scored over at least two full offline cycles
        by = {o["orchestrator"]: o for o in body["orchestrators"]}
        return (
            set(by) == orchs
            and collector.scoring_runs >= 2
            and all(o.get("subscores", {}).get("output_fps", {}).get("samples", 0) >= 3 for o in by.values())
            and by[fleet[2].config.orchestrator].get("subscores", {}).get("availability", {}).get("scheduled", 0) >= 10
        )

    try:
        async with running_collector(settings, fast_sla) as (collector, running):
            assert running.targets == 3
            body = await _poll_compliance(running.api_url, {"period": "5m"}, enough)
            async with aiohttp.ClientSession() as http:
                async with http.get(f"{running.api_url}/v1/gpu/metrics", params={"time_range": "5m"}) as r:
                    assert r.status == 200
                    gpus = await r.json()
                async with http.get(f"{running.api_url}/healthz") as r:
                    assert r.status == 200
    finally:
        for s in fleet:
            await s.stop()

    by_orch = {o["orchestrator"]: o for o in body["orchestrators"]}
    assert set(by_orch) == {s.config.orchestrator for s in fleet}
    for o in by_orch.values():
        assert o["status"] == "ok" and isinstance(o["score"], float)
        assert o["subscores"]["output_fps"]["samples"] >= 3
        assert o["subscores"]["output_fps"]["p50"] > 0
        assert o["config_version"] == body["config_version"] == fast_sla.version
    steady = by_orch[fleet[0].config.orchestrator]["subscores"]["availability"]
    offline = by_orch[fleet[2].config.orchestrator]["subscores"]["availability"]
    assert steady["value"] == 1.0
    assert offline["value"] < 0.9, offline
    assert offline["scheduled"] >= 10
    assert by_orch[fleet[2].config.orchestrator]["score"] < by_orch[fleet[0].config.orchestrator]["score"]

    # /v1/gpu/metrics: one row per orchestrator, GPU and workflow, with FPS and the declared region.
    assert {g["o_wallet"] for g in gpus["gpus"]} == set(by_orch)
    for g in gpus["gpus"]:
        assert g["output_fps"]["p50"] > 0
        assert g["gpu_model"] == "NVIDIA GeForce RTX 4090"
        assert g["region"] in ("eu", "us")
        assert g["workflow"].startswith("live-video-to-video/")


@pytest.mark.parametrize("period", ["5m", "1h"])
async def test_scores_are_published_per_period(settings: Settings, fast_sla, period: str) -> None:
    fleet = await _fleet([PROFILES["steady"]])
    settings.discovery.targets = [{"url": fleet[0].url, "orchestrator": fleet[0].config.orchestrator}]
    settings.api.cache_open_max_age_s = 0  # the poll below must see the first score, not a reused empty answer
    try:
        async with running_collector(settings, fast_sla) as (_collector, running):
            params = {"period": period, "orchestrator_id": fleet[0].config.orchestrator}
            body = await _poll_compliance(running.api_url, params, lambda b: bool(b["orchestrators"]))
    finally:
        await fleet[0].stop()
    assert body["period"] == period
    [only] = body["orchestrators"]
    assert only["orchestrator"] == fleet[0].config.orchestrator
    assert only["window_end"] - only["window_start"] == {"5m": 300_000, "1h": 3_600_000}[period]
