"""Probe results in the catalog (scoring/catalog/probes.py) and in score v2 and v2.1 (scoring/probe_totals.py, SpecV2,
SpecV21), on known probe_runs rows beside test_score_v1's known self-reports. Expected figures are worked out in the
comments."""

from __future__ import annotations

from importlib import resources
from typing import Any

import pytest
import yaml

from prober.store import RUN_COLUMNS
from scoring.catalog import CatalogQuery, catalog
from scoring.catalog.probes import NAMES
from scoring.inputs_v1 import compute_inputs, write_inputs
from scoring.publish_v1 import compute_scores_v1, publish_tick
from scoring.replay import published_scores, replay
from scoring.sla_config import ConfigError, parse_config, released_configs
from test_score_v1 import AS_OF, A, C, T, WF, fleet, minute_config
from warehouse.client import Warehouse

MODEL = "streamdiffusion-sdxl"


def v2_minute_config(name: str = "sla-v2.yaml") -> Any:
    data = yaml.safe_load(resources.files("scoring.configs").joinpath(name).read_text())
    data["version"] = f"{data['version']}-test"
    data["periods"] = {"1m": {"seconds": 60, "step_s": 60, "min_coverage": 0.5}}
    return parse_config(yaml.safe_dump(data), "test")


def probe(pid: str, at_s: float, orch: str = A, model: str = MODEL, ingested: int | None = None, **kw: Any) -> tuple:
    row: dict[str, Any] = {c: "" for c in RUN_COLUMNS}
    started = T + int(at_s * 1000)
    row.update(probe_id=pid, started_at=started, ended_at=started + 10_000, orchestrator=orch, workflow="live-video-to-video",
               model_id=model, item_kind="good", outcome="ok", fault="none", expectation_met=None, capacity_idle=1,
               capacity_in_use=0, warm=1, price_per_unit=None, p2ff_confirmed=1, e2e_samples=10, frames_in=240,
               frames_out=240, bytes_in=1, bytes_out=1, restart_events=0, error_events=0)  # fmt: skip
    for c in ("startup_ms", "first_frame_ms", "playable_ms", "p2ff_ms", "e2e_p50_ms", "e2e_p95_ms", "output_fps", "input_fps",
              "jitter", "frame_interval_cv", "duration_ms", "loop_lag_max_ms"):
        row[c] = None
    row.update(kw)
    return (*(row[c] for c in RUN_COLUMNS), ingested if ingested is not None else started + 11_000)


def probes(wh: Warehouse) -> None:
    """A's probes of one workflow in [T, T+60 s): three count; a duplicate, the prober's fault, a bad item, an
    unanswered info call and a late arrival do not."""
    ok = {"outcome": "ok", "input_fps": 24.0}
    rows = [
        probe("p1", 1, startup_ms=800.0, p2ff_ms=400.0, e2e_p50_ms=150.0, output_fps=24.0, **ok),
        probe("p1", 1, startup_ms=800.0, p2ff_ms=400.0, e2e_p50_ms=150.0, output_fps=24.0, **ok),  # a retried insert
        probe("p2", 12, startup_ms=6000.0, p2ff_ms=1500.0, e2e_p50_ms=1200.0, output_fps=12.0, **ok),
        probe("p3", 24, outcome="failed", error_class="no_output", fault="orchestrator", swap_trigger="no_output"),
        probe("p4", 36, outcome="failed", error_class="prober_cpu", fault="prober", swap_trigger="no_output"),
        probe("p5", 40, item_kind="bad", outcome="failed", error_class="bad_request", fault="excluded"),
        probe("p6", 44, model="", capacity_idle=None, outcome="failed", error_class="unreachable", fault="orchestrator"),
        probe("p7", 50, outcome="failed", error_class="no_output", fault="orchestrator", ingested=AS_OF + 3_600_000),
    ]
    wh.insert_rows("probe_runs", (*RUN_COLUMNS, "ingested_at"), rows)


