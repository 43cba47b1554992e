"""Hostile and broken targets, each served for real on loopback: every one is survived with a classified error
in its scrape row, within the time limit and a memory bound, while well-behaved neighbours scraped at the same
moment succeed with all their samples. Nothing here connects outside loopback: the one name that is looked
up goes to a stub resolver, and refused addresses are refused before any connection.
"""

from __future__ import annotations

import asyncio
import gzip
import socket
import ssl
import tracemalloc
import zlib
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult

from exporter.common.net import free_port
from discovery.target import make_target
from warehouse.client import Warehouse
from scraper import errors
from scraper.fetch import Fetcher, GuardedResolver
from scraper.limits import Limits
from scraper.scrape import Scraper
from sink_helpers import declaring, sink_for

TLS_DIR = Path(__file__).parent / "data" / "tls"
CAP = 24 << 20  # body cap of this test's scraper (after decompression)
SHORT_TIMEOUT = 1.5  # only for targets that never finish (hang, slowloris): this limit is expected to fire
LONG_TIMEOUT = 20.0  # for every target that ends by itself: far above any answer time on a loaded machine
NEVER_FINISH = {"hang", "slowloris"}
SAMPLE_LIMIT = 20_000
GOOD = "".join(f'good_metric{{gpu="{i}",model_id="streamdiffusion-sdxl"}} {i}.5\n' for i in range(40)).encode()


class StubResolver(AbstractResolver):
    """DNS stand-in: fixed answers, NXDOMAIN for everything else, so no query ever leaves the machine."""

    def __init__(self, answers: dict[str, str]) -> None:
        self.answers = answers

    async def resolve(self, host: str, port: int = 0, family: int = 0) -> list[ResolveResult]:
        if host not in self.answers:
            raise OSError(socket.EAI_NONAME, f"stub resolver: {host} does not exist")
        ip = self.answers[host]
        return [{"hostname": host, "host": ip, "port": port, "family": socket.AF_INET, "proto": 0, "flags": 0}]

    async def close(self) -> None:
        pass


def _gzip_bomb(size: int) -> bytes:
    c = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = b"\0" * (1 << 20)
    return b"".join([*(c.compress(zeros) for _ in range(size >> 20)), c.flush()])


async def _hang(_r: web.Request) -> web.Response:
    await asyncio.sleep(3600)
    raise AssertionError("unreachable")


async def _slowloris(r: web.Request) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": "text/plain"})
    await resp.prepare(r)
    while True:  # a byte at a time, forever
        await resp.write(b"#")
        await asyncio.sleep(0.05)


def _streamer(with_length: bool):  # noqa: ANN202
    async def handler(r: web.Request) -> web.StreamResponse:
        headers = {"Content-Type": "text/plain"}
        if with_length:
            headers["Content-Length"] = str(CAP + (1 << 20))
        resp = web.StreamResponse(headers=headers)
        await resp.prepare(r)
        line = b"big_body_metric 1\n" * 50_000  # ~0.9 MB of valid exposition
        for _ in range(CAP // len(line) + 2):
            await resp.write(line)
        return resp

    return handler


def _static(body: bytes, content_type: str = "text/plain", status: int = 200, gz: bool = False):  # noqa: ANN202
    headers = {"Content-Type": content_type}
    if gz:
        headers["Content-Encoding"] = "gzip"

    async def handler(_r: web.Request) -> web.Response:
        return web.Response(body=body, status=status, headers=headers)

    return handler


def _redirect(location: str):  # noqa: ANN202
    async def handler(_r: web.Request) -> web.Response:
        raise web.HTTPFound(location)

    return handler


async def _cut_short(r: web.Request) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": "text/plain", "Content-Length": "100000"})
    await resp.prepare(r)
    await resp.write(b"cut_metric 1\n")
    r.transport.close()  # the host dies mid-answer
    return resp


async def _garbage_http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"HTTP/1.1 2OO SURE\r\nthis is not a header line\r\n\r\n")
    await writer.drain()
    writer.close()


@pytest.fixture(scope="module")
def bodies() -> dict[str, bytes]:
    million = b"".join(b'series{i="%07d"} 1\n' % i for i in range(1_000_000))
    return {
        "million": gzip.compress(million, 1),
        "bomb": _gzip_bomb(256 << 20),
    }


