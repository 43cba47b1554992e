"""The API's own reads of the warehouse: published scores (`sla_scores`), who declares which region, what each
orchestrator offers (go-livepeer's container gauges, the prober's quotes), versions, and an orchestrator's raw
samples. Everything runs on the API's read-only handle (server-side time limit; a query past it is a 503).

The metric catalog (scoring/catalog) answers the metrics themselves; this module reads what is published or
declared. Regions and GPU models come from the catalog's lookups (scoring.catalog.dims), read from the coarsest
rollup that covers the window, so the API never scans raw samples to label a score.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from scoring.catalog.dims import Lookups, load_lookups
from scoring.catalog.query import CatalogQuery, Source, pick_source

H_MS = 3_600_000

_SCORE_COLS = """orchestrator, workflow, toUnixTimestamp64Milli(window_start) AS ws, toUnixTimestamp64Milli(window_end) AS we,
       score, score_lower, score_upper, coverage, status, detail, toUnixTimestamp64Milli(as_of) AS asof, config_hash,
       period"""

_WORKFLOW_SQL = "(workflow = {wf:String} OR substring(workflow, position(workflow, '/') + 1) = {wf:String})"


@dataclass(frozen=True)
class ScoreFilter:
    """Which published rows: `workflow` None = the orchestrators' own rows (workflow ''), "*" = every workflow row
    (not the own ones), else one workflow (pipeline/model_id or model_id); `every` = all rows, own and workflows."""

    orchestrator: str | None = None
    workflow: str | None = None
    every: bool = False

    def sql(self, params: dict[str, Any]) -> str:
        out = []
        if self.orchestrator:
            out.append("orchestrator = {orch:String}")
            params["orch"] = self.orchestrator
        if self.every:
            pass
        elif self.workflow is None:
            out.append("workflow = ''")
        elif self.workflow == "*":
            out.append("workflow != ''")
        else:
            out.append(_WORKFLOW_SQL)
            params["wf"] = self.workflow
        return "".join(f" AND {c}" for c in out)


def latest_window_end(wh: Any, period: str, version: str, until_ms: int | None = None) -> int | None:
    """The end of the latest published window of `period` for config `version` (at or before `until_ms`)."""
    params: dict[str, Any] = {"period": period, "version": version}
    cond = ""
    if until_ms is not None:
        cond = " AND window_end <= fromUnixTimestamp64Milli({until:Int64}, 'UTC')"
        params["until"] = until_ms
    v = wh.scalar(
        "SELECT toUnixTimestamp64Milli(max(window_end)) FROM sla_scores "
        "WHERE period = {period:String} AND config_version = {version:String}" + cond + " HAVING count() > 0",
        params,
    )
    return int(v) if v is not None else None


def _row(r: tuple) -> dict[str, Any]:
    orch, wf, ws, we, score, lo, hi, cov, status, detail, asof, chash, period = r
    try:
        d = json.loads(detail) if detail else {}
    except ValueError:
        d = {}
    return {"orchestrator": orch, "workflow": wf, "window_start": int(ws), "window_end": int(we), "score": score,
            "score_lower": lo, "score_upper": hi, "coverage": cov, "status": status, "detail": d,
            "as_of": int(asof) if asof is not None else None, "config_hash": chash, "period": period}  # fmt: skip


def scores_at(wh: Any, period: str, version: str, window_end_ms: int, f: ScoreFilter) -> list[dict[str, Any]]:
    """The rows published for the window ending at `window_end_ms`, one per (orchestrator, workflow) — the first
    published if a window was published twice — sorted by orchestrator, workflow."""
    params: dict[str, Any] = {"period": period, "version": version, "end": window_end_ms}
    sql = (f"SELECT {_SCORE_COLS} FROM sla_scores WHERE period = {{period:String}} AND config_version = {{version:String}} "
           f"AND window_end = fromUnixTimestamp64Milli({{end:Int64}}, 'UTC'){f.sql(params)} "
           "ORDER BY orchestrator, workflow, computed_ts LIMIT 1 BY orchestrator, workflow")  # fmt: skip
    return [_row(r) for r in wh.query(sql, params).rows]


def score_history(wh: Any, period: str, version: str, from_ms: int, to_ms: int, f: ScoreFilter,
                  after: tuple[int, str, str] | None, limit: int) -> list[dict[str, Any]]:  # fmt: skip
    """Published rows with `from_ms` <= window_end <= `to_ms`, sorted by (window_end, orchestrator, workflow),
    after the key `after`, at most `limit`."""
    params: dict[str, Any] = {"period": period, "version": version, "lo": from_ms, "hi": to_ms, "limit": limit}
    keyset = ""
    if after is not None:
        keyset = (" AND (toUnixTimestamp64Milli(window_end), orchestrator, workflow) > "
                  "({a_end:Int64}, {a_orch:String}, {a_wf:String})")  # fmt: skip
        params.update(a_end=int(after[0]), a_orch=str(after[1]), a_wf=str(after[2]))
    sql = (f"SELECT {_SCORE_COLS} FROM sla_scores WHERE period = {{period:String}} AND config_version = {{version:String}} "
           "AND window_end >= fromUnixTimestamp64Milli({lo:Int64}, 'UTC') AND window_end <= fromUnixTimestamp64Milli({hi:Int64}, 'UTC')"
           f"{f.sql(params)}{keyset} "
           "ORDER BY we, orchestrator, workflow, computed_ts LIMIT 1 BY we, orchestrator, workflow LIMIT {limit:UInt32}")  # fmt: skip
    return [_row(r) for r in wh.query(sql, params).rows]


def aligned_source(start_ms: int, end_ms: int, source: str = "auto") -> tuple[Source, dict[str, Any]]:
    """The catalog source for the whole hours covering ``[start, end)`` (a rollup), with the window parameters:
    lookups read from it cost a few rows per orchestrator instead of a raw scan. `source` "raw" reads the raw log
    instead (the API's `catalog_source`: `naap bench api`'s baseline)."""
    lo = start_ms // H_MS * H_MS
    hi = -(-end_ms // H_MS) * H_MS
    q = CatalogQuery(lo, max(hi, lo + H_MS), by=(), source=source)
    return pick_source(q), {"start": q.start_ms, "end": q.end_ms, "step": q.step_ms}


def lookups(wh: Any, start_ms: int, end_ms: int, source: str = "auto") -> Lookups:
    """Declared regions and GPU models of the hours covering the window (scoring.catalog.dims.load_lookups)."""
    src, params = aligned_source(start_ms, end_ms, source)
    return load_lookups(wh, src, params)


def score_regions(wh: Any, window_end_ms: int, span_ms: int, source: str = "auto") -> dict[str, str]:
    """The region each orchestrator declared last in the day (or the window, if longer) before `window_end_ms`: the
    region a score is filed under."""
    return lookups(wh, window_end_ms - max(span_ms, 24 * H_MS), window_end_ms, source).regions


_VERSIONS = """
SELECT orchestrator, metric, argMax(labels['version'], ({t}, labels['version']))
FROM {table} WHERE metric IN ('naap_exporter_build_info', 'livepeer_versions') AND {where} AND orchestrator != ''
GROUP BY orchestrator, metric
"""


def versions(wh: Any, src: Source, params: dict[str, Any]) -> dict[str, dict[str, str]]:
    """{orchestrator: {"agent": naap exporter version, "livepeer": go-livepeer version}} declared in the window."""
    t = "ts" if src.raw else "last_pt.1"
    out: dict[str, dict[str, str]] = {}
    for orch, metric, v in wh.query(_VERSIONS.format(table=src.table, where=src.where(), t=t), params).rows:
        out.setdefault(orch, {})["agent" if metric == "naap_exporter_build_info" else "livepeer"] = v
    return out


_CAPACITY = """
SELECT orchestrator, labels['pipeline'] AS p, labels['model_id'] AS m, metric, argMax(value, ts),
       toUnixTimestamp64Milli(max(ts))