def test_probe_metrics_in_the_catalog(warehouse: Warehouse) -> None:
    probes(warehouse)
    q = CatalogQuery(T, T + 60_000, by=("orchestrator", "workflow"))
    m = catalog(warehouse, q, metrics=NAMES)["metrics"]
    assert {m[n]["origin"] for n in NAMES} == {"probe"}
    assert catalog(warehouse, q, metrics=("output_fps",))["metrics"]["output_fps"]["origin"] == "self-reported"
    [e2e] = m["probe_e2e"]["rows"]
    # p1 (once), p2, p3, p7 (no as_of in the catalog: it shows what is stored) count; p1 and p2 are ok
    assert (e2e["orchestrator"], e2e["workflow"], e2e["probes"], e2e["samples"]) == (A, WF, 4, 2)
    assert (e2e["p50"], e2e["p95"], e2e["min"], e2e["max"], e2e["avg"]) == (150.0, 1200.0, 150.0, 1200.0, 675.0)
    [fps] = m["probe_output_fps"]["rows"]
    assert (fps["avg"], fps["delivery"]) == (18.0, 0.75)  # (24 + 12) / 2; (1 + 0.5) / 2
    [fr] = m["probe_failure_rate"]["rows"]
    assert (fr["reached"], fr["events"], fr["value"], fr["by_class"]) == (4, 2, 0.5, {"no_output": 2})
    [sw] = m["probe_swap_rate"]["rows"]
    assert (sw["events"], sw["value"], sw["by_trigger"]) == (1, 0.25, {"no_output": 1})  # p4's swap was the prober's
    assert m["probe_p2ff"]["rows"][0]["p50"] == 400.0 and m["probe_startup"]["rows"][0]["p95"] == 6000.0
    # steps and filters: the first half holds p1, p2, p3, the second p7; another orchestrator has nothing
    halves = catalog(warehouse, CatalogQuery(T, T + 60_000, step_s=30, by=("orchestrator",)), metrics=("probe_failure_rate",))
    assert [(r["start"], r["reached"], r["events"]) for r in halves["metrics"]["probe_failure_rate"]["rows"]] == [
        (T, 3, 1), (T + 30_000, 1, 1)]  # fmt: skip
    none = catalog(warehouse, CatalogQuery(T, T + 60_000, orchestrator=C), metrics=("probe_e2e",))["metrics"]["probe_e2e"]
    assert none["rows"] == [] and "no counted probe" in none["note"]


def test_score_v2_takes_probes_where_present(warehouse: Warehouse) -> None:
    fleet(warehouse)
    probes(warehouse)
    cfg = v2_minute_config()
    write_inputs(warehouse, cfg, compute_inputs(warehouse, cfg, T, AS_OF), AS_OF)
    scores = {(s.orchestrator, s.workflow): s for s in compute_scores_v1(warehouse, cfg, "1m", T + 60_000, AS_OF + 1)}
    a = scores[(A, "")]
    m = a.detail["metrics"]
    # E2E: p1 150 ms meets 1000 ms, p2 1200 ms does not (p7 arrived after as_of)
    assert (m["e2e"]["source"], m["e2e"]["events"], m["e2e"]["good"], m["e2e"]["value"]) == ("probe", 2, 1, 0.5)
    assert (m["e2e"]["p50_ms"], m["e2e"]["p95_ms"], m["e2e"]["status"]) == (150.0, 1200.0, "ok")
    # P2FF and startup from the probes (2 >= min_probes 1); the self-report shown beside
    assert (m["p2ff"]["source"], m["p2ff"]["value"], m["p2ff"]["self_reported"]["p50_s"]) == ("probe", 0.5, 0.5)
    assert m["p2ff"]["flagged"] is False  # 400 ms against 500 ms
    # startup: the self-report's p50 is 3.5 s (one start in (2, 5]), the probes' 800 ms: 2700 ms apart, past both
    # 1500 ms and 0.5 × 3500 ms: flagged
    assert (m["startup"]["source"], m["startup"]["value"], m["startup"]["flagged"]) == ("probe", 0.5, True)
    # failure rate: 1 of the 3 probes that reached A failed by its fault (p4 the prober's, p5 bad, p6 unanswered)
    fr = m["failure_rate"]
    assert (fr["source"], fr["attempts"], fr["failures"], fr["rate"], fr["value"]) == ("probe", 3, 1, 0.333333, 0.0)
    assert fr["self_reported"]["rate"] == 0.5 and fr["flagged"] is False
    sw = m["swap_rate"]
    assert (sw["source"], sw["scored"], sw["swaps"], sw["value"]) == ("probe", True, 1, 0.666667)
    assert m["output_fps"]["source"] == "self-reported"
    g = a.detail["groups"]
    # latency (0.5 + 0.5 + 0.5) / 3; reliability (1·0 + 0.5·0.666667) / 1.5 = 0.222222
    assert (g["latency"]["value"], g["reliability"]["value"]) == (0.5, 0.222222)
    # 100 × (0.3·1 + 0.15·0.5 + 0.25·0.222222 + 0.3·0.666667) = 63.0555... -> 63.06
    assert (a.status, a.score, a.config_version) == ("ok", 63.06, "v2-test")
    assert scores[(A, WF)].score == a.score
    # C was never probed: E2E and swaps have no events and neither pay nor cost
    c = scores[(C, "")].detail["metrics"]
    assert (c["e2e"]["status"], c["swap_rate"]["status"], scores[(C, "")].score) == ("no_events", "no_events", 100.0)


