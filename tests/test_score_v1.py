"""Score v1 on known rows: base-window inputs from the raw log (as of a cut-off), subscores, groups, coverage,
missing data, and publishing. Every expected figure is worked out by hand in the comments."""

from __future__ import annotations

import math
from typing import Any

import pytest
import yaml

from scoring.inputs_v1 import compute_inputs, read_inputs, write_inputs
from scoring.promql import histogram_quantile
from scoring.publish_v1 import compute_scores_v1, publish_tick
from scoring.score_v1 import wilson
from scoring.sla_config import ConfigError, parse_config, released_configs
from scraper.sink import SCRAPE_ROW_COLUMNS
from warehouse.client import Warehouse

A, B, C, D = ("0x" + c * 40 for c in "abcd")
T = 1_800_000_000_000  # a base window start (a multiple of 60 s)
WF = "live-video-to-video/streamdiffusion-sdxl"  # target 20 fps, P2FF 1.0 s, startup 5.0 s
SAMPLE_COLUMNS = ("ts", "orchestrator", "instance", "metric", "labels", "value", "ingested_at")
L = {"pipeline": "live-video-to-video", "model_id": "streamdiffusion-sdxl", "gpu_id": "GPU-1"}


def minute_config(periods: dict[str, Any] | None = None) -> Any:
    """v1 with its 60 s base window and one period of one window ("1m"), unless `periods` says otherwise."""
    from importlib import resources

    data = yaml.safe_load(resources.files("scoring.configs").joinpath("sla-v1.yaml").read_text())
    data["version"] = "v1-test"
    data["periods"] = periods or {"1m": {"seconds": 60, "step_s": 60, "min_coverage": 0.5}}
    return parse_config(yaml.safe_dump(data), "test")


def scrapes(orch: str, start: int, ups: list[int], every: int = 10_000) -> list[tuple]:
    return [
        (start + i * every, start + i * every, "http://x/metrics", orch, "x:1", up, 0.01, 100, 10, "ok" if up else "http_5xx",
         "", "s1", "0/1", 0, "checked" if up else "", {})
        for i, up in enumerate(ups)
    ]  # fmt: skip


class Rows:
    def __init__(self) -> None:
        self.rows: list[tuple] = []

    def add(self, orch: str, metric: str, labels: dict[str, str], points: list[tuple[int, float]], ingested: int | None = None) -> None:
        for ts, v in points:
            self.rows.append((ts, orch, "x:1", metric, labels, v, ingested if ingested is not None else ts + 100))

    def insert(self, wh: Warehouse) -> None:
        wh.insert_rows("samples", SAMPLE_COLUMNS, self.rows)


def at(*offsets_s: float) -> list[int]:
    return [T + int(o * 1000) for o in offsets_s]


def fleet(wh: Warehouse) -> None:
    """A streams through the SDK; B exposes nothing but build info (no SDK); C's SDK is there but idle."""
    wh.insert_rows("scrapes", SCRAPE_ROW_COLUMNS, scrapes(A, T, [1] * 6) + scrapes(B, T, [1, 0, 1, 0, 1, 0]) + scrapes(C, T, [1] * 6))
    r = Rows()
    for orch in (A, B, C):
        r.add(orch, "naap_exporter_build_info", {"orchestrator": orch}, [(ts, 1.0) for ts in at(-10, 0, 10, 20, 30, 40, 50)])
    r.add(A, "naap_streams_active", L, [(ts, 2.0) for ts in at(0, 10, 20, 30, 40, 50)])
    r.add(C, "naap_streams_active", L, [(ts, 0.0) for ts in at(0, 10, 20, 30, 40, 50)])
    stream = {**L, "stream_id": "s1"}
    r.add(A, "naap_stream_output_fps", stream, list(zip(at(0, 10, 20, 30, 40, 50), [21, 19, 22, 18, 25, 20])))
    r.add(A, "naap_stream_jitter_ratio", stream, list(zip(at(0, 10, 20, 30, 40, 50), [0.05, 0.2, 0.08, 0.1, 0.3, 0.01])))
    # streams started: 5 before the window, then 5 6 6 7 | reset | 1 2  -> 0+1+0+1+1+1 = 4
    r.add(A, "naap_streams_started_total", L, list(zip(at(-10, 0, 10, 20, 30, 40, 50), [5, 5, 6, 6, 7, 1, 2])))
    # errors: the series is created (value 1) at +20 while the exporter was being scraped -> 1 + (0 + 1 + 0) = 2
    r.add(A, "naap_stream_errors_total", {**L, "error_class": "timeout"}, list(zip(at(20, 30, 40, 50), [1, 1, 2, 2])))
    # P2FF buckets (cumulative): 0.5: 3->5 (+2), 1.0: 4->7 (+3), 2.0: 4->8 (+4), +Inf: 5->9 (+4)
    for le, before, after in (("0.5", 3, 5), ("1.0", 4, 7), ("2.0", 4, 8), ("+Inf", 5, 9)):
        r.add(A, "naap_stream_prompt_to_first_frame_seconds_bucket", {**L, "le": le}, list(zip(at(-10, 50), [before, after])))
    # startup: one cold start of 3 s (le 5.0 and above +1); the restart histogram is not startup
    for le, v in (("2.0", 0), ("5.0", 1), ("+Inf", 1)):
        r.add(A, "naap_stream_startup_seconds_bucket", {**L, "startup": "cold", "le": le}, list(zip(at(-10, 50), [0, v])))
        r.add(A, "naap_stream_startup_seconds_bucket", {**L, "startup": "restart", "le": le}, list(zip(at(-10, 50), [0, 7])))
    r.add(A, "livepeer_orchestrator_swaps_total", {}, list(zip(at(-10, 30), [0, 1])))
    r.add(A, "naap_gpu_cue_ratio", {"gpu_id": "GPU-1", "method": "proxy", "confidence": "low"}, list(zip(at(0, 30), [0.5, 0.9])))
    # A late arrival: back-dated into the window, ingested after the cut-off — never part of these inputs
    r.add(A, "naap_stream_output_fps", stream, [(T + 55_000, 1.0)], ingested=T + 3_600_000)
    r.insert(wh)


