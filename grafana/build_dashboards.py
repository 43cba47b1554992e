"""Writes grafana/dashboards/*.json: run `python grafana/build_dashboards.py` after changing a panel here (the JSON
files are what Grafana provisions; tests/test_grafana.py runs every panel query and validates every file).

Datasources are referenced by the uids of grafana/provisioning/datasources/naap.yaml: naap-clickhouse (the official
ClickHouse plugin) and naap-api (the Infinity plugin over the public API). Dashboards declare schemaVersion 39.

Template variables never enter SQL as raw text: their values come from data orchestrators control (a region label
of their own exporter) or from a dashboard link anyone can craft. Grafana's `sqlstring`/`singlequote` formats escape
quotes but not backslashes, which ClickHouse reads as escapes (`\'` closes nothing), so every `'${var}'` in SQL is
written as `decodeURLComponent('${var:percentencode}')`: percent-encoding leaves only [A-Za-z0-9-_.~%] in the
literal. tests/test_grafana.py refuses any other use of a variable in SQL.
"""

import json
import re
from pathlib import Path

HERE = Path(__file__).resolve().parent
CH = {"type": "grafana-clickhouse-datasource", "uid": "naap-clickhouse"}
INF = {"type": "yesoreyeram-infinity-datasource", "uid": "naap-api"}
FC = lambda unit=None, mn=None, mx=None: {"defaults": {k: v for k, v in (("unit", unit), ("min", mn), ("max", mx)) if v is not None}, "overrides": []}

class D:
    def __init__(self, uid, title, desc, variables=(), time_from="now-24h"):
        self.d = {"uid": uid, "title": title, "description": desc, "tags": ["naap", "livepeer"], "editable": True,
                  "graphTooltip": 1, "schemaVersion": 39, "version": 1, "timezone": "utc", "refresh": "1m",
                  "time": {"from": time_from, "to": "now"}, "fiscalYearStartMonth": 0, "style": "dark",
                  "templating": {"list": list(variables)}, "annotations": {"list": []}, "links": [
                      {"title": "NaaP dashboards", "type": "dashboards", "tags": ["naap"], "icon": "external link", "tooltip": "",
                       "url": "", "asDropdown": True, "targetBlank": False, "includeVars": True, "keepTime": True}],
                  "panels": []}
        self.y = 0; self.x = 0; self.id = 1
    def panel(self, kind, title, targets, w=12, h=8, unit=None, mn=None, mx=None, desc="", options=None):
        if self.x + w > 24: self.x = 0; self.y += h
        ds = targets[0]["datasource"]
        self.d["panels"].append({"id": self.id, "type": kind, "title": title, "description": desc, "datasource": ds,
            "gridPos": {"x": self.x, "y": self.y, "w": w, "h": h}, "targets": targets, "transparent": False,
            "repeatDirection": "h", "transformations": [], "options": options or {}, "fieldConfig": FC(unit, mn, mx)})
        self.id += 1; self.x += w
        if self.x >= 24: self.x = 0; self.y += h
    def row(self, title):
        if self.x: self.x = 0; self.y += 8
        self.d["panels"].append({"id": self.id, "type": "row", "title": title, "collapsed": False, "panels": [],
                                 "gridPos": {"x": 0, "y": self.y, "w": 24, "h": 1}})
        self.id += 1; self.y += 1

def safe_sql(sql):
    """Every quoted template variable '${name}' as decodeURLComponent('${name:percentencode}') (see above)."""
    sql = re.sub(r"'\$\{(\w+)\}'", r"decodeURLComponent('${\1:percentencode}')", " ".join(sql.split()))
    assert not re.search(r"\$(?!__)(?!\{\w+:percentencode\})", sql), f"a variable outside quotes: {sql}"
    return sql

def ch(sql, ref="A", fmt="table"):
    return {"refId": ref, "datasource": CH, "editorType": "sql", "queryType": fmt, "format": 1 if fmt == "table" else 0, "rawSql": safe_sql(sql)}

def inf(url, root, params=(), ref="A", columns=()):
    return {"refId": ref, "datasource": INF, "type": "json", "source": "url", "format": "table", "parser": "backend",
            "url": url, "root_selector": root, "url_options": {"method": "GET", "params": [{"key": k, "value": v} for k, v in params]},
            "columns": [{"selector": s, "text": t, "type": ty} for s, t, ty in columns]}

