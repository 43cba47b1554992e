"""The prober assembled from its settings: what the shell (naap/) calls.

    prober = build_prober(settings)                 # datasets loaded and validated, key, pins, signer
    report = await prober.run_period(jobs, "eu-west/600s/2993300", seed)
    signed = prober.sign(report)                    # envelopes, after the period's void rule
    await prober.close()

`jobs` come from discovery: one `Job(orchestrator, target, model_id)` per advertised model (an orchestrator's
models are what its last GetOrchestrator advertised). Spend is estimated per orchestrator from the price its
last probe saw (1280×720×30 pixels per second, go-livepeer's live pricing unit); unknown prices count as 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from prober.config import ProberSettings
from prober.datasets import Dataset, DatasetItem, dataset_path, load
from prober.payment import PIXELS_PER_SECOND, OffchainSigner, PaymentSigner, RemoteSigner
from prober.probe import ProbeTarget, run_probe
from prober.schedule import Budget, Job, PeriodReport, ProbeScheduler, pick_item
from prober.signing import load_or_create_key, public_key_hex, sign_result
from prober.tlspin import PinStore


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

    async def close(self) -> None:
        await self.signer.close()


def build_prober(settings: ProberSettings) -> Prober:
    """Load every configured dataset (DatasetError if one is invalid), the key (created if absent), the pin store
    and the signer. Raises KeyFileError, PinStoreError, DatasetError, ValueError with readable messages."""
    datasets = [load(dataset_path(settings.datasets_dir, ref)) for ref in settings.datasets]
    signer: PaymentSigner = RemoteSigner(settings.signer_url, settings.signer_timeout_s) if settings.signer_url else OffchainSigner(settings.eth_address)
    return Prober(settings, datasets, PinStore(settings.pin_store), load_or_create_key(settings.key_file), signer)
