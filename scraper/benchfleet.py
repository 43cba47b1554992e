"""The benchmark's simulated exporters: many targets on loopback, served from memory by few processes.

Each target is its own loopback address (127.x.y.z, one listening socket each, one shared port), like a fleet
of orchestrators each on its own host, so per-host connection limits apply as they would in the field. The
bodies are real exporter output rendered once (see bench.py); a target rotates through its renders so values
change between scrapes. The server is a bare asyncio protocol, not the exporter's aiohttp server: it has to
answer thousands of targets on the same two cores as the scraper it is measuring, so it should cost little.
"""

from __future__ import annotations

import asyncio
import gzip
import os
import time
from multiprocessing.connection import Connection

HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"


def address(i: int) -> str:
    """The loopback address of target i (127.1.0.1, 127.1.0.2, ...; never .0 or .255)."""
    return f"127.{1 + i // 64516}.{(i // 254) % 254 + 1}.{i % 254 + 1}"


class _Fleet:
    def __init__(self, shapes: list[list[bytes]], first: int) -> None:
        self.first = first
        # per shape: its renders as (plain response, gzip response), headers included
        self.responses = [
            [
                (
                    HEAD + b"Content-Length: %d\r\n\r\n" % len(b) + b,
                    HEAD + b"Content-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(z) + z,
                )
                for b in renders
                for z in [gzip.compress(b, 6)]
            ]
            for renders in shapes
        ]
        self.requests = 0
        self.by_address: dict[str, int] = {}

    def response(self, target: int, n: int, gz: bool) -> bytes:
        renders = self.responses[target % len(self.responses)]
        return renders[(n + target) % len(renders)][1 if gz else 0]


class _Conn(asyncio.Protocol):
    def __init__(self, fleet: _Fleet) -> None:
        self.fleet = fleet
        self.buf = b""
        self.n = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.t = transport
        self.target = self.fleet.by_address[transport.get_extra_info("sockname")[0]]  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buf) > 65536:
                    self.t.close()
                return
            head, self.buf = self.buf[:end], self.buf[end + 4 :]
            gz = b"gzip" in head.lower()
            self.t.write(self.fleet.response(self.target, self.n, gz))  # type: ignore[attr-defined]
            self.n += 1
            self.fleet.requests += 1


async def _serve(shapes: list[list[bytes]], first: int, count: int, port: int, conn: Connection) -> None:
    fleet = _Fleet(shapes, first)
    loop = asyncio.get_running_loop()
    servers = []
    for i in range(first, first + count):
        ip = address(i)
        fleet.by_address[ip] = i
        servers.append(await loop.create_server(lambda: _Conn(fleet), ip, port, backlog=64, reuse_address=True))
    conn.send(("ready", os.getpid()))
    while True:
        while not conn.poll():
            await asyncio.sleep(0.2)
        msg = conn.recv()
        if msg == "stats":
            conn.send((time.process_time(), fleet.requests))
        elif msg == "stop":
            for s in servers:
                s.close()
            conn.send("stopped")
            return


def serve(shapes: list[list[bytes]], first: int, count: int, port: int, conn: Connection) -> None:
    """Process entry point: serve targets first..first+count-1 until told to stop."""
    try:
        asyncio.run(_serve(shapes, first, count, port, conn))
    except Exception as e:  # report to the parent instead of dying silently
        conn.send(("error", f"{type(e).__name__}: {e}"))
