"""Probe scheduling: the order is a pure function of the published period id and the previous period's results
(same inputs → same order, other results → another order), every orchestrator × model is covered once per
period, one probe per orchestrator at a time, the global bound and the daily budgets hold."""

from __future__ import annotations

import asyncio
import hashlib

from prober.datasets import make_item
from prober.schedule import Budget, Job, ProbeScheduler, pick_item, period_id, period_seed, plan, results_digest

ORCHS = [f"0x{i:040x}" for i in range(1, 7)]
MODELS = ["streamdiffusion", "streamdiffusion-sdxl", "streamdiffusion-sd15"]
JOBS = [Job(o, f"10.0.0.{n}:8935", m) for n, o in enumerate(ORCHS) for m in MODELS]


def test_order_is_reproducible_from_public_inputs_and_unpredictable_before() -> None:
    pid = period_id("eu-west", 600, 2_993_300)
    assert pid == "eu-west/600s/2993300"
    seed = period_seed(pid, "digest-of-previous")
    assert seed == hashlib.sha256(b"naap-prober/seed/v1\neu-west/600s/2993300\ndigest-of-previous").hexdigest()
    assert plan(JOBS, seed) == plan(list(reversed(JOBS)), seed)  # input order does not matter
    other = plan(JOBS, period_seed(pid, "another digest"))
    assert sorted(other, key=lambda j: j.key) == sorted(plan(JOBS, seed), key=lambda j: j.key)  # same jobs ...
    assert other != plan(JOBS, seed)  # ... in another order
    assert results_digest([{"a": 1}, {"b": 2}]) == results_digest([{"b": 2}, {"a": 1}]) != results_digest([{"a": 1}])


def test_item_choice_is_seeded_and_model_specific() -> None:
    items = [make_item("good", "live-video-to-video", m, {"prompt": f"p{i}"}) for m in MODELS for i in range(4)]
    job = JOBS[1]
    a = pick_item(items, "seed-1", job)
    assert a is not None and a.model_id == job.model_id and a == pick_item(list(reversed(items)), "seed-1", job)
    picks = {pick_item(items, f"seed-{n}", job).id for n in range(40)}  # type: ignore[union-attr]
    assert len(picks) > 1
    assert pick_item(items, "s", Job("0x1", "t", "comfyui")) is None


async def test_period_covers_everything_one_per_orchestrator_within_the_bound() -> None:
    active: dict[str, int] = {}
    peak = {"orch": 0, "all": 0}

    async def run_one(job: Job, seed: str) -> dict:
        active[job.orchestrator] = active.get(job.orchestrator, 0) + 1
        peak["orch"] = max(peak["orch"], active[job.orchestrator])
        peak["all"] = max(peak["all"], sum(active.values()))
        await asyncio.sleep(0)  # let the scheduler try to start more
        active[job.orchestrator] -= 1
        if job.model_id == MODELS[0]:
            raise RuntimeError("a probe that blew up")
        return {"job": job.key, "seed": seed}

    sched = ProbeScheduler(run_one, max_concurrency=4, budget=Budget(0.1, 0), cost_s=30, wall=lambda: 1_700_000_000_000)
    seed = period_seed("global/600s/1", "")
    report = await sched.run_period(JOBS, "global/600s/1", seed)
    assert sorted(j.key for j in report.dispatched) == sorted(j.key for j in JOBS)  # every orchestrator × model
    assert len(report.results) == len(JOBS) and not report.skipped
    assert peak["orch"] == 1 and 1 < peak["all"] <= 4
    assert sum(1 for r in report.results if "error" in r) == len(ORCHS) and all(r.get("seed", seed) == seed for r in report.results)
    assert report.order == plan(JOBS, seed) and report.dispatched[0] == report.order[0]  # dispatch follows the plan