def var_custom(name, values, default, label=None):
    return {"type": "custom", "name": name, "label": label or name, "query": ",".join(values), "hide": 0,
            "current": {"text": default, "value": default}, "options": [{"text": v, "value": v, "selected": v == default} for v in values],
            "skipUrlSync": False, "multi": False, "includeAll": False}

def var_ch(name, sql, label=None, all_value=None):
    v = {"type": "query", "name": name, "label": label or name, "datasource": CH, "query": safe_sql(sql),
         "definition": safe_sql(sql), "refresh": 1, "hide": 0, "sort": 1, "skipUrlSync": False, "multi": False,
         "includeAll": all_value is not None, "options": [], "current": {}}
    if all_value is not None: v["allValue"] = all_value
    return v

def var_api(name, url, root, column, params=(), label=None, all_value=None):
    """A variable from the public API through Infinity (the plugin's "Infinity" variable query): what a chDB-only
    deployment, without the ClickHouse datasource, can fill its dropdowns from."""
    q = inf(url, root, params, ref="variable", columns=[(column, column, "string")])
    v = {"type": "query", "name": name, "label": label or name, "datasource": INF,
         "query": {"queryType": "infinity", "refId": "variable", "infinityQuery": q, "query": ""},
         "definition": f"{url} {root}.{column}", "refresh": 1, "hide": 0, "sort": 1, "skipUrlSync": False, "multi": False,
         "includeAll": all_value is not None, "options": [], "current": {}}
    if all_value is not None: v["allValue"] = all_value
    return v

PERIOD = var_custom("period", ["5m", "1h", "24h", "7d"], "1h", "Period")
LATEST = "(SELECT max(window_end) FROM sla_scores WHERE period = '${period}' AND workflow = '' AND $__timeFilter(window_end))"
out = {}

# ---------------------------------------------------------------- leaderboard
d = D("naap-leaderboard", "NaaP · Leaderboard", "Orchestrators ranked on the lower bound of their published SLA score (sla_scores; /v1/leaderboard).", [PERIOD])
d.panel("table", "Latest window, ranked (ClickHouse)", [ch(f"""
SELECT orchestrator, round(score, 2) AS score, round(score_lower, 2) AS lower, round(score_upper, 2) AS upper,
 round(coverage, 3) AS coverage, status,
 JSONExtractFloat(detail, 'groups', 'availability', 'value') AS availability,
 JSONExtractFloat(detail, 'groups', 'latency', 'value') AS latency,
 JSONExtractFloat(detail, 'groups', 'reliability', 'value') AS reliability,
 JSONExtractFloat(detail, 'groups', 'consistency', 'value') AS consistency, config_version
FROM sla_scores WHERE period = '${{period}}' AND workflow = '' AND window_end = {LATEST}
ORDER BY status = 'ok' DESC, score_lower DESC, orchestrator""")], w=24, h=9,
  desc="Ranked on score_lower; insufficient_data rows last, without a score.")
d.panel("timeseries", "Score over time by orchestrator", [ch("""
SELECT window_end AS time, orchestrator, score FROM sla_scores
WHERE period = '${period}' AND workflow = '' AND score IS NOT NULL AND $__timeFilter(window_end) ORDER BY time""", fmt="timeseries")],
  unit="none", mn=0, mx=100)
d.panel("barchart", "Scores by workflow, latest window", [ch(f"""
SELECT concat(substring(orchestrator, 1, 10), ' ', workflow) AS orchestrator_workflow, score FROM sla_scores
WHERE period = '${{period}}' AND workflow != '' AND score IS NOT NULL
 AND window_end = (SELECT max(window_end) FROM sla_scores WHERE period = '${{period}}' AND workflow != '' AND $__timeFilter(window_end))
ORDER BY score DESC""")], mn=0, mx=100)
d.panel("table", "Leaderboard (public API)", [inf("/v1/leaderboard", "entries", [("period", "${period}"), ("limit", "1000")], columns=[
  ("rank", "rank", "number"), ("orchestrator", "orchestrator", "string"), ("region", "region", "string"), ("score", "score", "number"),
  ("score_lower", "lower", "number"), ("score_upper", "upper", "number"), ("status", "status", "string")])], w=24,
  desc="The same ranking through the Infinity datasource over /v1/leaderboard (chDB-only deployments).")
out["leaderboard"] = d.d

