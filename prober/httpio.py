"""Small bounded-HTTP helper shared by the prober's clients."""

from __future__ import annotations

import aiohttp

CHUNK = 64 << 10


async def read_capped(resp: aiohttp.ClientResponse, cap: int) -> bytes:
    """The response body, read to its end but never more than cap + 1 bytes (so a caller can tell "too big")."""
    chunks: list[bytes] = []
    size = 0
    while size <= cap:
        chunk = await resp.content.read(min(CHUNK, cap + 1 - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)