def test_v1_ignores_probes(warehouse: Warehouse) -> None:
    fleet(warehouse)
    probes(warehouse)
    cfg = minute_config()
    write_inputs(warehouse, cfg, compute_inputs(warehouse, cfg, T, AS_OF), AS_OF)
    [a, *_] = compute_scores_v1(warehouse, cfg, "1m", T + 60_000, AS_OF + 1)
    assert a.score == 63.13 and "source" not in a.detail["metrics"]["e2e"]  # test_score_v1's hand-computed score


def test_published_v2_scores_replay_identical_and_late_probes_change_nothing(warehouse: Warehouse) -> None:
    fleet(warehouse)
    probes(warehouse)
    cfg = v2_minute_config()
    tick = publish_tick(warehouse, cfg, now_ms=T + 100_000, catchup_s=120)
    assert any(s.detail["metrics"]["e2e"]["events"] for s in tick.scores)
    late = probe("p8", 30, outcome="failed", error_class="no_output", fault="orchestrator", ingested=T + 200_000)
    warehouse.insert_rows("probe_runs", (*RUN_COLUMNS, "ingested_at"), [late])
    rows = published_scores(warehouse, T, T + 60_000)
    results = replay(warehouse, rows, {cfg.version: cfg})
    assert results and all(r.identical for r in results), [r.reason for r in results if not r.identical]
    # the late probe is in a recomputation at a later as_of
    [a, *_] = compute_scores_v1(warehouse, cfg, "1m", T + 60_000, T + 10_000_000)
    assert a.detail["metrics"]["failure_rate"]["failures"] == 3  # p3, p7, p8


def test_the_released_v2_config(tmp_path: Any) -> None:
    cfgs = released_configs()
    v1, v2 = cfgs["v1"], cfgs["v2"]
    assert v2.spec.metrics["e2e"].scored and v2.spec.metrics["swap_rate"].scored and not v1.spec.metrics["e2e"].scored
    assert v2.targets(WF).e2e_ms > 0 and v1.hash != v2.hash
    text = resources.files("scoring.configs").joinpath("sla-v2.yaml").read_text()
    with pytest.raises(ConfigError, match="probes"):
        parse_config(text.replace("probes:\n  min_probes: 1", "probes_off:\n  min_probes: 1"), "x.yaml")
    with pytest.raises(ConfigError, match="e2e_ms"):
        parse_config(text.replace("    e2e_ms: 1000\n", "", 1), "x.yaml")


