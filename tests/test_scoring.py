"""The v0 SLA score: exact figures from known rows, deterministic bytes, honest with small samples."""

from __future__ import annotations

from importlib import resources

import pytest

from warehouse.client import Warehouse
from scoring.compute import compute_scores, wilson_lower
from scoring.sla_config import ConfigError, parse_config, released_configs

V01 = "sla-v0.1.yaml"  # the v0 engine's tests use its last released config


def load_config():  # noqa: ANN201
    return released_configs()["v0.1"]
from scoring.store import latest_scores, publish_scores
from scraper.rows import SAMPLE_COLUMNS
from scraper.sink import SCRAPE_COLUMNS

A, B, C = "0x" + "a" * 40, "0x" + "b" * 40, "0x" + "c" * 40
END = 1_800_000_000_000  # a fixed window end: scores never read the wall clock


def scrape_rows(orch: str, ups: list[int], start: int) -> list[tuple]:
    return [
        (start + i * 15_000, start + i * 15_000, "http://x/metrics", orch, "x:1", up, 0.01, 100, 3, "ok" if up else "connect", "", "s", "0/1")
        for i, up in enumerate(ups)
    ]


def fps_rows(orch: str, model: str, values: list[float], start: int) -> list:
    n = len(values)
    return [
        [start + i * 15_000 for i in range(n)],
        [orch] * n,
        ["x:1"] * n,
        ["naap_stream_output_fps"] * n,
        [{"model_id": model, "stream_id": f"s{i}"} for i in range(n)],
        values,
    ]


@pytest.fixture
def loaded(warehouse: Warehouse) -> Warehouse:
    start = END - 300_000
    warehouse.insert_rows("scrapes", SCRAPE_COLUMNS, scrape_rows(A, [1] * 10, start) + scrape_rows(B, [1, 0] * 5, start) + scrape_rows(C, [1, 1], start))
    warehouse.insert_columns("samples", SAMPLE_COLUMNS, fps_rows(A, "streamdiffusion-sdxl", [20.0, 21.0, 19.0, 22.0, 20.5], start))
    warehouse.insert_columns("samples", SAMPLE_COLUMNS, fps_rows(B, "streamdiffusion-sdxl", [10.0, 10.0, 12.0], start))
    # outside the window: must be ignored
    warehouse.insert_rows("scrapes", SCRAPE_COLUMNS, scrape_rows(A, [0] * 10, END))
    warehouse.insert_columns("samples", SAMPLE_COLUMNS, fps_rows(A, "streamdiffusion-sdxl", [1.0] * 5, END))
    return warehouse


def test_known_rows_give_known_scores(loaded: Warehouse) -> None:
    cfg = load_config()
    by = {s.orchestrator: s for s in compute_scores(loaded, cfg, "5m", END)}
    a, b, c = by[A], by[B], by[C]
    assert a.detail["subscores"]["availability"] == {"scheduled": 10, "successful": 10, "value": 1.0, "wilson_lower": round(wilson_lower(10, 10), 6)}
    assert a.detail["subscores"]["output_fps"]["p50"] == 20.5
    assert a.detail["subscores"]["output_fps"]["value"] == 1.0  # p50 ratio 20.5/20 capped at 1
    assert a.score == 100.0 and a.status == "ok"
    # B: half its scrapes failed, p50 fps 10 of a 20 target → (0.5·0.5 + 0.5·0.5) × 100
    assert b.detail["subscores"]["availability"]["value"] == 0.5
    assert b.detail["subscores"]["output_fps"]["target_ratio"] == 0.5
    assert b.score == 50.0
    # C: two scrapes only (< 3): no number, and it says so
    assert c.score is None and c.status == "insufficient_data"
    assert c.detail["subscores"]["availability"]["status"] == "insufficient_data"
    assert a.detail["config_version"] == cfg.version and a.detail["config_hash"] == cfg.hash


def test_same_rows_same_bytes(loaded: Warehouse) -> None:
    cfg = load_config()
    first = [s.detail_json() for s in compute_scores(loaded, cfg, "5m", END)]
    second = [s.detail_json() for s in compute_scores(loaded, cfg, "5m", END)]
    assert first == second
    assert [s.orchestrator for s in compute_scores(loaded, cfg, "5m", END)] == sorted([A, B, C])


def test_published_scores_are_read_back(loaded: Warehouse) -> None:
    cfg = load_config()
    publish_scores(loaded, cfg, now_ms=END + 5)  # aligned down to END
    rows = latest_scores(loaded, "5m")
    assert [r["orchestrator"] for r in rows] == [A, B, C]
    assert rows[1]["score"] == 50.0 and rows[1]["window_end"] == END
    assert latest_scores(loaded, "5m", B)[0]["orchestrator"] == B


def test_wilson_lower_bound() -> None:
    assert wilson_lower(0, 0) == 0.0
    assert 0.72 < wilson_lower(10, 10) < 0.73
    assert wilson_lower(1000, 1000) > wilson_lower(10, 10)


def test_bad_configs_are_rejected_with_reasons() -> None:
    base = resources.files("scoring.configs").joinpath(V01).read_text()
    with pytest.raises(ConfigError, match="weights"):
        parse_config(base.replace("availability: 0.5", "availability: -1"))
    with pytest.raises(ConfigError, match="default"):
        parse_config(base.replace("  default:\n", "  other:\n"))
    with pytest.raises(ConfigError, match="fps_percentile"):
        parse_config(base.replace("fps_percentile: 0.5", "fps_percentile: 1.5"))
    with pytest.raises(ConfigError, match="mapping"):
        parse_config("- 1")
    with pytest.raises(ValueError, match="unknown period"):
        compute_scores(None, load_config(), "3w", END)  # type: ignore[arg-type]
