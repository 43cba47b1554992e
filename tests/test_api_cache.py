"""Caching, conditional requests, CORS, rate limits and the 503 of a failing warehouse, over real HTTP (uvicorn on
loopback, aiohttp) on known rows (tests/api_fixtures.py)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import AsyncIterator

import aiohttp
import pytest
import uvicorn

from api.app import create_app
from api.config import ApiSettings
from api.query import IMMUTABLE
from api_fixtures import A, H, load
from scoring.sla_config import load_config
from warehouse.client import Warehouse


@contextlib.asynccontextmanager
async def serve(app) -> AsyncIterator[aiohttp.ClientSession]:  # noqa: ANN001
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="error", lifespan="on"))
    server.capture_signals = lambda: contextlib.nullcontext()  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as http:
            yield http
    finally:
        server.should_exit = True
        await task


@pytest.fixture
async def http(warehouse: Warehouse) -> AsyncIterator[tuple[aiohttp.ClientSession, int]]:
    t = load(warehouse)
    app = create_app(warehouse.reader(), load_config(), ApiSettings(rate_limit_per_minute=1000))
    async with serve(app) as session:
        yield session, t


async def test_a_closed_window_is_immutable_with_an_etag_and_304(http: tuple[aiohttp.ClientSession, int]) -> None:
    client, t = http
    params = {"period": "1h", "window_end": str(t + H)}
    async with client.get("/v1/sla/compliance", params=params) as r:
        assert r.status == 200 and r.headers["Cache-Control"] == IMMUTABLE
        etag = r.headers["ETag"]
        body = await r.read()
    assert etag.startswith('"') and len(etag) == 34
    async with client.get("/v1/sla/compliance", params=params, headers={"If-None-Match": etag}) as r:
        assert r.status == 304 and await r.read() == b"" and r.headers["ETag"] == etag
        assert r.headers["Cache-Control"] == IMMUTABLE
    async with client.get("/v1/sla/compliance", params=params, headers={"If-None-Match": '"other", W/' + etag}) as r:
        assert r.status == 304
    async with client.get("/v1/sla/compliance", params=params, headers={"If-None-Match": '"stale"'}) as r:
        assert r.status == 200 and await r.read() == body


async def test_an_open_window_gets_a_short_max_age(http: tuple[aiohttp.ClientSession, int]) -> None:
    client, _ = http
    for path in ("/v1/sla/compliance", "/v1/leaderboard", "/v1/gpu/metrics", "/v1/regions", "/api/aggregated_stats"):
        async with client.get(path) as r:
            assert r.status == 200 and r.headers["Cache-Control"] == "public, max-age=10", path
            assert r.headers["ETag"]


async def test_cached_answers_need_no_warehouse_and_uncached_ones_fail_as_503(
    warehouse: Warehouse, http: tuple[aiohttp.ClientSession, int]
) -> None:
    client, t = http
    closed = {"period": "1h", "window_end": str(t + H)}
    async with client.get("/v1/sla/compliance", params=closed) as r:
        first = await r.read()
    warehouse.command("RENAME TABLE sla_scores TO sla_scores_away")
    try:
        async with client.get("/v1/sla/compliance", params=closed) as r:  # served from the response cache
            assert r.status == 200 and await r.read() == first
        async with client.get("/v1/sla/history", params={"period": "1h"}) as r:
            body = await r.json()
            assert r.status == 503 and body["status"] == 503 and "unavailable" in body["message"]
            assert int(r.headers["Retry-After"]) > 0 and "Traceback" not in str(body)
    finally:
        warehouse.command("RENAME TABLE sla_scores_away TO sla_scores")


async def test_the_cache_key_ignores_parameter_order_but_not_values(http: tuple[aiohttp.ClientSession, int]) -> None:
    client, t = http
    async with client.get(f"/v1/sla/compliance?period=1h&window_end={t + H}") as r:
        a = await r.json()
    async with client.get(f"/v1/sla/compliance?window_end={t + H}&period=1h") as r:
        b = await r.json()
    async with client.get(f"/v1/sla/compliance?window_end={t + 2 * H}&period=1h") as r:
        c = await r.json()
    assert a == b and a != c and a["window_end"] == t + H and c["window_end"] == t + 2 * H


async def test_cors_allows_embedding_and_sign_in_posts(http: tuple[aiohttp.ClientSession, int]) -> None:
    client, _ = http
    headers = {"Origin": "https://explorer.example", "Access-Control-Request-Method": "POST",
               "Access-Control-Request-Headers": "content-type"}  # fmt: skip
    async with client.options("/v1/auth/login", headers=headers) as r:
        assert r.status in (200, 204)
        assert "POST" in r.headers["Access-Control-Allow-Methods"]
        assert r.headers["Access-Control-Allow-Origin"] in ("*", "https://explorer.example")
    async with client.get("/api/regions", headers={"Origin": "https://explorer.example"}) as r:
        assert r.headers["Access-Control-Allow-Origin"] == "*"
        assert "etag" in r.headers["Access-Control-Expose-Headers"].lower()


async def test_every_data_route_is_rate_limited_cached_or_not(warehouse: Warehouse) -> None:
    t = load(warehouse)
    app = create_app(warehouse.reader(), load_config(), ApiSettings(rate_limit_per_minute=3))
    async with serve(app) as client:
        statuses = []
        for _ in range(4):  # the same immutable answer: from the cache after the first, still counted
            async with client.get("/v1/sla/compliance", params={"period": "1h", "window_end": str(t + H)}) as r:
                statuses.append(r.status)
                retry = r.headers.get("Retry-After")
        assert statuses == [200, 200, 200, 429] and retry and int(retry) > 0
        async with client.get("/api/top_ai_score", params={"orchestrator": A}) as r:  # the Explorer routes too
            assert r.status == 429 and (await r.json())["status"] == 429