@pytest.fixture
async def fleet(bodies: dict[str, bytes]):
    """One port per hostile behaviour (a shared port would let one hostile target hold another's per-host
    connection slots), and one server of good neighbours."""
    long_value = ('m{a="' + "x" * 5000 + '"} 1\n').encode()
    long_name = ("m{" + "n" * 500 + '="v"} 1\n').encode()
    routes = {
        "hang": _hang,
        "slowloris": _slowloris,
        "big_with_length": _streamer(True),
        "big_chunked": _streamer(False),
        "gzip_bomb": _static(bodies["bomb"], gz=True),
        "million_series": _static(bodies["million"], gz=True),
        "long_label_value": _static(long_value),
        "long_label_name": _static(long_name),
        "malformed": _static(b'this {is not" an exposition\n\x00\x01'),
        "wrong_content_type": _static(b"<html><body>hello</body></html>", "text/html"),
        "http_500": _static(b"boom", status=500),
        "http_503": _static(b"busy", status=503),
        "cut_short": _cut_short,
        "redirect_loop": _redirect("/metrics"),
        "redirect_private": _redirect("http://10.1.2.3/metrics"),
        "redirect_metadata": _redirect("http://169.254.169.254/latest/meta-data/"),
        "redirect_refused_port": _redirect(f"http://127.0.0.1:{free_port()}/metrics"),
    }
    runners, urls = [], {}
    for name, handler in routes.items():
        app = web.Application()
        app.router.add_get("/metrics", handler)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        runners.append(runner)
        urls[name] = f"http://127.0.0.1:{port}/metrics"
    # TLS: a server whose certificate nobody trusts, and a plain HTTP server asked for https.
    tls_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls_ctx.load_cert_chain(TLS_DIR / "selfsigned.pem", TLS_DIR / "selfsigned.key")
    app = web.Application()
    app.router.add_get("/metrics", _static(GOOD))
    tls_runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await tls_runner.setup()
    tls_port = free_port()
    await web.TCPSite(tls_runner, "127.0.0.1", tls_port, ssl_context=tls_ctx).start()
    runners.append(tls_runner)
    urls["tls_self_signed"] = f"https://127.0.0.1:{tls_port}/metrics"
    urls["tls_to_plain_http"] = urls["http_500"].replace("http://", "https://")
    raw = await asyncio.start_server(_garbage_http, "127.0.0.1", 0)
    urls["garbage_http"] = f"http://127.0.0.1:{raw.sockets[0].getsockname()[1]}/metrics"
    urls["refused"] = f"http://127.0.0.1:{free_port()}/metrics"  # nothing listens
    urls["dns_failure"] = "http://no-such-orchestrator.example:9935/metrics"  # the stub answers NXDOMAIN
    # Good neighbours: five targets on their own server.
    good_app = web.Application()
    for i in range(5):
        good_app.router.add_get(f"/good{i}", _static(declaring("0x" + "9" * 39 + str(i), GOOD), "text/plain; version=0.0.4"))
    good_runner = web.AppRunner(good_app, access_log=None, shutdown_timeout=0.1)
    await good_runner.setup()
    good_port = free_port()
    await web.TCPSite(good_runner, "127.0.0.1", good_port).start()
    runners.append(good_runner)
    good = [f"http://127.0.0.1:{good_port}/good{i}" for i in range(5)]
    yield urls, good
    raw.close()
    for r in runners:
        await r.cleanup()


EXPECTED = {
    "hang": errors.TIMEOUT,
    "slowloris": errors.TIMEOUT,
    "big_with_length": errors.BODY_TOO_LARGE,
    "big_chunked": errors.BODY_TOO_LARGE,
    "gzip_bomb": errors.BODY_TOO_LARGE,
    "million_series": errors.SAMPLE_LIMIT,
    "long_label_value": errors.LABEL_LIMIT,
    "long_label_name": errors.LABEL_LIMIT,
    "malformed": errors.PARSE,
    "wrong_content_type": errors.CONTENT_TYPE,
    "http_500": errors.HTTP_STATUS,
    "http_503": errors.HTTP_STATUS,
    "cut_short": errors.CONNECTION,
    "redirect_loop": errors.REDIRECT,
    "redirect_private": errors.REDIRECT,
    "redirect_metadata": errors.REDIRECT,
    "redirect_refused_port": errors.CONNECT,
    "tls_self_signed": errors.TLS,
    "tls_to_plain_http": errors.TLS,
    "garbage_http": errors.PROTOCOL,
    "refused": errors.CONNECT,
    "dns_failure": errors.DNS,
}


