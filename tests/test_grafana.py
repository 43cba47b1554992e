"""grafana/: every dashboard validates against the schema of the schemaVersion it declares; every ClickHouse panel
and variable query, with its template variables and the plugin's macros substituted as the plugin does, runs against
a real chDB warehouse filled with known rows and returns rows; every Infinity panel URL, sent to the real API served on
loopback over that warehouse, returns rows with the columns the panel reads; every variable enters SQL only through
an escaping format that ClickHouse cannot misread (a hostile region label stays a string), and the Infinity panels
need no ClickHouse variable (chDB-only deployments)."""

from __future__ import annotations

import copy
import json
import re
import time
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Iterator

import jsonschema
import pytest
import yaml

from api_fixtures import A, B, GPU_A, GPU_B, load
from grafana_schema import SCHEMAS
from live_api import serve
from scoring.history import SAMPLE_COLUMNS
from warehouse.client import Warehouse
from warehouse.migrations import apply_migrations

GRAFANA = Path(__file__).resolve().parents[1] / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
CH_TYPE, INF_TYPE = "grafana-clickhouse-datasource", "yesoreyeram-infinity-datasource"
RANGE_MS = 24 * 3_600_000  # the dashboards' default time range: now-24h to now
INTERVAL_S = 300


def dashboard(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def panels(d: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for p in d.get("panels", []):
        out.extend(p.get("panels", []) if p["type"] == "row" else [p])
    return out


def gpu_rows(now: int) -> list[tuple]:
    """The dcgm-like gauges of A's and B's GPUs over the last 10 minutes (what the exporter's NVML collector sends)."""
    out = []
    for i in range(10):
        ts = now - (10 - i) * 60_000
        for orch, gpu, base in ((A, GPU_A, 60.0), (B, GPU_B, 70.0)):
            for metric, value in (("naap_gpu_temperature_celsius", base + i), ("naap_gpu_power_watts", 3 * base + i),
                                  ("naap_gpu_sm_clock_hertz", 1.8e9), ("naap_gpu_memory_used_bytes", 8e9 + i * 1e8),
                                  ("naap_gpu_utilization_ratio", 0.5 + i / 100)):  # fmt: skip
                out.append((ts, orch, f"{orch[2:6]}:9935", metric, {"gpu_id": gpu}, float(value), ts + 500))
            out.append((ts, orch, f"{orch[2:6]}:9935", "naap_gpu_info", {"gpu_id": gpu, "name": "NVIDIA GeForce RTX 4090"}, 1.0, ts + 500))
    return out


PROBE_COLS = ("probe_id", "period_id", "period_seed", "started_at", "ended_at", "orchestrator", "region", "workflow", "model_id",
              "outcome", "item_kind", "fault", "capacity_idle", "capacity_in_use", "price_per_unit")  # fmt: skip


@pytest.fixture(scope="module")
def wh(chdb_dir: Path) -> Iterator[Warehouse]:
    w = Warehouse(f"chdb://{chdb_dir}", f"graf_{uuid.uuid4().hex[:10]}")
    apply_migrations(w)
    load(w)
    now = int(time.time() * 1000)
    w.insert_columns("samples", SAMPLE_COLUMNS, [list(c) for c in zip(*gpu_rows(now))])
    w.insert_rows("probe_runs", PROBE_COLS, [(f"g{i}", "global/600s/1", "seed", now - 120_000, now - 60_000, A, "eu-west",
                                              "live-video-to-video", "streamdiffusion-sdxl", "ok", "good", "none", 1, 0, 1200.0)
                                             for i in range(2)])  # fmt: skip
    yield w
    w.command(f"DROP DATABASE IF EXISTS `{w.database}` SYNC")
    w.close()


@pytest.fixture(scope="module")
def base(wh: Warehouse) -> Iterator[str]:
    with serve(wh) as url:
        yield url


# ------------------------------------------------------------------------- the plugins' substitutions


def ch_macros(sql: str, frm: int, to: int, interval_s: int = INTERVAL_S) -> str:
    """The ClickHouse plugin's macros (grafana-clickhouse-datasource, README "Macros"), expanded as it does."""
    f, t = frm // 1000, to // 1000
    sql = re.sub(r"\$__timeFilter_ms\(([^)]+)\)", lambda m: f"{m[1]} >= fromUnixTimestamp64Milli({frm}) AND {m[1]} <= fromUnixTimestamp64Milli({to})", sql)
    sql = re.sub(r"\$__timeFilter\(([^)]+)\)", lambda m: f"{m[1]} >= toDateTime({f}) AND {m[1]} <= toDateTime({t})", sql)
    sql = re.sub(r"\$__timeInterval_ms\(([^)]+)\)", lambda m: f"toStartOfInterval(toDateTime64({m[1]}, 3), INTERVAL {interval_s * 1000} millisecond)", sql)
    sql = re.sub(r"\$__timeInterval\(([^)]+)\)", lambda m: f"toStartOfInterval(toDateTime({m[1]}), INTERVAL {interval_s} second)", sql)
    sql = sql.replace("$__fromTime_ms", f"fromUnixTimestamp64Milli({frm})").replace("$__toTime_ms", f"fromUnixTimestamp64Milli({to})")
    sql = sql.replace("$__fromTime", f"toDateTime({f})").replace("$__toTime", f"toDateTime({t})")
    sql = sql.replace("$__interval_s", str(interval_s))
    assert "$__" not in sql, f"a macro this test does not know: {sql}"
    return sql


def percentencode(value: str) -> str:
    """Grafana's `percentencode` format: encodeURIComponentStrict (encodeURIComponent, plus !'()* encoded), i.e.
    everything but [A-Za-z0-9-_.~] as %XX of its UTF-8 bytes."""
    return urllib.parse.quote(value, safe="")


FORMATS = {"percentencode": percentencode}


def template(text: str, values: dict[str, str], frm: int, to: int) -> str:
    """Grafana's template variables: ${name}, ${name:format} (the formats dashboards here use), $name, and the
    global ${__from} / ${__to} (epoch ms)."""
    values = {**values, "__from": str(frm), "__to": str(to)}
    text = re.sub(r"\$\{(\w+):(\w+)\}", lambda m: FORMATS[m[2]](values[m[1]]), text)
    text = re.sub(r"\$\{(\w+)\}", lambda m: values[m[1]], text)
    return re.sub(r"\$(?!__)(\w+)", lambda m: values[m[1]] if m[1] in values else m[0], text)


def infinity_rows(base: str, t: dict[str, Any], values: dict[str, str], frm: int, to: int) -> list[Any]:
    """What an Infinity query (panel or variable) gets from the API: the rows under its root selector."""
    assert t["url"].startswith("/") and t["url_options"]["method"] == "GET"
    params = {p["key"]: template(p["value"], values, frm, to) for p in t["url_options"]["params"]}
    url = base + template(t["url"], values, frm, to) + ("?" + urllib.parse.urlencode(params) if params else "")
    with urllib.request.urlopen(url) as r:
        assert r.status == 200, url
        rows = json.loads(r.read())
    for key in filter(None, t["root_selector"].split(".")):
        rows = rows[key]
    assert isinstance(rows, list), url
    return rows


def resolve_variables(d: dict[str, Any], wh: Warehouse, frm: int, to: int, base: str | None = None,
                      only_api: bool = False) -> dict[str, str]:  # fmt: skip
    """Each variable's value as Grafana would pick it on first load: a custom variable's current value, a query
    variable's first row (each query must return rows); an Infinity variable's from the API at `base`.
    `only_api`: a chDB-only deployment (no ClickHouse datasource): ClickHouse variables stay unresolved."""
    values: dict[str, str] = {}
    for v in d.get("templating", {}).get("list", []):
        if v["type"] == "custom":
            values[v["name"]] = v["current"]["value"]
        elif v["type"] == "query" and v["datasource"]["type"] == CH_TYPE:
            if only_api:
                continue
            rows = wh.query(ch_macros(template(v["query"], values, frm, to), frm, to)).rows
            assert rows, (d["uid"], v["name"], "variable query returned no rows")
            values[v["name"]] = str(rows[0][0])
        elif v["type"] == "query" and v["datasource"]["type"] == INF_TYPE:
            assert v["query"]["queryType"] == "infinity"
            if base is None:
                continue
            q = v["query"]["infinityQuery"]
            rows = infinity_rows(base, q, values, frm, to)
            assert rows, (d["uid"], v["name"], "variable query returned no rows")
            values[v["name"]] = str(rows[0][q["columns"][0]["selector"]])
        else:
            raise AssertionError(f"variable type {v['type']} not covered by this test")
    return values


def targets(kind: str) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    return [(p.name, d, t) for p in DASHBOARDS for d in [dashboard(p)] for panel in panels(d) for t in panel.get("targets", [])
            if t["datasource"]["type"] == kind]  # fmt: skip


def test_there_are_the_dashboards_the_issue_asks_for() -> None:
    uids = {dashboard(p)["uid"] for p in DASHBOARDS}
    assert uids == {"naap-leaderboard", "naap-orchestrator", "naap-gpus", "naap-demand", "naap-health"}
    names = {v["name"] for v in dashboard(GRAFANA / "dashboards" / "naap-orchestrator.json")["templating"]["list"]}
    assert {"orchestrator", "workflow", "region"} <= names
    # Every panel names a provisioned datasource, by uid.
    provisioned = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "naap.yaml").read_text())
    by_uid = {d["uid"]: d["type"] for d in provisioned["datasources"]}
    assert by_uid == {"naap-clickhouse": CH_TYPE, "naap-api": INF_TYPE}
    for p in DASHBOARDS:
        for panel in panels(dashboard(p)):
            for t in panel["targets"]:
                assert by_uid[t["datasource"]["uid"]] == t["datasource"]["type"], (p.name, panel["title"])
    assert targets(CH_TYPE) and targets(INF_TYPE)


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_every_dashboard_validates_against_the_schema_of_its_declared_version(path: Path) -> None:
    d = dashboard(path)
    schema = SCHEMAS.get(d.get("schemaVersion"))
    assert schema is not None, f"{path.name} declares schemaVersion {d.get('schemaVersion')}: no schema for it"
    jsonschema.validate(d, schema, cls=jsonschema.Draft202012Validator)
    # The schema is not a blank cheque: a panel without a type, or a gridPos wider than the grid, is refused.
    for breakage in (lambda x: panels(x)[0].pop("type"), lambda x: panels(x)[0]["gridPos"].update(w=25),
                     lambda x: x.update(graphTooltip=3)):  # fmt: skip
        broken = copy.deepcopy(d)
        breakage(broken)
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(broken, schema, cls=jsonschema.Draft202012Validator)


