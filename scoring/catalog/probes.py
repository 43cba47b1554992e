"""Catalog metrics measured by the load-test prober (docs/prober.md), read from `probe_runs` (migration 0009):
the orchestrator's service as a gateway saw it, beside what its own exporter reports (streams.py, hardware.py).

Every metric here has ``origin`` "probe"; the self-reported ones have "self-reported" (MetricResult.origin), so a
reader never mistakes one for the other. Dimensions: orchestrator, region (the orchestrator's, as the other
metrics: its build info's label — not the prober's region) and workflow ("live-video-to-video/<model_id>"); GPU
dimensions do not apply (a probe does not know which GPU served it), and a filter on them leaves these metrics
unfiltered, as for every metric that lacks a dimension.

Which probes count (the same rule as the cross-check, prober/crosscheck.py, and score v2): one row per probe id
(a retried insert stored twice counts once), started in the window, of an advertised model (model_id != '':
a probe whose info call failed is availability, which the scraper measures), not a `bad` dataset item (those test
error handling and never count), and with fault `none` or `orchestrator` (the prober's own faults and the excluded
classes — no capacity, certificate change — are left out).

Per group and step:
- probe_startup / probe_p2ff / probe_e2e (ms): ``samples`` (ok probes with the measurement), ``p50``, ``p95``
  (exact, nearest rank: the ⌈p·n⌉-th smallest), ``min``, ``max``, ``avg``, and ``probes`` (counted probes). Startup = start request → first
  output byte; P2FF = prompt change written → first visibly changed output frame; E2E = each probe's median frame
  latency (input segment POSTed → output segment with the same PTS read).
- probe_output_fps (frames/s): the same statistics over each ok probe's delivered FPS, plus ``delivery`` = mean
  output/input FPS (a probe's output can never exceed its own input rate).
- probe_failure_rate (ratio): probes that reached the orchestrator (its info call answered) and failed by its fault
  / probes that reached it, with its Wilson 95 % interval and ``by_class``.
- probe_swap_rate (ratio): probes that reached the orchestrator in which a production gateway would have swapped
  (swap_trigger set) / those probes, with its Wilson interval and ``by_trigger``.
"""

from __future__ import annotations

import math
from typing import Any

from scoring.catalog.dims import SQL as DIM_SQL
from scoring.catalog.result import Context, MetricResult, base, ratio, wilson_interval

TABLE = "probe_runs"
ORIGIN = "probe"
DIMS = ("orchestrator", "region", "workflow")  # what a probe row has
_DIM_SQL = {"orchestrator": "orchestrator", "region": DIM_SQL["region"], "workflow": "concat(workflow, '/', model_id)"}

# The probes that can count against an orchestrator, one row per probe id (see the module docstring).
COUNTED = f"""
SELECT * FROM {TABLE}
WHERE started_at >= fromUnixTimestamp64Milli({{start:Int64}}, 'UTC') AND started_at < fromUnixTimestamp64Milli({{end:Int64}}, 'UTC')
  AND model_id != '' AND item_kind != 'bad' AND fault IN ('none', 'orchestrator') {{filters}}
ORDER BY probe_id, ingested_at
LIMIT 1 BY probe_id
"""

_LATENCY = {"probe_startup": "startup_ms", "probe_p2ff": "p2ff_ms", "probe_e2e": "e2e_p50_ms", "probe_output_fps": "output_fps"}


def _values_sql(col: str, cond: str) -> str:
    return f"arraySort(groupArrayIf({col}, {col} IS NOT NULL AND isFinite({col}) AND {cond}))"


def nearest_rank(values: list[float], p: float) -> float | None:
    """The nearest-rank p-quantile of sorted `values`: the ⌈p·n⌉-th smallest (None when empty). Score v2 uses the
    same rule (scoring/probe_totals.py)."""
    if not values:
        return None
    return values[max(0, math.ceil(p * len(values)) - 1)]


def _groups(ctx: Context) -> list[str]:
    return [d for d in DIMS if d in ctx.q.by]


def _filters(ctx: Context, params: dict[str, Any]) -> str:
    q, out = ctx.q, []
    if q.orchestrator:
        out.append("orchestrator = {f_orch:String}")
        params["f_orch"] = q.orchestrator
    if q.region:
        out.append("has({f_reg:Array(String)}, orchestrator)")
        params["f_reg"] = sorted(o for o, r in ctx.lk.regions.items() if r == q.region)
    if q.workflow:
        out.append("(model_id = {f_wf:String} OR concat(workflow, '/', model_id) = {f_wf:String})")
        params["f_wf"] = q.workflow
    return "".join(f" AND {c}" for c in out)