FROM samples
WHERE metric IN ('livepeer_ai_container_in_use', 'livepeer_ai_container_idle')
  AND ts >= fromUnixTimestamp64Milli({start:Int64}, 'UTC') AND ts < fromUnixTimestamp64Milli({end:Int64}, 'UTC')
  AND isFinite(value) AND orchestrator != '' {orch}
GROUP BY orchestrator, p, m, metric
"""
_PROBES = """
SELECT orchestrator, workflow, model_id, argMax(warm, started_at), argMax(price_per_unit, started_at),
       argMax(capacity_idle, started_at), argMax(capacity_in_use, started_at), toUnixTimestamp64Milli(max(started_at))
FROM probe_runs
WHERE model_id != '' AND orchestrator != '' {orch}
  AND started_at >= fromUnixTimestamp64Milli({start:Int64}, 'UTC') AND started_at < fromUnixTimestamp64Milli({end:Int64}, 'UTC')
GROUP BY orchestrator, workflow, model_id
"""


def capabilities(wh: Any, start_ms: int, end_ms: int, orchestrator: str | None) -> dict[tuple[str, str], dict[str, Any]]:
    """What each orchestrator offers, per (orchestrator, "pipeline/model_id"): the latest container gauges and the
    latest probe's quote (warm, price, capacity)."""
    params: dict[str, Any] = {"start": start_ms, "end": end_ms}
    orch = ""
    if orchestrator:
        orch, params["o"] = "AND orchestrator = {o:String}", orchestrator
    offers: dict[tuple[str, str], dict[str, Any]] = {}
    for o, p, m, metric, v, t in wh.query(_CAPACITY.replace("{orch}", orch), params).rows:
        e = offers.setdefault((o, f"{p}/{m}"), {"sources": set(), "last_seen": 0})
        e["in_use" if metric.endswith("in_use") else "idle"] = int(v)
        e["sources"].add("exporter")
        e["last_seen"] = max(e["last_seen"], int(t))
    for o, wf, m, warm, price, idle, in_use, t in wh.query(_PROBES.replace("{orch}", orch), params).rows:
        e = offers.setdefault((o, f"{wf}/{m}"), {"sources": set(), "last_seen": 0})
        e.update(probe_warm=None if warm is None else bool(warm), price=price, probe_idle=idle, probe_in_use=in_use)
        e["sources"].add("prober")
        e["last_seen"] = max(e["last_seen"], int(t))
    return offers


