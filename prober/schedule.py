"""Which probe runs when: fair to orchestrators, unpredictable to them, verifiable by anyone.

- Coverage: every (orchestrator, workflow, advertised model) job once per period (`interval_s`, default 10 min,
  per region).
- Order: sorted by sha256(seed ‖ job key), where the period's seed = sha256("naap-prober/seed/v1" ‖ period id ‖
  digest of the previous period's results). Before the period nobody (the prober included) can choose it, since
  it depends on results not yet produced; after it anyone can recompute it from the published period id and
  results (`period_seed`, `plan`, `results_digest`). The dataset item of a job is drawn the same way (`pick_item`).
- Fairness: at most one probe per orchestrator at a time; at most `max_concurrency` at once; a per-orchestrator
  daily budget of probe seconds (`budget_share` of its day) and wei; jobs whose model showed no idle runner are
  skipped as `no_capacity` without being run.
- The prober's own network: when at least `void_min_probes` probes of a period ran and every one of them failed
  to reach its orchestrator (`UNREACHABLE` classes), the prober's network is the likelier culprit than all those
  orchestrators at once: each such result becomes fault `prober` (`void_unreachable`, the scraper's void rule
  for probes). Sign results after the period, once this rule has been applied.
Pure functions plus one small async runner (`ProbeScheduler`) with injectable wall clock and sleep.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Iterable, Sequence

from exporter.common.clock import now_ms
from prober.canonical import canonical_json
from prober.datasets import DatasetItem

DAY_MS = 86_400_000
SEED_DOMAIN = "naap-prober/seed/v1"
UNREACHABLE = frozenset({"connect", "dns", "orchestrator_reset", "timeout", "tls"})


@dataclass(frozen=True)
class Job:
    """One probe to run: orchestrator (lowercase address, the fairness key), its gRPC target, workflow, model.
    `idle` is the idle runner count last seen for the model (None: unknown; 0: the job is skipped)."""

    orchestrator: str
    target: str
    model_id: str
    workflow: str = "live-video-to-video"
    idle: int | None = field(default=None, compare=False)

    @property
    def key(self) -> str:
        return f"{self.orchestrator}|{self.workflow}|{self.model_id}"


def period_index(wall_ms: int, interval_s: float) -> int:
    return wall_ms // round(interval_s * 1000)


def period_id(region: str, interval_s: float, index: int) -> str:
    """A period's public name, e.g. "eu-west/600s/2993300"."""
    return f"{region or 'global'}/{round(interval_s)}s/{index}"


def results_digest(results: Iterable[dict[str, Any]]) -> str:
    """sha256 hex over the sorted canonical JSON lines of a period's results (order-independent)."""
    lines = sorted(canonical_json(r) for r in results)
    return hashlib.sha256(b"\n".join(lines)).hexdigest()


def period_seed(period_id_: str, previous_digest: str) -> str:
    return hashlib.sha256(f"{SEED_DOMAIN}\n{period_id_}\n{previous_digest}".encode()).hexdigest()


def _rank(seed: str, key: str) -> bytes:
    return hashlib.sha256(f"{seed}\n{key}".encode()).digest()


def plan(jobs: Iterable[Job], seed: str) -> list[Job]:
    """The period's jobs, duplicates removed, in the seed's order."""
    unique = {j.key: j for j in jobs}
    return sorted(unique.values(), key=lambda j: (_rank(seed, j.key), j.key))


def pick_item(items: Sequence[DatasetItem], seed: str, job: Job) -> DatasetItem | None:
    """The job's dataset item: drawn from the items for its workflow and model by the seed (None when none)."""
    mine = sorted((i for i in items if i.model_id == job.model_id and i.workflow == job.workflow), key=lambda i: i.id)
    if not mine:
        return None
    return mine[int.from_bytes(_rank(seed, job.key + "|item")[:8], "big") % len(mine)]


def void_unreachable(results: list[dict[str, Any]], min_probes: int) -> bool:
    """Apply the void rule (module doc) in place to a period's result dicts (ProbeResult.to_dict() shape);
    True when it applied."""
    ran = [r for r in results if r.get("outcome") != "skipped" and "error" not in r]
    if len(ran) < min_probes or not all(r.get("error_class") in UNREACHABLE for r in ran):
        return False
    for r in ran:
        r["message"] = f"void: all {len(ran)} probes of the period failed to reach their orchestrators; was: {r.get('error_class')} ({r.get('message')})"[:500]
        r["error_class"], r["fault"] = "prober_error", "prober"
    return True


