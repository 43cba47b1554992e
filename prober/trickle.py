"""Trickle client: go-livepeer's segmented HTTP pub/sub (trickle/trickle_server.go, trickle_publisher.go,
trickle_subscriber.go; ai-runner's Python client runner/src/runner/live/trickle/). Facts used here:

- a channel is `{base}/{name}`; a segment is `{channel}/{seq}`, seq counting from 0;
- publish: `POST {channel}/{seq}` with the segment as a (streaming) body; 200 with `Lp-Trickle-Seq` when the
  body is stored; 404 = the channel does not exist (it is only ever created by the orchestrator);
  `DELETE {channel}` closes and removes the channel;
- subscribe: `GET {channel}/{seq}`; seq -1 = the next segment to be written (the request blocks until the
  publisher starts it), -2 = the most recent one. 200 streams the segment, headers `Lp-Trickle-Seq` (which
  segment) and `Lp-Trickle-Latest` (the next seq to be written, when it differs); `Lp-Trickle-Closed:
  terminated` = the channel ended (end of stream); 404 = the channel is gone (end); 470 = the segment is no
  longer (or not yet) kept — the server keeps the last 5 — with `Lp-Trickle-Latest` to jump to;
- go-livepeer's subscriber re-issues a GET that has been pending for 20 s, and gives up after 5 consecutive
  errors; both are parameters here.

Everything is bounded: each request's wait for headers (`wait_s`, then re-issued), each body's time
(`read_timeout_s`) and size (`max_bytes`), consecutive errors (`max_errors`) and 470 jumps (`max_jumps`).
Errors are TrickleError with a `kind`: "gone" (404 on publish), "status", "too_large", "timeout",
"connection", "errors" (too many in a row).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import AsyncIterable, Callable

import aiohttp

from prober.httpio import CHUNK, read_capped

SEQ_NEXT = -1
SEQ_CURRENT = -2
H_SEQ = "Lp-Trickle-Seq"
H_LATEST = "Lp-Trickle-Latest"
H_CLOSED = "Lp-Trickle-Closed"
H_RESET = "Lp-Trickle-Reset"
STATUS_EVICTED = 470


class TrickleError(Exception):
    """A trickle request failed; `kind` is one of gone, status, too_large, timeout, connection, errors."""

    def __init__(self, kind: str, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.status = status


def _int_header(resp: aiohttp.ClientResponse, name: str) -> int | None:
    try:
        return int(resp.headers.get(name, ""))
    except ValueError:
        return None


@dataclass(frozen=True)
class Segment:
    """One segment read: its seq, body, the Latest header (None when absent), when its first byte and its last
    byte arrived (on the subscriber's clock, seconds)."""

    seq: int
    data: bytes
    latest: int | None
    first_byte_at: float
    done_at: float


class TricklePublisher:
    """Writes segments to one channel, in order from `seq` 0 (like go-livepeer's publisher)."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        url: str,
        mime: str = "video/MP2T",
        *,
        timeout_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.session = session
        self.url = url.rstrip("/")
        self.mime = mime
        self.timeout_s = timeout_s
        self.clock = clock
        self.seq = 0
        self.bytes_sent = 0
        self.segments_sent = 0

    async def write(self, data: bytes | AsyncIterable[bytes], seq: int | None = None) -> int:
        """POST one segment (bytes, or an async iterator of chunks streamed as they come); returns the seq the
        server stored it under. TrickleError: gone (404 or closed channel), status, timeout, connection."""
        seq = self.seq if seq is None else seq
        size = len(data) if isinstance(data, (bytes, bytearray)) else 0
        try:
            async with asyncio.timeout(self.timeout_s):
                async with self.session.post(f"{self.url}/{seq}", data=data, headers={"Content-Type": self.mime}) as resp:
                    body = await read_capped(resp, 4096)
                    if resp.status == 404:
                        raise TrickleError("gone", f"channel {self.url} not found", 404)
                    if resp.status != 200:
                        raise TrickleError("status", f"POST {self.url}/{seq}: {resp.status} {body[:200]!r}", resp.status)
                    if resp.headers.get(H_CLOSED):
                        raise TrickleError("gone", f"channel {self.url} closed", resp.status)
                    stored = _int_header(resp, H_SEQ)
        except TimeoutError:
            raise TrickleError("timeout", f"POST {self.url}/{seq} took over {self.timeout_s} s") from None
        except (aiohttp.ClientError, OSError) as e:
            raise TrickleError("connection", f"POST {self.url}/{seq}: {e}") from None
        stored = seq if stored is None or stored < 0 else stored
        self.seq = stored + 1
        self.bytes_sent += size
        self.segments_sent += 1
        return stored

    async def close(self) -> bool:
        """DELETE the channel (go-livepeer publishers do on close); True on 200, False otherwise (never raises)."""
        try:
            async with asyncio.timeout(self.timeout_s):
                async with self.session.delete(self.url) as resp:
                    return resp.status == 200
        except (TimeoutError, aiohttp.ClientError, OSError):
            return False


class TrickleSubscriber:
    """Reads a channel's segments in order, from `start_seq` (an absolute seq, SEQ_NEXT or SEQ_CURRENT).

    `next()` returns the next Segment, or None at the end of the stream (`closed`: Lp-Trickle-Closed; `gone`:
    404). Counters: `jumps` (470 → Latest), `errors_total`, `refreshes` (GETs re-issued after `wait_s`),
    `skipped` (segments that ended empty), `bytes_received`.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        url: str,
        start_seq: int = SEQ_NEXT,
        *,
        max_bytes: int = 8 << 20,
        wait_s: float = 20.0,
        read_timeout_s: float = 30.0,
        max_errors: int = 5,
        max_jumps: int = 20,
        retry_delay_s: float = 0.25,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.session = session
        self.url = url.rstrip("/")
        self.seq = start_seq
        self.max_bytes = max_bytes
        self.wait_s = wait_s
        self.read_timeout_s = read_timeout_s
        self.max_errors = max_errors
        self.max_jumps = max_jumps
        self.retry_delay_s = retry_delay_s
        self.clock = clock
        self.closed = False
        self.gone = False
        self.jumps = 0
        self.errors = 0  # consecutive
        self.errors_total = 0
        self.refreshes = 0
        self.skipped = 0
        self.bytes_received = 0

    @property
    def ended(self) -> bool:
        return self.closed or self.gone

    async def _error(self, message: str) -> None:
        self.errors += 1
        self.errors_total += 1
        if self.errors > self.max_errors:
            raise TrickleError("errors", f"{self.errors} consecutive errors on {self.url}; last: {message}")
        await asyncio.sleep(self.retry_delay_s)

    async def next(self) -> Segment | None:
        """The next segment, None at the end of the stream. TrickleError("errors") after more than `max_errors`
        consecutive failures (connection, timeouts, unexpected statuses, oversize bodies)."""
        jumps_in_row = 0
        while not self.ended:
            url = f"{self.url}/{self.seq}"
            try:
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancellation that races
                # with the request completing, which would leave this reader running after its probe ended
                async with asyncio.timeout(self.wait_s):
                    resp = await self.session.get(url)
            except TimeoutError:
                self.refreshes += 1  # a GET pending for wait_s: re-issue it (go-livepeer: every 20 s)
                continue
            except (aiohttp.ClientError, OSError) as e:
                await self._error(f"GET {url}: {e}")
                continue
            first_byte_at = self.clock()
            try:
                if resp.status == 404:
                    self.gone = True
                    return None
                if resp.status == STATUS_EVICTED:
                    latest = _int_header(resp, H_LATEST)
                    jumps_in_row += 1
                    if latest is None or latest < 0 or jumps_in_row > self.max_jumps:
                        await self._error(f"GET {url}: 470 with Latest {resp.headers.get(H_LATEST)!r}")
                        continue
                    self.jumps += 1
                    self.seq = latest
                    continue
                if resp.status != 200:
                    await self._error(f"GET {url}: status {resp.status}")
                    continue
                if resp.headers.get(H_CLOSED):
                    self.closed = True
                    return None
                seq = _int_header(resp, H_SEQ)
                seq = self.seq if seq is None or seq < 0 else seq
                try:
                    data = await self._read(resp)
                except TrickleError as e:
                    await self._error(str(e))
                    continue
                self.errors = 0
                self.seq = seq + 1
                if not data:  # a segment that ended empty (closed by its publisher): move on, boundedly
                    self.skipped += 1
                    jumps_in_row += 1
                    if jumps_in_row > self.max_jumps:
                        await self._error(f"GET {url}: {jumps_in_row} empty or evicted segments in a row")
                    continue
                self.bytes_received += len(data)
                return Segment(seq, data, _int_header(resp, H_LATEST), first_byte_at, self.clock())
            finally:
                resp.release()
        return None

    async def _read(self, resp: aiohttp.ClientResponse) -> bytes:
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(self.read_timeout_s):
                while True:
                    chunk = await resp.content.read(CHUNK)
                    if not chunk:
                        break
                    size += len(chunk)
                    if size > self.max_bytes:
                        resp.close()
                        raise TrickleError("too_large", f"segment over {self.max_bytes} bytes at {resp.url}")
                    chunks.append(chunk)
        except TimeoutError:
            resp.close()
            raise TrickleError("timeout", f"segment body at {resp.url} took over {self.read_timeout_s} s") from None
        except (aiohttp.ClientError, OSError) as e:
            raise TrickleError("connection", f"reading {resp.url}: {e}") from None
        return b"".join(chunks)