def unreached_probes(wh: Warehouse) -> None:
    """Probes that failed before the orchestrator's info call answered (capacity_idle unknown), beside probes()'s:
    which of them v2.1 counts as failed attempts (fault `orchestrator`) and which it never counts."""
    down = {"capacity_idle": None, "outcome": "failed", "fault": "orchestrator"}
    rows = [
        # A: the pass's info call failed over TLS (no model: A's own score only), twice stored; one probe's own info
        # call was reset (its workflow too); the void rule's (fault prober), a skipped no_capacity job and a bad
        # item never count; one arrives after as_of
        probe("q1", 46, model="", error_class="tls", **down),
        probe("q1", 46, model="", error_class="tls", **down),  # a retried insert
        probe("q2", 47, error_class="orchestrator_reset", **down),
        probe("q3", 48, model="", capacity_idle=None, outcome="failed", error_class="prober_error", fault="prober"),
        probe("q4", 49, capacity_idle=None, outcome="skipped", error_class="no_capacity", fault="excluded"),
        probe("q5", 52, item_kind="bad", error_class="timeout", **down),
        probe("q6", 54, model="", error_class="timeout", ingested=AS_OF + 1, **down),
        # C (idle, scraped fine): the prober never reached it — an info timeout and a refused connection — once
        # the prober's own fault, once no idle runner
        probe("c1", 5, orch=C, model="", error_class="timeout", **down),
        probe("c2", 35, orch=C, model="", error_class="orchestrator_reset", **down),
        probe("c3", 40, orch=C, model="", capacity_idle=None, outcome="failed", error_class="prober_error", fault="prober"),
        probe("c4", 45, orch=C, capacity_idle=None, outcome="skipped", error_class="no_capacity", fault="excluded"),
    ]
    wh.insert_rows("probe_runs", (*RUN_COLUMNS, "ingested_at"), rows)


def test_score_v2_1_counts_probes_failed_before_the_info_call(warehouse: Warehouse) -> None:
    fleet(warehouse)
    probes(warehouse)
    unreached_probes(warehouse)
    v2, v21 = v2_minute_config(), v2_minute_config("sla-v2.1.yaml")
    assert v21.version == "v2.1-test" and v21.spec.probes.count_unreached
    for cfg in (v2, v21):  # inputs are kept per config
        write_inputs(warehouse, cfg, compute_inputs(warehouse, cfg, T, AS_OF), AS_OF)
    new = {(s.orchestrator, s.workflow): s for s in compute_scores_v1(warehouse, v21, "1m", T + 60_000, AS_OF + 1)}
    old = {(s.orchestrator, s.workflow): s for s in compute_scores_v1(warehouse, v2, "1m", T + 60_000, AS_OF + 1)}
    # A's own score: the 3 probes that reached it (p1, p2, p3; p3 failed) plus p6 (unreachable), q1 (tls, once) and
    # q2 (reset): 6 attempts, 4 failures; q3 (prober), q4 (no_capacity), q5 (bad), q6 (late) do not count
    fr = new[(A, "")].detail["metrics"]["failure_rate"]
    assert (fr["source"], fr["attempts"], fr["failures"], fr["unreached"], fr["rate"]) == ("probe", 6, 4, 3, 0.666667)
    assert fr["by_class"] == {"no_output": 1, "orchestrator_reset": 1, "tls": 1, "unreachable": 1}
    assert fr["self_reported"]["rate"] == 0.5 and fr["flagged"] is False  # 0.67 - 0.5 is within 0.5
    # A's workflow: only q2 names it (p6 and q1 name no model): 4 attempts, 2 failures
    wf = new[(A, WF)].detail["metrics"]["failure_rate"]
    assert (wf["attempts"], wf["failures"], wf["unreached"], wf["by_class"]) == (4, 2, 1, {"no_output": 1, "orchestrator_reset": 1})
    # v2 on the same rows: only the 3 that reached A, as before
    fr2 = old[(A, "")].detail["metrics"]["failure_rate"]
    assert (fr2["attempts"], fr2["failures"], "unreached" in fr2) == (3, 1, False)
    # the swap rate still counts the probes that reached A: 1 trigger in 3
    assert new[(A, "")].detail["metrics"]["swap_rate"]["value"] == old[(A, "")].detail["metrics"]["swap_rate"]["value"] == 0.666667
    # C, never reached: v2 had no probe failure rate (reached 0: the self-report, no_events) and scored it 100;
    # v2.1 has c1 and c2 failed (c3 the prober's, c4 no capacity): rate 1, subscore 0, so reliability 0 and
    # 100 × (0.3·1 + 0.25·0) / (0.3 + 0.25) = 54.545… -> 54.55
    c_new, c_old = new[(C, "")], old[(C, "")]
    cf = c_new.detail["metrics"]["failure_rate"]
    assert (cf["source"], cf["attempts"], cf["failures"], cf["rate"], cf["value"]) == ("probe", 2, 2, 1.0, 0.0)
    assert cf["by_class"] == {"orchestrator_reset": 1, "timeout": 1}
    assert c_old.detail["metrics"]["failure_rate"]["source"] == "self-reported" and c_old.score == 100.0
    assert (c_new.status, c_new.score, c_new.detail["groups"]["reliability"]["value"]) == ("ok", 54.55, 0.0)
    # C's workflow names no counted probe (c4 was excused): nothing changes there
    assert new[(C, WF)].score == old[(C, WF)].score == 100.0


