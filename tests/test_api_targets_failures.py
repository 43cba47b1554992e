"""The two small /v1 routes the pages read: /v1/sla/targets (the SLA config's targets) and /v1/scrapes/failures (an
orchestrator's recent failed scrapes), on known rows (tests/api_fixtures.py) in a real chDB warehouse."""

from __future__ import annotations

from typing import Iterator

import pytest
from litestar.testing import TestClient

from api.app import create_app
from api.config import ApiSettings
from api_fixtures import A, B, load
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