AS_OF = T + 120_000


def test_inputs_of_a_window_are_the_hand_counted_ones(warehouse: Warehouse) -> None:
    fleet(warehouse)
    w = compute_inputs(warehouse, minute_config(), T, AS_OF)
    rows = {(r.orchestrator, r.workflow): r for r in w.rows}
    assert sorted(rows) == [(A, ""), (A, WF), (B, ""), (C, ""), (C, WF)]
    a, wf = rows[(A, "")], rows[(A, WF)]
    assert (a.scheduled, a.successful, a.swaps) == (6, 6, 1.0)
    assert (a.cue_n, a.cue_ok, a.cue_sum) == ({"proxy": 2}, {"proxy": 1}, {"proxy": 1.4})
    assert a.families == sorted(["naap_streams_active", "naap_stream_output_fps", "naap_stream_jitter_ratio",
                                 "naap_streams_started_total", "naap_stream_prompt_to_first_frame_seconds_bucket",
                                 "naap_stream_startup_seconds_bucket", "naap_gpu_cue_ratio",
                                 "livepeer_orchestrator_swaps_total"])  # fmt: skip
    assert (wf.fps_n, wf.fps_ok, wf.fps_sum, wf.fps_min, wf.fps_max) == (6, 4, 125.0, 18.0, 25.0)  # 21 22 25 20 reach 20
    assert (wf.jitter_n, wf.jitter_ok) == (6, 4)  # 0.05 0.08 0.1 0.01 are at most 0.1
    assert (wf.active_n, wf.active_sum, wf.active_max) == (6, 12.0, 2.0)
    assert wf.started == 4.0 and wf.errors == {"timeout": 2.0}
    assert wf.p2ff_buckets == {0.5: 2.0, 1.0: 3.0, 2.0: 4.0, math.inf: 4.0}
    assert wf.startup_buckets == {2.0: 0.0, 5.0: 1.0, math.inf: 1.0}
    assert (rows[(B, "")].scheduled, rows[(B, "")].successful) == (6, 3)
    assert rows[(C, WF)].active_max == 0.0 and rows[(C, WF)].fps_n == 0


def test_consecutive_windows_add_up_to_the_whole_increase(warehouse: Warehouse) -> None:
    # One counter over two windows: 10 (before) 12 15 | 15 3(reset) 4  -> 5 in the first, 0+3+1 = 4 in the second
    r = Rows()
    r.add(A, "naap_exporter_build_info", {}, [(ts, 1.0) for ts in at(-10, 20, 40, 70, 90, 110)])
    r.add(A, "naap_streams_started_total", L, list(zip(at(-10, 20, 40, 70, 90, 110), [10, 12, 15, 15, 3, 4])))
    r.insert(warehouse)
    cfg = minute_config()
    first = compute_inputs(warehouse, cfg, T, AS_OF).rows
    second = compute_inputs(warehouse, cfg, T + 60_000, AS_OF).rows
    assert [x.started for x in first if x.workflow] == [5.0]
    assert [x.started for x in second if x.workflow] == [4.0]


