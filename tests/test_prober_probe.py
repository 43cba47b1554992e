"""Whole probes through the prober's real code path (TLS gRPC info, HTTPS start call, trickle channels, PyAV
media) against stand-in orchestrators on loopback — the stand-in is the only stand-in, for the orchestrator
itself. Every failure mode the stand-in can play lands in its class and fault. No timed assertions: latencies
are compared with what the stand-in recorded holding each segment (its own clock, exact under load).
"""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import pytest

from exporter.common.net import free_port
from prober import errors, netguard
from prober.config import ProberSettings
from prober.datasets import DatasetItem, load
from prober.measure import quantile
from prober.payment import RemoteSigner
from prober.probe import ProbeTarget, run_probe
from prober.result import ProbeResult
from prober.standin.orchestrator import ModelSpec, StandIn
from prober.standin.profile import Profile
from prober.standin.signer import StandInSigner
from prober.tlspin import PinStore

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT / "datasets" / "live-video-to-video"
MODEL = "streamdiffusion"
STEADY = Profile("steady", delay_s=0.2, status_interval_s=0.5)


def fast(**over: object) -> ProberSettings:
    """Short probes for tests: 4 s of 10 fps input in 1 s segments. Limits that must not fire are far above any
    normal gap (a GC pause or a loaded CPU must not turn ok into a failure); tests that expect one to fire set it."""
    base: dict[str, object] = dict(
        allow_loopback=True, duration_s=4, segment_s=1, fps=10, prompt_change_at_s=2.0, first_output_timeout_s=10,
        no_output_timeout_s=5, no_events_timeout_s=5, drain_timeout_s=10, start_timeout_s=5, max_loop_lag_s=30,
    )
    base.update(over)
    return ProberSettings(**base)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def good() -> DatasetItem:
    ds = load(DATASETS / "streamdiffusion-good" / "1.0.0")
    return next(i for i in ds.items if i.model_id == MODEL)


@pytest.fixture(scope="module")
def bad_items() -> dict[str, DatasetItem]:
    ds = load(DATASETS / "streamdiffusion-bad" / "1.0.0")
    return {i.expect["rule"]: i for i in ds.items if i.model_id == MODEL}


async def probe(o: StandIn, item: DatasetItem, settings: ProberSettings | None = None, **kw: object) -> ProbeResult:
    return await run_probe(ProbeTarget(o.grpc_target, item.model_id, o.address), item, settings or fast(), dataset="t@1.0.0", **kw)  # type: ignore[arg-type]


async def test_steady_probe_measures_every_figure(good: DatasetItem) -> None:
    async with StandIn("steady", profile=STEADY) as o:
        r = await probe(o, good)
    [runner] = o.runners
    assert (r.outcome, r.error_class, r.fault, r.swap_trigger) == ("ok", None, "none", None), r.message
    assert r.capacity_idle == 1 and r.capacity_in_use == 0 and r.warm is True and r.gpus[0]["name"].startswith("NVIDIA")
    assert r.reported_address == o.address and r.cert_sha256 == o.cert_sha256 and len(r.manifest_id) == 8
    assert r.startup_ms is not None and r.first_frame_ms is not None and r.playable_ms is not None
    assert r.startup_ms <= r.first_frame_ms <= r.playable_ms
    # every input frame came back with its PTS; the stand-in keeps frame timing exactly
    assert r.frames_in == 40 and r.frames_matched == 40 and r.segments_out == 4
    assert r.output_fps == pytest.approx(10.0) and r.jitter == 0.0 and r.frame_interval_cv == 0.0
    # E2E can never beat what the stand-in held each segment (>= the injected delay); above it only the loopback
    # transfers: a frame paired with another segment's send, or a late-found prompt change, is a whole segment off
    assert r.e2e_p50_ms is not None and r.e2e_p95_ms is not None and r.e2e_p50_ms <= r.e2e_p95_ms
    holds = [h * 1000 for h in runner.holds]
    assert len(holds) == 4 and min(holds) >= 200
    assert all(h <= s.e2e_p50_ms < h + 1000 for s, h in zip(r.samples, holds, strict=True)), (holds, r.samples)
    assert min(holds) <= r.e2e_p50_ms and r.e2e_p95_ms < max(holds) + 1000
    # the prompt change shows up in the picture after the next input segment went through, and in the status
    truth = (runner.first_published[1] - runner.change_arrived[1]) * 1000  # control arrived → first changed segment out
    assert r.p2ff_ms is not None and truth <= r.p2ff_ms < truth + 1000, (r.p2ff_ms, truth)
    assert r.p2ff_confirmed is True and r.status_events >= 2
    assert [s.second for s in r.samples] == [0, 1, 2, 3] and all(s.frames == 10 and s.bytes > 0 for s in r.samples)
    assert r.bytes_in > 0 and r.bytes_out > 0 and r.loop_lag_max_ms is not None
    d = r.to_dict()
    assert list(d) == sorted(d) and d["samples"][0] == {"bytes": d["samples"][0]["bytes"], "e2e_p50_ms": d["samples"][0]["e2e_p50_ms"], "fps": 10.0, "frames": 10, "second": 0}


