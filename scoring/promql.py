"""Counters become rates and increases exactly as PromQL defines them — one definition, in Python and in SQL.

The definition is Prometheus 2.42's (the release Debian 12 ships as `/usr/bin/prometheus`, which the tests run
as the oracle):

- Selection, `x[r]` evaluated at time T: the samples with ``T - r <= t <= T`` — **both ends inclusive**
  (promql/engine.go, `evaluator.matrixSelector`: ``mint = maxt - durationMilliseconds(node.Range)``, and
  `evaluator.matrixIterSlice` keeps ``t >= mint`` up to ``t == maxt``). Stale markers (the one NaN bit pattern
  0x7ff0000000000002, `model/value.IsStaleNaN`) are skipped there. Prometheus 3.0 made the left end open; this
  module follows 2.42, and tests/test_promql.py checks the rule against the real 2.42 binary.
- Extrapolation: promql/functions.go, `extrapolatedRate` (called by `funcRate`, `funcIncrease`, `funcDelta`),
  reproduced operation by operation below (same order of floating-point operations, so results are bit-exact).

`extrapolated_rate` is the reference in Python; `promql_sql` writes the same definition as one ClickHouse
expression over an array of ``(ms, value)`` tuples, for the catalog to use inside a ``GROUP BY series`` query;
`series_windows` / `series_increase` / `series_rate` are a small API over the raw `samples` table built on it.
docs/metrics.md, "Rates and increases", states the definition for readers.

Units everywhere: timestamps and window bounds are integer milliseconds since the Unix epoch (UTC); an increase
or delta is in the counter's own unit; a rate is that unit per second.
"""

from __future__ import annotations

import math
import re
import struct
from typing import Any, Iterable, Mapping, Sequence

from warehouse.client import Warehouse

Sample = tuple[int, float]
"""One sample: (timestamp in ms since the epoch, value)."""

SeriesKey = tuple[str, str, tuple[tuple[str, str], ...]]
"""A series of the `samples` table: (orchestrator, instance, its labels as sorted (name, value) pairs)."""

STALE_NAN_BITS = 0x7FF0000000000002
"""Prometheus' staleness marker: a NaN with this bit pattern (model/value/value.go, `StaleNaN`)."""

FUNCTIONS = ("increase", "rate", "delta")


# -- the Python reference ---------------------------------------------------------------------------------


def is_stale_marker(value: float) -> bool:
    """Whether `value` is Prometheus' staleness marker (model/value/value.go, `IsStaleNaN`): a NaN with the
    exact bits 0x7ff0000000000002. An ordinary NaN is a value like any other."""
    return struct.unpack("<Q", struct.pack("<d", value))[0] == STALE_NAN_BITS


def select(samples: Iterable[Sample], range_ms: int, at_ms: int) -> list[Sample]:
    """The samples a range selector ``x[range]`` evaluated at `at_ms` gives in Prometheus 2.42, in time order.

    Both ends inclusive: ``at_ms - range_ms <= t <= at_ms`` (promql/engine.go, `evaluator.matrixSelector` sets
    ``mint = maxt - durationMilliseconds(node.Range)``; `evaluator.matrixIterSlice` keeps samples with
    ``t >= mint`` and the sought sample at ``t == maxt``), staleness markers dropped. Measured against the real
    2.42 binary in tests/test_promql.py (Prometheus 3.0 changed this to ``at - range < t``).

    `samples`: (ms, value) pairs of one series, any order."""
    lo = at_ms - range_ms
    return [(t, v) for t, v in sorted(samples) if lo <= t <= at_ms and not is_stale_marker(v)]


def go_duration_seconds(ms: int) -> float:
    """A duration of `ms` milliseconds as Go's `time.Duration.Seconds()` computes it (``float64(sec) +
    float64(nsec)/1e9``), which `extrapolatedRate` divides by for a rate (`ms.Range.Seconds()`)."""
    sec, rem = divmod(abs(ms), 1000)
    out = float(sec) + float(rem * 1_000_000) / 1e9
    return -out if ms < 0 else out


