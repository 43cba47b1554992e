"""Counters per series and step: PromQL increases (scoring/promql.py's definition), and integrals of gauges over
time (stream-seconds, container-seconds).

**Increase over a step** ``[a, b)``: PromQL's `increase(x[b − a])` evaluated at b over the series' samples with
``a ≤ t < b`` (half-open so steps tile; Prometheus 2.42 would also take a sample at exactly b). From raw this is
`promql_increase_sql` itself. From a rollup, each bucket holds the series' sample count and its first and last
(ms, value): the step's n, first and last samples are exact, and so is the reset correction for every drop between
two buckets (last of one > first of the next); `extrapolate` then applies `extrapolated_rate`'s steps 2–5 to those
figures. A drop *inside* a bucket is invisible to first/last — when a bucket's min is below its first value or its
max above its last (a reset happened inside it), the whole question is answered from raw instead (`fallback`).
A reset inside a bucket whose values never go below the first nor above the last (e.g. 5, 9, reset, 3, 12 in one
minute) is not detected: the one case where a rollup increase differs from raw (docs/metrics.md).

**Integral over a step**: each sample stands for the series' mean sampling interval in the step, (t_last −
t_first)/(n − 1), so ∫ ≈ Σ values × that interval (seconds × the gauge's unit); a series with one sample in the step
contributes nothing (no interval is known).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from scoring.catalog.dims import Lookups, filters_sql
from scoring.catalog.query import RAW, CatalogQuery, Source, params
from scoring.promql import extrapolate as promql_extrapolate
from scoring.promql import promql_increase_sql
from warehouse.client import Warehouse


@dataclass(frozen=True)
class SeriesValue:
    """One series in one step: its metric, orchestrator, instance, labels, step index, sample count and value
    (an increase in the counter's unit, or an integral in the gauge's unit × seconds; None when undefined)."""

    metric: str
    orchestrator: str
    instance: str
    labels: dict[str, str]
    step: int
    n: int
    value: float | None


def extrapolate(n: int, first: tuple[int, float], last: tuple[int, float], result: float, start_ms: int, end_ms: int,
                rate: bool = False) -> float | None:  # fmt: skip
    """Steps 2–5 of Prometheus 2.42's `extrapolatedRate` for a counter (scoring/promql.py `extrapolate`, the one
    implementation), from the summary of the selected samples: their count `n`, first and last (ms, value), and
    `result` = last − first plus the reset corrections. The increase in the counter's unit, or per second with
    `rate`; None with fewer than 2 samples."""
    if n < 2:
        return None
    return promql_extrapolate(result, n, first, last[0], start_ms, end_ms, is_counter=True, is_rate=rate)


_WIN_START = "({start:Int64} + step * {step:Int64})"
_WIN_END = "least({start:Int64} + (step + 1) * {step:Int64}, {end:Int64})"

_RAW_INCREASE = """
SELECT metric, orchestrator, instance, labels, step, length(pts) AS n, {inc} AS v
FROM (
    SELECT metric, orchestrator, instance, labels, {step} AS step, groupArray((toUnixTimestamp64Milli(ts), value)) AS pts
    FROM samples
    WHERE has({{metrics:Array(String)}}, metric) AND {where} AND orchestrator != '' {filters}
    GROUP BY metric, orchestrator, instance, labels, step
)
ORDER BY metric, orchestrator, instance, step
"""
# Per series and bucket first (bucket merges), then per series and step: the buckets in time order, their drops.
_ROLLUP_SUMMARY = """
SELECT metric, orchestrator, instance, labels, step, n, f0, f1, result, inner_drops
FROM (
    SELECT metric, orchestrator, instance, labels, step, sum(bn) AS n, arraySort(groupArray((bf, bl))) AS b,
           b[1].1 AS f0, b[-1].2 AS f1,
           arrayFold((acc, cur, prev) -> if(cur.1.2 < prev.2.2, acc + prev.2.2, acc), arrayPopFront(b), arrayPopBack(b),
                     toFloat64(f1.2 - f0.2)) AS result,
           countIf(lo < bf.2 OR hi > bl.2) AS inner_drops
    FROM (
        SELECT metric, orchestrator, instance, labels, bucket, {step} AS step,
               sum(n) AS bn, min(first_pt) AS bf, max(last_pt) AS bl, min(min_v) AS lo, max(max_v) AS hi
        FROM {table}
        WHERE has({{metrics:Array(String)}}, metric) AND {where} AND orchestrator != '' {filters}
        GROUP BY metric, orchestrator, instance, labels, bucket, step
    )
    GROUP BY metric, orchestrator, instance, labels, step
)
ORDER BY metric, orchestrator, instance, step
"""


def increases(wh: Warehouse, q: CatalogQuery, src: Source, lk: Lookups, metrics: tuple[str, ...],
              natural: tuple[str, ...]) -> tuple[list[SeriesValue], Source]:  # fmt: skip
    """The increase of every series of `metrics` in every step of `q` (filtered on the `natural` dimensions),
    and the source that answered: `src`, or raw when a rollup bucket holds a counter reset (see module doc).
    Series with fewer than 2 samples in a step have value None (PromQL gives no value)."""
    p: dict[str, Any] = {**params(q), **lk.params(), "metrics": list(metrics)}
    filters = filters_sql(q, natural, lk, p)
    if not src.raw:
        sql = _ROLLUP_SUMMARY.format(step=src.step, table=src.table, where=src.where(), filters=filters)
        rows = wh.query(sql, p).rows
        if not any(r[-1] for r in rows):
            return [
                SeriesValue(m, o, i, dict(lb), int(s), int(n),
                            extrapolate(int(n), first, last, float(res), *_window(q, int(s))))
                for m, o, i, lb, s, n, first, last, res, _d in rows
            ], src  # fmt: skip
    inc = promql_increase_sql("pts", start_expr=_WIN_START, end_expr=_WIN_END)
    sql = _RAW_INCREASE.format(step=RAW.step, where=RAW.where(), filters=filters, inc=inc)
    return [SeriesValue(m, o, i, dict(lb), int(s), int(n), None if v is None else float(v))
            for m, o, i, lb, s, n, v in wh.query(sql, p).rows], RAW  # fmt: skip


def _window(q: CatalogQuery, step: int) -> tuple[int, int]:
    start = q.start_ms + step * q.step_ms
    return start, min(start + q.step_ms, q.end_ms)


_INTEGRAL = """
SELECT metric, orchestrator, instance, labels, {step} AS step, {n} AS n, {s} AS s, {t0} AS t0, {t1} AS t1
FROM {table}
WHERE has({{metrics:Array(String)}}, metric) AND {where} AND orchestrator != '' {filters}
GROUP BY metric, orchestrator, instance, labels, step
ORDER BY metric, orchestrator, instance, step
"""


def integrals(wh: Warehouse, q: CatalogQuery, src: Source, lk: Lookups, metrics: tuple[str, ...],
              natural: tuple[str, ...]) -> list[SeriesValue]:  # fmt: skip
    """∫ value dt (gauge unit × seconds) of every series of `metrics` in every step, by the module doc's rule."""
    p: dict[str, Any] = {**params(q), **lk.params(), "metrics": list(metrics)}
    if src.raw:
        agg = {"n": "count()", "s": "sum(value)", "t0": "min(toUnixTimestamp64Milli(ts))", "t1": "max(toUnixTimestamp64Milli(ts))"}
    else:
        agg = {"n": "sum(n)", "s": "sum(sum_v)", "t0": "min(first_pt).1", "t1": "max(last_pt).1"}
    sql = _INTEGRAL.format(step=src.step, table=src.table, where=src.where(), filters=filters_sql(q, natural, lk, p), **agg)
    out = []
    for m, o, i, lb, s, n, total, t0, t1 in wh.query(sql, p).rows:
        interval_s = (int(t1) - int(t0)) / 1000 / (int(n) - 1) if int(n) > 1 else 0.0
        out.append(SeriesValue(m, o, i, dict(lb), int(s), int(n), float(total) * interval_s))
    return out