async def test_latency_follows_the_injected_delay_and_drops_lower_fps(good: DatasetItem) -> None:
    fast_o = StandIn("fast", profile=STEADY.with_(delay_s=0.1))
    slow_o = StandIn("slow", profile=STEADY.with_(delay_s=0.9))
    drop_o = StandIn("drop", profile=STEADY.with_(delay_s=0.1, drop_every=4))
    for o in (fast_o, slow_o, drop_o):
        await o.start()
    try:
        rf, rs, rd = await asyncio.gather(probe(fast_o, good), probe(slow_o, good), probe(drop_o, good))
    finally:
        for o in (fast_o, slow_o, drop_o):
            await o.stop()
    for r in (rf, rs, rd):
        assert r.outcome == "ok", r.message
    assert rf.e2e_p50_ms is not None and rs.e2e_p50_ms is not None
    # each E2E follows what its stand-in held (>= the injected delay; on a loaded machine, more), plus transfers
    # that cost the same on both (same run, same loop): the difference is the one the stand-ins held
    hf, hs = (quantile(o.runners[0].holds, 0.5) * 1000 for o in (fast_o, slow_o))  # the probe's quantile, per segment
    assert hf >= 100 and hs >= 900
    assert hf <= rf.e2e_p50_ms < hf + 1000 and hs <= rs.e2e_p50_ms < hs + 1000, (fast_o.runners[0].holds, slow_o.runners[0].holds)
    assert rs.e2e_p50_ms - rf.e2e_p50_ms == pytest.approx(hs - hf, abs=300), (fast_o.runners[0].holds, slow_o.runners[0].holds)
    # startup (to the first output byte) includes the first segment's hold: never under the injected delay
    assert rs.startup_ms is not None and rf.startup_ms is not None
    assert rs.startup_ms >= slow_o.runners[0].holds[0] * 1000 >= 900 and rf.startup_ms >= fast_o.runners[0].holds[0] * 1000
    # one frame in four dropped: 7.5 of 10 fps, uneven intervals
    assert rd.output_fps == pytest.approx(10.0 * 3 / 4, rel=0.08)
    assert rd.frame_interval_cv is not None and rd.frame_interval_cv > 0.2
    assert rd.frames_matched == 30 and rd.frames_in == 40


async def test_no_idle_runner_is_skipped_without_starting(good: DatasetItem) -> None:
    async with StandIn("full", models={MODEL: ModelSpec(capacity=0)}) as o:
        r = await probe(o, good)
        other = await probe(o, DatasetItem(good.id, good.kind, good.workflow, "streamdiffusion-sdxl", good.params))
        assert o.starts == 0
    assert (r.outcome, r.error_class, r.fault) == ("skipped", errors.NO_CAPACITY, errors.EXCLUDED)
    assert r.capacity_idle == 0 and r.startup_ms is None
    assert (other.error_class, other.fault) == (errors.NO_CAPACITY, errors.EXCLUDED) and "not advertised" in (other.message or "")


@pytest.mark.parametrize(
    ("status", "error_class", "fault"),
    [(503, errors.CAPACITY, errors.EXCLUDED), (500, errors.MODEL_ERROR, errors.ORCHESTRATOR), (400, errors.BAD_REQUEST, errors.PROBER)],
)
async def test_start_refusals(good: DatasetItem, status: int, error_class: str, fault: str) -> None:
    async with StandIn("refuses", profile=STEADY.with_(start_status=status)) as o:
        r = await probe(o, good)
        assert o.refusals == {status: 1}
    assert (r.error_class, r.fault) == (error_class, fault)
    assert str(status) in (r.message or "") and r.frames_in == 0


@pytest.mark.parametrize("mode", ["http_400", "error_event"])
async def test_bad_items_are_refused_and_never_count(bad_items: dict[str, DatasetItem], mode: str) -> None:
    # two runners: the first stream may still be closing on the stand-in's side when the second probe asks
    async with StandIn("strict", profile=STEADY.with_(bad_params=mode), models={MODEL: ModelSpec(capacity=2)}) as o:
        rs = [await probe(o, bad_items[rule], fast(duration_s=3)) for rule in ("width.multiple_of_64", "params.type")]
    for r in rs:
        assert (r.outcome, r.error_class, r.fault, r.expectation_met) == ("ok", errors.BAD_REQUEST, errors.EXCLUDED, True), r.message
        assert r.item_kind == "bad" and not r.counts_against_orchestrator
    if mode == "error_event":  # accepted, then the runner's error event (what ai-runner does)
        assert rs[0].error_events == 1 and "Error loading pipeline" in rs[0].runner_errors[0]
    else:
        assert "400" in (rs[0].message or "")