def extrapolated_rate(samples: list[Sample], range_start_ms: int, range_end_ms: int, is_counter: bool,
                      is_rate: bool) -> float | None:  # fmt: skip
    """Prometheus 2.42's `extrapolatedRate` (promql/functions.go) for float samples, step by step.

    `samples`: the selected samples of one series in time order (see `select`), (ms, value).
    `range_start_ms`, `range_end_ms`: the range, ``T - r`` and ``T`` (ms). Returns the increase (counter unit)
    or, when `is_rate`, the per-second rate; None with fewer than 2 samples (Prometheus drops the series).

    1. result = last - first; for a counter, each drop (v[i] < v[i-1]) is a reset: add v[i-1].
    2. durationToStart = (t_first - start)/1000 s, durationToEnd = (end - t_last)/1000 s,
       sampledInterval = (t_last - t_first)/1000 s, average = sampledInterval / (n - 1).
    3. Counter zero point: if result > 0 and v_first >= 0, durationToZero = sampledInterval·(v_first/result);
       durationToStart = min(durationToStart, durationToZero) — a counter is never extrapolated below 0.
    4. Each end is extrapolated to the range boundary when closer than 1.1 × average, else by average/2.
    5. result × (extrapolated interval / sampledInterval), divided by the range in seconds for a rate.
    """
    n = len(samples)
    if n < 2:
        return None
    t_first, v_first = samples[0]
    t_last, v_last = samples[-1]
    result = v_last - v_first
    if is_counter:
        prev = v_first
        for _, cur in samples[1:]:
            if cur < prev:
                result += prev
            prev = cur
    return extrapolate(result, n, (t_first, v_first), t_last, range_start_ms, range_end_ms, is_counter, is_rate)


def extrapolate(result: float, n: int, first: Sample, t_last_ms: int, range_start_ms: int, range_end_ms: int,
                is_counter: bool, is_rate: bool) -> float:  # fmt: skip
    """Steps 2–5 of `extrapolated_rate` from a summary of the selected samples: `result` (step 1: last − first plus
    the reset corrections), their count `n` (≥ 2), the first sample (ms, value) and the last one's time — what a
    rollup row keeps, so the catalog's rollup path (scoring/catalog/counters.py) runs these same operations."""
    t_first, v_first = first
    duration_to_start = float(t_first - range_start_ms) / 1000
    duration_to_end = float(range_end_ms - t_last_ms) / 1000
    sampled_interval = float(t_last_ms - t_first) / 1000
    average = sampled_interval / float(n - 1)
    if is_counter and result > 0 and v_first >= 0:
        duration_to_zero = sampled_interval * (v_first / result)
        if duration_to_zero < duration_to_start:
            duration_to_start = duration_to_zero
    threshold = average * 1.1
    extrapolate_to = sampled_interval
    extrapolate_to += duration_to_start if duration_to_start < threshold else average / 2
    extrapolate_to += duration_to_end if duration_to_end < threshold else average / 2
    factor = _div(extrapolate_to, sampled_interval)
    if is_rate:
        factor = _div(factor, go_duration_seconds(range_end_ms - range_start_ms))
    return result * factor


def _div(a: float, b: float) -> float:
    """IEEE division as Go does it: x/0 is ±Inf (NaN for 0/0), where Python would raise."""
    if b == 0:
        return math.nan if a == 0 or math.isnan(a) else math.copysign(math.inf, a) * math.copysign(1.0, b)
    return a / b


def increase(samples: Iterable[Sample], range_ms: int, at_ms: int) -> float | None:
    """PromQL ``increase(x[range])`` at `at_ms` (promql/functions.go, `funcIncrease`): counter unit, None with
    fewer than 2 samples in the range."""
    return extrapolated_rate(select(samples, range_ms, at_ms), at_ms - range_ms, at_ms, True, False)


def rate(samples: Iterable[Sample], range_ms: int, at_ms: int) -> float | None:
    """PromQL ``rate(x[range])`` at `at_ms` (promql/functions.go, `funcRate`): counter unit per second."""
    return extrapolated_rate(select(samples, range_ms, at_ms), at_ms - range_ms, at_ms, True, True)