def test_a_series_seen_first_without_the_exporter_watched_counts_nothing_at_first(warehouse: Warehouse) -> None:
    # The scraper had not reached the exporter within the lookback: the first value (7) is history, not news.
    r = Rows()
    r.add(A, "naap_exporter_build_info", {}, [(ts, 1.0) for ts in at(10, 20)])
    r.add(A, "naap_streams_started_total", L, list(zip(at(10, 20), [7, 8])))
    r.insert(warehouse)
    rows = compute_inputs(warehouse, minute_config(), T, AS_OF).rows
    assert [x.started for x in rows if x.workflow] == [1.0]


def test_the_score_of_a_window_is_the_hand_computed_one(warehouse: Warehouse) -> None:
    fleet(warehouse)
    cfg = minute_config()
    write_inputs(warehouse, cfg, compute_inputs(warehouse, cfg, T, AS_OF), AS_OF)
    scores = {(s.orchestrator, s.workflow): s for s in compute_scores_v1(warehouse, cfg, "1m", T + 60_000, AS_OF + 1)}
    assert sorted(scores) == [(A, ""), (A, WF), (B, ""), (C, ""), (C, WF)]
    a = scores[(A, "")]
    m = a.detail["metrics"]
    assert (m["availability"]["value"], m["output_fps"]["value"], m["jitter"]["value"]) == (1.0, 0.666667, 0.666667)
    assert (m["p2ff"]["value"], m["p2ff"]["events"], m["startup"]["value"]) == (0.75, 4.0, 1.0)
    # failure rate 2 errors / 4 started = 0.5, past zero_at (0.2): subscore 0
    assert (m["failure_rate"]["rate"], m["failure_rate"]["value"], m["failure_rate"]["by_class"]) == (0.5, 0.0, {"timeout": 2.0})
    assert m["swap_rate"]["rate"] == 0.25 and m["swap_rate"]["scored"] is False  # 1 swap / 4 streams, report only
    assert m["cue"]["by_method"]["proxy"]["share_at_target"] == 0.5 and m["cue"]["scored"] is False
    # P2FF p50 from the buckets as histogram_quantile does it: rank 2 of 4 lies in (0, 0.5] -> 0 + 0.5 * 2/2 = 0.5
    assert m["p2ff"]["p50_s"] == 0.5
    g = a.detail["groups"]
    assert (g["availability"]["value"], g["latency"]["value"], g["reliability"]["value"], g["consistency"]["value"]) == (
        1.0, 0.875, 0.0, 0.666667)  # fmt: skip
    # 100 × (0.3·1 + 0.15·0.875 + 0.25·0 + 0.3·0.666667) / (0.3 + 0.15 + 0.25 + 0.3) = 63.1250001 -> 63.13
    assert (a.status, a.score, a.coverage) == ("ok", 63.13, 1.0)
    assert a.score_lower is not None and a.score_lower < a.score < a.score_upper
    assert scores[(A, WF)].score == a.score  # one workflow: the same sums
    # B has no SDK at all: its stream metrics are missing, so its score is insufficient_data, never availability alone
    b = scores[(B, "")]
    assert b.status == "insufficient_data" and b.score is None
    assert "output_fps: source missing" in b.detail["reasons"]
    # C is idle with the SDK in place: nothing to judge but availability, and that is what it scores
    c = scores[(C, "")]
    assert c.detail["metrics"]["output_fps"]["status"] == "no_events" and (c.status, c.score) == ("ok", 100.0)


def test_hiding_a_family_never_pays(warehouse: Warehouse) -> None:
    # D streams (active streams) but withholds FPS: missing, not no_events
    warehouse.insert_rows("scrapes", SCRAPE_ROW_COLUMNS, scrapes(D, T, [1] * 6))
    r = Rows()
    r.add(D, "naap_exporter_build_info", {}, [(ts, 1.0) for ts in at(0, 10, 20, 30, 40, 50)])
    r.add(D, "naap_streams_active", L, [(ts, 3.0) for ts in at(0, 10, 20, 30, 40, 50)])
    r.insert(warehouse)
    cfg = minute_config()
    write_inputs(warehouse, cfg, compute_inputs(warehouse, cfg, T, AS_OF), AS_OF)
    [d, _] = compute_scores_v1(warehouse, cfg, "1m", T + 60_000, AS_OF + 1)
    assert d.detail["metrics"]["output_fps"]["status"] == "missing" and d.status == "insufficient_data"


