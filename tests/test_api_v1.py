"""The /v1 API on known rows (tests/api_fixtures.py) in a real chDB warehouse, through the real app: every endpoint's
answer worked out by hand, filters combined, cursors walked, unknown parameters refused, caching headers."""

from __future__ import annotations

from typing import Any, Iterator

import pytest
from litestar.testing import TestClient

from api.app import create_app
from api.config import ApiSettings
from api.query import IMMUTABLE, time_window
from scoring.sla_config import load_config
from api_fixtures import A, B, C, D, GPU_A, H, SD15, SDXL, approx, load
from warehouse.client import Warehouse


@pytest.fixture
def api(warehouse: Warehouse) -> Iterator[tuple[TestClient, int]]:
    t = load(warehouse)
    app = create_app(warehouse.reader(), load_config(), ApiSettings(rate_limit_per_minute=100_000))
    with TestClient(app) as client:
        yield client, t


def get(client: TestClient, path: str, **params: Any) -> dict[str, Any]:
    r = client.get(path, params=params)
    assert r.status_code == 200, r.text
    return r.json()


# ---------------------------------------------------------------------------------------------- /v1/gpu/metrics


def test_gpu_metrics_carry_the_seeds_fields_worked_out_by_hand(api: tuple[TestClient, int]) -> None:
    client, t = api
    body = get(client, "/v1/gpu/metrics", time_range=time_window(t, t + 600_000), o_wallet=A.upper().replace("0X", "0x"))
    assert body["closed"] and body["source"] == "rollup_5m" and body["count"] == 1
    [g] = body["gpus"]
    assert g["o_wallet"] == g["orchestrator"] == A and g["gpu_id"] == GPU_A and g["workflow"] == SDXL
    assert g["region"] == "eu-west"  # declared "EU-West": served lower case
    assert g["orchestrator_agent_version"] == "0.3.1" and g["livepeer_version"] == "0.8.5"
    assert g["time_window"] == time_window(t, t + 600_000)
    assert (g["gpu_model"], g["vram_bytes"], g["cuda_version"]) == ("NVIDIA GeForce RTX 4090", 25769803776, "12.4")
    # FPS 18..22 twice: sorted x5 = x6 = 20 -> p50 20; x9 = x10 = 22 -> p95 22; six of ten >= the sdxl target 20.
    assert g["output_fps"]["p50"] == 20.0 and g["output_fps"]["p95"] == 22.0
    assert g["output_fps"]["compliance"] == {"target": 20.0, "ok": 6, "samples": 10, "value": 0.6}
    seeds = g["metrics"]
    assert seeds["output_fps"] == 20.0
    assert seeds["jitter_coefficient"] == 0.1  # five 0.05 and five 0.15: halfway between x5 and x6
    # P2FF buckets 0.5: 3, 1.0: 4, +Inf: 4 -> rank 2 of 4 falls in the first bucket: 0.5 * 2/3 s
    assert seeds["prompt_to_first_frame_latency_ms"] == 333.3
    assert approx(g["catalog"]["p2ff"]["p95_s"], 0.9)  # rank 3.8: 0.5 + 0.5 * 0.8
    assert seeds["failure_rate_pct"] == 10.0  # 1 error / 10 streams started
    assert (seeds["cuda_utilization_efficiency_pct"], seeds["cuda_utilization_efficiency_method"],
            seeds["cuda_utilization_efficiency_confidence"]) == (80.0, "dcgm", "high")  # dcgm preferred over proxy
    assert g["samples"] == {"output_fps": 10, "prompt_to_first_frame_latency_ms": 30, "jitter_coefficient": 10,
                            "failure_rate_pct": 20, "cuda_utilization_efficiency_pct": 10}  # fmt: skip
    cat = g["catalog"]
    assert cat["availability"]["scheduled"] == 10 and cat["availability"]["successful"] == 9 and cat["availability"]["value"] == 0.9
    assert {c["method"] for c in cat["cue"]} == {"dcgm", "proxy"}
    assert cat["streams"]["stream_seconds"] == 600.0 and cat["streams"]["inference_minutes"] == 10.0
    assert cat["gpu"]["utilization_ratio"]["avg"] == 0.75