def test_every_clickhouse_panel_query_returns_rows_from_the_warehouse(wh: Warehouse, base: str) -> None:
    to = int(time.time() * 1000)
    frm = to - RANGE_MS
    reader = wh.reader()  # read-only, as a Grafana user should be
    checked = 0
    for path in DASHBOARDS:
        d = dashboard(path)
        values = resolve_variables(d, wh, frm, to, base)
        for panel in panels(d):
            for t in panel["targets"]:
                if t["datasource"]["type"] != CH_TYPE:
                    continue
                sql = ch_macros(template(t["rawSql"], values, frm, to), frm, to)
                r = reader.query(sql)
                assert r.rows, (path.name, panel["title"], sql)
                if t["queryType"] == "timeseries":
                    assert r.columns[0] == "time", (path.name, panel["title"])
                checked += 1
    assert checked == len(targets(CH_TYPE))


def test_every_infinity_panel_url_returns_rows_from_the_api(wh: Warehouse, base: str) -> None:
    """As on a chDB-only deployment: the Infinity panels' variables come from custom lists and the API only (a
    ClickHouse variable there would stay empty, and template() fails on an unresolved one)."""
    to = int(time.time() * 1000)
    frm = to - RANGE_MS
    checked = 0
    for path in DASHBOARDS:
        d = dashboard(path)
        values = resolve_variables(d, wh, frm, to, base, only_api=True)
        for panel in panels(d):
            for t in panel["targets"]:
                if t["datasource"]["type"] != INF_TYPE:
                    continue
                rows = infinity_rows(base, t, values, frm, to)
                assert rows, (path.name, panel["title"], t["url"])
                for col in t["columns"]:  # every column the panel shows is in the answer
                    value: Any = rows[0]
                    for key in col["selector"].split("."):
                        assert key in value, (path.name, panel["title"], col["selector"])
                        value = value[key]
                checked += 1
    assert checked == len(targets(INF_TYPE))


