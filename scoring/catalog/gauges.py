"""Gauges over a window: count, sum, min, max per group and step, and for output FPS and jitter the exact
percentiles, the share at or above a target and the distinct streams — from raw samples or a rollup, same answer.

Percentiles are ClickHouse's `quantileExactInclusive` (what score v0 and the API have always used): for n sorted
values x₁ ≤ … ≤ xₙ and level p, h = p·(n − 1) + 1, k = ⌊h⌋; the answer is xₙ when k ≥ n, else
x_k + (h − k)·(x_{k+1} − x_k). Raw computes it with that function; a rollup holds each bucket's values with their
counts (the `exact` column), merged with `sumMap` and read with the same formula over the counts, step for step, so
the two agree bit for bit (tests/test_rollups.py checks it against the function itself).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from scoring.catalog.dims import SQL, Lookups, filters_sql, group_dims
from scoring.catalog.query import CatalogQuery, Source, params
from warehouse.client import Warehouse

# The metrics whose rollup rows carry the exact value counts (migration 0008's `exact` column).
EXACT_METRICS = ("naap_stream_output_fps", "naap_stream_jitter_ratio")


@dataclass(frozen=True)
class GaugeSpec:
    """Which gauges, grouped how. `natural`: the dimensions the series have. `extra`: labels every row is always
    split by (e.g. CUE's method and confidence: never mixed silently). `quantiles`: levels in [0, 1] (only for
    `EXACT_METRICS`). `compliance`: count the values at or above the workflow's target. `streams`: count distinct
    stream_ids."""

    metrics: tuple[str, ...]
    natural: tuple[str, ...]
    extra: tuple[str, ...] = ()
    quantiles: tuple[float, ...] = ()
    compliance: bool = False
    streams: bool = False


def weighted_quantile_sql(level: float, pairs: str) -> str:
    """SQL: `quantileExactInclusive(level)` of the values described by `pairs`, a Tuple(Array(Float64),
    Array(UInt64)) of sorted distinct values and their counts (what `sumMap` returns). NaN when empty."""
    lv = repr(float(level))
    rank = "_q_m.1[arrayFirstIndex(_q_c -> _q_c >= {r}, arrayCumSum(_q_m.2))]"
    lo, hi = rank.format(r="_q_k"), rank.format(r="_q_k + 1")
    body = (
        f"if(_q_n = 0, nan, if(_q_k >= _q_n, _q_m.1[-1], if(_q_k < 1, _q_m.1[1], {lo} + (_q_h - _q_k) * ({hi} - {lo}))))"
    )
    with_k = f"arrayElement(arrayMap(_q_k -> {body}, [toUInt64(_q_h)]), 1)"
    with_h = f"arrayElement(arrayMap(_q_h -> {with_k}, [{lv} * (toFloat64(_q_n) - 1) + 1]), 1)"
    with_n = f"arrayElement(arrayMap(_q_n -> {with_h}, [arraySum(_q_m.2)]), 1)"
    return f"arrayElement(arrayMap(_q_m -> {with_n}, [{pairs}]), 1)"


def _aggregates(spec: GaugeSpec, src: Source, target: str) -> list[str]:
    if src.raw:
        out = ["count() AS n", "sum(value) AS s", "min(value) AS lo", "max(value) AS hi"]
        out += [f"quantileExactInclusive({float(p)!r})(value) AS q{i}" for i, p in enumerate(spec.quantiles)]
        if spec.compliance:
            out.append(f"countIf(value >= {target}) AS ok")
        if spec.streams:
            out.append("uniqExactIf(labels['stream_id'], labels['stream_id'] != '') AS streams")
        return out
    out = ["sum(n) AS n", "sum(sum_v) AS s", "min(min_v) AS lo", "max(max_v) AS hi"]
    out += [f"{weighted_quantile_sql(p, 'sumMap(exact)')} AS q{i}" for i, p in enumerate(spec.quantiles)]
    if spec.compliance:
        out.append(f"sum(arraySum((_t_k, _t_c) -> if(_t_k >= {target}, _t_c, 0), exact.1, exact.2)) AS ok")
    if spec.streams:
        out.append("uniqExactMerge(streams) AS streams")
    return out


_TARGET = "transform(concat(labels['pipeline'], '/', labels['model_id']), {tg_w:Array(String)}, {tg_v:Array(Float64)}, nan)"


def workflows(wh: Warehouse, q: CatalogQuery, src: Source, metric: str) -> list[str]:
    """The workflows ("pipeline/model_id") `metric` has rows for in the window, sorted."""
    sql = (f"SELECT DISTINCT concat(labels['pipeline'], '/', labels['model_id']) AS w FROM {src.table} "
           f"WHERE metric = {{m:String}} AND {src.where()} ORDER BY w")  # fmt: skip
    return [r[0] for r in wh.query(sql, {**params(q), "m": metric}).rows]


def gauge_rows(wh: Warehouse, q: CatalogQuery, src: Source, lk: Lookups, spec: GaugeSpec,
               targets: dict[str, float] | None = None) -> list[dict[str, Any]]:  # fmt: skip
    """One dict per (metric, group, step): the group's dimensions and `extra` labels, ``step`` (index),
    ``n`` (samples), ``sum``, ``min``, ``max`` (the gauge's unit), ``q0``… (the `spec.quantiles` in order),
    ``ok`` (samples at or above the target of their workflow, given as `targets` {workflow: value}; a workflow
    without a target counts none) and ``streams``. Sorted by step, metric, then group."""
    p: dict[str, Any] = {**params(q), **lk.params(), "metrics": list(spec.metrics)}
    if spec.compliance:
        tg = sorted((targets or {}).items())
        p["tg_w"], p["tg_v"] = [w for w, _ in tg], [float(v) for _, v in tg]
    dims = group_dims(q, spec.natural)
    keys = [f"{SQL[d]} AS d_{d}" for d in dims] + [f"labels[{_lit(e)}] AS x_{e}" for e in spec.extra]
    names = [f"d_{d}" for d in dims] + [f"x_{e}" for e in spec.extra]
    sql = f"""
SELECT {src.step} AS step, metric, {', '.join(keys + _aggregates(spec, src, _TARGET))}
FROM {src.table}
WHERE has({{metrics:Array(String)}}, metric) AND {src.where()} AND orchestrator != '' {filters_sql(q, spec.natural, lk, p)}
GROUP BY {', '.join(['step', 'metric', *names])}
ORDER BY {', '.join(['step', 'metric', *names])}"""
    res = wh.query(sql, p)
    out = []
    for row in res.rows:
        r = dict(zip(res.columns, row))
        d: dict[str, Any] = {"step": int(r["step"]), "metric": r["metric"]}
        d.update({k: r[f"d_{k}"] for k in dims})
        d.update({k: r[f"x_{k}"] for k in spec.extra})
        d.update(n=int(r["n"]), sum=float(r["s"]), min=float(r["lo"]), max=float(r["hi"]))
        for i in range(len(spec.quantiles)):
            d[f"q{i}"] = float(r[f"q{i}"])
        if spec.compliance:
            d["ok"] = int(r["ok"])
        if spec.streams:
            d["streams"] = int(r["streams"])
        out.append(d)
    return out


def _lit(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise ValueError(f"not a label name: {name!r}")
    return f"'{name}'"