def test_gpu_metrics_filters_combine_and_regions_match_in_any_case(api: tuple[TestClient, int]) -> None:
    client, t = api
    tw = time_window(t, t + 600_000)
    assert [g["orchestrator"] for g in get(client, "/v1/gpu/metrics", time_range=tw)["gpus"]] == [A, B, C]
    assert [g["orchestrator"] for g in get(client, "/v1/gpu/metrics", time_range=tw, region="EU-WEST")["gpus"]] == [A, B]
    assert [g["orchestrator"] for g in get(client, "/v1/gpu/metrics", time_range=tw, region="eu-west",
                                           workflow="streamdiffusion-sd15")["gpus"]] == [B]  # fmt: skip
    assert get(client, "/v1/gpu/metrics", time_range=tw, region="us-east", workflow=SD15)["gpus"] == []
    assert [g["gpu_id"] for g in get(client, "/v1/gpu/metrics", time_range=tw, gpu_id=GPU_A)["gpus"]] == [GPU_A]


def test_gpu_metrics_pages_with_an_opaque_cursor(api: tuple[TestClient, int]) -> None:
    client, t = api
    tw = time_window(t, t + 600_000)
    seen, cursor = [], None
    for _ in range(5):
        params = {"time_range": tw, "limit": "1", **({"cursor": cursor} if cursor else {})}
        body = get(client, "/v1/gpu/metrics", **params)
        seen += [g["orchestrator"] for g in body["gpus"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == [A, B, C]
    first = get(client, "/v1/gpu/metrics", time_range=tw, limit="1")["next_cursor"]
    r = client.get("/v1/gpu/metrics", params={"time_range": tw, "limit": "1", "cursor": first, "region": "us-east"})
    assert r.status_code == 400 and "another query" in r.json()["message"]
    r = client.get("/v1/gpu/metrics", params={"time_range": tw, "cursor": "not-a-cursor"})
    assert r.status_code == 400 and "cursor" in r.json()["message"]


# ---------------------------------------------------------------------------------------------- scores


def test_compliance_serves_the_latest_window_with_v1_detail(api: tuple[TestClient, int]) -> None:
    client, t = api
    body = get(client, "/v1/sla/compliance", period="1h")
    assert body["window_end"] == t + 2 * H and body["window_start"] == t + H and body["scoring_version"] == "v1"
    assert [e["orchestrator"] for e in body["orchestrators"]] == [A, B, C, D]
    a, d = body["orchestrators"][0], body["orchestrators"][3]
    assert (a["score"], a["score_lower"], a["score_upper"], a["status"], a["insufficient_data"]) == (90.0, 80.0, 95.0, "ok", False)
    assert a["region"] == "eu-west" and a["workflow"] == "" and a["groups"]["latency"]["value"] == 0.8
    assert a["metrics"]["failure_rate"]["rate"] == 0.1 and a["metrics"]["availability"]["lower"] == 0.957907
    assert "by_class" not in a["metrics"]["availability"]  # a metric carries only its own fields
    assert a["metrics"]["p2ff"]["value"] is None  # ... and an explicit null stays null
    assert d["score"] is None and d["insufficient_data"] and d["reasons"] and d["region"] is None
    assert a["config_hash"] == body["config_hash"] == load_config().hash


def test_compliance_per_workflow_per_orchestrator_and_per_window(api: tuple[TestClient, int]) -> None:
    client, t = api
    wf = get(client, "/v1/sla/compliance", period="1h", workflow="streamdiffusion-sdxl")
    assert [(e["orchestrator"], e["workflow"], e["score"]) for e in wf["orchestrators"]] == [(A, SDXL, 88.0), (C, SDXL, 50.0)]
    one = get(client, "/v1/sla/compliance", period="1h", orchestrator_id=B, workflow=SD15)
    assert [(e["orchestrator"], e["score"]) for e in one["orchestrators"]] == [(B, 95.0)]
    r = client.get("/v1/sla/compliance", params={"period": "1h", "window_end": str(t + H)})
    assert r.status_code == 200 and r.headers["Cache-Control"] == IMMUTABLE and r.headers["ETag"]
    assert [(e["orchestrator"], e["score"]) for e in r.json()["orchestrators"]] == [(A, 70.0), (B, 80.0)]
    latest = client.get("/v1/sla/compliance", params={"period": "1h"})
    assert latest.headers["Cache-Control"] == "public, max-age=10" and not latest.json()["closed"]


def test_history_lists_published_windows_oldest_first_in_pages(api: tuple[TestClient, int]) -> None:
    client, t = api
    params = {"orchestrator_id": A, "period": "1h", "from": str(t), "to": str(t + 2 * H)}
    body = get(client, "/v1/sla/history", **params)
    assert [(e["window_end"], e["score"]) for e in body["scores"]] == [(t + H, 70.0), (t + 2 * H, 90.0)]
    assert body["closed"]  # every window up to `to` is published
    page1 = get(client, "/v1/sla/history", **params, limit="1")
    page2 = get(client, "/v1/sla/history", **params, limit="1", cursor=page1["next_cursor"])
    assert [e["score"] for e in page1["scores"] + page2["scores"]] == [70.0, 90.0] and page2["next_cursor"] is None
    every = get(client, "/v1/sla/history", period="1h", workflow=SDXL, **{"from": str(t), "to": str(t + 2 * H)})
    assert [(e["window_end"] - t, e["orchestrator"]) for e in every["scores"]] == [(H, A), (2 * H, A), (2 * H, C)]
    iso_to = get(client, "/v1/sla/history", orchestrator_id=A, period="1h", **{"from": time_window(t, t + H).split("/")[0],
                                                                               "to": time_window(t, t + H).split("/")[1]})  # fmt: skip
    assert [e["score"] for e in iso_to["scores"]] == [70.0]


def test_leaderboard_ranks_on_the_lower_bound(api: tuple[TestClient, int]) -> None:
    client, _ = api
    hour = get(client, "/v1/leaderboard", period="1h")
    # B has the higher score (92 vs 90) but the wider interval: A's lower bound (80) beats B's (70).
    assert [(e["rank"], e["orchestrator"], e["score_lower"]) for e in hour["entries"]] == [
        (1, A, 80.0), (2, B, 70.0), (3, C, 55.0), (None, D, None)]
    assert hour["entries"][3]["insufficient_data"] and hour["entries"][0]["groups"]["reliability"] == 0.9
    day = get(client, "/v1/leaderboard")  # 24h by default
    assert day["period"] == "24h" and [(e["rank"], e["orchestrator"]) for e in day["entries"]] == [(1, B), (2, A)]
    eu = get(client, "/v1/leaderboard", period="1h", region="EU-West")
    assert [e["orchestrator"] for e in eu["entries"]] == [A, B] and eu["region"] == "eu-west"
    sdxl = get(client, "/v1/leaderboard", period="1h", workflow=SDXL)
    assert [(e["rank"], e["orchestrator"], e["workflow"]) for e in sdxl["entries"]] == [(1, A, SDXL), (2, C, SDXL)]
    p1 = get(client, "/v1/leaderboard", period="1h", limit="3")
    p2 = get(client, "/v1/leaderboard", period="1h", limit="3", cursor=p1["next_cursor"])
    assert [e["orchestrator"] for e in p1["entries"] + p2["entries"]] == [A, B, C, D]


def test_select_picks_the_best_eligible_and_says_why(api: tuple[TestClient, int]) -> None:
    client, _ = api
    both = get(client, "/v1/select", workflow="streamdiffusion-sdxl")
    assert [s["orchestrator"] for s in both["orchestrators"]] == [A, C] and both["considered"] == 2
    a = both["orchestrators"][0]
    assert (a["price_per_unit"], a["warm"], a["capacity_idle"]) == (1200.0, True, 1)
    assert any("1200" in w for w in a["why"]) and a["why"][-1] == "rank 1 of 2 eligible on score_lower"
    good = get(client, "/v1/select", workflow=SDXL, min_score="45")
    assert [s["orchestrator"] for s in good["orchestrators"]] == [A] and good["excluded"] == {"below_min_score": 1}
    cheap = get(client, "/v1/select", workflow=SDXL, max_price="1000")
    assert cheap["orchestrators"] == [] and cheap["excluded"] == {"over_max_price": 1, "price_unknown": 1}
    assert [s["orchestrator"] for s in get(client, "/v1/select", workflow=SDXL, max_price="2000")["orchestrators"]] == [A]
    us = get(client, "/v1/select", workflow=SDXL, region="us-east")
    assert [s["orchestrator"] for s in us["orchestrators"]] == [C] and us["excluded"] == {"region": 1}
    full = get(client, "/v1/select", workflow=SD15)  # B: 0 idle, 2 in use
    assert full["orchestrators"] == [] and full["excluded"] == {"no_idle_capacity": 1}


# ---------------------------------------------------------------------------------------------- network


def test_capabilities_per_orchestrator_and_model(api: tuple[TestClient, int]) -> None:
    client, _ = api
    caps = {(c["orchestrator"], c["workflow"]): c for c in get(client, "/v1/network/capabilities")["capabilities"]}
    assert set(caps) == {(A, SDXL), (B, SD15), (C, SDXL)}
    a, b, c = caps[(A, SDXL)], caps[(B, SD15)], caps[(C, SDXL)]
    assert (a["warm"], a["capacity_idle"], a["capacity_in_use"], a["price_per_unit"], a["sources"]) == (True, 1, 1, 1200.0, ["exporter", "prober"])
    assert a["gpu_models"] == {"NVIDIA GeForce RTX 4090": 1} and a["region"] == "eu-west"
    assert (b["capacity_idle"], b["capacity_in_use"], b["price_per_unit"]) == (0, 2, 5000.0)
    assert (c["warm"], c["price_per_unit"], c["sources"]) == (False, None, ["exporter"])  # no container, never probed
    only = get(client, "/v1/network/capabilities", region="us-east", workflow="streamdiffusion-sdxl")["capabilities"]
    assert [x["orchestrator"] for x in only] == [C]


def test_regions_are_normalised(api: tuple[TestClient, int]) -> None:
    client, _ = api
    body = get(client, "/v1/regions")
    assert body["regions"] == [{"region": "eu-west", "orchestrators": 2}, {"region": "us-east", "orchestrators": 1}]


def test_demand_per_hour_and_week(api: tuple[TestClient, int]) -> None:
    client, t = api
    hour = get(client, "/v1/network/demand", **{"from": str(t), "to": str(t + H)})
    assert hour["source"] == "rollup_1h" and hour["count"] == 1
    [row] = hour["rows"]
    # Three orchestrators, one active stream each, ten samples a minute apart: 10 x 60 s each.
    assert row["stream_seconds"] == 1800.0 and row["inference_minutes"] == 30.0 and row["avg_concurrent_streams"] == 0.5
    assert row["inference_minutes_by_gpu_model"] == {"NVIDIA GeForce RTX 4090": 30.0} and row["fees_eth"] is None
    eu = get(client, "/v1/network/demand", region="eu-west", **{"from": str(t), "to": str(t + H)})
    assert eu["rows"][0]["stream_seconds"] == 1200.0 and eu["region"] == "eu-west"
    week = get(client, "/v1/network/demand", interval="week", **{"from": str(t), "to": str(t + H)})
    assert week["count"] == 1 and (week["rows"][0]["window_end"] - week["rows"][0]["window_start"]) == 7 * 24 * H
    gw = get(client, "/v1/network/demand", gateway="0x" + "ee" * 20)
    assert gw["rows"] == [] and "gateway" in gw["notes"][0]


def test_demand_of_the_open_hour_averages_over_the_time_that_has_passed(api: tuple[TestClient, int], monkeypatch: pytest.MonkeyPatch) -> None:
    # Now is 10 minutes into the hour: three orchestrators with one stream each for those 10 minutes are 3
    # concurrent streams on average so far (1800 stream-seconds / 600 s), not 0.5 (1800 / the whole hour).
    import api.routes.demand as demand_route

    client, t = api
    monkeypatch.setattr(demand_route, "now_ms", lambda: t + 600_000)
    [row] = get(client, "/v1/network/demand", **{"from": str(t), "to": str(t + H)})["rows"]
    assert row["stream_seconds"] == 1800.0 and row["window_end"] == t + H and row["avg_concurrent_streams"] == 3.0
    monkeypatch.setattr(demand_route, "now_ms", lambda: t + 2 * H)  # the hour is over: its whole length
    [row] = get(client, "/v1/network/demand", limit=50, **{"from": str(t), "to": str(t + H)})["rows"]  # (another URL: not cached)
    assert row["avg_concurrent_streams"] == 0.5


# ---------------------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("/v1/gpu/metrics?orchestator=0xabc", "orchestator"),
        ("/v1/sla/compliance?period=1h&limit=5&colour=red", "colour"),
        ("/v1/leaderboard?region=a%20b", "region"),
        ("/v1/leaderboard?period=3y", "unknown period"),
        ("/v1/sla/history?from=yesterday", "from"),
        ("/v1/sla/history?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z", "from must not be after to"),
        ("/v1/sla/history?from=2026-01-01T00:00:00", "time zone"),
        ("/v1/select", "workflow"),
        ("/v1/select?workflow=sdxl&min_score=101", "min_score"),
        ("/v1/network/demand?interval=month", "interval"),
        ("/v1/network/demand?gateway=0x12", "gateway"),
        ("/v1/gpu/metrics?limit=0", "limit"),
        ("/v1/gpu/metrics?limit=1001", "limit"),
        ("/v1/gpu/metrics?time_range=2026-01-01T00:00:00Z/2025-01-01T00:00:00Z", "end after it starts"),
        ("/v1/gpu/metrics?time_range=2025-01-01T00:00:00Z/2026-01-01T00:00:00Z", "at most 31d"),
        ("/v1/network/capabilities?time_range=30d", "time_range"),
        ("/api/aggregated_stats?model=x", "pipeline"),
        ("/api/aggregated_stats?since=soon", "since"),
        ("/api/top_ai_score?orchestrator=0xzz", "orchestrator"),
        ("/v1/discovery/targets?x=1", "unknown query parameter 'x'"),
        ("/v1/gpu/metrics?limit=1&limit=2", "'limit' is given more than once"),
        ("/v1/regions?time_range=24h&time_range=24h", "'time_range' is given more than once"),
        ("/v1/gpu/metrics?time_range=%201h", "time_range must look like"),
        ("/v1/gpu/metrics?time_range=1h%0A", "time_range must look like"),
        ("/v1/gpu/metrics?o_wallet=", "'o_wallet' is empty"),
        ("/v1/sla/compliance?orchestrator_id=&period=1h", "'orchestrator_id' is empty"),
        ("/v1/leaderboard?region=%20eu-west", "region"),
        ("/v1/network/demand?from=0&to=86400000000", "at most 1000 intervals of an hour"),
        ("/v1/network/demand?interval=day&from=0&to=8640000000000", "at most 1000 intervals of a day"),
    ],
)
def test_bad_parameters_are_400_json_naming_them(api: tuple[TestClient, int], path: str, words: str) -> None:
    client, _ = api
    r = client.get(path)
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["status"] == 400 and words in body["message"] and "Traceback" not in r.text


