"""The catalog's dimensions as SQL and as Python, from one table, and the lookups two of them need.

Every stored row has an orchestrator (from discovery), an instance and labels. Three dimensions are labels
(`gpu_id`, `gpu_instance`, and `workflow` = "pipeline/model_id"); two are looked up per window:
- region: the `region` label of the orchestrator's latest `naap_exporter_build_info` in the window (self-declared);
- gpu_model: the `name` label of the GPU's latest `naap_gpu_info` in the window (NVML's product name), keyed by
  the GPU UUID and also by its MIG instances' UUIDs (a runner on a MIG slice reports the MIG UUID as gpu_id).
The lookups are read from the same source as the question (raw or rollup), so both give the same answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from scoring.catalog.query import CatalogQuery, Source
from warehouse.client import Warehouse

# Which dimensions each family of series has.
STREAM = ("orchestrator", "region", "gpu_id", "gpu_model", "workflow")
GPU = ("orchestrator", "region", "gpu_id", "gpu_model", "gpu_instance")
ORCH = ("orchestrator", "region")
CAPACITY = ("orchestrator", "region", "workflow")

SQL = {
    "orchestrator": "orchestrator",
    "region": "transform(orchestrator, {lk_ro:Array(String)}, {lk_rv:Array(String)}, '')",
    "gpu_id": "labels['gpu_id']",
    "gpu_model": "transform(concat(orchestrator, ' ', labels['gpu_id']), {lk_mk:Array(String)}, {lk_mv:Array(String)}, '')",
    "gpu_instance": "labels['gpu_instance']",
    "workflow": "concat(labels['pipeline'], '/', labels['model_id'])",
}


@dataclass
class Lookups:
    """region by orchestrator; GPU model by (orchestrator, GPU or MIG UUID); the whole GPU's VRAM and CUDA version
    (labels of naap_gpu_info) by (orchestrator, GPU UUID)."""

    regions: dict[str, str] = field(default_factory=dict)
    models: dict[tuple[str, str], str] = field(default_factory=dict)
    gpu_info: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)

    def params(self) -> dict[str, Any]:
        """The lookup arrays the SQL of `SQL` reads (sorted: the same parameters give the same statement)."""
        regions = sorted(self.regions.items())
        models = sorted((f"{o} {g}", m) for (o, g), m in self.models.items())
        return {
            "lk_ro": [k for k, _ in regions], "lk_rv": [v for _, v in regions],
            "lk_mk": [k for k, _ in models], "lk_mv": [v for _, v in models],
        }  # fmt: skip

    def dims(self, orchestrator: str, labels: Mapping[str, str]) -> dict[str, str]:
        """Every dimension of one series, as the SQL of `SQL` computes it (for rows grouped in Python)."""
        gpu = labels.get("gpu_id", "")
        return {
            "orchestrator": orchestrator,
            "region": self.regions.get(orchestrator, ""),
            "gpu_id": gpu,
            "gpu_model": self.models.get((orchestrator, gpu), ""),
            "gpu_instance": labels.get("gpu_instance", ""),
            "workflow": f"{labels.get('pipeline', '')}/{labels.get('model_id', '')}",
        }


_REGIONS = """
SELECT orchestrator, argMax(labels['region'], ({t}, labels['region']))
FROM {table} WHERE metric = 'naap_exporter_build_info' AND {where} AND orchestrator != ''
GROUP BY orchestrator
"""
_GPUS = """
SELECT orchestrator, labels['gpu_id'] AS gpu, labels['gpu_instance'] AS gi, labels['mig_uuid'] AS mig,
       argMax(labels['name'], ({t}, labels['name'])), argMax(labels['vram_bytes'], ({t}, labels['vram_bytes'])),
       argMax(labels['cuda_version'], ({t}, labels['cuda_version']))
FROM {table} WHERE metric = 'naap_gpu_info' AND {where} AND orchestrator != ''
GROUP BY orchestrator, gpu, gi, mig
ORDER BY orchestrator, gpu, gi, mig
"""


def load_lookups(wh: Warehouse, src: Source, window: dict[str, Any]) -> Lookups:
    """Region and GPU model lookups from the build-info and GPU-info series in the window of `window` (`start`,
    `end` in ms), read from `src`. Ties in time are broken by the larger value, so raw and rollups agree."""
    t = "ts" if src.raw else "last_pt.1"
    fmt = {"table": src.table, "where": src.where(), "t": t}
    lk = Lookups()
    for orch, region in wh.query(_REGIONS.format(**fmt), window).rows:
        lk.regions[orch] = region
    for orch, gpu, gi, mig, name, vram, cuda in wh.query(_GPUS.format(**fmt), window).rows:
        if gi == "" or (orch, gpu) not in lk.models:
            lk.models[(orch, gpu)] = name
            lk.gpu_info[(orch, gpu)] = {"vram_bytes": vram, "cuda_version": cuda}
        if mig:
            lk.models[(orch, mig)] = name
    return lk


def group_dims(q: CatalogQuery, natural: tuple[str, ...]) -> list[str]:
    """The dimensions a metric with `natural` dimensions is grouped by for `q` (in `DIMENSIONS` order)."""
    return [d for d in SQL if d in q.by and d in natural]


def filters_sql(q: CatalogQuery, natural: tuple[str, ...], lk: Lookups, out: dict[str, Any]) -> str:
    """SQL conditions (each starting with AND) for `q`'s filters on a metric with `natural` dimensions; their
    parameters are added to `out`."""
    clauses = []
    if q.orchestrator:
        clauses.append("orchestrator = {f_orch:String}")
        out["f_orch"] = q.orchestrator
    if q.region:
        clauses.append("has({f_reg:Array(String)}, orchestrator)")
        out["f_reg"] = sorted(o for o, r in lk.regions.items() if r == q.region)
    if q.gpu_id and "gpu_id" in natural:
        clauses.append("labels['gpu_id'] = {f_gpu:String}")
        out["f_gpu"] = q.gpu_id
    if q.gpu_model and "gpu_model" in natural:
        clauses.append("has({f_mod:Array(String)}, concat(orchestrator, ' ', labels['gpu_id']))")
        out["f_mod"] = sorted(f"{o} {g}" for (o, g), m in lk.models.items() if m == q.gpu_model)
    if q.workflow and "workflow" in natural:
        clauses.append("(labels['model_id'] = {f_wf:String} OR concat(labels['pipeline'], '/', labels['model_id']) = {f_wf:String})")
        out["f_wf"] = q.workflow
    return "".join(f" AND {c}" for c in clauses)
