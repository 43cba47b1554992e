"""The two small /v1 routes the pages read: /v1/sla/targets (the SLA config's targets) and /v1/scrapes/failures (an
orchestrator's recent failed scrapes), on known rows (tests/api_fixtures.py) in a real chDB warehouse."""

from __future__ import annotations

from typing import Iterator

import pytest
from litestar.testing import TestClient

from api.app import create_app
from api.config import ApiSettings
from api_fixtures import A, B, load
from scoring.history import SCRAPE_COLUMNS
from scoring.sla_config import load_config
from warehouse.client import Warehouse


@pytest.fixture
def client(warehouse: Warehouse) -> Iterator[TestClient]:
    load(warehouse)
    with TestClient(create_app(warehouse.reader(), load_config(), ApiSettings(rate_limit_per_minute=100_000))) as c:
        yield c


def test_targets_are_the_current_configs(client: TestClient) -> None:
    cfg = load_config()
    body = client.get("/v1/sla/targets").json()
    assert (body["config_version"], body["config_hash"]) == (cfg.version, cfg.hash)
    by_wf = {w["workflow"]: w for w in body["workflows"]}
    for name, t in cfg.spec.workflows.items():
        assert by_wf[name]["output_fps"] == t.output_fps and by_wf[name]["p2ff_s"] == t.p2ff_s
    assert {p: v["seconds"] for p, v in body["periods"].items()} == cfg.periods
    assert body["weights"] == cfg.spec.groups and body["config"] == cfg.spec.model_dump()
    assert client.get("/v1/sla/targets?x=1").status_code == 400  # unknown parameters are refused, as everywhere


def test_scrape_failures_count_by_class_and_list_the_latest(client: TestClient) -> None:
    # The fixture: A has 10 scrape slots 3 hours ago, the fifth failed with http_5xx; B has none.
    body = client.get("/v1/scrapes/failures", params={"orchestrator_id": A.upper().replace("0X", "0x")}).json()
    assert (body["scheduled"], body["failed"], body["by_class"]) == (10, 1, {"http_5xx": 1})
    [f] = body["failures"]
    assert f["orchestrator"] == A and f["error_class"] == "http_5xx" and f["void"] == 0 and "error" not in f
    assert client.get("/v1/scrapes/failures", params={"orchestrator_id": B}).json()["scheduled"] == 0
    assert client.get("/v1/scrapes/failures", params={"time_range": "1h"}).json()["failed"] == 0  # older than an hour
    for bad in ({"orchestrator_id": "0x12"}, {"time_range": "30d"}, {"limit": 0}):
        r = client.get("/v1/scrapes/failures", params=bad)
        assert r.status_code == 400 and r.json()["message"], bad


def test_scrape_failures_page_with_a_cursor_newest_first(client: TestClient, warehouse: Warehouse) -> None:
    # Four more failures of B besides A's one, two of them at the same time (two instances): ties must page too.
    t = int(warehouse.scalar("SELECT toUnixTimestamp64Milli(min(ts)) FROM scrapes"))
    extra = []
    for i, inst in ((1, "b:1"), (2, "b:1"), (2, "b:2"), (3, "b:1")):
        ts = t + i * 30_000
        extra.append((ts, ts, f"http://{inst}/metrics", B, inst, 0, 0.02, 0, 0, "timeout", "", "s1", "0/1", 0, "checked", {}, ts + 500))
    warehouse.insert_columns("scrapes", SCRAPE_COLUMNS, [list(c) for c in zip(*extra)])
    every = client.get("/v1/scrapes/failures", params={"limit": 200}).json()
    assert every["next_cursor"] is None and every["count"] == len(every["failures"]) == every["failed"] == 5
    seen, cursor = [], None
    while True:
        body = client.get("/v1/scrapes/failures", params={"limit": 1, **({"cursor": cursor} if cursor else {})}).json()
        assert body["count"] == len(body["failures"]) <= 1 and body["limit"] == 1
        seen += body["failures"]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == every["failures"] and [f["ts"] for f in seen] == sorted((f["ts"] for f in seen), reverse=True)
    assert (body["scheduled"], body["failed"], body["by_class"]) == (every["scheduled"], every["failed"], every["by_class"])
    r = client.get("/v1/scrapes/failures", params={"cursor": "bad"})
    assert r.status_code == 400 and r.json()["message"].startswith("cursor is not valid")


# The routes whose 200s were untyped objects (additionalProperties: {}) in the OpenAPI schema.
TYPED = {"/v1/sla/targets": "SlaTargetsResponse", "/v1/scrapes/failures": "ScrapeFailuresResponse",
         "/v1/discovery/targets": "DiscoveryTargetsResponse", "/v1/prober": "ProberResponse",
         "/v1/prober/results": "ProberResultsResponse", "/v1/prober/crosscheck": "CrosscheckResponse"}  # fmt: skip


def test_every_v1_route_documents_a_typed_200(client: TestClient) -> None:
    schema = client.get("/schema/openapi.json").json()
    for path, ops in schema["paths"].items():
        if not path.startswith("/v1/") or "get" not in ops:
            continue
        ok = ops["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        if path in TYPED:
            assert ok == {"$ref": f"#/components/schemas/{TYPED[path]}"}, (path, ok)
        if path == "/v1/discovery/http_sd":  # Prometheus' http_sd: a list of {targets, labels} groups
            assert ok["type"] == "array" and ok["items"]["$ref"].endswith("/HttpSdGroup"), ok
            continue
        assert "$ref" in ok and "additionalProperties" not in ok, (path, ok)
    sd = schema["components"]["schemas"]["HttpSdGroup"]
    assert set(sd["required"]) == {"targets", "labels"} and sd["properties"]["targets"]["items"]["type"] == "string"