def test_addresses_are_accepted_in_any_case_prefix_included(api: tuple[TestClient, int]) -> None:
    client, t = api
    tw = time_window(t, t + 600_000)
    want = [g["gpu_id"] for g in get(client, "/v1/gpu/metrics", time_range=tw, o_wallet=A)["gpus"]]
    assert want and [g["gpu_id"] for g in get(client, "/v1/gpu/metrics", time_range=tw, o_wallet=A.upper())["gpus"]] == want
    assert get(client, "/v1/gpu/metrics", time_range=tw, o_wallet="0X" + A[2:])["gpus"][0]["o_wallet"] == A


def test_health_metrics_and_docs_take_any_parameter(api: tuple[TestClient, int]) -> None:
    client, _ = api
    assert client.get("/healthz?probe=1").status_code == 200
    assert client.get("/docs?x=1").status_code == 200


def test_the_openapi_documents_typed_bodies_and_the_real_error_body(api: tuple[TestClient, int]) -> None:
    client, _ = api
    schema = get(client, "/schema/openapi.json")
    comps = schema["components"]["schemas"]
    assert {"ErrorBody", "GpuMetricsResponse", "ScoreEntry", "LeaderboardResponse", "DemandResponse"} <= set(comps)
    for path in ("/v1/gpu/metrics", "/v1/network/demand", "/v1/sla/compliance", "/v1/network/capabilities", "/v1/leaderboard",
                 "/v1/sla/history", "/v1/select", "/v1/regions", "/api/aggregated_stats"):  # fmt: skip
        op = schema["paths"][path]["get"]
        for status in ("400", "429", "503"):
            ref = op["responses"][status]["content"]["application/json"]["schema"]["$ref"]
            assert ref.endswith("/ErrorBody"), (path, status)
        ok = op["responses"]["200"]["content"]["application/json"]["schema"]
        assert "$ref" in ok or ok.get("type") == "object", (path, ok)
    private = schema["paths"]["/v1/orchestrators/{address}/samples"]["get"]
    assert private["security"] == [{"SiweBearer": []}] and {"401", "403"} <= set(private["responses"])
    assert set(comps["ErrorBody"]["required"]) == {"status", "message"}