def test_the_macro_expansion_is_the_plugins() -> None:
    # grafana-clickhouse-datasource README, "Macros": seconds for $__timeFilter/$__fromTime, a toStartOfInterval bucket.
    sql = ch_macros("SELECT $__timeInterval(ts) FROM t WHERE $__timeFilter(ts) AND x < $__toTime", 1_000_000, 2_000_000, 20)
    assert sql == ("SELECT toStartOfInterval(toDateTime(ts), INTERVAL 20 second) FROM t WHERE ts >= toDateTime(1000) "
                   "AND ts <= toDateTime(2000) AND x < toDateTime(2000)")


def clickhouse_sql() -> list[tuple[str, str, str]]:
    """(dashboard, where, SQL) of every ClickHouse panel query and variable query."""
    out = [(name, "panel", t["rawSql"]) for name, _d, t in targets(CH_TYPE)]
    for p in DASHBOARDS:
        for v in dashboard(p).get("templating", {}).get("list", []):
            if v["type"] == "query" and v["datasource"]["type"] == CH_TYPE:
                out.append((p.name, f"variable {v['name']}", v["query"]))
    return out


SAFE_VAR = re.compile(r"decodeURLComponent\('\$\{\w+:percentencode\}'\)")


def test_no_template_variable_enters_sql_unescaped() -> None:
    """A variable's value is text from exporters (region labels) or from a crafted dashboard link: in SQL it may only
    appear percent-encoded inside a string literal that ClickHouse decodes (Grafana's sqlstring/singlequote formats
    leave backslashes, which ClickHouse reads as escapes). Macros ($__timeFilter, …) are the plugin's, not values."""
    checked = 0
    for name, where, sql in clickhouse_sql():
        rest = SAFE_VAR.sub("", sql)
        assert not re.search(r"\$(?!__)|\[\[", rest), (name, where, sql)
        checked += len(SAFE_VAR.findall(sql))
    assert checked > 0
    # The check catches what it is for: the raw forms Grafana would interpolate as text.
    for raw in ("region = '${region}'", "region = ${region:sqlstring}", "region = '$region'", "region = '[[region]]'"):
        assert re.search(r"\$(?!__)|\[\[", SAFE_VAR.sub("", raw)), raw


@pytest.mark.parametrize("hostile", ["x' OR '1'='1", "\\' OR 1=1 --", "eu-west') OR (1=1", "%27 OR 1=1"])
def test_a_hostile_region_value_stays_a_string(wh: Warehouse, hostile: str) -> None:
    """The orchestrator dashboard's orchestrator list filtered by a region no exporter declares: no rows and no error.
    Interpolated as raw text, the first three would list every orchestrator (or fail to parse)."""
    to = int(time.time() * 1000)
    frm = to - RANGE_MS
    d = dashboard(GRAFANA / "dashboards" / "naap-orchestrator.json")
    orch = next(v for v in d["templating"]["list"] if v["name"] == "orchestrator")
    sql = ch_macros(template(orch["query"], {"region": hostile}, frm, to), frm, to)
    assert wh.reader().query(sql).rows == []
    assert wh.reader().query(ch_macros(template(orch["query"], {"region": "eu-west"}, frm, to), frm, to)).rows  # a real one