def delta(samples: Iterable[Sample], range_ms: int, at_ms: int) -> float | None:
    """PromQL ``delta(x[range])`` at `at_ms` (promql/functions.go, `funcDelta`): for gauges, no reset
    correction and no zero-point cap; the gauge's unit."""
    return extrapolated_rate(select(samples, range_ms, at_ms), at_ms - range_ms, at_ms, False, False)


# -- the same definition in SQL (ClickHouse) --------------------------------------------------------------

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _let(var: str, value: str, body: str) -> str:
    """`body` with `var` bound to `value`: ClickHouse has no let-expression, a lambda over a one-element array is
    one (evaluated once; nested lambdas capture the outer variables)."""
    return f"arrayElement(arrayMap({var} -> {body}, [{value}]), 1)"


def promql_sql(points_expr: str, start_expr: str, end_expr: str, *, counter: bool, rate: bool) -> str:
    """One ClickHouse expression: `extrapolated_rate` over the points of one series, as Nullable(Float64).

    `points_expr`: an Array(Tuple(Int64, Float64)) of (ms, value), any order, e.g.
    ``groupArray((toUnixTimestamp64Milli(ts), value))``; it may hold more than the window — the expression
    selects ``start <= t <= end`` itself (the 2.42 rule, see `select`) and drops staleness markers.
    `start_expr`, `end_expr`: SQL expressions for the range in ms (Int64): a parameter (``{start:Int64}``) or a
    column (a window from ``ARRAY JOIN``), so one query can evaluate many series × windows.
    NULL with fewer than 2 selected points. Same operations in the same order as the Python reference, so the
    values are bit-identical (tests/test_promql.py): the reset correction is a sequential `arrayFold`, never a
    (possibly reordered) `arraySum`. Lambda variables are prefixed ``_pq_`` to stay clear of column names.
    """
    s, e = f"toInt64({start_expr})", f"toInt64({end_expr})"
    keep = (
        f"arrayFilter(_pq_x -> _pq_x.1 >= {s} AND _pq_x.1 <= {e} "
        f"AND reinterpretAsUInt64(_pq_x.2) != {STALE_NAN_BITS}, {points_expr})"
    )
    # _pq_p: the selected points in time order. _pq_v: their values. _pq_r: last - first (+ resets).
    first_t, last_t, first_v = "_pq_p[1].1", "_pq_p[-1].1", "_pq_v[1]"
    raw = "toFloat64(_pq_v[-1] - _pq_v[1])"
    result = (
        f"arrayFold((_pq_acc, _pq_cur, _pq_prev) -> if(_pq_cur < _pq_prev, _pq_acc + _pq_prev, _pq_acc), "
        f"arrayPopFront(_pq_v), arrayPopBack(_pq_v), {raw})"
        if counter
        else raw
    )
    # _pq_d: (durationToStart, durationToEnd, sampledInterval, average) in seconds.
    durations = (
        f"tuple(toFloat64({first_t} - {s}) / 1000, toFloat64({e} - {last_t}) / 1000, "
        f"toFloat64({last_t} - {first_t}) / 1000, "
        f"(toFloat64({last_t} - {first_t}) / 1000) / toFloat64(length(_pq_p) - 1))"
    )
    to_start = "_pq_d.1"
    if counter:
        zero = f"_pq_d.3 * ({first_v} / _pq_r)"
        to_start = f"if(_pq_r > 0 AND {first_v} >= 0 AND {zero} < _pq_d.1, {zero}, _pq_d.1)"
    extrapolated = (
        f"_pq_d.3 + if(_pq_s < _pq_d.4 * 1.1, _pq_s, _pq_d.4 / 2) + if(_pq_d.2 < _pq_d.4 * 1.1, _pq_d.2, _pq_d.4 / 2)"
    )
    factor = f"({extrapolated}) / _pq_d.3"
    if rate:
        span = f"({e} - {s})"
        seconds = f"(toFloat64(intDiv({span}, 1000)) + toFloat64(({span} % 1000) * 1000000) / 1e9)"
        factor = f"({factor}) / {seconds}"
    scalar = _let("_pq_s", to_start, f"_pq_r * ({factor})")
    body = _let("_pq_v", "arrayMap(_pq_y -> _pq_y.2, _pq_p)", _let("_pq_r", result, _let("_pq_d", durations, scalar)))
    return _let("_pq_p", f"arraySort({keep})", f"if(length(_pq_p) < 2, NULL, {body})")


