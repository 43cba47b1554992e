"""Trickle semantics, client against server, over real HTTP on loopback: the prober's client
(prober/trickle.py) and the stand-in's server (prober/standin/trickle_server.py) both follow go-livepeer's
trickle/ (sequence numbers, -1 = next, -2 = current, Lp-Trickle-* headers, 470 → jump to Latest after
eviction from the 5-segment ring, Lp-Trickle-Closed and 404 once a channel is closed and gone)."""

from __future__ import annotations

import asyncio
from typing import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from exporter.common.net import free_port
from prober.standin.trickle_server import MAX_SEGMENTS, Channel, TrickleServer
from prober.trickle import SEQ_CURRENT, SEQ_NEXT, TrickleError, TricklePublisher, TrickleSubscriber


@pytest.fixture
async def server() -> AsyncIterator[tuple[TrickleServer, str, aiohttp.ClientSession]]:
    ts = TrickleServer("/ai/trickle/")
    app = web.Application()
    ts.add_routes(app)
    runner = web.AppRunner(app, handler_cancellation=True)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    session = aiohttp.ClientSession()
    try:
        yield ts, f"http://127.0.0.1:{port}/ai/trickle", session
    finally:
        await session.close()
        await ts.stop()
        await runner.cleanup()


async def _reader_waits_on(ch: Channel, seq: int) -> None:
    """Until a GET for `seq` (just ahead of the write head) has reached the server: the channel pre-creates the
    segment a reader waits on. 20 s is only a hang guard."""
    async with asyncio.timeout(20):
        while (seg := ch.segments[seq % MAX_SEGMENTS]) is None or seg.idx != seq:
            await asyncio.sleep(0.05)


async def test_publish_then_read_in_order_with_headers(server) -> None:  # noqa: ANN001
    ts, base, http = server
    ts.create("mid", "video/MP2T")
    pub = TricklePublisher(http, f"{base}/mid")
    assert [await pub.write(f"segment {i}".encode()) for i in range(3)] == [0, 1, 2]
    sub = TrickleSubscriber(http, f"{base}/mid", 0)
    got = [await sub.next() for _ in range(3)]
    assert [(s.seq, s.data) for s in got if s] == [(0, b"segment 0"), (1, b"segment 1"), (2, b"segment 2")]
    assert got[0] is not None and got[0].latest == 3 and got[2] is not None and got[2].latest == 3
    async with http.get(f"{base}/mid/1") as resp:
        assert resp.headers["Lp-Trickle-Seq"] == "1" and resp.headers["Content-Type"] == "video/MP2T"
    async with http.get(f"{base}/mid/next") as resp:
        assert resp.headers["Lp-Trickle-Latest"] == "3" and await resp.text() == "3"


async def test_minus_one_waits_for_the_next_segment_and_minus_two_is_the_current(server) -> None:  # noqa: ANN001
    ts, base, http = server
    ch = ts.create("live", "video/MP2T")
    pub = TricklePublisher(http, f"{base}/live")
    await pub.write(b"old")
    current = await TrickleSubscriber(http, f"{base}/live", SEQ_CURRENT).next()
    assert current is not None and (current.seq, current.data) == (0, b"old")
    waiting = asyncio.create_task(TrickleSubscriber(http, f"{base}/live", SEQ_NEXT).next())
    await _reader_waits_on(ch, 1)
    assert not waiting.done()  # blocked on the live edge
    await pub.write(b"new")
    seg = await asyncio.wait_for(waiting, 5)
    assert seg is not None and (seg.seq, seg.data) == (1, b"new")


async def test_a_segment_streams_while_it_is_written(server) -> None:  # noqa: ANN001
    ts, base, http = server
    ts.create("stream", "video/MP2T")
    second_part = asyncio.Event()

    async def body() -> AsyncIterator[bytes]:
        yield b"first half;"
        await second_part.wait()
        yield b"second half"

    post = asyncio.create_task(TricklePublisher(http, f"{base}/stream").write(body()))
    async with http.get(f"{base}/stream/0") as resp:
        assert resp.status == 200 and resp.headers["Lp-Trickle-Seq"] == "0"
        assert await resp.content.readexactly(len(b"first half;")) == b"first half;"  # before the rest exists
        second_part.set()
        assert await resp.content.read() == b"second half"
    assert await asyncio.wait_for(post, 5) == 0


async def test_evicted_segment_is_470_and_the_subscriber_jumps_to_latest(server) -> None:  # noqa: ANN001
    ts, base, http = server
    ch = ts.create("ring", "video/MP2T")
    pub = TricklePublisher(http, f"{base}/ring")
    for i in range(MAX_SEGMENTS + 3):
        await pub.write(b"x%d" % i)
    async with http.get(f"{base}/ring/0") as resp:
        assert resp.status == 470 and resp.headers["Lp-Trickle-Latest"] == "8" and resp.headers["Lp-Trickle-Seq"] == "0"
    async with http.get(f"{base}/ring/3") as resp:  # still in the ring (3..7)
        assert resp.status == 200 and await resp.read() == b"x3"
    sub = TrickleSubscriber(http, f"{base}/ring", 0)
    waiting = asyncio.create_task(sub.next())
    await _reader_waits_on(ch, 8)  # 470 on seq 0, then the jump to Latest: waiting on 8
    await pub.write(b"after")
    seg = await asyncio.wait_for(waiting, 5)
    assert seg is not None and (seg.seq, seg.data) == (8, b"after") and sub.jumps == 1


async def test_closed_channel_ends_readers_then_is_gone(server) -> None:  # noqa: ANN001
    ts, base, http = server
    ch = ts.create("bye", "application/json")
    pub = TricklePublisher(http, f"{base}/bye", "application/json")
    await pub.write(b"{}")
    sub = TrickleSubscriber(http, f"{base}/bye", SEQ_NEXT)
    waiting = asyncio.create_task(sub.next())
    await _reader_waits_on(ch, 1)
    async with http.get(f"{base}/bye/5") as r:
        ahead_status = r.status  # a seq past the write head: 470 too
    assert await pub.close() is True  # DELETE {channel}
    assert await asyncio.wait_for(waiting, 5) is None and sub.closed and not sub.gone  # Lp-Trickle-Closed
    late = TrickleSubscriber(http, f"{base}/bye", 0)
    assert await late.next() is None and late.gone  # 404: gone
    with pytest.raises(TrickleError) as e:
        await pub.write(b"{}")
    assert e.value.kind == "gone" and e.value.status == 404
    async with http.delete(f"{base}/bye") as r:
        assert r.status == 400  # Invalid stream
    async with http.post(f"{base}/unknown") as r:
        assert r.status == 404  # only the orchestrator creates channels
    assert ahead_status == 470


async def test_reads_are_bounded_in_bytes_and_errors(server) -> None:  # noqa: ANN001
    ts, base, http = server
    ts.create("big", "video/MP2T")
    await TricklePublisher(http, f"{base}/big").write(b"z" * 300_000)
    sub = TrickleSubscriber(http, f"{base}/big", 0, max_bytes=100_000, max_errors=2, retry_delay_s=0.01)
    with pytest.raises(TrickleError) as e:
        await sub.next()
    assert e.value.kind == "errors" and "over 100000 bytes" in str(e.value) and sub.errors_total == 3
    dead = TrickleSubscriber(http, f"http://127.0.0.1:{free_port()}/ai/trickle/x", 0, max_errors=1, retry_delay_s=0.01)
    with pytest.raises(TrickleError) as e2:
        await dead.next()
    assert e2.value.kind == "errors"