# ---------------------------------------------------------------- orchestrator drill-down
REGION = var_ch("region", "SELECT DISTINCT lower(labels['region']) FROM samples WHERE metric = 'naap_exporter_build_info' AND labels['region'] != '' AND $__timeFilter(ts) ORDER BY 1", "Region", all_value="")
ORCH = var_ch("orchestrator", "SELECT DISTINCT orchestrator FROM samples WHERE metric = 'naap_exporter_build_info' AND ('${region}' = '' OR lower(labels['region']) = '${region}') AND $__timeFilter(ts) ORDER BY 1", "Orchestrator")
WF = var_ch("workflow", "SELECT DISTINCT workflow FROM sla_scores WHERE orchestrator = '${orchestrator}' AND workflow != '' ORDER BY 1", "Workflow", all_value="")
# The same choice from the public API, for the panels titled "(public API)": a chDB-only deployment has no ClickHouse
# datasource, so REGION/ORCH/WF stay empty there while this one fills (orchestrators with a published score).
API_ORCH = var_api("api_orchestrator", "/v1/leaderboard", "entries", "orchestrator", [("period", "${period}"), ("limit", "1000")],
                   "Orchestrator (API panels)")
d = D("naap-orchestrator", "NaaP · Orchestrator", "One orchestrator: its scores, subscores, availability, FPS, errors, probes. "
      "Workflow All = the orchestrator's own score. ClickHouse panels follow Region/Orchestrator/Workflow (from the warehouse); "
      "the \"(public API)\" panels follow \"Orchestrator (API panels)\", filled from /v1/leaderboard, so they work on chDB-only "
      "deployments too.", [PERIOD, REGION, ORCH, WF, API_ORCH], "now-24h")
SC = "period = '${period}' AND orchestrator = '${orchestrator}' AND workflow = '${workflow}' AND $__timeFilter(window_end)"
d.panel("timeseries", "Score with its interval", [ch(f"SELECT window_end AS time, score, score_lower, score_upper FROM sla_scores WHERE {SC} AND score IS NOT NULL ORDER BY time", fmt="timeseries")], mn=0, mx=100)
d.panel("timeseries", "Subscores (groups, 0-1)", [ch(f"""
SELECT window_end AS time, JSONExtractFloat(detail, 'groups', 'availability', 'value') AS availability,
 JSONExtractFloat(detail, 'groups', 'latency', 'value') AS latency, JSONExtractFloat(detail, 'groups', 'reliability', 'value') AS reliability,
 JSONExtractFloat(detail, 'groups', 'consistency', 'value') AS consistency FROM sla_scores WHERE {SC} AND status = 'ok' ORDER BY time""", fmt="timeseries")],
  unit="percentunit", mn=0, mx=1)
d.panel("timeseries", "Scrape availability", [ch("""
SELECT $__timeInterval(ts) AS time, avg(up) AS availability FROM scrapes
WHERE orchestrator = '${orchestrator}' AND void = 0 AND $__timeFilter(ts) GROUP BY time ORDER BY time""", fmt="timeseries")], unit="percentunit", mn=0, mx=1)
d.panel("timeseries", "Output FPS by workflow", [ch("""
SELECT $__timeInterval(ts) AS time, concat(labels['pipeline'], '/', labels['model_id']) AS workflow, avg(value) AS fps FROM samples
WHERE metric = 'naap_stream_output_fps' AND orchestrator = '${orchestrator}'
 AND ('${workflow}' = '' OR concat(labels['pipeline'], '/', labels['model_id']) = '${workflow}') AND $__timeFilter(ts)
GROUP BY time, workflow ORDER BY time""", fmt="timeseries")], unit="none")
d.panel("table", "Scrape failures by error class", [ch("""
SELECT error_class, count() AS failures, max(ts) AS last FROM scrapes
WHERE orchestrator = '${orchestrator}' AND up = 0 AND $__timeFilter(ts) GROUP BY error_class ORDER BY failures DESC""")], w=8)
d.panel("table", "Probes (prober)", [ch("""
SELECT model_id, outcome, count() AS probes, avg(price_per_unit) AS price_per_unit FROM probe_runs
WHERE orchestrator = '${orchestrator}' AND $__timeFilter(started_at) GROUP BY model_id, outcome ORDER BY model_id, outcome""")], w=8)
d.panel("table", "Latest published score (public API)", [inf("/v1/sla/compliance", "orchestrators", [("orchestrator_id", "${api_orchestrator}"), ("period", "${period}")], columns=[
  ("workflow", "workflow", "string"), ("score", "score", "number"), ("score_lower", "lower", "number"), ("score_upper", "upper", "number"),
  ("status", "status", "string"), ("config_version", "config", "string"), ("config_hash", "hash", "string")])], w=8)
