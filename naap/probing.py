"""The prober in the shell: `naap probe` (one pass over the discovered or given targets) and the prober inside
`naap collect` (a pass every `prober.interval_s`, scheduled with APScheduler like scoring).

Periods: a pass runs in the period of the wall clock (`<region>/<interval>s/<index>`); its seed chains from the
previous period's stored results (prober/schedule.py), so the order of a period is fixed before it starts by
results nobody could choose, and recomputable afterwards from what /v1/prober/results serves. The collector runs
one pass right after start-up and then one at the start of every period; a pass still running when the next
period starts makes that period skipped (logged, counted), never two passes at once.

What a probe finds is never the collector's problem: a pass that raises is logged and counted (`pass_errors`),
results are written through the one writer after the pass (signed once the void rule has been applied), and a
stop cancels a running pass — its results are not written (at most one period's probes, logged).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from exporter.common.clock import now_ms
from naap.settings import Settings
from prober.config import ProberSettings
from prober.status import ProberStatus
from prober.telemetry import ProberTelemetry
from prober.targets import OrchestratorTarget, Unprobed, from_snapshot

log = logging.getLogger(__name__)


class ProbingError(RuntimeError):
    """The prober cannot start (datasets, key file, pin store); the message is one line for the operator."""


def _build(s: ProberSettings) -> Any:
    from prober.datasets import DatasetError
    from prober.factory import build_prober
    from prober.signing import KeyFileError
    from prober.tlspin import PinStoreError

    try:
        return build_prober(s)
    except DatasetError as e:
        more = f" (and {len(e.problems) - 2} more: `naap datasets validate` lists them)" if len(e.problems) > 2 else ""
        raise ProbingError(f"prober datasets: {str(e).splitlines()[0]} {'; '.join(e.problems[:2])}{more}") from None
    except (KeyFileError, PinStoreError, ValueError, OSError) as e:
        raise ProbingError(f"prober: {e}") from None


def current_period(s: ProberSettings) -> tuple[str, int]:
    """(period id, index) of now."""
    from prober.schedule import period_id, period_index

    index = period_index(now_ms(), s.interval_s)
    return period_id(s.region, s.interval_s, index), index


class Probing:
    """The collector's prober: built at start-up (ProbingError if it cannot be), a pass per period."""

    def __init__(self, settings: Settings, snapshot: Callable[[], Any]) -> None:
        self.settings = settings.prober
        self.writer: Any = None
        self.snapshot = snapshot
        self.prober = _build(self.settings)
        self.status = ProberStatus(self.settings, self.prober.public_key, datasets=[ds.ref for ds in self.prober.datasets])
        self.unprobed = Unprobed()
        self.telemetry = ProberTelemetry()  # naap_prober_* on the collector's /metrics (registered by the collector)
        self._task: asyncio.Task | None = None

    def attach(self, warehouse: Any, writer: Any) -> None:
        """The warehouse (where the previous period's results are, for the seed) and the one writer."""
        from prober.store import previous_period
        from warehouse.client import WarehouseError

        self.writer = writer
        try:
            self.status.previous_period_id, self.status.previous_digest = previous_period(warehouse)
        except WarehouseError as e:  # the seed then chains from nothing; logged, never a stop
            log.warning("prober: could not read the previous period's results (%s); its seed chains from none", e)

    def schedule(self, scheduler: Any, first_in_s: float = 3.0) -> None:
        """One pass soon after start-up (unless this period already has stored results), then one at the start of
        every period."""
        from apscheduler.triggers.date import DateTrigger
        from apscheduler.triggers.interval import IntervalTrigger

        now = datetime.now(timezone.utc)
        interval = self.settings.interval_s
        _pid, index = current_period(self.settings)
        boundary = datetime.fromtimestamp((index + 1) * round(interval * 1000) / 1000, timezone.utc)
        scheduler.add_job(self.tick, IntervalTrigger(seconds=interval, start_date=boundary), id="prober",
                          max_instances=1, coalesce=True, misfire_grace_time=max(1, int(interval / 2)))  # fmt: skip
        if boundary - now > timedelta(seconds=first_in_s + self.settings.probe_deadline_s() / 4):
            scheduler.add_job(self.tick, DateTrigger(now + timedelta(seconds=first_in_s)), id="prober-first")

    def targets(self) -> list[OrchestratorTarget]:
        snap = self.snapshot()
        if snap is None:
            return []
        targets, self.unprobed = from_snapshot(snap)
        return targets

    async def tick(self) -> None:
        """One pass (never raises; a pass already running makes this one skipped)."""
        if self._task is not None and not self._task.done():
            log.warning("prober: the previous pass is still running; period skipped")
            self.telemetry.period_skipped()
            return
        pid, _ = current_period(self.settings)
        if pid == self.status.previous_period_id:
            log.info("prober: period %s already has results; waiting for the next one", pid)
            return
        self._task = asyncio.create_task(self._pass(pid), name="prober-pass")
        try:
            await asyncio.shield(self._task)
        except asyncio.CancelledError:
            # The collector is stopping (its scheduler cancels running jobs, close() the pass), as scoring's job does:
            # the pass says what it leaves unwritten; the job ends quietly.
            self._task.cancel()
            log.debug("prober: pass job cancelled by the stop")

    async def _pass(self, pid: str) -> None:
        from prober.schedule import period_seed, results_digest
        from prober.store import add_results

        st = self.status
        assert self.writer is not None, "attach() first"
        targets = self.targets()
        if not targets:
            log.info("prober: nothing to probe (%d targets without a service address)", len(self.unprobed.reasons))
            return
        seed = period_seed(pid, st.previous_digest)
        st.period_id, st.seed, st.running = pid, seed, True
        st.seed_from_period_id, st.seed_from_digest = st.previous_period_id, st.previous_digest
        tm = self.telemetry
        tm.running.set(1)
        t0 = time.monotonic()
        try:
            report = await self.prober.run_pass(targets, pid, seed)
            add_results(self.writer, report.envelopes, seed)
        except asyncio.CancelledError:
            log.warning("prober: the pass of period %s was stopped; its results are not written", pid)
            tm.pass_ended("stopped")
            raise
        except Exception:  # a bug of ours must never stop the collector
            st.pass_errors += 1
            tm.pass_ended("failed")
            log.exception("prober: the pass of period %s failed", pid)
            return
        finally:
            st.running = False
            tm.running.set(0)
        tm.pass_done(report, time.monotonic() - t0)
        st.passes += 1
        st.last_pass, st.last_pass_ended_ms = report.summary(), now_ms()
        st.previous_period_id, st.previous_digest = pid, results_digest(report.results)
        log.info("prober: period %s: %s", pid, report.summary()["by_outcome"])

    async def close(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.prober.close()


async def probe_once(settings: Settings, given: list[OrchestratorTarget], store: bool, use_discovery: bool = True) -> tuple[Any, Unprobed, list[str]]:
    """One pass (`naap probe`): over the discovered targets (with a service address) and the `given` ones.
    Stores the signed results when `store`. Returns (PassReport, unprobed targets, discovery problems); raises
    ProbingError when the prober or the warehouse cannot be used, or there is nothing to probe."""
    from discovery.factory import build_discovery
    from prober.schedule import period_seed
    from prober.store import add_results, previous_period
    from warehouse.client import WarehouseError
    from warehouse.migrations import open_warehouse

    targets: list[OrchestratorTarget] = []
    unprobed, problems = Unprobed(), []
    if use_discovery:
        discovery = build_discovery(settings.discovery, settings.scraper.allow_loopback or settings.prober.allow_loopback)
        try:
            snap = await discovery.walk()
        finally:
            await discovery.close()
        targets, unprobed = from_snapshot(snap)
        problems = list(snap.errors)
    seen = {t.key for t in targets}
    targets += [t for t in given if t.key not in seen]
    if not targets:
        why = "; ".join(problems) or (f"{len(unprobed.reasons)} targets have no service address" if unprobed.reasons else "no targets")
        raise ProbingError(f"nothing to probe: {why}")
    prober = _build(settings.prober)
    wh = None
    try:
        previous = ""
        if store:
            try:
                wh = await asyncio.to_thread(open_warehouse, settings.warehouse, True, "naap probe")
            except WarehouseError as e:
                raise ProbingError(str(e)) from None
            _pid, previous = await asyncio.to_thread(previous_period, wh)
        pid, _ = current_period(settings.prober)
        report = await prober.run_pass(targets, pid, period_seed(pid, previous))
        if wh is not None:
            from warehouse.writer import Writer

            writer = Writer.from_settings(settings.warehouse, wh, f"naap-probe:{os.getpid()}:{now_ms()}")
            add_results(writer, report.envelopes, report.seed)
            unwritten = await writer.close(retry_s=5.0)
            if unwritten:
                raise ProbingError(f"could not write every result to the warehouse: {unwritten}")
    finally:
        await prober.close()
        if wh is not None:
            await asyncio.to_thread(wh.close)
    return report, unprobed, problems


def summary_line(r: dict[str, Any]) -> str:
    """One human line of a result (stderr of `naap probe`)."""
    def ms(k: str) -> str:  # "-" alone when there is no value (no unit on nothing)
        v = r.get(k)
        return "-" if v is None else f"{v:.0f}ms"

    what = r.get("error_class") or "ok"
    return (f"{r.get('orchestrator') or r.get('target')} {r.get('model_id') or '-'} {r.get('outcome')} {what} "
            f"fault={r.get('fault')} startup={ms('startup_ms')} e2e_p50={ms('e2e_p50_ms')} p2ff={ms('p2ff_ms')} "
            f"fps={r.get('output_fps') if r.get('output_fps') is not None else '-'}")  # fmt: skip