# The data routes (and the region list): each must refuse a parameter it does not take and page its list.
LIST_ROUTES = ("/v1/gpu/metrics", "/v1/network/demand", "/v1/sla/compliance", "/v1/datasets", "/v1/network/capabilities",
               "/v1/leaderboard", "/v1/sla/history", "/v1/select", "/v1/regions")  # fmt: skip


def test_every_public_route_refuses_an_unknown_parameter(api: tuple[TestClient, int]) -> None:
    client, _ = api
    schema = get(client, "/schema/openapi.json")
    paths = [p for p in schema["paths"] if p.startswith(("/v1/", "/api/")) and "get" in schema["paths"][p]]
    assert set(LIST_ROUTES) | {"/api/aggregated_stats", "/api/top_ai_score", "/api/pipelines", "/api/regions"} <= set(paths)
    for path in paths:
        concrete = path.replace("{address}", A)
        r = client.get(concrete, params={"no_such_parameter": "1"})
        assert r.status_code == 400, (path, r.status_code, r.text)
        assert "no_such_parameter" in r.json()["message"], (path, r.text)


def test_every_list_pages_with_a_cursor_documented_in_openapi(api: tuple[TestClient, int]) -> None:
    client, _ = api
    schema = get(client, "/schema/openapi.json")
    for path in LIST_ROUTES:
        op = schema["paths"][path]["get"]
        assert {"cursor", "limit"} <= {p["name"] for p in op["parameters"]}, path
        ref = op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
        assert "next_cursor" in schema["components"]["schemas"][ref]["properties"], path


def test_datasets_are_typed_filtered_and_paged(api: tuple[TestClient, int]) -> None:
    client, _ = api
    every = get(client, "/v1/datasets")
    refs = [d["ref"] for d in every["datasets"]]
    assert refs == sorted(refs) and every["next_cursor"] is None and every["count"] == len(refs) >= 2
    first = get(client, "/v1/datasets", limit=1)
    assert [d["ref"] for d in first["datasets"]] == refs[:1] and first["next_cursor"]
    second = get(client, "/v1/datasets", limit=1, cursor=first["next_cursor"])
    assert [d["ref"] for d in second["datasets"]] == refs[1:2]
    good = get(client, "/v1/datasets", type="good", items="true")
    assert [d["type"] for d in good["datasets"]] == ["good"] * good["count"]
    items = good["datasets"][0]["items"]
    assert sum(good["datasets"][0]["counts"].values()) == len(items) and {"id", "kind", "params", "expect"} <= set(items[0])
    assert "items" not in every["datasets"][0]
    assert client.get("/v1/datasets", params={"type": "average"}).status_code == 400
    schema = get(client, "/schema/openapi.json")
    ok = schema["paths"]["/v1/datasets"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok["$ref"].endswith("/DatasetsResponse")