async def test_every_hostile_target_is_classified_bounded_and_harmless(fleet, warehouse: Warehouse) -> None:
    urls, good_urls = fleet
    assert set(urls) == set(EXPECTED)
    hostile = {name: make_target(url, "0x" + f"{i:040x}") for i, (name, url) in enumerate(sorted(urls.items()))}
    good = [make_target(u, "0x" + "9" * 39 + str(i)) for i, u in enumerate(good_urls)]
    resolver = GuardedResolver(allow_loopback=True, inner=StubResolver({}))
    sink = sink_for(warehouse)
    async with (
        Fetcher(timeout_s=SHORT_TIMEOUT, max_body_bytes=CAP, allow_loopback=True, resolver=resolver) as short,
        Fetcher(timeout_s=LONG_TIMEOUT, max_body_bytes=CAP, allow_loopback=True, resolver=resolver) as long_,
    ):
        limits = Limits(sample_limit=SAMPLE_LIMIT)
        short_scraper, long_scraper = Scraper(short, sink, limits), Scraper(long_, sink, limits)
        for round_ in range(2):  # the scraper keeps going after every failure
            tracemalloc.start()
            try:
                records = await asyncio.gather(
                    *((short_scraper if name in NEVER_FINISH else long_scraper).scrape(t) for name, t in hostile.items()),
                    *(long_scraper.scrape(t) for t in good),
                )
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
            got = {name: r.error_class for name, r in zip(hostile, records)}
            assert got == EXPECTED, {k: (v, EXPECTED[k]) for k, v in got.items() if v != EXPECTED[k]}
            for name, r in zip(hostile, records):
                assert not r.up and r.error, name
                # Bounded: the never-finishing ones by their short limit (classified TIMEOUT above), the rest end
                # by themselves (cap, limit or error) well inside the long limit instead of running into it.
                assert r.duration_s < LONG_TIMEOUT, f"{name} took {r.duration_s:.1f}s"
            neighbours = records[len(hostile) :]
            assert all(r.up and r.samples == 41 for r in neighbours), [(r.target, r.error) for r in neighbours]
            # A 256 MiB gzip bomb, a 17 MB million-series body and two bodies past the cap in one round:
            # bounded by the cap, not by what the targets send.
            assert peak < 150 << 20, f"round {round_}: peak {peak >> 20} MiB"
    assert await sink.writer.flush()
    rows = warehouse.query("SELECT error_class, count() FROM scrapes GROUP BY error_class").rows
    stored = dict(rows)
    assert stored[errors.OK] == 10
    assert sum(stored.values()) == 2 * (len(hostile) + len(good))
    assert warehouse.scalar("SELECT count() FROM samples") == 10 * 41  # good neighbours' samples, nothing else
    messages = dict(warehouse.query("SELECT target, any(error) FROM scrapes GROUP BY target").rows)
    assert "refused" in messages[urls["redirect_private"]] and "private" in messages[urls["redirect_private"]]
    assert "metadata" in messages[urls["redirect_metadata"]]


async def test_loopback_is_refused_unless_allowed_and_without_connecting(fleet) -> None:
    urls, good_urls = fleet
    hits = 0

    async def counting(_r: web.Request) -> web.Response:
        nonlocal hits
        hits += 1
        return web.Response(body=GOOD, content_type="text/plain")

    app = web.Application()
    app.router.add_get("/metrics", counting)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        resolver = GuardedResolver(allow_loopback=False, inner=StubResolver({"orch.example": "127.0.0.1"}))
        async with Fetcher(timeout_s=1, max_body_bytes=CAP, allow_loopback=False, resolver=resolver) as fetcher:
            scraper = Scraper(fetcher, None)
            literal = await scraper.scrape(make_target(f"http://127.0.0.1:{port}/metrics"))
            named = await scraper.scrape(make_target(f"http://orch.example:{port}/metrics"))
            localhost = await scraper.scrape(make_target(f"http://localhost:{port}/metrics"))
        assert [r.error_class for r in (literal, named, localhost)] == [errors.REFUSED_ADDRESS] * 3
        assert hits == 0  # refused before any connection
    finally:
        await runner.cleanup()
