"""JSON-RPC access for the chain reader: several endpoints with failover, timeouts, retries with backoff and a
bounded request rate. web3 speaks JSON-RPC; this module decides which endpoint, when and how often.

A request goes to the current endpoint; a transport failure, an HTTP error or a JSON-RPC error moves to the
next endpoint at once. After a full round of failures it waits (exponential backoff with jitter) and tries
another round, up to `retries` extra rounds; then RpcUnavailable. A revert or an empty answer from a contract
is the chain's answer, not an outage: it is raised at once as ChainDataError.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, TypeVar
from urllib.parse import urlsplit

import aiohttp
from web3 import AsyncWeb3
from web3.providers.async_base import AsyncJSONBaseProvider
from web3.types import RPCEndpoint, RPCResponse
from web3.exceptions import (
    BadFunctionCallOutput,
    BadResponseFormat,
    ContractLogicError,
    InsufficientData,
    MismatchedABI,
    ProviderConnectionError,
    TimeExhausted,
    TooManyRequests,
    Web3RPCError,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

# Failures of an endpoint (try another one): network, HTTP status, malformed or error JSON-RPC answers.
TRANSIENT = (
    aiohttp.ClientError, asyncio.TimeoutError, OSError, ProviderConnectionError, TimeExhausted, TooManyRequests,
    BadResponseFormat, Web3RPCError, ValueError,
)  # fmt: skip
# Answers from the chain itself that no other endpoint would change.
PERMANENT = (ContractLogicError, BadFunctionCallOutput, InsufficientData, MismatchedABI)


MAX_RESPONSE_BYTES = 8 * 1024 * 1024  # a pool walk's answers are small; an endpoint gone wrong is not


class SessionProvider(AsyncJSONBaseProvider):
    """JSON-RPC over HTTP POST on a session we own.

    web3's AsyncHTTPProvider guards its session cache with a thread lock taken through an executor; a request
    cancelled while waiting for that lock (by a time limit, or a walk abandoned on an inconsistent pool) can
    leave the lock held and every later request hanging. This provider has no such lock, and caps the
    size of an answer.
    """

    def __init__(self, url: str, session: aiohttp.ClientSession, timeout: aiohttp.ClientTimeout) -> None:
        super().__init__()
        self.endpoint_uri = url
        self._session = session
        self._timeout = timeout

    async def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        data = self.encode_rpc_request(method, params)
        headers = {"Content-Type": "application/json"}
        async with self._session.post(self.endpoint_uri, data=data, headers=headers, timeout=self._timeout) as r:
            chunks, size = [], 0
            async for chunk in r.content.iter_chunked(64 * 1024):
                size += len(chunk)
                if size > MAX_RESPONSE_BYTES:
                    raise BadResponseFormat(f"answer larger than {MAX_RESPONSE_BYTES} bytes")
                chunks.append(chunk)
        return self.decode_rpc_response(b"".join(chunks))

    async def is_connected(self, show_traceback: bool = False) -> bool:
        return True


class RpcUnavailable(Exception):
    """Every endpoint failed, for every retry."""


class ChainDataError(Exception):
    """The chain answered, but not with what a Livepeer contract answers (revert, no code, bad encoding)."""


class RateLimiter:
    """At most `per_s` requests per second, evenly spaced (0: unlimited). Shared by every endpoint."""

    def __init__(self, per_s: float) -> None:
        self.interval = 1.0 / per_s if per_s > 0 else 0.0
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        if not self.interval:
            return
        async with self._lock:
            now = time.monotonic()
            delay = self._next - now
            self._next = max(now, self._next) + self.interval
        if delay > 0:
            await asyncio.sleep(delay)


@dataclass
class RpcStats:
    requests: int = 0
    errors: int = 0
    failovers: int = 0


class FailoverRpc:
    def __init__(
        self,
        urls: list[str],
        timeout_s: float = 10.0,
        retries: int = 2,
        backoff_s: float = 0.5,
        backoff_max_s: float = 8.0,
        max_requests_per_s: float = 20.0,
    ) -> None:
        if not urls:
            raise ValueError("at least one RPC URL is needed")
        self.urls = list(urls)
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self.limiter = RateLimiter(max_requests_per_s)
        self.stats = RpcStats()
        self.current = 0  # index of the endpoint in use; sticks until it fails
        self._w3: list[AsyncWeb3] | None = None
        self._session: aiohttp.ClientSession | None = None

    async def _open(self) -> list[AsyncWeb3]:
        if self._w3 is None:
            # One keep-alive session for every endpoint; never a proxy from the environment.
            self._session = aiohttp.ClientSession(raise_for_status=True, trust_env=False)
            timeout = aiohttp.ClientTimeout(total=self.timeout_s)
            # No default middleware: it asks eth_chainId before every eth_call, and reads need none of it.
            self._w3 = [AsyncWeb3(SessionProvider(url, self._session, timeout), middleware=[]) for url in self.urls]
        return self._w3

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
        self._session = None
        self._w3 = None

    @property
    def url(self) -> str:
        """The endpoint in use, redacted for logs."""
        return redact_url(self.urls[self.current])

    async def request(self, what: str, fn: Callable[[AsyncWeb3], Awaitable[T]]) -> T:
        """Run `fn` against the current endpoint, failing over and retrying as the module says."""
        w3s = await self._open()
        n = len(w3s)
        last: BaseException | None = None
        for attempt in range(n * (self.retries + 1)):
            if attempt and attempt % n == 0:
                pause = min(self.backoff_max_s, self.backoff_s * 2 ** (attempt // n - 1))
                await asyncio.sleep(pause * random.uniform(0.5, 1.0))
            i = self.current
            await self.limiter.wait()
            self.stats.requests += 1
            try:
                async with asyncio.timeout(self.timeout_s):
                    return await fn(w3s[i])
            except PERMANENT as e:
                raise ChainDataError(f"{what}: {_short(e, self.urls)}") from None
            except TRANSIENT as e:
                self.stats.errors += 1
                last = e
                log.debug("rpc %s failed on %s: %s", what, redact_url(self.urls[i]), _short(e, self.urls))
                if n > 1 and self.current == i:
                    self.current = (i + 1) % n
                    self.stats.failovers += 1
                    log.info("rpc endpoint %s failed (%s); failing over to %s", redact_url(self.urls[i]),
                             _short(e, self.urls), redact_url(self.urls[self.current]))  # fmt: skip
        raise RpcUnavailable(
            f"{what}: every RPC endpoint failed ({n} endpoint(s), {self.retries} retries); last error: {_short(last, self.urls)}"
        )


def redact_url(url: str) -> str:
    """scheme://host:port only: RPC URLs often carry an API key in the path or query."""
    try:
        p = urlsplit(url)
        host = p.hostname or "?"
        port = f":{p.port}" if p.port else ""
    except ValueError:
        return "<bad url>"
    host = f"[{host}]" if ":" in host else host
    return f"{p.scheme}://{host}{port}" + ("/…" if (p.path not in ("", "/") or p.query) else "")


def _short(e: BaseException | None, urls: list[str] = []) -> str:  # noqa: B006 - read only
    if e is None:
        return "-"
    text = str(e) or type(e).__name__
    for u in urls:
        text = text.replace(u, redact_url(u))
    return f"{type(e).__name__}: {text[:300]}"
