"""What every exporter source shares: polled in the background, read from a cache at scrape time.

/metrics never waits on NVML, DCGM or go-livepeer: each source is a Poller that refreshes a snapshot every
`interval_s` (blocking reads in a worker thread, HTTP ones in the event loop), and the collectors render
the last snapshot. Each poller keeps its own health — up, read time, errors, last success — which the
exporter exposes as `naap_exporter_source_*`. A failing read keeps the previous good snapshot only until it
is `stale_after` polls old, then the source's families disappear rather than lie.
"""

from __future__ import annotations

import asyncio
import logging
import time

from exporter.common.httpfetch import FetchError, HttpFetch

log = logging.getLogger(__name__)


class SourceError(Exception):
    """A source read failed in an expected way (unreachable, bad body); the message says how."""


class Poller:
    """Base of every source: subclasses implement `poll()` (blocking) or `poll_async()`."""

    name = "source"
    blocking = True  # poll() runs in a worker thread
    stale_after = 3  # failed polls after which the last good snapshot is dropped

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self.up = False
        self.errors = 0
        self.polls = 0
        self.last_duration_s = 0.0
        self.last_success: float | None = None  # unix time
        self._failures_in_row = 0
        self._said: str | None = None

    # -- to implement ------------------------------------------------------------------------------
    def poll(self) -> None:
        raise NotImplementedError

    async def poll_async(self) -> None:
        raise NotImplementedError

    def drop(self) -> None:
        """Forget the snapshot (it is too old to show)."""

    # -- running -----------------------------------------------------------------------------------
    def _done(self, t0: float, error: BaseException | None) -> None:
        self.polls += 1
        self.last_duration_s = time.perf_counter() - t0
        if error is None:
            self.up = True
            self._failures_in_row = 0
            self.last_success = time.time()
            if self._said is not None:
                log.info("source %s recovered", self.name)
                self._said = None
            return
        self.up = False
        self.errors += 1
        self._failures_in_row += 1
        if self._failures_in_row >= self.stale_after:
            self.drop()
        why = str(error) or type(error).__name__
        if why != self._said:  # log a failure once, not once per poll
            (log.warning if isinstance(error, SourceError) else log.exception)("source %s failed: %s", self.name, why)
            self._said = why

    def refresh(self) -> None:
        """One poll, synchronously (start-up, tests, the benchmark)."""
        t0 = time.perf_counter()
        try:
            self.poll()
        except Exception as e:  # a source must never take the exporter down
            self._done(t0, e)
        else:
            self._done(t0, None)

    async def refresh_async(self) -> None:
        t0 = time.perf_counter()
        try:
            if self.blocking:
                await asyncio.to_thread(self.poll)
            else:
                await self.poll_async()
        except asyncio.CancelledError:
            raise
        except Exception as e:
            self._done(t0, e)
        else:
            self._done(t0, None)

    async def run_forever(self) -> None:
        while True:
            await self.refresh_async()
            await asyncio.sleep(self.interval_s)


class HttpPoller(Poller):
    """A source read over HTTP from a co-located service (dcgm-exporter, go-livepeer). The operator configured
    the URL; still, no redirects are followed and time and size are capped (exporter.common.httpfetch)."""

    blocking = False

    def __init__(self, url: str, interval_s: float, timeout_s: float, max_bytes: int) -> None:
        super().__init__(interval_s)
        self.url = url
        self.timeout_s = timeout_s
        self.max_bytes = max_bytes
        self._http = HttpFetch(timeout_s, max_bytes, max_connections=2, headers={"Accept": "text/plain;version=0.0.4"})

    async def fetch(self) -> str:
        try:
            res = await self._http.fetch(self.url)
        except FetchError as e:
            raise SourceError(f"{self.url}: {e.error_class}: {e}") from None
        try:
            return res.body.decode("utf-8")
        except UnicodeDecodeError:
            raise SourceError(f"{self.url} sent a body that is not UTF-8") from None

    async def close(self) -> None:
        await self._http.close()