d.panel("table", "Recent scrape failures (public API)", [inf("/v1/scrapes/failures", "failures", [("orchestrator_id", "${api_orchestrator}"), ("time_range", "24h")], columns=[
  ("ts", "time", "timestamp_epoch"), ("error_class", "error class", "string"), ("duration_s", "duration s", "number"), ("void", "void", "number")])], w=24)
out["orchestrator"] = d.d

# ---------------------------------------------------------------- GPUs (dcgm-exporter's panels from naap_gpu_*)
ORCH_ALL = var_ch("orchestrator", "SELECT DISTINCT orchestrator FROM samples WHERE metric = 'naap_gpu_info' AND $__timeFilter(ts) ORDER BY 1", "Orchestrator", all_value="")
d = D("naap-gpus", "NaaP · GPUs", "The panels of NVIDIA's dcgm-exporter dashboard, from the exporters' naap_gpu_* series (samples).", [ORCH_ALL], "now-24h")
def gpu_ts(metric, scale=""):
    return ch(f"""SELECT $__timeInterval(ts) AS time, concat(substring(orchestrator, 1, 10), ' ', labels['gpu_id']) AS gpu, avg(value){scale} AS value
FROM samples WHERE metric = '{metric}' AND ('${{orchestrator}}' = '' OR orchestrator = '${{orchestrator}}') AND $__timeFilter(ts)
GROUP BY time, gpu ORDER BY time""", fmt="timeseries")
d.panel("timeseries", "GPU Temperature", [gpu_ts("naap_gpu_temperature_celsius")], w=18, unit="celsius")
d.panel("gauge", "GPU Avg. Temp", [ch("SELECT avg(value) AS temperature FROM samples WHERE metric = 'naap_gpu_temperature_celsius' AND ('${orchestrator}' = '' OR orchestrator = '${orchestrator}') AND $__timeFilter(ts)")], w=6, unit="celsius", mn=0, mx=100)
d.panel("timeseries", "GPU Power Usage", [gpu_ts("naap_gpu_power_watts")], w=18, unit="watt")
d.panel("gauge", "GPU Power Total", [ch("""SELECT sum(w) AS watts FROM (SELECT labels['gpu_id'] AS gpu, argMax(value, ts) AS w FROM samples
WHERE metric = 'naap_gpu_power_watts' AND ('${orchestrator}' = '' OR orchestrator = '${orchestrator}') AND $__timeFilter(ts) GROUP BY gpu)""")], w=6, unit="watt")
d.panel("timeseries", "GPU SM Clocks", [gpu_ts("naap_gpu_sm_clock_hertz")], unit="hertz")
d.panel("timeseries", "GPU Utilization", [gpu_ts("naap_gpu_utilization_ratio")], unit="percentunit", mn=0, mx=1)
d.panel("timeseries", "GPU Framebuffer Mem Used", [gpu_ts("naap_gpu_memory_used_bytes")], unit="bytes")
d.panel("timeseries", "CUDA utilisation efficiency (CUE) by method", [ch("""
SELECT $__timeInterval(ts) AS time, concat(labels['method'], ' (', labels['confidence'], ')') AS method, avg(value) AS cue FROM samples
WHERE metric = 'naap_gpu_cue_ratio' AND ('${orchestrator}' = '' OR orchestrator = '${orchestrator}') AND $__timeFilter(ts)
GROUP BY time, method ORDER BY time""", fmt="timeseries")], unit="percentunit", mn=0, mx=1)
d.panel("table", "GPUs (public API)", [inf("/v1/gpu/metrics", "gpus", [("time_range", "24h"), ("limit", "1000")], columns=[
  ("orchestrator", "orchestrator", "string"), ("gpu_id", "GPU", "string"), ("gpu_model", "model", "string"), ("vram_bytes", "VRAM", "number"),
  ("workflow", "workflow", "string"), ("metrics.output_fps", "FPS p50", "number"), ("metrics.cuda_utilization_efficiency_pct", "CUE %", "number"),
  ("metrics.cuda_utilization_efficiency_method", "CUE method", "string")])], w=24)
out["gpus"] = d.d

