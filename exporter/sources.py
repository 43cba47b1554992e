"""What every exporter source shares: polled in the background, read from a cache at scrape time.

/metrics never waits on NVML, DCGM or go-livepeer: each source is a Poller that refreshes a snapshot every
`interval_s` (blocking reads in a worker thread, HTTP ones in the event loop), and the collectors render
the last snapshot. Each poller keeps its own health — up, read time, errors, last success — which the
exporter exposes as `naap_exporter_source_*`.

Health is honest and nothing stale is shown:

* `up` is True only after a read that succeeded *and gave something*; a source that cannot be loaded, does
  not answer, answers with nothing usable, or has a read still hanging is down (`up` False).
* The first failed read drops the snapshot (`drop()`), as Prometheus' own staleness would: a source that is
  down exposes its health series only (`naap_exporter_source_up 0`, its error counter), never its last values.
* A blocking read that does not return within `read_timeout_s` counts as failed (the snapshot drops); while it
  still hangs no second read is started (each further poll fails at once), and when it finally returns, what
  it read is thrown away.
* A source going down is logged once as a WARNING (not once per poll); a changed reason while it stays down
  is logged at INFO, and so is its recovery.
"""

from __future__ import annotations

import asyncio
import logging
import time

from exporter.common.httpfetch import FetchError, HttpFetch

log = logging.getLogger(__name__)


class SourceError(Exception):
    """A source read failed in an expected way (unreachable, bad body, nothing to read); the message says how."""


class Poller:
    """Base of every source: subclasses implement `poll()` (blocking) or `poll_async()`, and `drop()`.

    `poll()` / `poll_async()` replace the snapshot on success and raise (preferably SourceError, with a message
    for the operator) on failure; the poller then records the failure and calls `drop()`.
    """

    name = "source"
    blocking = True  # poll() runs in a worker thread
    read_timeout_s: float | None = 10.0  # a blocking read hanging longer than this is a failed read

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self.up = False
        self.errors = 0  # failed reads since start (naap_exporter_source_errors_total)
        self.polls = 0
        self.last_duration_s = 0.0  # seconds
        self.last_success: float | None = None  # unix time (seconds)
        self.last_error: str | None = None  # why the source is down; None while up (and before the first read)
        self._failures_in_row = 0
        self._inflight: asyncio.Future | None = None  # a blocking read running in a worker thread

    # -- to implement ------------------------------------------------------------------------------
    def poll(self) -> None:
        raise NotImplementedError

    async def poll_async(self) -> None:
        raise NotImplementedError

    def drop(self) -> None:
        """Forget the snapshot: the source is down and its values must not be shown."""

    # -- running -----------------------------------------------------------------------------------
    def _done(self, t0: float, error: BaseException | None) -> None:
        self.polls += 1
        self.last_duration_s = time.perf_counter() - t0
        if error is None:
            if not self.up and self._failures_in_row:
                log.info("source %s is up again after %d failed read(s)", self.name, self._failures_in_row)
            self.up = True
            self._failures_in_row = 0
            self.last_error = None
            self.last_success = time.time()
            return
        self.up = False
        self.errors += 1
        self._failures_in_row += 1
        self.drop()  # no stale values: a source that is down shows its health only
        why = (str(error) or type(error).__name__)[:500]
        if self._failures_in_row == 1:
            # Once per outage. An unexpected exception type is a bug in the source: keep its traceback (once).
            log.warning("source %s is down: %s (its series are left out until it reads again)", self.name, why,
                        exc_info=None if isinstance(error, SourceError) else error)  # fmt: skip
        elif why != self.last_error:
            log.info("source %s is still down: %s", self.name, why)
        self.last_error = why

    def refresh(self) -> None:
        """One poll, synchronously (tests, the benchmark; no read timeout applies)."""
        t0 = time.perf_counter()
        try:
            self.poll()
        except Exception as e:  # a source must never take the exporter down
            self._done(t0, e)
        else:
            self._done(t0, None)

    async def refresh_async(self) -> None:
        """One poll in the event loop: a blocking one in a worker thread, bounded by `read_timeout_s`."""
        t0 = time.perf_counter()
        try:
            if self.blocking:
                await self._blocking_poll()
            else:
                await self.poll_async()
        except asyncio.CancelledError:
            raise
        except Exception as e:
            self._done(t0, e)
        else:
            self._done(t0, None)

    async def _blocking_poll(self) -> None:
        if self._inflight is not None and not self._inflight.done():
            raise SourceError(f"the previous read has not returned after {self.read_timeout_s} s (hung?)")
        fut = asyncio.ensure_future(asyncio.to_thread(self.poll))
        self._inflight = fut
        # asyncio.wait, not wait_for: on Python 3.11 wait_for swallows a cancellation that arrives as the read
        # completes (the poller would then never stop), and a timeout must not cancel the read either.
        done, _ = await asyncio.wait({fut}, timeout=self.read_timeout_s)
        if not done:
            # The thread cannot be stopped: whatever it reads when it finally returns is thrown away.
            fut.add_done_callback(self._discard_late)
            raise SourceError(f"a read did not return within {self.read_timeout_s} s")
        fut.result()  # the read's own exception, if any

    def _discard_late(self, fut: asyncio.Future) -> None:
        if not fut.cancelled():
            fut.exception()  # retrieved, so asyncio does not log it as never retrieved
        if not self.up:
            self.drop()

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
        """The body at `url` as text; SourceError (with the URL and the fetch's error class) otherwise."""
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