def gpu_models(lk: Lookups) -> dict[str, dict[str, int]]:
    """{orchestrator: {GPU model: whole GPUs}} of a window's lookups."""
    out: dict[str, dict[str, int]] = {}
    for (o, gpu) in lk.gpu_info:
        name = lk.models.get((o, gpu)) or "unknown"
        out.setdefault(o, {})[name] = out.setdefault(o, {}).get(name, 0) + 1
    return out


_SAMPLES = """
SELECT toUnixTimestamp64Milli(ts) AS t, metric, instance, labels, value, toJSONString(labels) AS lj
FROM samples
WHERE orchestrator = {o:String}
  AND ts >= fromUnixTimestamp64Milli({start:Int64}, 'UTC') AND ts < fromUnixTimestamp64Milli({end:Int64}, 'UTC')
  {filters}
ORDER BY t, metric, instance, lj
LIMIT {limit:UInt32}
"""


def raw_samples(wh: Any, orchestrator: str, start_ms: int, end_ms: int, metric: str | None, gpu_id: str | None,
                after: list[Any] | None, limit: int) -> list[dict[str, Any]]:  # fmt: skip
    """An orchestrator's stored samples in ``[start, end)`` sorted by (time, metric, instance, labels), after the
    keyset `after`, at most `limit`. Each row also carries its sort key (`_key`)."""
    params: dict[str, Any] = {"o": orchestrator, "start": start_ms, "end": end_ms, "limit": limit}
    filters = []
    if metric:
        filters.append("metric = {metric:String}")
        params["metric"] = metric
    if gpu_id:
        filters.append("labels['gpu_id'] = {gpu:String}")
        params["gpu"] = gpu_id
    if after is not None:
        filters.append("(t, metric, instance, lj) > ({a_t:Int64}, {a_m:String}, {a_i:String}, {a_l:String})")
        params.update(a_t=int(after[0]), a_m=str(after[1]), a_i=str(after[2]), a_l=str(after[3]))
    sql = _SAMPLES.replace("{filters}", "".join(f" AND {c}" for c in filters))
    out = []
    for t, m, inst, labels, value, lj in wh.query(sql, params).rows:
        v = float(value)
        out.append({"ts": int(t), "metric": m, "instance": inst, "labels": dict(labels),
                    "value": v if v == v and v not in (float("inf"), float("-inf")) else None,
                    "_key": [int(t), m, inst, lj]})  # fmt: skip
    return out


_GPU_INFO = """
SELECT labels['gpu_id'] AS gpu, labels['gpu_instance'] AS gi, argMax(labels, ts)
FROM samples
WHERE metric = 'naap_gpu_info' AND orchestrator = {o:String}
  AND ts >= fromUnixTimestamp64Milli({start:Int64}, 'UTC') AND ts < fromUnixTimestamp64Milli({end:Int64}, 'UTC')
GROUP BY gpu, gi
ORDER BY gpu, gi
"""


def gpu_info(wh: Any, orchestrator: str, start_ms: int, end_ms: int) -> dict[tuple[str, str], dict[str, str]]:
    """The latest naap_gpu_info labels of each (GPU UUID, MIG instance) of one orchestrator in the window."""
    rows = wh.query(_GPU_INFO, {"o": orchestrator, "start": start_ms, "end": end_ms}).rows
    return {(g, gi): dict(labels) for g, gi, labels in rows}


def source_of(state: Any) -> str:
    """The catalog source the app was created with (api.app.create_app's `catalog_source`): auto, or raw for the
    benchmark's baseline."""
    return str(state.get("catalog_source", "auto"))
