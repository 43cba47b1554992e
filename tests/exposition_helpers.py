"""Shared by the exporter tests: a settable clock, expositions read into {sample name: [(labels, value)]},
and a real loopback HTTP server serving a fixed /metrics body."""

from __future__ import annotations

import asyncio
from typing import Callable

import aiohttp
from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families


class Clock:
    """A monotonic clock the test moves by hand (`clock.t += 5`)."""

    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def families(text: str) -> dict[str, list]:
    out: dict[str, list] = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out.setdefault(s.name, []).append((s.labels, s.value))
    return out


def value(got: dict[str, list], name: str, **match: str) -> float:
    """The one sample of `name` whose labels include `match`."""
    hits = [v for lab, v in got.get(name, []) if all(lab.get(k) == x for k, x in match.items())]
    assert len(hits) == 1, (name, match, got.get(name))
    return hits[0]


def collector_samples(collector: object) -> dict[str, list]:
    """What a prometheus-client collector (the stream SDK) renders, read back by the reference parser."""
    reg = CollectorRegistry()
    reg.register(collector)  # type: ignore[arg-type]
    return families(generate_latest(reg).decode())


async def scrape(url: str) -> dict[str, list]:
    async with aiohttp.ClientSession() as http, http.get(url) as r:
        return families(await r.text())


async def scrape_when(url: str, ready: Callable[[], bool], tries: int = 50) -> dict[str, list]:
    """Scrape once `ready()` holds (a background source has read its input), or after `tries` × 50 ms."""
    for _ in range(tries):
        if ready():
            break
        await asyncio.sleep(0.05)
    return await scrape(url)


async def serve_body(body: bytes, status: int = 200) -> tuple[web.AppRunner, str]:
    """A loopback HTTP server answering GET /metrics with `body`; returns its runner and URL."""

    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=status, body=body, content_type="text/plain")

    app = web.Application()
    app.router.add_get("/metrics", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}/metrics"
