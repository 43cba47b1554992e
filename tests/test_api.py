"""The API over real HTTP: JSON errors with messages (never tracebacks), rate limits, docs and schema."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
import uvicorn

from api.app import create_app
from naap.settings import ApiSettings
from warehouse.client import Warehouse
from scoring.sla_config import load_config


@pytest.fixture
async def api(warehouse: Warehouse):
    app = create_app(warehouse, load_config(), ApiSettings(rate_limit_per_minute=30))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="error", lifespan="on"))
    server.capture_signals = lambda: __import__("contextlib").nullcontext()  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as http:
        yield http
    server.should_exit = True
    await task


@pytest.mark.parametrize(
    ("path", "status", "words"),
    [
        ("/v1/sla/compliance?period=7y", 400, "unknown period"),
        ("/v1/sla/compliance?orchestrator_id=0x12", 400, "orchestrator_id"),
        ("/v1/sla/compliance?orchestrator_id=%27%3BDROP%20TABLE", 400, "orchestrator_id"),
        ("/v1/gpu/metrics?time_range=forever", 400, "time_range"),
        ("/v1/gpu/metrics?time_range=999d", 400, "time_range"),
        ("/v1/gpu/metrics?o_wallet=nope", 400, "o_wallet"),
        ("/v1/gpu/metrics?region=" + "x" * 500, 400, "region"),
        ("/v1/nothing-here", 404, "Not Found"),
    ],
)
async def test_errors_are_json_with_a_message(api: aiohttp.ClientSession, path: str, status: int, words: str) -> None:
    async with api.get(path) as r:
        assert r.status == status
        assert r.headers["Content-Type"].startswith("application/json")
        body = await r.json()
    assert body["status"] == status and words in body["message"]
    assert "Traceback" not in str(body)


async def test_empty_warehouse_gives_empty_lists(api: aiohttp.ClientSession) -> None:
    async with api.get("/v1/sla/compliance", params={"period": "1h"}) as r:
        body = await r.json()
    assert r.status == 200 and body["orchestrators"] == [] and body["config_version"] == load_config().version
    async with api.get("/v1/gpu/metrics") as r:
        assert (await r.json())["gpus"] == []


async def test_schema_docs_cors_and_health(api: aiohttp.ClientSession) -> None:
    async with api.get("/schema/openapi.json") as r:
        schema = await r.json()
    assert {"/v1/sla/compliance", "/v1/gpu/metrics", "/healthz"} <= set(schema["paths"])
    async with api.get("/docs") as r:
        html = await r.text()
    assert r.status == 200 and "/v1/gpu/metrics" in html and "<script" not in html and "http" not in html.split("openapi.json")[1]
    async with api.get("/healthz", headers={"Origin": "https://explorer.example"}) as r:
        assert r.status == 200 and (await r.json())["warehouse"] == "ok"
        assert r.headers.get("Access-Control-Allow-Origin") == "*"


async def test_rate_limit_answers_429_with_retry_after(api: aiohttp.ClientSession) -> None:
    statuses = []
    for _ in range(35):
        async with api.get("/v1/sla/compliance") as r:
            statuses.append(r.status)
            if r.status == 429:
                assert int(r.headers["Retry-After"]) > 0
                assert "rate limit" in (await r.json())["message"]
    assert statuses[:30] == [200] * 30 and statuses[-1] == 429
    async with api.get("/healthz") as r:  # health is never rate-limited
        assert r.status == 200


async def test_the_rate_limit_applies_to_every_data_route(warehouse: Warehouse) -> None:
    """Each /v1 route, from a client address of its own (the limit is per client), is limited after N requests:
    no route is exempt by an exclusion pattern that matches inside its path (as "/metrics" once did)."""
    app = create_app(warehouse.reader(), load_config(), ApiSettings(rate_limit_per_minute=3))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="error", lifespan="on"))
    server.capture_signals = lambda: __import__("contextlib").nullcontext()  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    paths = sorted(p for p, ops in app.openapi_schema.to_schema()["paths"].items() if p.startswith("/v1/") and "get" in ops)
    assert "/v1/gpu/metrics" in paths and len(paths) >= 4
    limited = {}
    try:
        for i, path in enumerate(paths):
            connector = aiohttp.TCPConnector(local_addr=(f"127.0.{(i // 250) + 3}.{i % 250 + 1}", 0))
            async with aiohttp.ClientSession(f"http://127.0.0.1:{port}", connector=connector) as http:
                statuses = []
                for _ in range(4):
                    async with http.get(path.replace("{", "").replace("}", "")) as r:
                        statuses.append(r.status)
                        retry = r.headers.get("Retry-After")
                limited[path] = (statuses, retry)
    finally:
        server.should_exit = True
        await task
    wrong = {p: v for p, v in limited.items() if 429 in v[0][:3] or v[0][3] != 429 or not v[1]}
    assert not wrong, wrong
    # The service's own endpoints are not limited (health checks, Prometheus scraping the collector).
    assert all(not p.startswith(("/healthz", "/metrics")) for p in limited)


def test_api_queries_run_read_only_with_a_server_side_time_limit(warehouse: Warehouse) -> None:
    from warehouse.client import WarehouseError

    reader = warehouse.reader(max_execution_time_s=1)
    with pytest.raises(WarehouseError, match="(?i)readonly"):
        reader.query("INSERT INTO scrapes (target) VALUES ('x')")
    with pytest.raises(WarehouseError, match="(?i)timeout|time limit|TIMEOUT_EXCEEDED"):
        reader.query("SELECT sleepEachRow(0.5) FROM numbers(10) SETTINGS function_sleep_max_microseconds_per_block = 10000000")
    assert reader.scalar("SELECT 1") == 1  # the handle is fine afterwards
    assert warehouse.scalar("SELECT count() FROM scrapes") == 0  # and nothing was written


async def test_a_failing_query_is_a_503_json_error(warehouse: Warehouse, api: aiohttp.ClientSession) -> None:
    warehouse.command("RENAME TABLE sla_scores TO sla_scores_away")
    try:
        async with api.get("/v1/sla/compliance", params={"period": "1h"}) as r:
            body = await r.json()
            assert r.status == 503 and body["status"] == 503 and "Traceback" not in str(body)
    finally:
        warehouse.command("RENAME TABLE sla_scores_away TO sla_scores")
