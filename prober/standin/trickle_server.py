"""A trickle server with go-livepeer's semantics (trickle/trickle_server.go at 176aa415), on aiohttp, plus an
in-process publisher/subscriber for the stand-in's fake runner (like go-livepeer's LocalPublisher and local
subscriber, which the orchestrator uses for its own side of the channels).

Routes under `base` (default `/ai/trickle/`):
  POST {ch}          "create": 404 unless the channel exists (only the orchestrator creates channels)
  POST {ch}/{seq}    publish one segment (streamed body); 200 + Lp-Trickle-Seq; 404 (+Connection: close) if unknown;
                     seq -1 = next; `Lp-Trickle-Reset` closes earlier segments; an empty body (a preconnect
                     the channel's close ended) still advances the write head and answers with Lp-Trickle-Closed
                     when the channel is closed
  GET  {ch}/next     Lp-Trickle-Latest = next seq to be written (+ Lp-Trickle-Closed)
  GET  {ch}/{seq}    -1 = next write (blocks until it starts), -2 = latest; streams as written; headers on the
                     first data: Lp-Trickle-Seq, Content-Type, Lp-Trickle-Latest when it differs; a seq not in
                     the ring (the last MAX_SEGMENTS) → 470 + Latest + Seq, or 200 + Lp-Trickle-Closed once the
                     channel is closed; unknown channel → 404
  DELETE {ch}/{seq}  close one segment (400 Nonexistent segment / 404)
  DELETE {ch}        close and remove the channel (400 Invalid stream if unknown)
Channels with no new segment for `idle_timeout_s` are closed by a sweep every `sweep_interval_s`.
Bounded: `max_segment_bytes` per segment (413 past it); readers wake on each write, never poll.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Callable

from aiohttp import web

MAX_SEGMENTS = 5
H_SEQ, H_LATEST, H_CLOSED, H_RESET = "Lp-Trickle-Seq", "Lp-Trickle-Latest", "Lp-Trickle-Closed", "Lp-Trickle-Reset"
CLOSED = "terminated"


@dataclass
class _Segment:
    idx: int
    buf: bytearray = field(default_factory=bytearray)
    closed: bool = False
    written_at: float | None = None  # when its last byte arrived (server clock)
    _event: asyncio.Event = field(default_factory=asyncio.Event)

    def _notify(self) -> None:
        event, self._event = self._event, asyncio.Event()
        event.set()

    def write(self, data: bytes) -> None:
        self.buf += data
        self._notify()

    def close(self, at: float | None = None) -> None:
        if not self.closed:
            self.closed = True
            self.written_at = at
            self._notify()

    async def wait_beyond(self, pos: int) -> None:
        """Until the segment holds more than `pos` bytes or is closed."""
        while len(self.buf) <= pos and not self.closed:
            await self._event.wait()


class Channel:
    """One channel: a ring of MAX_SEGMENTS segments, the write head `next_write`, its MIME type."""

    def __init__(self, name: str, mime: str, clock: Callable[[], float]) -> None:
        self.name = name
        self.mime = mime
        self.clock = clock
        self.segments: list[_Segment | None] = [None] * MAX_SEGMENTS
        self.next_write = 0
        self.write_time = clock()
        self.closed = False
        self.changed = asyncio.Event()

    def for_write(self, idx: int) -> _Segment:
        if idx == -1:
            idx = self.next_write
        pos = idx % MAX_SEGMENTS
        seg = self.segments[pos]
        if seg is not None and seg.idx == idx:
            return seg
        if seg is not None:
            seg.close()  # an old segment: overwritten
        seg = _Segment(idx)
        self.segments[pos] = seg
        return seg

    def for_read(self, idx: int) -> tuple[_Segment | None, int, int]:
        """(segment or None when not in the ring, the resolved seq, latest = next_write)."""
        if idx == -1:
            idx = self.next_write
        elif idx == -2:
            idx = max(0, self.next_write - 1)
        pos = idx % MAX_SEGMENTS if idx >= 0 else 0
        seg = self.segments[pos] if idx >= 0 else None
        exists = seg is not None and seg.idx == idx
        if not exists and (idx == self.next_write or (self.next_write == 0 and idx == 1)) and not self.closed:
            seg = _Segment(idx)  # a read just ahead of the write head: pre-create it and wait
            self.segments[pos] = seg
            exists = True
        return (seg if exists else None), idx, self.next_write

    def started(self, seg: _Segment) -> None:
        self.next_write = seg.idx + 1
        self.write_time = self.clock()
        self.changed.set()
        self.changed = asyncio.Event()

    async def close(self) -> None:
        self.closed = True
        segs = [s for s in self.segments if s is not None]
        self.segments = [None] * MAX_SEGMENTS
        for s in segs:
            s.close()
        self.changed.set()

    async def write_local(self, data: bytes) -> int:
        """Publish one whole segment at the write head (in process); returns its seq. No-op on a closed channel."""
        if self.closed:
            return -1
        seg = self.for_write(-1)
        if data:
            self.started(seg)
            seg.write(data)
        else:
            self.next_write = seg.idx + 1
        seg.close(self.clock())
        return seg.idx


class LocalSubscriber:
    """Reads whole segments of a channel in process, in order from `start` (absolute seq, -1 or -2), jumping to
    the write head when a segment was evicted (the 470 rule). `next()` → (seq, bytes, written_at) or None once
    the channel is closed."""

    def __init__(self, channel: Channel, start: int = 0) -> None:
        self.channel = channel
        self.seq = start
        self.jumps = 0

    async def next(self) -> tuple[int, bytes, float] | None:
        while True:
            ch = self.channel
            if ch.closed:
                return None
            seg, idx, latest = ch.for_read(self.seq)
            if seg is None:
                if ch.closed:
                    return None
                self.jumps += 1
                self.seq = latest
                if latest == idx:  # nothing to jump to yet: wait for the head to move
                    await ch.changed.wait()
                continue
            while not seg.closed:
                await seg.wait_beyond(len(seg.buf))
            self.seq = idx + 1
            if seg.buf:
                return idx, bytes(seg.buf), seg.written_at if seg.written_at is not None else ch.clock()
            if ch.closed:
                return None


class TrickleServer:
    """The channels of one orchestrator and their HTTP routes (`add_routes`)."""

    def __init__(
        self,
        base: str = "/ai/trickle/",
        *,
        idle_timeout_s: float = 300.0,
        sweep_interval_s: float = 60.0,
        max_segment_bytes: int = 16 << 20,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.base = base if base.endswith("/") else base + "/"
        self.idle_timeout_s = idle_timeout_s
        self.sweep_interval_s = sweep_interval_s
        self.max_segment_bytes = max_segment_bytes
        self.clock = clock
        self.channels: dict[str, Channel] = {}
        self._sweeper: asyncio.Task[None] | None = None

    def create(self, name: str, mime: str) -> Channel:
        ch = self.channels.get(name)
        if ch is None:
            ch = self.channels[name] = Channel(name, mime, self.clock)
        return ch

    async def delete(self, name: str) -> bool:
        ch = self.channels.pop(name, None)
        if ch is None:
            return False
        await ch.close()
        return True

    def add_routes(self, app: web.Application) -> None:
        b = self.base
        app.router.add_post(b + "{name}", self._create)
        app.router.add_get(b + "{name}/next", self._next)
        app.router.add_get(b + "{name}/{idx}", self._get)
        app.router.add_post(b + "{name}/{idx}", self._post)
        app.router.add_delete(b + "{name}/{idx}", self._close_seq)
        app.router.add_delete(b + "{name}", self._delete)

    def start(self) -> None:
        if self._sweeper is None:
            self._sweeper = asyncio.create_task(self._sweep())

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)
            self._sweeper = None
        for name in list(self.channels):
            await self.delete(name)

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(self.sweep_interval_s)
            now = self.clock()
            for name, ch in list(self.channels.items()):
                if now - ch.write_time > self.idle_timeout_s:
                    await self.delete(name)

    @staticmethod
    def _idx(request: web.Request) -> int | None:
        try:
            return int(request.match_info["idx"])
        except ValueError:
            return None

    async def _create(self, request: web.Request) -> web.Response:
        if request.match_info["name"] not in self.channels:
            return web.Response(status=404, text="Stream not found\n")
        return web.Response(status=200)

    async def _next(self, request: web.Request) -> web.Response:
        ch = self.channels.get(request.match_info["name"])
        if ch is None:
            return web.Response(status=404, text="Stream not found\n")
        headers = {H_LATEST: str(ch.next_write)}
        if ch.closed:
            headers[H_CLOSED] = CLOSED
        return web.Response(text=str(ch.next_write), headers=headers)

    async def _delete(self, request: web.Request) -> web.Response:
        if not await self.delete(request.match_info["name"]):
            return web.Response(status=400, text="Invalid stream\n")
        return web.Response(status=200)

    async def _close_seq(self, request: web.Request) -> web.Response:
        ch = self.channels.get(request.match_info["name"])
        if ch is None:
            return web.Response(status=404, text="Stream not found\n")
        idx = self._idx(request)
        if idx is None:
            return web.Response(status=400, text="Invalid idx\n")
        seg = ch.segments[idx % MAX_SEGMENTS] if idx >= 0 else None
        if seg is None or seg.idx != idx:
            return web.Response(status=400, text="Nonexistent segment\n")
        seg.close(self.clock())
        return web.Response(status=200)

    async def _post(self, request: web.Request) -> web.Response:
        ch = self.channels.get(request.match_info["name"])
        if ch is None:
            return web.Response(status=404, text="Stream not found\n", headers={"Connection": "close"})
        idx = self._idx(request)
        if idx is None:
            return web.Response(status=400, text="Invalid idx\n")
        seg = ch.for_write(idx)
        if request.headers.get(H_RESET):
            for s in ch.segments:
                if s is not None and s.idx < seg.idx:
                    s.close()
        total = 0
        try:
            async for chunk in request.content.iter_chunked(64 << 10):
                if total == 0 and chunk:
                    ch.started(seg)
                total += len(chunk)
                if total > self.max_segment_bytes:
                    return web.Response(status=413, text="Segment too large\n", headers={"Connection": "close"})
                seg.write(chunk)
        finally:
            if total > 0:  # ends the segment for its readers whatever happened to the request
                seg.close(self.clock())
        if total == 0:
            ch.next_write = seg.idx + 1
            headers = {H_SEQ: str(seg.idx), "Connection": "close"}
            if ch.closed:
                headers[H_CLOSED] = CLOSED
            return web.Response(status=200, headers=headers)
        return web.Response(status=200, headers={H_SEQ: str(seg.idx)})

    async def _get(self, request: web.Request) -> web.StreamResponse:
        ch = self.channels.get(request.match_info["name"])
        if ch is None:
            return web.Response(status=404, text="Stream not found\n")
        idx = self._idx(request)
        if idx is None:
            return web.Response(status=400, text="Invalid idx\n")
        seg, resolved, latest = ch.for_read(idx)
        if seg is None:
            headers = {H_LATEST: str(latest), H_SEQ: str(resolved)}
            if ch.closed:
                headers[H_CLOSED] = CLOSED
                return web.Response(status=200, text="Entry not found", headers=headers)
            return web.Response(status=470, text="Entry not found", headers=headers)
        resp = web.StreamResponse()
        try:
            return await self._stream(request, ch, seg, latest, resp)
        except ConnectionResetError:  # the subscriber went away: nothing to answer
            return resp

    async def _stream(self, request: web.Request, ch: Channel, seg: _Segment, latest: int, resp: web.StreamResponse) -> web.StreamResponse:
        pos = 0
        while True:
            await seg.wait_beyond(pos)
            data = bytes(seg.buf[pos:])
            done = seg.closed
            pos += len(data)
            if data:
                if not resp.prepared:
                    if seg.idx != latest:
                        resp.headers[H_LATEST] = str(latest)
                    resp.headers[H_SEQ] = str(seg.idx)
                    resp.headers["Content-Type"] = ch.mime
                    await resp.prepare(request)
                await resp.write(data)
            if done:
                if not resp.prepared:  # ended without data: closed channel, or a skipped segment
                    resp.headers[H_SEQ] = str(seg.idx)
                    resp.headers[H_LATEST] = str(ch.next_write)
                    if ch.closed:
                        resp.headers[H_CLOSED] = CLOSED
                    await resp.prepare(request)
                await resp.write_eof()
                return resp
