"""What every catalog metric returns, the context its queries share, and the small arithmetic they have in common
(Wilson intervals, grouping per-series values in Python)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

from exporter.common.clock import now_ms
from scoring.catalog.counters import SeriesValue
from scoring.catalog.dims import Lookups, group_dims, load_lookups
from scoring.catalog.query import CatalogQuery, Source, params, pick_source
from warehouse.client import Warehouse

Targets = Callable[[str], float] | Mapping[str, float]
"""Output-FPS targets by workflow: a callable ``workflow -> fps`` (e.g. ``lambda w: cfg.targets(w).output_fps``
with the lead's scoring.sla_v1.ConfigV1), or a mapping {"pipeline/model_id" or model_id or "default": fps}."""


@dataclass
class Context:
    """One question's shared state: the warehouse, the question, the source it reads and the lookups."""

    wh: Warehouse
    q: CatalogQuery
    src: Source
    lk: Lookups


def open_context(wh: Warehouse, q: CatalogQuery) -> Context:
    """The source `q` reads (pick_source) and its lookups."""
    src = pick_source(q)
    return Context(wh, q, src, load_lookups(wh, src, params(q)))


@dataclass
class MetricResult:
    """One catalog metric's answer: `rows` (one per group and step, each with ``start``/``end`` in ms and its
    dimensions), the `unit` of its value fields, the `source` that answered (raw | rollup_1m | rollup_5m |
    rollup_1h | probe_runs), the series it was derived from, its `origin` ("self-reported": the orchestrator's own
    exporter; "probe": measured by the load-test prober, scoring/catalog/probes.py) and a `note` where the value is
    absent or qualified."""

    name: str
    unit: str
    source: str
    series: tuple[str, ...]
    rows: list[dict[str, Any]] = field(default_factory=list)
    note: str = ""
    origin: str = "self-reported"

    def as_dict(self) -> dict[str, Any]:
        """{"unit", "source", "origin", "series", "rows"[, "note"]}: what `catalog` returns per metric."""
        out: dict[str, Any] = {"unit": self.unit, "source": self.source, "origin": self.origin, "series": list(self.series),
                               "rows": self.rows}  # fmt: skip
        if self.note:
            out["note"] = self.note
        return out


def wilson_interval(successes: float, n: float, z: float = 1.96) -> tuple[float, float] | None:
    """The Wilson score interval (lower, upper) of a proportion `successes`/`n` at normal quantile `z` (1.96: 95 %),
    Wilson (1927), as score v0's `wilson_lower`; counts may be fractional (PromQL increases are estimates). None when
    n <= 0. `successes` is clamped to [0, n]."""
    if n <= 0:
        return None
    k = min(max(successes, 0.0), n)
    p = k / n
    denom = 1 + z * z / n
    centre = p + z * z / (2 * n)
    margin = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, (centre - margin) / denom), min(1.0, (centre + margin) / denom)


def ratio(num: float, den: float) -> float | None:
    """num / den, None when den is 0 (no events: no rate, never 0)."""
    return num / den if den else None


def target_of(targets: Targets | None, workflow: str) -> float | None:
    """The output-FPS target of "pipeline/model_id" from `targets` (see `Targets`); None without targets."""
    if targets is None:
        return None
    if callable(targets):
        return float(targets(workflow))
    model = workflow.rpartition("/")[2]
    for key in (workflow, model, "default"):
        if key in targets:
            return float(targets[key])
    return None


def base(ctx: Context, step: int, dims: Mapping[str, Any]) -> dict[str, Any]:
    """A row's head: its step's ``start`` and ``end`` (ms) and its dimensions."""
    start = ctx.q.start_ms + step * ctx.q.step_ms
    return {"start": start, "end": min(start + ctx.q.step_ms, ctx.q.end_ms), **dims}


def step_seconds(ctx: Context, step: int) -> float:
    """The length of a step in seconds."""
    start = ctx.q.start_ms + step * ctx.q.step_ms
    return (min(start + ctx.q.step_ms, ctx.q.end_ms) - start) / 1000


def covered_seconds(ctx: Context, step: int) -> float:
    """The seconds of a step the data covers: from its start to its end or the question's as-of (default now),
    whichever is earlier — an open step (the current hour) is averaged over the time that has passed, not the whole
    step. 0 for a step that starts after the as-of."""
    start = ctx.q.start_ms + step * ctx.q.step_ms
    as_of = ctx.q.as_of_ms if ctx.q.as_of_ms is not None else now_ms()
    return max(0, min(start + ctx.q.step_ms, ctx.q.end_ms, as_of) - start) / 1000


def grouped(ctx: Context, natural: tuple[str, ...], values: Iterable[SeriesValue],
            extra: tuple[str, ...] = ()) -> dict[tuple, dict[str, Any]]:  # fmt: skip
    """Per-series values summed per (step, the question's dimensions among `natural`, `extra` labels):
    {key: {"step", dims…, extras…, "value": Σ values (None when no series of the group has one, e.g. a counter
    with one sample in the step), "n": Σ samples, "series": count, "missing": series without a value}}. Keys sort by
    step, then dimensions."""
    dims = group_dims(ctx.q, natural)
    out: dict[tuple, dict[str, Any]] = {}
    # Summed in one canonical order, so the float sums are the same whatever order the warehouse returned.
    for v in sorted(values, key=lambda v: (v.step, v.metric, v.orchestrator, v.instance, sorted(v.labels.items()))):
        all_dims = ctx.lk.dims(v.orchestrator, v.labels)
        key = (v.step, *(all_dims[d] for d in dims), *(v.labels.get(e, "") for e in extra))
        g = out.get(key)
        if g is None:
            g = out[key] = {"step": v.step, **{d: all_dims[d] for d in dims}, **{e: v.labels.get(e, "") for e in extra},
                            "value": 0.0, "n": 0, "series": 0, "missing": 0}  # fmt: skip
        g["n"] += v.n
        g["series"] += 1
        if v.value is None:
            g["missing"] += 1
        else:
            g["value"] += v.value
    for g in out.values():
        if g["missing"] == g["series"]:
            g["value"] = None
    return dict(sorted(out.items()))


def dims_of(row: Mapping[str, Any], ctx: Context, natural: tuple[str, ...], extra: tuple[str, ...] = ()) -> dict[str, Any]:
    """The dimension (and `extra` label) entries of a grouped row."""
    return {k: row[k] for k in [*group_dims(ctx.q, natural), *extra]}