# ---------------------------------------------------------------- demand vs supply
d = D("naap-demand", "NaaP · Demand vs supply", "What the network is asked for against what it offers: streams, inference minutes, runner containers in use and idle.", [], "now-24h")
d.panel("timeseries", "Active streams", [ch("""
SELECT $__timeInterval(ts) AS time, sum(value) / count(DISTINCT ts) * count(DISTINCT orchestrator) AS streams FROM samples
WHERE metric = 'naap_streams_active' AND $__timeFilter(ts) GROUP BY time ORDER BY time""", fmt="timeseries")])
d.panel("timeseries", "Runner containers in use vs idle", [ch("""
SELECT $__timeInterval(ts) AS time, sumIf(value, metric = 'livepeer_ai_container_in_use') AS in_use,
 sumIf(value, metric = 'livepeer_ai_container_idle') AS idle FROM samples
WHERE metric IN ('livepeer_ai_container_in_use', 'livepeer_ai_container_idle') AND $__timeFilter(ts) GROUP BY time ORDER BY time""", fmt="timeseries")])
d.panel("table", "Demand per hour (public API)", [inf("/v1/network/demand", "rows", [("interval", "hour"), ("from", "${__from}"), ("to", "${__to}"), ("limit", "1000")], columns=[
  ("window_start", "hour", "timestamp_epoch"), ("streams_started", "streams started", "number"), ("inference_minutes", "inference minutes", "number"),
  ("avg_concurrent_streams", "avg concurrent", "number"), ("capacity_rate", "capacity rate", "number"),
  ("capacity_in_use_minutes", "in use min", "number"), ("capacity_idle_minutes", "idle min", "number")])], w=24)
d.panel("table", "Capabilities by region and workflow (public API)", [inf("/v1/network/capabilities", "capabilities", [("time_range", "1d"), ("limit", "1000")], columns=[
  ("region", "region", "string"), ("workflow", "workflow", "string"), ("orchestrator", "orchestrator", "string"), ("warm", "warm", "boolean"),
  ("capacity_idle", "idle", "number"), ("capacity_in_use", "in use", "number"), ("price_per_unit", "price/unit", "number")])], w=24)
out["demand"] = d.d

# ---------------------------------------------------------------- scraper and prober health
d = D("naap-health", "NaaP · Scraper and prober health", "The collector's own work: scrapes (scrapes table) and probes (probe_runs), and what /v1/prober reports.", [], "now-24h")
d.panel("timeseries", "Scrape success ratio", [ch("""
SELECT $__timeInterval(ts) AS time, avg(up) AS success FROM scrapes WHERE $__timeFilter(ts) GROUP BY time ORDER BY time""", fmt="timeseries")], unit="percentunit", mn=0, mx=1)
d.panel("timeseries", "Scrape failures by error class", [ch("""
SELECT $__timeInterval(ts) AS time, error_class, count() AS failures FROM scrapes WHERE up = 0 AND $__timeFilter(ts)
GROUP BY time, error_class ORDER BY time""", fmt="timeseries")])
d.panel("timeseries", "Scrape duration p95 and samples per scrape", [ch("""
SELECT $__timeInterval(ts) AS time, quantile(0.95)(duration_s) AS duration_p95_s, avg(samples) AS samples FROM scrapes
WHERE up = 1 AND $__timeFilter(ts) GROUP BY time ORDER BY time""", fmt="timeseries")])
d.panel("table", "Void slots (the scraper's own faults)", [ch("""
SELECT scraper, countIf(void = 1) AS void, count() AS slots, max(ts) AS last FROM scrapes WHERE $__timeFilter(ts) GROUP BY scraper""")])
d.panel("table", "Probes by outcome and fault", [ch("""
SELECT outcome, fault, count() AS probes, max(started_at) AS last FROM probe_runs WHERE $__timeFilter(started_at)
GROUP BY outcome, fault ORDER BY probes DESC""")])
d.panel("table", "Prober periods (public API)", [inf("/v1/prober", "stored_periods", columns=[
  ("period_id", "period", "string"), ("probes", "probes", "number"), ("seed", "seed", "string")])])
out["health"] = d.d

for name, dash in out.items():
    with open(HERE / "dashboards" / f"naap-{name}.json", "w") as f:
        json.dump(dash, f, indent=2); f.write("\n")
print("wrote", ", ".join(f"naap-{n}.json" for n in out))
