"""Broken targets, served for real on loopback: each failure is classified in its scrape row, and the
scraper keeps going for its neighbours."""

from __future__ import annotations

import asyncio
import socket

import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult

from exporter.common.net import free_port
from discovery.safety import RefusedAddress
from discovery.target import make_target
from warehouse.client import Warehouse
from scraper import errors
from scraper.fetch import Fetcher, GuardedResolver
from scraper.scrape import Scraper
from sink_helpers import declaring, sink_for

# The exporter declares who it is: a scrape counts only when that matches the target's orchestrator.
GOOD = declaring("0x" + "1" * 40, b"# TYPE up_things gauge\nup_things{a=\"1\"} 1\nup_things{a=\"2\"} 2\n")


@pytest.fixture
async def server():
    hits: dict[str, int] = {}
    never = asyncio.Event()  # the slow target answers only at teardown: the scrape's time limit must end it

    def counted(name, fn):  # noqa: ANN001, ANN202
        async def handler(request: web.Request) -> web.StreamResponse:
            hits[name] = hits.get(name, 0) + 1
            return await fn(request)

        return handler

    async def good(_r: web.Request) -> web.Response:
        return web.Response(body=GOOD, content_type="text/plain")

    async def slow(_r: web.Request) -> web.Response:
        await never.wait()
        return web.Response(body=GOOD, content_type="text/plain")

    async def garbage(_r: web.Request) -> web.Response:
        return web.Response(text="this {is not\" an exposition\n\x00\x01", content_type="text/plain")

    async def error500(_r: web.Request) -> web.Response:
        return web.Response(status=500, text="boom")

    app = web.Application()
    for name, fn in (("good", good), ("slow", slow), ("garbage", garbage), ("500", error500)):
        app.router.add_get(f"/{name}", counted(name, fn))
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    yield f"http://127.0.0.1:{port}", hits
    never.set()
    await runner.cleanup()


async def test_each_failure_is_classified_and_neighbours_succeed(server, warehouse: Warehouse) -> None:
    base, hits = server
    dead = f"http://127.0.0.1:{free_port()}/metrics"  # nothing listens there
    targets = {
        "good": make_target(f"{base}/good", "0x" + "1" * 40),
        "down": make_target(dead, "0x" + "2" * 40),
        "slow": make_target(f"{base}/slow", "0x" + "3" * 40),
        "garbage": make_target(f"{base}/garbage", "0x" + "4" * 40),
        "500": make_target(f"{base}/500", "0x" + "5" * 40),
    }
    sink = sink_for(warehouse)
    # A time limit far above a loaded machine's answer time, so only the target that never answers reaches it.
    async with Fetcher(timeout_s=2.0, max_body_bytes=1 << 20, allow_loopback=True) as fetcher:
        scraper = Scraper(fetcher, sink)
        for _round in range(2):  # the scraper keeps going after failures
            records = await asyncio.gather(*(scraper.scrape(t) for t in targets.values()))
            got = {name: r.error_class for name, r in zip(targets, records)}
            assert got == {
                "good": errors.OK,
                "down": errors.CONNECT,
                "slow": errors.TIMEOUT,
                "garbage": errors.PARSE,
                "500": errors.HTTP_STATUS,
            }
            slow = records[list(targets).index("slow")]
            assert 1.9 <= slow.duration_s < 10.0  # ended by the time limit, since the target never answers
    assert await sink.writer.flush()

    rows = warehouse.query(
        "SELECT orchestrator, error_class, up, samples FROM scrapes ORDER BY orchestrator, ts"
    ).rows
    assert len(rows) == 10
    classes = {(r[0], r[1]) for r in rows}
    assert ("0x" + "1" * 40, errors.OK) in classes and ("0x" + "3" * 40, errors.TIMEOUT) in classes
    assert warehouse.scalar("SELECT count() FROM samples") == 6  # 3 samples × 2 good scrapes, nothing else
    assert hits["good"] == 2


async def test_loopback_refused_unless_allowed_without_connecting(server, warehouse: Warehouse) -> None:
    base, hits = server
    t = make_target(f"{base}/good")
    async with Fetcher(timeout_s=0.5, max_body_bytes=1 << 20, allow_loopback=False) as fetcher:
        record = await Scraper(fetcher, None).scrape(t)
    assert record.error_class == errors.REFUSED_ADDRESS and not record.up
    assert "good" not in hits  # refused before any connection


class StubResolver(AbstractResolver):
    """DNS stand-in: fixed answers, so no query leaves the machine. Only loopback answers could ever be
    connected to, so even a broken guard cannot make this test reach another host."""

    def __init__(self, answers: dict[str, str]) -> None:
        self.answers = answers

    async def resolve(self, host: str, port: int = 0, family: int = 0) -> list[ResolveResult]:
        ip = self.answers[host]
        return [{"hostname": host, "host": ip, "port": port, "family": socket.AF_INET, "proto": 0, "flags": 0}]

    async def close(self) -> None:
        pass


@pytest.mark.parametrize(
    ("ip", "reason"),
    [("10.1.2.3", "private"), ("169.254.169.254", "metadata"), ("192.168.0.7", "private"), ("100.64.0.1", "not_global")],
)
async def test_guarded_resolver_refuses_forbidden_answers(ip: str, reason: str) -> None:
    guard = GuardedResolver(allow_loopback=True, inner=StubResolver({"orch.example": ip}))
    with pytest.raises(RefusedAddress) as info:
        await guard.resolve("orch.example", 80)
    assert info.value.reason.startswith(reason)


async def test_name_resolving_to_loopback_is_refused_at_connect_time(server) -> None:
    base, hits = server
    port = base.rsplit(":", 1)[1]
    resolver = GuardedResolver(allow_loopback=False, inner=StubResolver({"orch.example": "127.0.0.1"}))
    async with Fetcher(timeout_s=0.5, max_body_bytes=1 << 20, allow_loopback=False, resolver=resolver) as fetcher:
        record = await Scraper(fetcher, None).scrape(make_target(f"http://orch.example:{port}/good"))
    assert record.error_class == errors.REFUSED_ADDRESS, record
    assert "good" not in hits