def test_coverage_below_the_minimum_is_insufficient_data(warehouse: Warehouse) -> None:
    fleet(warehouse)
    cfg = minute_config({"10m": {"seconds": 600, "step_s": 60, "min_coverage": 0.5}})
    write_inputs(warehouse, cfg, compute_inputs(warehouse, cfg, T, AS_OF), AS_OF)
    [a, *_] = compute_scores_v1(warehouse, cfg, "10m", T + 60_000, AS_OF + 1)
    assert (a.orchestrator, a.coverage, a.status) == (A, 0.1, "insufficient_data")  # 1 observed window of 10
    assert any("coverage 0.100" in x for x in a.detail["reasons"])


def test_publishing_writes_each_window_once_and_late_data_changes_nothing(warehouse: Warehouse) -> None:
    fleet(warehouse)
    cfg = minute_config()
    now = T + 60_000 + 40_000  # the window [T, T+60 s) ended 40 s ago: past the 30 s settle time
    first = publish_tick(warehouse, cfg, now_ms=now, catchup_s=120)
    assert first.inputs_written == 2  # [T-60 s, T) (empty) and [T, T+60 s)
    assert {(s.orchestrator, s.workflow) for s in first.scores if s.window_end_ms == T + 60_000} >= {(A, ""), (A, WF)}
    # A restarted publisher at the same moment computes nothing again and publishes nothing twice
    again = publish_tick(warehouse, cfg, now_ms=now + 1, catchup_s=120)
    assert (again.inputs_written, again.scores) == (0, [])
    n, keys = warehouse.query("SELECT count(), uniqExact(window_start, workflow) FROM score_inputs_v1 WHERE orchestrator = {o:String}",
                              {"o": A}).rows[0]  # fmt: skip
    assert n == keys == 4  # A's own row and its workflow row in each of the two windows, once
    # Rows arriving now for the published window are stored but are not in its inputs
    r = Rows()
    r.add(A, "naap_stream_output_fps", {**L, "stream_id": "s9"}, [(T + 30_000, 0.5)], ingested=now + 5_000)
    r.insert(warehouse)
    inputs = read_inputs(warehouse, cfg, T, T + 60_000, now + 10_000, A)
    assert [x["fps_n"] for x in inputs if x["workflow"] == WF] == [6]


def test_wilson_interval_matches_published_values() -> None:
    # Newcombe (1998), Table I: 0/10 -> (0, 0.2775); 5/10 -> (0.2366, 0.7634)
    lo, hi = wilson(0, 10, 1.96)
    assert (round(lo, 4), round(hi, 4)) == (0.0, 0.2775)
    lo, hi = wilson(5, 10, 1.96)
    assert (round(lo, 4), round(hi, 4)) == (0.2366, 0.7634)


def test_histogram_quantile_follows_prometheus_rules() -> None:
    b = {0.5: 2.0, 1.0: 3.0, 2.0: 4.0, math.inf: 4.0}
    assert histogram_quantile(0.5, b) == 0.5  # rank 2 in the first bucket: 0 + 0.5 · 2/2
    assert histogram_quantile(0.75, b) == 1.0  # rank 3: (0.5, 1.0], 0.5 + 0.5 · 1/1
    assert histogram_quantile(0.95, {1.0: 1.0, math.inf: 2.0}) == 1.0  # rank in +Inf: the highest finite bound
    assert histogram_quantile(0.5, {1.0: 0.0, math.inf: 0.0}) is None  # no observations: NaN
    assert histogram_quantile(0.5, {1.0: 3.0}) is None  # no +Inf bucket: NaN


def test_v1_config_rules() -> None:
    cfg = released_configs()["v1"]  # the v1 release (no longer CURRENT: scoring/sla_config.py)
    assert cfg.version == "v1" and set(cfg.periods) == {"5m", "1h", "24h", "7d"}
    assert cfg.spec.metrics["e2e"].scored is False and cfg.spec.metrics["cue"].scored is False
    from importlib import resources

    text = resources.files("scoring.configs").joinpath("sla-v1.yaml").read_text()
    with pytest.raises(ConfigError, match="p2ff_s"):
        parse_config(text.replace("p2ff_s: 1.0", "p2ff_s: 0.7", 1), "bad")  # not a histogram bound
    with pytest.raises(ConfigError, match="reason"):
        parse_config(text.replace('e2e:          {scored: false, reason: "needs the prober (gateway-side frame timing); enters a later version"}',
                                  "e2e: {scored: false}"), "bad")  # fmt: skip