def _query(ctx: Context) -> tuple[list[str], list[dict[str, Any]]]:
    """One row per group and step with every figure the six metrics need."""
    dims = _groups(ctx)
    params: dict[str, Any] = {"start": ctx.q.start_ms, "end": ctx.q.end_ms, "step": ctx.q.step_ms, **ctx.lk.params()}
    filters = _filters(ctx, params)
    dim_sql = "".join(f", {_DIM_SQL[d]} AS d_{d}" for d in dims)
    ok = "outcome = 'ok'"
    reached = "capacity_idle IS NOT NULL"
    sql = f"""
SELECT intDiv(toUnixTimestamp64Milli(started_at) - {{start:Int64}}, {{step:Int64}}) AS step{dim_sql},
       count() AS probes,
       countIf({reached}) AS reached,
       countIf({reached} AND fault = 'orchestrator') AS failed,
       countIf({reached} AND swap_trigger != '') AS swaps,
       arraySort(groupArrayIf(error_class, {reached} AND fault = 'orchestrator')) AS classes,
       arraySort(groupArrayIf(swap_trigger, {reached} AND swap_trigger != '')) AS triggers,
       {_values_sql("startup_ms", ok)}, {_values_sql("p2ff_ms", ok)}, {_values_sql("e2e_p50_ms", ok)},
       {_values_sql("output_fps", ok)},
       avgIf(output_fps / input_fps, {ok} AND input_fps > 0 AND output_fps IS NOT NULL) AS delivery
FROM ({COUNTED.replace("{filters}", filters)})
GROUP BY step{"".join(f", d_{d}" for d in dims)}
ORDER BY step{"".join(f", d_{d}" for d in dims)}
"""
    names = ["step", *[f"d_{d}" for d in dims], "probes", "reached", "failed", "swaps", "classes", "triggers"]
    names += list(_LATENCY) + ["delivery"]
    return dims, [dict(zip(names, r)) for r in ctx.wh.query(sql, params).rows]


def _num(v: Any) -> float | None:
    if v is None:
        return None
    f = float(v)
    return f if f == f and abs(f) != float("inf") else None


def _counts(values: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return out


def probe_metrics(ctx: Context) -> dict[str, MetricResult]:
    """The six probe metrics of the module docstring for `ctx`'s question, with one query."""
    dims, rows = _query(ctx)
    series = (TABLE,)
    out = {name: MetricResult(name, unit, TABLE, series, origin=ORIGIN) for name, unit in (
        ("probe_startup", "ms"), ("probe_p2ff", "ms"), ("probe_e2e", "ms"), ("probe_output_fps", "frames/s"),
        ("probe_failure_rate", "ratio"), ("probe_swap_rate", "ratio"))}  # fmt: skip
    for r in rows:
        head = base(ctx, int(r["step"]), {d: r[f"d_{d}"] for d in dims})
        for name in _LATENCY:
            values = [float(v) for v in r[name]]
            n = len(values)
            row = {**head, "samples": n, "probes": int(r["probes"]), "p50": nearest_rank(values, 0.5),
                   "p95": nearest_rank(values, 0.95), "min": values[0] if n else None, "max": values[-1] if n else None,
                   "avg": math.fsum(values) / n if n else None}  # fmt: skip
            if name == "probe_output_fps":
                row["delivery"] = _num(r["delivery"]) if n else None
            out[name].rows.append(row)
        reached = int(r["reached"])
        for name, num, detail, key in (("probe_failure_rate", int(r["failed"]), r["classes"], "by_class"),
                                       ("probe_swap_rate", int(r["swaps"]), r["triggers"], "by_trigger")):  # fmt: skip
            out[name].rows.append({**head, "probes": int(r["probes"]), "reached": reached, "events": num,
                                   "value": ratio(num, reached), "wilson": wilson_interval(num, reached),
                                   key: _counts(list(detail))})  # fmt: skip
    for res in out.values():
        if not res.rows:
            res.note = "no counted probe in the window (the prober is off, or did not probe these orchestrators)"
    return out


def _one(name: str):  # noqa: ANN202 - a CATALOG entry
    def metric(ctx: Context) -> MetricResult:
        return probe_metrics(ctx)[name]

    metric.__name__ = name
    metric.__doc__ = f"{name}: see scoring/catalog/probes.py (measured by the prober; origin 'probe')."
    return metric


probe_startup = _one("probe_startup")
probe_p2ff = _one("probe_p2ff")
probe_e2e = _one("probe_e2e")
probe_output_fps = _one("probe_output_fps")
probe_failure_rate = _one("probe_failure_rate")
probe_swap_rate = _one("probe_swap_rate")
NAMES = ("probe_startup", "probe_p2ff", "probe_e2e", "probe_output_fps", "probe_failure_rate", "probe_swap_rate")