async def test_slow_start_reply_is_a_timeout(good: DatasetItem) -> None:
    async with StandIn("slowstart", profile=STEADY.with_(start_delay_s=1.5)) as o:
        r = await probe(o, good, fast(start_timeout_s=0.5))
    assert (r.error_class, r.fault) == (errors.TIMEOUT, errors.ORCHESTRATOR) and "start call" in (r.message or "")


async def test_runner_faults_become_swap_triggers(good: DatasetItem) -> None:
    profiles = {
        "stall": STEADY.with_(stall_after_s=1.5),
        "restart": STEADY.with_(restart_after_s=1.2),
        "error_state": STEADY.with_(error_after_s=1.2, error_state=True),
        "close": STEADY.with_(close_after_s=1.6),
        "cold": STEADY.with_(cold_start_s=30),
    }
    # only the limit each case expects to fire is short. Stall detection is off once the input is all sent, so the
    # stall case streams 8 s of input (the probe ends at the stall, ~3 s in): the trigger has seconds to spare
    settings = {"stall": fast(no_output_timeout_s=1.5, duration_s=8), "cold": fast(first_output_timeout_s=2.5)}
    stand_ins = {k: StandIn(k, profile=p) for k, p in profiles.items()}
    for o in stand_ins.values():
        await o.start()
    try:
        results = dict(zip(stand_ins, await asyncio.gather(*(probe(o, good, settings.get(k, fast())) for k, o in stand_ins.items()))))
    finally:
        for o in stand_ins.values():
            await o.stop()
    want = {
        "stall": (errors.TIMEOUT, errors.SWAP_NO_OUTPUT),
        "restart": (errors.RUNNER_DISCONNECT, errors.SWAP_RESTART),
        "error_state": (errors.MODEL_ERROR, errors.SWAP_ERROR_STATE),
        "close": (errors.RUNNER_DISCONNECT, errors.SWAP_CHANNEL_CLOSED),
        "cold": (errors.TIMEOUT, errors.SWAP_NO_OUTPUT),
    }
    got = {k: (r.error_class, r.swap_trigger) for k, r in results.items()}
    assert got == want, {k: r.message for k, r in results.items()}
    assert all(r.fault == errors.ORCHESTRATOR and r.outcome == "failed" for r in results.values())
    assert results["stall"].frames_out > 0 and results["cold"].frames_out == 0
    assert results["restart"].restart_events == 1 and results["error_state"].last_state == "ERROR"


async def test_runner_error_event_fails_the_probe(good: DatasetItem) -> None:
    async with StandIn("errs", profile=STEADY.with_(error_after_s=1.0)) as o:
        r = await probe(o, good, fast(duration_s=3, prompt_change_at_s=1.5))
    assert (r.error_class, r.fault, r.swap_trigger) == (errors.MODEL_ERROR, errors.ORCHESTRATOR, None)
    assert r.error_events == 1 and "simulated" in r.runner_errors[0] and r.frames_out > 0


async def test_changed_certificate_is_a_pin_mismatch(good: DatasetItem, tmp_path: Path) -> None:
    pins = PinStore(tmp_path / "pins.json")
    async with StandIn("pinned", models={MODEL: ModelSpec(capacity=0)}) as o:
        first = await probe(o, good, pins=pins)
        again = await probe(o, good, pins=pins)
        await o.restart()  # go-livepeer makes a new certificate at every start
        changed = await probe(o, good, pins=pins)
    assert first.error_class == again.error_class == errors.NO_CAPACITY and first.cert_sha256 == again.cert_sha256
    assert PinStore(tmp_path / "pins.json").get(o.grpc_target) == first.cert_sha256
    assert (changed.error_class, changed.fault) == (errors.TLS_PIN_MISMATCH, errors.EXCLUDED)
    assert changed.cert_sha256 == "" and first.cert_sha256[:16] in (changed.message or "")


async def test_unreachable_offline_and_refused_orchestrators(good: DatasetItem) -> None:
    gone = await run_probe(ProbeTarget(f"127.0.0.1:{free_port()}", MODEL), good, fast())
    async with StandIn("offline", profile=Profile("offline", offline=True)) as o:
        offline = await probe(o, good)
        refused = await probe(o, good, fast(allow_loopback=False))
    # connection refused is `connect` (the scraper's name); UNAVAILABLE after the handshake is a reset
    assert (gone.error_class, gone.fault) == (errors.CONNECT, errors.ORCHESTRATOR) and "cannot connect" in (gone.message or "")
    assert (offline.error_class, offline.fault) == (errors.ORCHESTRATOR_RESET, errors.ORCHESTRATOR) and "offline" in (offline.message or "")
    # the prober's own address policy refused it: nobody's to score
    assert (refused.error_class, refused.fault) == (errors.REFUSED_ADDRESS, errors.EXCLUDED) and "loopback" in (refused.message or "")


