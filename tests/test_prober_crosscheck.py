"""The cross-check: probes of a real stand-in that lies (its exporter's self-report claims a steady orchestrator,
its service delivers half the frames, late) are flagged; an honest one is not. The probe side comes from real
probes stored through the real store; the self-reports are exporter samples with known values."""

from __future__ import annotations

from pathlib import Path

import pytest

from exporter.common.clock import now_ms
from prober.config import ProberSettings
from prober.crosscheck import Thresholds, compare, crosscheck, thresholds
from prober.factory import build_prober
from prober.standin.orchestrator import ModelSpec, StandIn
from prober.standin.profile import Profile
from prober.store import add_results
from prober.targets import OrchestratorTarget
from warehouse.client import Warehouse
from warehouse.writer import Writer

MODEL = "streamdiffusion"
COLUMNS = ("ts", "orchestrator", "instance", "metric", "labels", "value")


def _self_report(orch: str, t0: int, t1: int) -> list[tuple]:
    """What a steady orchestrator's exporter says between t0 and t1: 99 % of frames delivered, P2FF 0.3 s, startup
    0.5 s (restarts, which are left out, 9 s), 10 streams started, no errors."""
    wf = {"pipeline": "live-video-to-video", "model_id": MODEL, "gpu_id": "GPU-0"}
    series = [
        ("naap_frames_in_total", wf, 0.0, 1000.0), ("naap_frames_out_total", wf, 0.0, 990.0),
        ("naap_stream_prompt_to_first_frame_seconds_sum", wf, 0.0, 3.0), ("naap_stream_prompt_to_first_frame_seconds_count", wf, 0.0, 10.0),
        ("naap_stream_startup_seconds_sum", {**wf, "startup": "warm"}, 0.0, 5.0),
        ("naap_stream_startup_seconds_count", {**wf, "startup": "warm"}, 0.0, 10.0),
        ("naap_stream_startup_seconds_sum", {**wf, "startup": "restart"}, 0.0, 90.0),
        ("naap_stream_startup_seconds_count", {**wf, "startup": "restart"}, 0.0, 10.0),
        ("naap_streams_started_total", wf, 0.0, 10.0),
    ]  # fmt: skip
    rows = []
    for metric, labels, v0, v1 in series:
        rows += [(t0, orch, "127.0.0.1:9935", metric, labels, v0), (t1, orch, "127.0.0.1:9935", metric, labels, v1)]
    rows += [(t, orch, "127.0.0.1:9935", "naap_stream_output_fps", {**wf, "stream_id": "s1"}, 23.8) for t in (t0, t1)]
    return rows