class Budget:
    """Per orchestrator and UTC day: probe seconds (at most `share` × 86,400) and wei (at most `wei_per_day`)."""

    def __init__(self, share: float, wei_per_day: int) -> None:
        self.limit_s = share * 86_400
        self.limit_wei = wei_per_day
        self.used: dict[tuple[str, int], tuple[float, int]] = {}

    def allows(self, orchestrator: str, day: int, seconds: float, wei: int) -> bool:
        s, w = self.used.get((orchestrator, day), (0.0, 0))
        return s + seconds <= self.limit_s and w + wei <= self.limit_wei

    def charge(self, orchestrator: str, day: int, seconds: float, wei: int) -> None:
        for k in [k for k in self.used if k[1] < day - 1]:  # bounded: keep today and yesterday
            del self.used[k]
        s, w = self.used.get((orchestrator, day), (0.0, 0))
        self.used[(orchestrator, day)] = (s + seconds, w + wei)


@dataclass
class PeriodReport:
    """One period: its id and seed, the planned order, the dispatch order, results (in completion order),
    skipped jobs with the reason ("budget", "no_capacity"), and whether the void rule applied."""

    period_id: str
    seed: str
    order: list[Job]
    dispatched: list[Job] = field(default_factory=list)
    results: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[tuple[Job, str]] = field(default_factory=list)
    void: bool = False


RunOne = Callable[[Job, str], Awaitable[dict[str, Any]]]


class ProbeScheduler:
    """Runs periods of jobs through `run_one(job, seed) -> result dict` (a probe, signed or not).

    `cost_s` is charged to an orchestrator's budget per dispatched probe (its planned length); `cost_wei(job)`
    the spend. A `run_one` that raises is recorded as {"job": key, "error": "..."} (never stops the period).
    Results are `ProbeResult.to_dict()` dicts; sign `report.results` after `run_period` (the void rule may
    change them).
    """

    def __init__(
        self,
        run_one: RunOne,
        *,
        max_concurrency: int,
        budget: Budget,
        cost_s: float,
        cost_wei: Callable[[Job], int] = lambda _job: 0,
        wall: Callable[[], int] = now_ms,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        void_min_probes: int = 5,
    ) -> None:
        self.run_one = run_one
        self.void_min_probes = void_min_probes
        self.max_concurrency = max_concurrency
        self.budget = budget
        self.cost_s = cost_s
        self.cost_wei = cost_wei
        self.wall = wall
        self.sleep = sleep

    async def _one(self, job: Job, seed: str) -> dict[str, Any]:
        try:
            return await self.run_one(job, seed)
        except asyncio.CancelledError:
            raise
        except Exception as e:
            return {"job": job.key, "error": f"{type(e).__name__}: {e}"[:300]}

    async def run_period(self, jobs: Iterable[Job], period_id_: str, seed: str, apply_void: bool = True) -> PeriodReport:
        """Run one period's jobs. `apply_void=False` leaves the void rule to the caller (who adds results of its
        own, e.g. orchestrators whose info call failed before any job could be made, and applies it to them all)."""
        order = plan(jobs, seed)
        report = PeriodReport(period_id_, seed, order)
        day = self.wall() // DAY_MS
        pending = list(order)
        running: dict[str, asyncio.Task[dict[str, Any]]] = {}
        try:
            while pending or running:
                i = 0
                while len(running) < self.max_concurrency and i < len(pending):
                    job = pending[i]
                    if job.orchestrator in running:
                        i += 1
                        continue
                    pending.pop(i)
                    if job.idle == 0:
                        report.skipped.append((job, "no_capacity"))
                        continue
                    wei = self.cost_wei(job)
                    if not self.budget.allows(job.orchestrator, day, self.cost_s, wei):
                        report.skipped.append((job, "budget"))
                        continue
                    self.budget.charge(job.orchestrator, day, self.cost_s, wei)
                    report.dispatched.append(job)
                    running[job.orchestrator] = asyncio.create_task(self._one(job, seed))
                if not running:
                    break
                done, _ = await asyncio.wait(running.values(), return_when=asyncio.FIRST_COMPLETED)
                for orch in [o for o, t in running.items() if t in done]:
                    report.results.append(running.pop(orch).result())
        finally:
            for t in running.values():
                t.cancel()
        if apply_void:
            report.void = void_unreachable(report.results, self.void_min_probes)
        return report

    async def run_periods(
        self, jobs: Callable[[], Awaitable[list[Job]]], *, interval_s: float, region: str = "", periods: int | None = None,
        previous_digest: str = "",
    ) -> list[PeriodReport]:  # fmt: skip
        """Run `periods` periods (None: forever), each aligned to its interval on the wall clock; `jobs()` is
        called at each period start (discovery's current view). Returns the reports (kept only when bounded)."""
        reports: list[PeriodReport] = []
        n = 0
        while periods is None or n < periods:
            index = period_index(self.wall(), interval_s)
            pid = period_id(region, interval_s, index)
            report = await self.run_period(await jobs(), pid, period_seed(pid, previous_digest))
            previous_digest = results_digest(report.results)
            if periods is not None:
                reports.append(report)
            n += 1
            await self.sleep(max(0.0, ((index + 1) * round(interval_s * 1000) - self.wall()) / 1000))
        return reports
