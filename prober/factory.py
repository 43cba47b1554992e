"""The prober assembled from its settings: what the shell (naap/) calls.

    prober = build_prober(settings)                 # datasets loaded and validated, key, pins, signer
    report = await prober.run_period(jobs, "eu-west/600s/2993300", seed)
    signed = prober.sign(report)                    # envelopes, after the period's void rule
    await prober.close()

`jobs` come from discovery: one `Job(orchestrator, target, model_id)` per advertised model (an orchestrator's
models are what its last GetOrchestrator advertised). Spend is estimated per orchestrator from the price its
last probe saw (1280×720×30 pixels per second, go-livepeer's live pricing unit); unknown prices count as 0.

What the shell calls for a whole pass (`naap probe`, the collector's prober job) is `run_pass(targets, period_id,
seed)`: it asks every orchestrator for its info (one call each, `max_concurrency` at once), makes one job per
advertised live-video-to-video model that a configured dataset has items for, runs the period, adds a result for
every orchestrator whose info call failed (model_id "": it could not even be asked) and every job skipped for want
of an idle runner, applies the void rule to them all, stamps the period id, and signs every result.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from exporter.common.clock import now_ms
from exporter.common.meta import version as naap_version
from prober import errors
from prober.config import ProberSettings
from prober.datasets import Dataset, DatasetItem, dataset_path, load
from prober.errors import ProbeFailure
from prober.info import PIPELINE, OrchestratorView, get_orchestrator_info, split_target
from prober.netguard import origin
from prober.payment import PIXELS_PER_SECOND, OffchainSigner, PaymentSigner, RemoteSigner
from prober.probe import ProbeTarget, run_probe
from prober.result import ProbeResult
from prober.schedule import Budget, Job, PeriodReport, ProbeScheduler, pick_item, void_unreachable
from prober.signing import load_or_create_key, public_key_hex, sign_result
from prober.targets import OrchestratorTarget
from prober.tlspin import PinStore


@dataclass
class PassReport:
    """One pass: the period, its seed, every result (dicts, signed in `envelopes`, same order), the jobs skipped
    for the budget, the models no dataset covers ((orchestrator, model) pairs), orchestrators that advertise no
    live-video-to-video model, and whether the void rule applied."""

    period_id: str
    seed: str
    targets: int = 0
    jobs: int = 0
    results: list[dict[str, Any]] = field(default_factory=list)
    envelopes: list[dict[str, Any]] = field(default_factory=list)
    budget_skipped: list[Job] = field(default_factory=list)
    uncovered: list[tuple[str, str]] = field(default_factory=list)
    not_live: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    void: bool = False

    def summary(self) -> dict[str, Any]:
        by: dict[str, int] = {}
        for r in self.results:
            k = r.get("outcome", "?") if r.get("fault") in ("none", "orchestrator") else f"{r.get('outcome')}:{r.get('fault')}"
            by[k] = by.get(k, 0) + 1
        return {
            "period_id": self.period_id, "seed": self.seed, "targets": self.targets, "jobs": self.jobs,
            "results": len(self.results), "by_outcome": dict(sorted(by.items())), "budget_skipped": len(self.budget_skipped),
            "uncovered": len(self.uncovered), "not_live": len(self.not_live), "errors": len(self.errors), "void": self.void,
        }  # fmt: skip


@dataclass
class Prober:
    settings: ProberSettings
    datasets: list[Dataset]
    pins: PinStore
    key: Ed25519PrivateKey
    signer: PaymentSigner
    prices: dict[str, tuple[int, int]] = field(default_factory=dict)  # orchestrator → (wei per unit, pixels per unit)
    scheduler: ProbeScheduler | None = None
    _refs: dict[str, str] = field(default_factory=dict, init=False, repr=False)  # item id → "<dataset>@<version>"
    _services: dict[str, str] = field(default_factory=dict, init=False, repr=False)  # gRPC target → its service URI

    def __post_init__(self) -> None:
        s = self.settings
        self.scheduler = ProbeScheduler(
            self.probe, max_concurrency=s.max_concurrency, budget=Budget(s.budget_share, s.budget_wei_per_day),
            cost_s=s.duration_s, cost_wei=self.cost_wei, void_min_probes=s.void_min_probes,
        )  # fmt: skip
        for ds in self.datasets:
            for item in ds.items:
                self._refs.setdefault(item.id, ds.ref)

    @property
    def public_key(self) -> str:
        return public_key_hex(self.key)

    @property
    def items(self) -> list[DatasetItem]:
        return [i for ds in self.datasets for i in ds.items]

    def cost_wei(self, job: Job) -> int:
        price, pixels = self.prices.get(job.orchestrator, (0, 1))
        return int(price * PIXELS_PER_SECOND * self.settings.duration_s // max(1, pixels))

    async def probe(self, job: Job, seed: str) -> dict[str, Any]:
        """One probe of a job with the item the seed picks; the result's canonical dict (unsigned)."""
        item = pick_item(self.items, seed, job)
        if item is None:
            return {"job": job.key, "error": f"no dataset item for {job.workflow}/{job.model_id}"}
        result = await run_probe(
            ProbeTarget(job.target, job.model_id, job.orchestrator), item, self.settings, dataset=self._refs[item.id],
            pins=self.pins, signer=self.signer,
        )  # fmt: skip
        if result.price_per_unit is not None:
            self.prices[job.orchestrator] = (result.price_per_unit, result.pixels_per_unit or 1)
        return result.to_dict()

    async def run_period(self, jobs: list[Job], period_id: str, seed: str) -> PeriodReport:
        assert self.scheduler is not None
        return await self.scheduler.run_period(jobs, period_id, seed)

    def sign(self, report: PeriodReport) -> list[dict[str, Any]]:
        """Signed envelopes of a period's probe results (scheduler error rows are left out)."""
        return [sign_result(r, self.key) for r in report.results if "error" not in r]

    # -- a whole pass ---------------------------------------------------------------------------------------
    def _models_with_items(self) -> set[tuple[str, str]]:
        return {(i.workflow, i.model_id) for i in self.items}

    async def _look(self, t: OrchestratorTarget) -> OrchestratorView | ProbeFailure:
        s = self.settings
        try:
            address, sig = await self.signer.identity()
        except Exception as e:  # the signer is ours: its trouble is the prober's
            return ProbeFailure(errors.PROBER_ERROR, errors.PROBER, f"signer identity failed: {type(e).__name__}: {e}")
        try:
            return await get_orchestrator_info(
                t.target, pins=self.pins, address=address, sig=sig, connect_timeout_s=s.connect_timeout_s,
                timeout_s=s.info_timeout_s, allow_loopback=s.allow_loopback,
            )  # fmt: skip
        except ProbeFailure as f:
            return f
        except Exception as e:  # our own bug, never a traceback out of a pass
            return ProbeFailure(errors.PROBER_ERROR, errors.PROBER, f"internal error: {type(e).__name__}: {e}")

    def _row(self, t: OrchestratorTarget, model_id: str, started_ms: int, t0: float, f: ProbeFailure) -> dict[str, Any]:
        """A result for a probe that never ran: its orchestrator's info call failed, or no runner was idle."""
        r = ProbeResult(
            probe_id=uuid.uuid4().hex, started_at_ms=started_ms, orchestrator=t.orchestrator, target=t.target,
            region=self.settings.region, workflow=PIPELINE, model_id=model_id, prober_version=naap_version(),
        )  # fmt: skip
        r.error_class, r.fault, r.message = f.error_class, f.fault, f.message
        r.outcome = "skipped" if f.error_class in (errors.NO_CAPACITY, errors.CAPACITY) else "failed"
        r.ended_at_ms = now_ms()
        r.duration_ms = (time.monotonic() - t0) * 1000
        return r.to_dict()

    def _repin(self, result: dict[str, Any]) -> None:
        """A changed certificate (go-livepeer makes a new one at every start) was excluded once; pin the next one."""
        if result.get("error_class") != errors.TLS_PIN_MISMATCH:
            return
        target = str(result.get("target", ""))
        service = str(result.get("service_uri", "")) or self._services.get(target, "")
        for where in (lambda: split_target(target), lambda: origin(service)[1:]):
            try:
                host, port = where()
            except ValueError:
                continue
            self.pins.forget(f"{host}:{port}")

    async def run_pass(self, targets: list[OrchestratorTarget], period_id: str, seed: str) -> PassReport:
        """One pass over `targets` (module doc). Never raises for what an orchestrator does."""
        report = PassReport(period_id, seed, targets=len(targets))
        sem = asyncio.Semaphore(self.settings.max_concurrency)
        covered = self._models_with_items()

        async def look(t: OrchestratorTarget) -> tuple[OrchestratorTarget, int, float, OrchestratorView | ProbeFailure]:
            async with sem:
                started, t0 = now_ms(), time.monotonic()
                return t, started, t0, await self._look(t)

        looked = await asyncio.gather(*(look(t) for t in targets))
        extra: list[dict[str, Any]] = []
        jobs: list[Job] = []
        for t, started, t0, view in looked:
            if isinstance(view, ProbeFailure):
                extra.append(self._row(t, "", started, t0, view))
                continue
            key = t.orchestrator or view.address or t.target
            if view.transcoder and len(self._services) < 100_000:
                self._services[t.target] = view.transcoder
            if not view.live or not view.models:
                report.not_live.append(key)
                continue
            for model_id, offer in sorted(view.models.items()):
                if (PIPELINE, model_id) not in covered:
                    report.uncovered.append((key, model_id))
                    continue
                jobs.append(Job(key, t.target, model_id, PIPELINE, idle=offer.idle))
        by_key = {(t.orchestrator or t.target): t for t in targets}
        report.jobs = len(jobs)
        assert self.scheduler is not None
        period = await self.scheduler.run_period(jobs, period_id, seed, apply_void=False)
        for job, why in period.skipped:
            if why == "no_capacity":
                t = by_key.get(job.orchestrator, OrchestratorTarget(job.orchestrator, job.target))
                f = ProbeFailure(errors.NO_CAPACITY, errors.EXCLUDED, f"no idle runner for {job.model_id}")
                extra.append(self._row(t, job.model_id, now_ms(), time.monotonic(), f))
            else:
                report.budget_skipped.append(job)
        results = []
        for r in [*period.results, *extra]:
            if "error" in r:  # the scheduler's record of a probe that raised (never expected): kept out of the results
                report.errors.append(f"{r.get('job')}: {r.get('error')}")
                continue
            results.append(r)
        report.void = void_unreachable(results, self.settings.void_min_probes)
        for r in results:
            r["period_id"] = period_id
            self._repin(r)
        results.sort(key=lambda r: (r.get("orchestrator", ""), r.get("model_id", ""), r.get("started_at_ms", 0)))
        report.results = results
        report.envelopes = [sign_result(r, self.key) for r in results]
        return report

    async def close(self) -> None:
        await self.signer.close()


def build_prober(settings: ProberSettings) -> Prober:
    """Load every configured dataset (DatasetError if one is invalid), the key (created if absent), the pin store
    and the signer. Raises KeyFileError, PinStoreError, DatasetError, ValueError with readable messages."""
    datasets = [load(dataset_path(settings.datasets_dir, ref)) for ref in settings.datasets]
    signer: PaymentSigner = RemoteSigner(settings.signer_url, settings.signer_timeout_s) if settings.signer_url else OffchainSigner(settings.eth_address)
    return Prober(settings, datasets, PinStore(settings.pin_store), load_or_create_key(settings.key_file), signer)
