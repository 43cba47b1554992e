"""The Livepeer Explorer drop-in (/api/*): the paths, parameters and JSON shapes of livepeer/leaderboard-serverless,
computed from known published scores (tests/api_fixtures.py), values worked out by hand."""

from __future__ import annotations

import time
from typing import Any, Iterator

import pytest
from litestar.testing import TestClient

from api.app import create_app
from api.config import ApiSettings
from api_fixtures import A, B, C, D, H, SD15, SDXL, load
from scoring.sla_config import load_config
from warehouse.client import Warehouse

PIPE = "live-video-to-video"


@pytest.fixture
def api(warehouse: Warehouse) -> Iterator[tuple[TestClient, int]]:
    t = load(warehouse)
    app = create_app(warehouse.reader(), load_config(), ApiSettings(rate_limit_per_minute=100_000))
    with TestClient(app) as client:
        yield client, t


def get(client: TestClient, path: str, **params: Any) -> Any:
    r = client.get(path, params=params)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    return r.json()


def test_aggregated_stats_for_a_pipeline_and_model(api: tuple[TestClient, int]) -> None:
    client, _ = api
    # The 24h window's sdxl scores: A 84 (reliability 0.9, latency 0.75), C 55 (0.5, 0.4); regions upper-cased.
    assert get(client, "/api/aggregated_stats", pipeline=PIPE, model="streamdiffusion-sdxl") == {
        A: {"EU-WEST": {"success_rate": 0.9, "round_trip_score": 0.75, "score": 0.84}},
        C: {"US-EAST": {"success_rate": 0.5, "round_trip_score": 0.4, "score": 0.55}},
    }


def test_aggregated_stats_without_a_workflow_and_filtered(api: tuple[TestClient, int]) -> None:
    client, t = api
    own = {A: {"EU-WEST": {"success_rate": 0.9, "round_trip_score": 0.8, "score": 0.85}},
           B: {"EU-WEST": {"success_rate": 0.95, "round_trip_score": 0.9, "score": 0.91}}}  # fmt: skip
    assert get(client, "/api/aggregated_stats") == own
    assert get(client, "/api/aggregated_stats", orchestrator=A.upper().replace("0X", "0x")) == {A: own[A]}
    assert get(client, "/api/aggregated_stats", region="eu-west") == own
    assert get(client, "/api/aggregated_stats", region="US-EAST") == {}
    # pipeline alone: each orchestrator's best workflow of the pipeline
    assert get(client, "/api/aggregated_stats", pipeline=PIPE) == {
        A: {"EU-WEST": {"success_rate": 0.9, "round_trip_score": 0.75, "score": 0.84}},
        B: {"EU-WEST": {"success_rate": 0.96, "round_trip_score": 0.92, "score": 0.93}},
        C: {"US-EAST": {"success_rate": 0.5, "round_trip_score": 0.4, "score": 0.55}},
    }
    # since/until in Unix seconds: a span of about an hour reads the 1h period's window ending by `until`
    hour = get(client, "/api/aggregated_stats", since=str((t + H) / 1000), until=str((t + 2 * H) / 1000 + 0.5))
    assert hour[A]["EU-WEST"]["score"] == 0.9 and hour[B]["EU-WEST"]["score"] == 0.92 and D not in hour
    assert C in hour  # C's latency group has a value in its own 1h score
    assert get(client, "/api/aggregated_stats", since=str(t / 1000 - 7200), until=str(t / 1000)) == {}


def test_top_ai_score(api: tuple[TestClient, int]) -> None:
    client, _ = api
    assert get(client, "/api/top_ai_score", orchestrator=A) == {
        "region": "EU-WEST", "orchestrator": A, "value": 0.84, "model": "streamdiffusion-sdxl", "pipeline": PIPE}
    assert get(client, "/api/top_ai_score", orchestrator=B)["model"] == "streamdiffusion-sd15"
    assert get(client, "/api/top_ai_score", orchestrator=D) == {}
    assert get(client, "/api/top_ai_score") == {}