async def test_a_lying_exporter_is_flagged_an_honest_one_is_not(tmp_path: Path, warehouse: Warehouse) -> None:
    # limits far above any normal answer or output gap (the liar's cold start is 2.5 s): a stall of the loaded test
    # machine must not fail a probe
    s = ProberSettings(
        allow_loopback=True, duration_s=6, segment_s=1, fps=10, prompt_change_at_s=3, no_output_timeout_s=5,
        no_events_timeout_s=5, drain_timeout_s=10, first_output_timeout_s=10, connect_timeout_s=3, info_timeout_s=5,
        max_loop_lag_s=30, key_file=tmp_path / "key.pem", pin_store=tmp_path / "pins.json",
    )  # fmt: skip
    honest = StandIn("honest", profile=Profile(delay_s=0.1, status_interval_s=0.5), models={MODEL: ModelSpec()})
    liar = StandIn("liar", profile=Profile(delay_s=1.2, drop_every=2, control_delay_s=1.0, cold_start_s=2.5, status_interval_s=0.5),
                   models={MODEL: ModelSpec()})  # fmt: skip
    prober = build_prober(s)
    for o in (honest, liar):
        await o.start()
    t0 = now_ms()
    try:
        report = await prober.run_pass([OrchestratorTarget(o.address, o.grpc_target) for o in (honest, liar)], "t/600s/1", "seed")
    finally:
        for o in (honest, liar):
            await o.stop()
        await prober.close()
    t1 = now_ms()
    assert [r["outcome"] for r in report.results] == ["ok", "ok"], [r["message"] for r in report.results]
    writer = Writer(warehouse, "crosscheck-test")
    add_results(writer, report.envelopes, report.seed)
    writer.add("samples", COLUMNS, _self_report(honest.address, t0, t1) + _self_report(liar.address, t0, t1))
    await writer.flush()

    rows = {r["orchestrator"]: r for r in crosscheck(warehouse, Thresholds(min_probes=1), t0 - 1000, t1 + 1000)}
    h, lie = rows[honest.address], rows[liar.address]
    assert h["model_id"] == lie["model_id"] == MODEL
    assert h["exporter"]["delivery"] == pytest.approx(0.99) and h["exporter"]["p2ff_ms"] == pytest.approx(300.0)
    assert h["exporter"]["startup_ms"] == pytest.approx(500.0) and h["exporter"]["failure_rate"] == 0.0
    assert h["compared"] == {"fps": "compared", "p2ff": "compared", "startup": "compared", "failure": "compared"}
    assert h["flags"] == [] and h["probe"]["delivery"] == pytest.approx(1.0)
    assert {f["metric"] for f in lie["flags"]} == {"fps", "p2ff", "startup"}, lie
    fps = next(f for f in lie["flags"] if f["metric"] == "fps")
    assert fps["probe"] == pytest.approx(0.5, abs=0.05) and fps["exporter"] == pytest.approx(0.99)

    # the same window with the default minimum of probes: one probe each is too few to flag anyone
    rows = crosscheck(warehouse, thresholds(ProberSettings()), t0 - 1000, t1 + 1000, liar.address)
    assert [r["orchestrator"] for r in rows] == [liar.address] and rows[0]["flags"] == []
    assert rows[0]["compared"]["fps"] == "too few probes (1 < 2)"
    # outside the window there is nothing to compare
    assert crosscheck(warehouse, Thresholds(min_probes=1), t1 + 10_000, t1 + 20_000) == []


def _probe(**over: object) -> dict:
    base = {"delivery": 1.0, "delivery_n": 3, "p2ff_ms": 400.0, "p2ff_n": 3, "startup_ms": 300.0, "startup_n": 3,
            "failure_rate": 0.0, "reached": 3}  # fmt: skip
    base.update(over)
    return base


@pytest.mark.parametrize(
    ("probe", "exporter", "flags", "why"),
    [
        (_probe(failure_rate=1.0), {"failure_rate": 0.0}, ["failure"], {}),
        (_probe(failure_rate=0.0), {"failure_rate": 0.9}, [], {}),  # reporting more failures than probes see
        (_probe(p2ff_ms=2000.0), {"p2ff_ms": 900.0}, [], {}),  # 1.1 s apart: within the 1.5 s slack
        (_probe(p2ff_ms=5000.0), {"p2ff_ms": 3000.0}, [], {}),  # 2 s apart, but only 40 % of the larger: within the ratio
        (_probe(p2ff_ms=5000.0), {"p2ff_ms": 1000.0}, ["p2ff"], {}),
        (_probe(startup_ms=40_000.0), {"startup_ms": 3000.0}, ["startup"], {}),
        (_probe(delivery=0.7), {"delivery": 0.99}, ["fps"], {}),
        (_probe(delivery=None, delivery_n=0), {"delivery": 0.5}, [], {"fps": "no probe measurement"}),
        (_probe(), {}, [], {"fps": "no self-report", "failure": "no self-report"}),
        (_probe(reached=1, failure_rate=1.0), {"failure_rate": 0.0}, [], {"failure": "too few probes (1 < 2)"}),
    ],
)
def test_compare_rules(probe: dict, exporter: dict, flags: list[str], why: dict[str, str]) -> None:
    got, compared = compare(probe, exporter, Thresholds())
    assert [f["metric"] for f in got] == flags
    for k, v in why.items():
        assert compared[k] == v