def test_published_v2_1_scores_replay_identical(warehouse: Warehouse) -> None:
    fleet(warehouse)
    probes(warehouse)
    unreached_probes(warehouse)
    cfg = v2_minute_config("sla-v2.1.yaml")
    tick = publish_tick(warehouse, cfg, now_ms=T + 100_000, catchup_s=120)
    assert any(s.detail["metrics"]["failure_rate"].get("unreached") for s in tick.scores)
    late = probe("c5", 30, orch=C, model="", capacity_idle=None, outcome="failed", error_class="tls", fault="orchestrator",
                 ingested=T + 200_000)  # fmt: skip
    warehouse.insert_rows("probe_runs", (*RUN_COLUMNS, "ingested_at"), [late])
    rows = published_scores(warehouse, T, T + 60_000)
    results = replay(warehouse, rows, {cfg.version: cfg})
    assert results and all(r.identical for r in results), [r.reason for r in results if not r.identical]
    # the late probe is in a recomputation at a later as_of
    c = {s.orchestrator: s for s in compute_scores_v1(warehouse, cfg, "1m", T + 60_000, T + 10_000_000) if not s.workflow}[C]
    assert c.detail["metrics"]["failure_rate"]["failures"] == 3  # c1, c2, c5


def test_the_released_v2_1_config() -> None:
    cfgs = released_configs()
    v2, v21 = cfgs["v2"], cfgs["v2.1"]
    assert v21.spec.probes.count_unreached and not hasattr(v2.spec.probes, "count_unreached")
    # v2.1 changes nothing but the rule: the same targets, weights and probe tolerances
    same = v21.spec.model_dump(exclude={"version", "probes"}) == v2.spec.model_dump(exclude={"version", "probes"})
    assert same and v21.spec.probes.model_dump(exclude={"count_unreached"}) == v2.spec.probes.model_dump()
    # v2's identity is what it was released with (v2.1's schema is a separate class, so v2's canonical JSON is unchanged)
    assert v2.hash == "ee5258d60349f54377645bd821d0958553006731605e03f072ac93ab031fe6f9" and v21.hash != v2.hash
    text = resources.files("scoring.configs").joinpath("sla-v2.1.yaml").read_text()
    off = parse_config(text.replace("count_unreached: true", "count_unreached: false"), "x.yaml")
    assert off.hash != v21.hash and not off.spec.probes.count_unreached
    with pytest.raises(ConfigError, match="count_unreached"):
        parse_config(text.replace("count_unreached: true", "count_unreached: sometimes"), "x.yaml")