@pytest.mark.parametrize(
    ("code", "fault"),
    [(socket.EAI_NONAME, errors.ORCHESTRATOR), (socket.EAI_AGAIN, errors.PROBER), (None, errors.ORCHESTRATOR)],
)
async def test_a_name_that_does_not_resolve_is_dns(good: DatasetItem, monkeypatch: pytest.MonkeyPatch, code: int | None, fault: str) -> None:
    # The resolver is replaced (no DNS query leaves the machine): NXDOMAIN and "no address" are the orchestrator's
    # (it registered a name nobody can resolve), a resolver that did not answer is the prober's.
    async def resolve(self: object, host: str, port: int = 0, family: int = 0) -> list:
        if code is None:
            return []
        raise socket.gaierror(code, "stand-in resolver")

    monkeypatch.setattr(netguard.ThreadedResolver, "resolve", resolve)
    r = await run_probe(ProbeTarget("garbage:8935", MODEL), good, fast())
    assert (r.outcome, r.error_class, r.fault) == ("failed", errors.DNS, fault) and "garbage" in (r.message or "")


async def test_prober_cpu_stall_is_the_probers_fault(good: DatasetItem) -> None:
    async def hog() -> None:
        await asyncio.sleep(1.5)
        time.sleep(1.2)  # the prober's own event loop starved, as by an overloaded CPU

    async with StandIn("victim", profile=STEADY) as o:
        r, _ = await asyncio.gather(probe(o, good, fast(duration_s=3, max_loop_lag_s=0.6)), hog())
    assert (r.outcome, r.error_class, r.fault) == ("failed", errors.PROBER_ERROR, errors.PROBER)
    assert "stalled" in (r.message or "") and r.loop_lag_max_ms is not None and r.loop_lag_max_ms >= 1000
    assert not r.counts_against_orchestrator


async def test_payments_through_a_remote_signer_and_a_signer_down(good: DatasetItem) -> None:
    priced = {MODEL: ModelSpec(price_per_unit=1200, pixels_per_unit=1)}
    signer = StandInSigner()
    await signer.start()
    try:
        async with StandIn("priced", models=priced, profile=STEADY) as o:
            no_signer = await probe(o, good)
            dead = RemoteSigner(f"http://127.0.0.1:{free_port()}", timeout_s=1)
            try:
                down = await probe(o, good, signer=dead)
            finally:
                await dead.close()
            remote = RemoteSigner(signer.url)
            try:
                paid = await probe(o, good, fast(duration_s=3, prompt_change_at_s=1.5, payment_interval_s=1), signer=remote)
            finally:
                await remote.close()
            assert o.refusals == {}
    finally:
        await signer.stop()
    assert (no_signer.error_class, no_signer.fault) == (errors.PROBER_ERROR, errors.PROBER) and "no remote signer" in (no_signer.message or "")
    assert (down.error_class, down.fault) == (errors.PROBER_ERROR, errors.PROBER) and "unreachable" in (down.message or "")
    assert paid.outcome == "ok" and paid.price_per_unit == 1200, paid.message
    assert signer.payments >= 2  # the initial payment and at least one live payment


async def test_hostile_replies_are_classified_and_never_followed(good: DatasetItem) -> None:
    hostile = {
        "not_json": STEADY.with_(start_reply="not_json"),
        "foreign": STEADY.with_(start_reply="foreign_origin"),
        "garbage": STEADY.with_(garbage_output=True),
    }
    stand_ins = {k: StandIn(k, profile=p) for k, p in hostile.items()}
    for o in stand_ins.values():
        await o.start()
    try:
        got = dict(zip(stand_ins, await asyncio.gather(*(probe(o, good, fast(duration_s=2, prompt_change_at_s=1, drain_timeout_s=1)) for o in stand_ins.values()))))
    finally:
        for o in stand_ins.values():
            await o.stop()
    assert (got["not_json"].error_class, got["not_json"].fault) == (errors.UNKNOWN, errors.ORCHESTRATOR)
    assert "lacks the channel URLs" in (got["not_json"].message or "")
    assert (got["foreign"].error_class, got["foreign"].fault) == (errors.UNKNOWN, errors.ORCHESTRATOR)
    assert "169.254.169.254" in (got["foreign"].message or "") and got["foreign"].segments_in == 0  # nothing sent there
    assert (got["garbage"].error_class, got["garbage"].fault) == (errors.MODEL_ERROR, errors.ORCHESTRATOR)
    assert got["garbage"].segments_out > 0 and got["garbage"].frames_out == 0 and "undecodable" in (got["garbage"].message or "")