async def test_budgets_and_capacity_skip_jobs() -> None:
    async def run_one(job: Job, seed: str) -> dict:
        return {"job": job.key}

    # 2 % of a day = 1728 s: 57 probes of 30 s; the 58th of an orchestrator that day is skipped
    budget = Budget(0.02, 10**15)
    sched = ProbeScheduler(run_one, max_concurrency=2, budget=budget, cost_s=30, cost_wei=lambda j: 10**14, wall=lambda: 5 * 86_400_000)
    one = [Job(ORCHS[0], "t:1", "streamdiffusion")]
    reports = [await sched.run_period(one, f"p{n}", f"s{n}") for n in range(12)]
    # the wei budget (10 probes of 1e14 in 1e15) binds before the time budget (57)
    assert sum(len(r.dispatched) for r in reports) == 10 and [r.skipped[0][1] for r in reports[10:]] == ["budget", "budget"]
    assert budget.allows(ORCHS[1], 5, 30, 10**14)  # another orchestrator's budget is untouched
    full = await sched.run_period([Job(ORCHS[2], "t:2", "streamdiffusion", idle=0), Job(ORCHS[2], "t:2", "streamdiffusion-sdxl", idle=1)], "p", "s")
    assert [(j.model_id, why) for j, why in full.skipped] == [("streamdiffusion", "no_capacity")] and len(full.dispatched) == 1


async def test_periods_chain_their_seeds_on_an_injected_clock() -> None:
    now = {"ms": 1_700_000_000_500}
    slept: list[float] = []

    async def sleep(s: float) -> None:
        slept.append(s)
        now["ms"] += round(s * 1000)

    async def run_one(job: Job, seed: str) -> dict:
        now["ms"] += 1000  # each probe "takes" a second of the injected clock
        return {"job": job.key, "outcome": "ok"}

    async def jobs() -> list[Job]:
        return JOBS[:3]

    sched = ProbeScheduler(run_one, max_concurrency=1, budget=Budget(1, 0), cost_s=1, wall=lambda: now["ms"], sleep=sleep)
    reports = await sched.run_periods(jobs, interval_s=600, region="us-east", periods=2)
    first, second = reports
    assert first.period_id == f"us-east/600s/{1_700_000_000_500 // 600_000}" and second.period_id.endswith(str(1_700_000_000_500 // 600_000 + 1))
    assert first.seed == period_seed(first.period_id, "") and second.seed == period_seed(second.period_id, results_digest(first.results))
    assert slept[0] == (600_000 - (1_700_000_000_500 % 600_000) - 3000) / 1000  # to the next period boundary


async def test_a_period_where_nothing_is_reachable_is_the_probers_fault() -> None:
    async def unreachable(job: Job, seed: str) -> dict:
        return {"outcome": "failed", "error_class": "orchestrator_reset", "fault": "orchestrator", "message": "connect refused"}

    async def mixed(job: Job, seed: str) -> dict:
        ok = job.orchestrator == ORCHS[0]
        return {"outcome": "ok" if ok else "failed", "error_class": None if ok else "timeout", "fault": "none" if ok else "orchestrator"}

    def sched(run_one) -> ProbeScheduler:  # noqa: ANN001
        return ProbeScheduler(run_one, max_concurrency=3, budget=Budget(1, 0), cost_s=1, void_min_probes=5)

    void = await sched(unreachable).run_period(JOBS, "p", "s")
    assert void.void and all(r["fault"] == "prober" and r["error_class"] == "prober_error" for r in void.results)
    assert "was: orchestrator_reset (connect refused)" in void.results[0]["message"]
    fine = await sched(mixed).run_period(JOBS, "p", "s")  # one orchestrator answered: the network was fine
    assert not fine.void and {r["fault"] for r in fine.results} == {"none", "orchestrator"}
    few = await sched(unreachable).run_period(JOBS[:4], "p", "s")  # too few probes to judge
    assert not few.void and {r["fault"] for r in few.results} == {"orchestrator"}