def test_pipelines_and_regions(api: tuple[TestClient, int]) -> None:
    client, _ = api
    assert get(client, "/api/pipelines") == {"pipelines": [
        {"id": PIPE, "models": ["streamdiffusion-sd15", "streamdiffusion-sdxl"], "regions": ["EU-WEST", "US-EAST"]}]}
    assert get(client, "/api/pipelines", region="us-east") == {"pipelines": [
        {"id": PIPE, "models": ["streamdiffusion-sdxl"], "regions": ["US-EAST"]}]}
    assert get(client, "/api/regions") == {"regions": [
        {"id": "EU-WEST", "name": "eu-west", "type": "ai"}, {"id": "US-EAST", "name": "us-east", "type": "ai"}]}


def test_an_empty_warehouse_gives_the_empty_shapes(warehouse: Warehouse) -> None:
    app = create_app(warehouse.reader(), load_config(), ApiSettings())
    with TestClient(app) as client:
        assert get(client, "/api/aggregated_stats", pipeline=PIPE, model="x") == {}
        assert get(client, "/api/top_ai_score", orchestrator=A) == {}
        assert get(client, "/api/pipelines") == {"pipelines": []}
        assert get(client, "/api/regions") == {"regions": []}


def test_a_fresh_deployment_answers_from_the_longest_period_with_data(warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first hours of a deployment: the 24 h period's window is published but insufficient (coverage below 0.5),
    the 1 h period's has data. The Explorer routes and the leaderboard's default answer from 1 h, and say so."""
    import api_fixtures

    fresh = [s for s in api_fixtures.SCORES if s[0] == "1h"] + [
        ("24h", 2, orch, wf, None, None, None, None) for orch, wf in ((A, ""), (B, ""), (A, SDXL), (B, SD15))]
    monkeypatch.setattr(api_fixtures, "SCORES", fresh)
    load(warehouse)
    app = create_app(warehouse.reader(), load_config(), ApiSettings(rate_limit_per_minute=100_000))
    with TestClient(app) as client:
        r = client.get("/api/aggregated_stats")
        assert r.status_code == 200 and r.headers["X-Score-Period"] == "1h"
        body = r.json()  # the 1h window's own scores (see test_aggregated_stats_without_a_workflow_and_filtered)
        assert {o: v["EU-WEST" if o != C else "US-EAST"]["score"] for o, v in body.items()} == {A: 0.9, B: 0.92, C: 0.6}
        assert set(body[A]["EU-WEST"]) == {"success_rate", "round_trip_score", "score"}  # the shape, unchanged
        top = client.get("/api/top_ai_score", params={"orchestrator": A})
        assert top.json() == {"region": "EU-WEST", "orchestrator": A, "value": 0.88, "model": "streamdiffusion-sdxl",
                              "pipeline": PIPE} and top.headers["X-Score-Period"] == "1h"  # fmt: skip
        assert get(client, "/api/regions") == {"regions": [
            {"id": "EU-WEST", "name": "eu-west", "type": "ai"}, {"id": "US-EAST", "name": "us-east", "type": "ai"}]}
        assert get(client, "/api/pipelines")["pipelines"][0]["models"] == ["streamdiffusion-sd15", "streamdiffusion-sdxl"]
        # since/until asked: the period closest to their span, as before (24h: nothing with data)
        hi = client.get("/api/aggregated_stats", params={"until": str(time.time())})
        assert hi.json() == {} and hi.headers["X-Score-Period"] == "24h"
        board = get(client, "/v1/leaderboard")
        assert board["period"] == "1h" and [e["orchestrator"] for e in board["entries"] if e["rank"]] == [A, B, C]
        assert get(client, "/v1/leaderboard", period="24h")["entries"][0]["insufficient_data"] is True