def _bounds(start_param: str | None, end_param: str | None, start_expr: str | None,
            end_expr: str | None) -> tuple[str, str]:  # fmt: skip
    out = []
    for param, expr, which in ((start_param, start_expr, "start"), (end_param, end_expr, "end")):
        if (param is None) == (expr is None):
            raise ValueError(f"give exactly one of {which}_param and {which}_expr")
        if param is not None:
            if not _IDENT.match(param):
                raise ValueError(f"{which}_param must be an identifier, got {param!r}")
            out.append(f"{{{param}:Int64}}")
        else:
            out.append(f"({expr})")
    return out[0], out[1]


def promql_increase_sql(points_expr: str, start_param: str | None = None, end_param: str | None = None, *,
                        start_expr: str | None = None, end_expr: str | None = None) -> str:  # fmt: skip
    """``increase`` as a SQL expression (see `promql_sql`). The range is given either as query parameter names
    (``start_param="start"`` → ``{start:Int64}``, ms) or as SQL expressions (``start_expr="w.1"``)."""
    return promql_sql(points_expr, *_bounds(start_param, end_param, start_expr, end_expr), counter=True, rate=False)


def promql_rate_sql(points_expr: str, start_param: str | None = None, end_param: str | None = None, *,
                    start_expr: str | None = None, end_expr: str | None = None) -> str:  # fmt: skip
    """``rate`` (per second, over the range end − start) as a SQL expression (see `promql_increase_sql`)."""
    return promql_sql(points_expr, *_bounds(start_param, end_param, start_expr, end_expr), counter=True, rate=True)


def promql_delta_sql(points_expr: str, start_param: str | None = None, end_param: str | None = None, *,
                     start_expr: str | None = None, end_expr: str | None = None) -> str:  # fmt: skip
    """``delta`` (a gauge: no reset correction, no zero-point cap) as a SQL expression."""
    return promql_sql(points_expr, *_bounds(start_param, end_param, start_expr, end_expr), counter=False, rate=False)


# -- over the raw samples table ---------------------------------------------------------------------------

_SERIES_SQL = """
SELECT orchestrator, instance, lbl, _pq_w.1 AS start_ms, _pq_w.2 AS end_ms, {value} AS value
FROM (
    SELECT orchestrator, instance, arraySort(arrayZip(mapKeys(labels), mapValues(labels))) AS lbl,
           groupArray((toUnixTimestamp64Milli(ts), value)) AS pts
    FROM samples
    WHERE metric = {{metric:String}}
      AND ts >= fromUnixTimestamp64Milli({{lo:Int64}}, 'UTC') AND ts <= fromUnixTimestamp64Milli({{hi:Int64}}, 'UTC')
      {filters}
    GROUP BY orchestrator, instance, lbl
)
ARRAY JOIN {{windows:Array(Tuple(Int64, Int64))}} AS _pq_w
ORDER BY orchestrator, instance, lbl, start_ms, end_ms
"""


