"""Scrape scheduling with apscheduler: every target every interval, at a stable offset within it.

Spread: the offset comes from a hash of the target, so targets spread evenly over the interval and keep their
slot across restarts; a (re)start schedules each target at its next slot, so there is no thundering herd.
`--shard i/N` keeps only targets whose hash mod N is i, so N scrapers split the targets exactly, as
Prometheus' hashmod does (the offset uses other bits of the hash, so each shard still spreads evenly).

Honest accounting (docs/scraper.md, "Availability"): every scheduled slot ends up as one scrape row or as a
void record. A slot the scraper did not run at all (apscheduler reported it missed, or the previous scrape of
the target was still running, or runs were coalesced after a stall) becomes a row with error class `missed`
and `void=1`; a scrape that started past the lateness tolerance counts as a `late` overrun and is void whatever
its outcome (a late success counted while a late failure did not would bias availability upward). When the
warehouse backlog is near its bound, slots are skipped on purpose (`shed`, void, counted) before any scraped
batch has to be dropped. A watchdog notices when the process did not run (paused, stalled) and when every
target of a round failed to be reached, and records those windows as void.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from datetime import datetime, timezone

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, JobEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from discovery.target import Target
from exporter.common.clock import Clock, now_ms
from scraper import errors
from scraper.scrape import Scraper
from scraper.sink import ScrapeRecord, VoidWindow

log = logging.getLogger(__name__)

MAX_MISSED_ROWS_PER_GAP = 20  # beyond this a gap is explained by its void window alone


def in_shard(target: Target, index: int, count: int) -> bool:
    return target.stable_hash() % count == index


def offset_s(target: Target, interval_s: float) -> float:
    """Stable slot of the target within the interval, in seconds."""
    # Use bits of the hash other than those the shard uses, so each shard still spreads evenly.
    return ((target.stable_hash() >> 20) % max(1, int(interval_s * 1000))) / 1000.0


def next_slot(now: float, interval_s: float, offset: float) -> float:
    """The first time >= now that is offset + k·interval (k integer)."""
    k = math.ceil((now - offset) / interval_s)
    return offset + k * interval_s


class ScrapeScheduler:
    def __init__(
        self,
        scraper: Scraper,
        interval_s: float,
        shard_index: int = 0,
        shard_count: int = 1,
        scheduler: AsyncIOScheduler | None = None,
        timeout_s: float | None = None,
        late_tolerance_s: float | None = None,
        pause_threshold_s: float = 2.0,
        void_min_targets: int = 5,
        shed_at: float = 0.8,
        clock: Clock = now_ms,
    ) -> None:
        self.clock = clock
        self.shed_at = shed_at
        self.scraper = scraper
        self.interval_s = interval_s
        self.interval_ms = max(1, int(round(interval_s * 1000)))
        self.shard_index = shard_index
        self.shard_count = shard_count
        self.scheduler = scheduler or AsyncIOScheduler(timezone=timezone.utc)
        self.timeout_s = timeout_s if timeout_s is not None else interval_s
        self.late_tolerance_s = late_tolerance_s if late_tolerance_s is not None else max(1.0, 0.1 * interval_s)
        self.pause_threshold_s = pause_threshold_s
        self.void_min_targets = void_min_targets
        self._targets: dict[str, Target] = {}
        self._offsets_ms: dict[str, int] = {}
        self._last_slot: dict[str, int] = {}
        self._rounds: dict[int, list[int]] = {}  # round -> [scrapes run, unreachable failures]
        self._watchdog: asyncio.Task | None = None
        self.scheduled = 0  # slots accounted for: run, late, missed or shed
        self.late = 0
        self.missed = 0
        self.shed = 0
        self.scheduler.add_listener(self._on_not_run, EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES)

    @property
    def targets(self) -> list[Target]:
        return list(self._targets.values())

    @property
    def telemetry(self):  # noqa: ANN201
        return self.scraper.telemetry

    def set_targets(self, targets: list[Target]) -> None:
        wanted = {t.key: t for t in targets if in_shard(t, self.shard_index, self.shard_count)}
        for key in list(self._targets):
            if key not in wanted or wanted[key] != self._targets[key]:
                self.scheduler.remove_job(self._job_id(key))
                del self._targets[key]
                self._last_slot.pop(key, None)
                if key not in wanted:
                    self.scraper.forget(key)
        now = time.time()
        for key, t in wanted.items():
            if key in self._targets:
                continue
            off = offset_s(t, self.interval_s)
            first = next_slot(now + 0.05, self.interval_s, off)
            self.scheduler.add_job(
                self._run,
                IntervalTrigger(seconds=self.interval_s, start_date=datetime.fromtimestamp(first, timezone.utc)),
                args=[t],
                id=self._job_id(key),
                name=t.url,
                max_instances=1,
                coalesce=True,
                misfire_grace_time=max(1, int(self.interval_s / 2)),  # later than this: reported missed
            )
            self._targets[key] = t
            self._offsets_ms[key] = int(round(off * 1000))
        self.telemetry.targets.set(len(self._targets))
        log.info("scheduling %d targets (shard %d/%d)", len(self._targets), self.shard_index, self.shard_count)

    @staticmethod
    def _job_id(key: str) -> str:
        return f"scrape:{key}"

    def slot_of(self, key: str, when_ms: int) -> int:
        """The latest slot (ms) at or before `when_ms` for this target: apscheduler fires a job on its slot or
        later, never earlier, and after a stall runs the latest due slot (coalesce)."""
        off = self._offsets_ms[key]
        return off + ((when_ms - off + 1) // self.interval_ms) * self.interval_ms

    # -- slots not run ---------------------------------------------------------------------------
    def _void_row(self, t: Target, slot_ms: int, error_class: str, message: str) -> None:
        sink = self.scraper.sink
        if sink is not None:
            sink.add(ScrapeRecord(self.clock(), slot_ms, t.url, t.orchestrator, t.instance, False, 0.0, 0, 0, error_class,
                                  message, self.scraper.identity, self.scraper.shard, void=True))  # fmt: skip

    def _account_gap(self, key: str, slot_ms: int, include_slot: bool) -> None:
        """Record the slots after the target's last accounted one and before `slot_ms` (or through it) as
        missed: void rows, counted as overruns."""
        last = self._last_slot.get(key)
        end = slot_ms if include_slot else slot_ms - self.interval_ms
        if last is not None:
            gap = [s for s in range(last + self.interval_ms, end + 1, self.interval_ms)]
        else:
            gap = [slot_ms] if include_slot else []
        self._last_slot[key] = max(slot_ms, last or slot_ms)
        if not gap:
            return
        self.missed += len(gap)
        self.scheduled += len(gap)
        self.telemetry.overruns.labels("missed").inc(len(gap))
        t = self._targets.get(key)
        if t is None:
            return
        for s in gap[-MAX_MISSED_ROWS_PER_GAP:]:
            self._void_row(t, s, errors.MISSED, "slot not run: the scraper was behind or not running")

    def _on_not_run(self, event: JobEvent) -> None:
        key = event.job_id.removeprefix("scrape:")
        if key not in self._targets:
            return
        # job missed: one scheduled_run_time; max instances reached: the list of run times skipped
        times = getattr(event, "scheduled_run_times", None) or [event.scheduled_run_time]  # type: ignore[attr-defined]
        slot = self.slot_of(key, int(max(times).timestamp() * 1000))
        self._account_gap(key, slot, include_slot=True)

    # -- one run ---------------------------------------------------------------------------------
    async def _run(self, target: Target) -> None:
        now = self.clock()
        key = target.key
        if key not in self._offsets_ms:
            return
        slot = self.slot_of(key, now)
        last = self._last_slot.get(key)
        if last is not None and slot <= last:
            return  # this slot was already accounted (reported missed): never two rows for one slot
        self._account_gap(key, slot, include_slot=False)
        self._last_slot[key] = slot
        self.scheduled += 1
        sink = self.scraper.sink
        if sink is not None and sink.pressure >= self.shed_at:
            # No row for a shed slot (rows are what the queue is full of): one void window, merged with the next
            # shed slot's, says the scraper skipped everything in it on purpose.
            self.shed += 1
            self.telemetry.overruns.labels("shed").inc()
            self._void(slot, slot + self.interval_ms, "shed", f"slots skipped: the write queue was at {sink.pressure:.0%} of its bound")
            return
        late = (now - slot) / 1000.0 > self.late_tolerance_s
        if late:
            self.late += 1
            self.telemetry.overruns.labels("late").inc()
        try:
            record = await self.scraper.scrape(target, slot, late=late)
        except asyncio.CancelledError:
            return  # shutting down mid-scrape: no row (a clean stop drains first)
        r = self._rounds.setdefault(slot // self.interval_ms, [0, 0])
        r[0] += 1
        if record.error_class in errors.UNREACHABLE:
            r[1] += 1

    # -- watchdog --------------------------------------------------------------------------------
    def _void(self, start_ms: int, end_ms: int, reason: str, detail: str) -> None:
        self.telemetry.void_windows.labels(reason).inc()
        if reason != "shed" or self.shed == 1 or self.shed % 1000 == 0:  # shedding is one condition, not 1000 lines
            log.warning("void window %s (%.1f s): %s", reason, (end_ms - start_ms) / 1000, detail)
        if self.scraper.sink is not None:
            self.scraper.sink.add_void(VoidWindow(start_ms, end_ms, self.scraper.identity, self.scraper.shard, reason, detail))

    def close_rounds(self, at_ms: int) -> None:
        """Judge rounds whose scrapes have all finished: all unreachable at once → the scraper's fault."""
        done_before = at_ms - int((self.timeout_s + 1.0) * 1000)
        for k in [k for k in self._rounds if (k + 1) * self.interval_ms <= done_before]:
            ran, unreachable = self._rounds.pop(k)
            if ran >= self.void_min_targets and unreachable == ran:
                self._void(k * self.interval_ms, (k + 1) * self.interval_ms, "all_unreachable",
                           f"all {ran} targets of the round failed to connect at once")  # fmt: skip

    async def _watch(self, tick_s: float = 0.5) -> None:
        last_mono, last_wall = time.monotonic(), time.time()
        while True:
            await asyncio.sleep(tick_s)
            now_mono, now_wall = time.monotonic(), time.time()
            lag = max(0.0, now_mono - last_mono - tick_s)
            self.telemetry.tick(lag)
            if lag > self.pause_threshold_s:
                # Scrapes in flight when the loop stopped may have timed out because of it: reach back.
                start = int((last_wall - self.timeout_s) * 1000)
                self._void(start, int(now_wall * 1000) + 1, "paused", f"the scraper did not run for {lag:.1f} s")
            self.close_rounds(int(now_wall * 1000))
            last_mono, last_wall = now_mono, now_wall

    def start(self) -> None:
        if not self.scheduler.running:
            self.scheduler.start()
        if self._watchdog is None:
            self._watchdog = asyncio.get_running_loop().create_task(self._watch(), name="scrape-watchdog")

    async def drain(self, timeout_s: float | None = None) -> None:
        """Stop starting scrapes, let those in flight finish (each is bounded by the scrape timeout), then shut
        down: a clean stop leaves a row for every slot it started."""
        if self.scheduler.running:
            self.scheduler.pause()
        deadline = time.monotonic() + (self.timeout_s + 1.0 if timeout_s is None else timeout_s)
        while self.scraper.in_flight and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        self.shutdown()

    def shutdown(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)  # cancels scrapes still in flight (see drain)
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