def series_windows(warehouse: Warehouse, metric: str, windows: Sequence[tuple[int, int]], fn: str = "increase",
                   filters: Mapping[str, str] | None = None, as_of_ms: int | None = None,
                   ) -> dict[tuple[SeriesKey, int, int], float]:  # fmt: skip
    """`fn` (increase, rate or delta) of every series of `metric` in `samples`, for every window, in one query.

    `windows`: (start_ms, end_ms) pairs, each selecting ``start <= ts <= end`` (PromQL 2.42's ``x[end - start]``
    at ``end``). `filters`: exact matches; ``orchestrator`` and ``instance`` are the columns, any other name a
    label. `as_of_ms`: only rows ingested before it (``ingested_at < as_of``), for replayable results.
    Returns {(series, start_ms, end_ms): value}; a series with fewer than 2 samples in a window is absent, as
    in PromQL."""
    if fn not in FUNCTIONS:
        raise ValueError(f"fn must be one of {FUNCTIONS}, got {fn!r}")
    wins = [(int(a), int(b)) for a, b in windows]
    if not wins:
        return {}
    params: dict[str, Any] = {
        "metric": metric, "windows": wins, "lo": min(a for a, _ in wins), "hi": max(b for _, b in wins),
    }  # fmt: skip
    clauses = []
    for i, (name, value) in enumerate(sorted((filters or {}).items())):
        params[f"pq_fv{i}"] = value
        if name in ("orchestrator", "instance"):
            clauses.append(f"{name} = {{pq_fv{i}:String}}")
        else:
            params[f"pq_fk{i}"] = name
            clauses.append(f"labels[{{pq_fk{i}:String}}] = {{pq_fv{i}:String}}")
    if as_of_ms is not None:
        params["pq_as_of"] = int(as_of_ms)
        clauses.append("ingested_at < fromUnixTimestamp64Milli({pq_as_of:Int64}, 'UTC')")
    value = promql_sql("pts", "_pq_w.1", "_pq_w.2", counter=fn != "delta", rate=fn == "rate")
    sql = _SERIES_SQL.format(value=value, filters="".join(f"AND {c} " for c in clauses))
    out: dict[tuple[SeriesKey, int, int], float] = {}
    for orch, inst, lbl, start_ms, end_ms, v in warehouse.query(sql, params).rows:
        if v is not None:
            out[((orch, inst, tuple((str(k), str(x)) for k, x in lbl)), int(start_ms), int(end_ms))] = float(v)
    return out


def series_increase(warehouse: Warehouse, metric: str, start_ms: int, end_ms: int,
                    filters: Mapping[str, str] | None = None, as_of_ms: int | None = None,
                    ) -> dict[SeriesKey, float]:  # fmt: skip
    """``increase(metric{filters}[end - start])`` at `end_ms`, per series of the `samples` table: {series:
    increase in the counter's unit}. Series with fewer than 2 samples in ``[start, end]`` are absent."""
    got = series_windows(warehouse, metric, [(start_ms, end_ms)], "increase", filters, as_of_ms)
    return {key: v for (key, _, _), v in got.items()}


def series_rate(warehouse: Warehouse, metric: str, start_ms: int, end_ms: int,
                filters: Mapping[str, str] | None = None, as_of_ms: int | None = None,
                ) -> dict[SeriesKey, float]:  # fmt: skip
    """``rate(metric{filters}[end - start])`` at `end_ms`, per series: {series: counter unit per second}."""
    got = series_windows(warehouse, metric, [(start_ms, end_ms)], "rate", filters, as_of_ms)
    return {key: v for (key, _, _), v in got.items()}


def histogram_quantile(q: float, buckets: dict[float, float]) -> float | None:
    """PromQL `histogram_quantile(q, …)` over one series' cumulative buckets {upper bound: count} (+Inf as
    math.inf), as Prometheus 2.42 computes it (promql/quantile.go bucketQuantile): counts made monotonic, the
    bucket holding rank q·count(+Inf) found, and the value interpolated linearly inside it from the previous
    bound (0 for the first bucket, unless its bound is ≤ 0); a rank in the +Inf bucket gives the highest finite
    bound. None where Prometheus answers NaN (no +Inf bucket, fewer than 2 buckets, no observations)."""
    if math.isnan(q):
        return None
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    bounds = sorted(buckets)
    if not bounds or not math.isinf(bounds[-1]) or len(bounds) < 2:
        return None
    counts, top = [], 0.0
    for b in bounds:  # ensureMonotonic: a count below its predecessor is raised to it
        top = max(top, float(buckets[b]))
        counts.append(top)
    observations = counts[-1]
    if observations == 0:
        return None
    rank = q * observations
    i = next((k for k in range(len(bounds) - 1) if counts[k] >= rank), len(bounds) - 1)
    if i == len(bounds) - 1:
        return bounds[-2]
    if i == 0 and bounds[0] <= 0:
        return bounds[0]
    start, count = 0.0, counts[i]
    if i > 0:
        start, count, rank = bounds[i - 1], count - counts[i - 1], rank - counts[i - 1]
    if count == 0:
        return None  # 0/0: Prometheus' NaN
    return start + (bounds[i] - start) * (rank / count)
