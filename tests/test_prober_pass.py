"""A whole pass (what `naap probe` and the collector run): discovery's targets → info calls → one job per advertised
model → probes → results for orchestrators that could not be asked → void rule → signatures → warehouse rows that
verify and chain the next period's seed. Real stand-in orchestrators on loopback, a real chDB warehouse."""

from __future__ import annotations

from pathlib import Path

import pytest

from discovery.service import SourceResult
from discovery.target import make_target
from prober.config import ProberSettings
from prober.factory import build_prober
from prober.schedule import period_seed, results_digest
from prober.signing import verify
from prober.standin.orchestrator import ModelSpec, StandIn
from prober.standin.profile import Profile
from prober.store import RUNS, SAMPLES, add_results, latest_periods, period_envelopes, previous_period
from prober.targets import OrchestratorTarget, from_snapshot, from_targets, parse_target, service_target
from warehouse.client import Warehouse
from warehouse.writer import Writer

STEADY = Profile("steady", delay_s=0.1, status_interval_s=0.5)


def settings(tmp_path: Path, **over: object) -> ProberSettings:
    # limits far above any normal answer or output gap: a stall of the loaded test machine must not fail a probe
    base: dict[str, object] = dict(
        allow_loopback=True, duration_s=3, segment_s=1, fps=10, prompt_change_at_s=1.5, no_output_timeout_s=5,
        no_events_timeout_s=5, drain_timeout_s=2, first_output_timeout_s=10, key_file=tmp_path / "key.pem",
        pin_store=tmp_path / "pins.json", connect_timeout_s=3, info_timeout_s=5, max_loop_lag_s=30, void_min_probes=3,
    )
    base.update(over)
    return ProberSettings(**base)  # type: ignore[arg-type]


def test_the_default_datasets_are_the_shipped_ones() -> None:
    root = ProberSettings().datasets_dir
    shipped = Path(__file__).resolve().parents[1] / "datasets" / "live-video-to-video"
    assert sorted(p.name for p in (root / "live-video-to-video").iterdir()) == sorted(p.name for p in shipped.iterdir())


@pytest.mark.parametrize(
    ("uri", "target"),
    [
        ("https://orch.example.com:8935", "orch.example.com:8935"),
        ("https://orch.example.com", "orch.example.com:8935"),
        ("orch.example.com:9000", "orch.example.com:9000"),
        ("https://[2001:db8::1]:8935/", "[2001:db8::1]:8935"),
        ("127.0.0.1:1234", "127.0.0.1:1234"),
    ],
)
def test_service_addresses(uri: str, target: str) -> None:
    assert service_target(uri) == target


@pytest.mark.parametrize("uri", ["", "ftp://x:1", "https://user:pw@x:1", "https://x:99999", "https://:80", "a b:1", "x:1\n"])
def test_hostile_service_addresses_are_refused(uri: str) -> None:
    with pytest.raises(ValueError):
        service_target(uri)


def test_targets_from_discovery() -> None:
    a, b = "0x" + "a" * 40, "0x" + "b" * 40
    labelled = make_target("http://127.0.0.1:9935/metrics", a, {"service_uri": "https://127.0.0.1:8935"})
    bare = make_target("http://127.0.0.1:9936/metrics", b)
    chain = make_target("http://10.0.0.9:9935/metrics", "0x" + "c" * 40, source="chain")
    broken = make_target("http://127.0.0.1:9937/metrics", "0x" + "d" * 40, {"service_uri": "gopher://x"})
    dup = make_target("http://127.0.0.1:9938/metrics", a, {"service_uri": "https://127.0.0.1:8999"})

    class Snap:
        accepted = [labelled, bare, chain, broken, dup]
        results = {"chain": SourceResult(targets=[chain], facts={chain: {"service_uri": "https://10.0.0.9:8935"}})}

    got, unprobed = from_snapshot(Snap())
    assert got == [OrchestratorTarget(a, "127.0.0.1:8935"), OrchestratorTarget("0x" + "c" * 40, "10.0.0.9:8935")]
    reasons = dict(unprobed.reasons)
    assert "no service address" in reasons[bare.url] and "scheme" in reasons[broken.url] and "already probed" in reasons[dup.url]
    assert from_targets([]) == ([], from_targets([])[1])
    assert parse_target(f"127.0.0.1:1={a.upper().replace('0X', '0x')}") == OrchestratorTarget(a, "127.0.0.1:1")
    with pytest.raises(ValueError, match="40 hex"):
        parse_target("127.0.0.1:1=0x12")


async def test_a_pass_stores_signed_results_that_chain_the_next_seed(tmp_path: Path, warehouse: Warehouse) -> None:
    s = settings(tmp_path)
    prober = build_prober(s)
    live = StandIn("live", profile=STEADY, models={"streamdiffusion": ModelSpec(), "no-such-model": ModelSpec()})
    busy = StandIn("busy", models={"streamdiffusion": ModelSpec(capacity=0)})
    down = StandIn("down", profile=Profile("offline", offline=True))
    for o in (live, busy, down):
        await o.start()
    targets = [OrchestratorTarget(o.address, o.grpc_target) for o in (live, busy, down)]
    try:
        pid = "test/600s/1"
        report = await prober.run_pass(targets, pid, period_seed(pid, ""))
        # the live stand-in restarts with a new certificate (as go-livepeer does): excluded once, then re-pinned
        await live.restart()
        pid2 = "test/600s/2"
        second = await prober.run_pass(targets[:1], pid2, period_seed(pid2, results_digest(report.results)))
        third = await prober.run_pass(targets[:1], "test/600s/3", "seed")
    finally:
        for o in (live, busy, down):
            await o.stop()
        await prober.close()
    by = {(r["orchestrator"], r["model_id"]): r for r in report.results}
    assert by[(live.address, "streamdiffusion")]["outcome"] == "ok"
    assert (by[(busy.address, "streamdiffusion")]["outcome"], by[(busy.address, "streamdiffusion")]["error_class"]) == ("skipped", "no_capacity")
    down_row = by[(down.address, "")]
    assert (down_row["outcome"], down_row["error_class"], down_row["fault"]) == ("failed", "orchestrator_reset", "orchestrator")
    assert report.uncovered == [(live.address, "no-such-model")] and not report.void and report.jobs == 2
    assert all(r["period_id"] == pid for r in report.results)
    assert all(verify(env, prober.public_key) is None and env["result"] == r for env, r in zip(report.envelopes, report.results))
    assert [r["error_class"] for r in second.results] == ["tls_pin_mismatch"] and second.results[0]["fault"] == "excluded"
    assert [r["outcome"] for r in third.results] == ["ok"]

    writer = Writer(warehouse, "test-writer", flush_interval_s=0.05)
    assert add_results(writer, report.envelopes, report.seed) == 3
    add_results(writer, report.envelopes, report.seed)  # a retried pass: another batch, same rows
    await writer.flush()
    stored = period_envelopes(warehouse, pid)
    assert len(stored) == 3 and all(verify(env, prober.public_key) is None for env in stored)
    assert sorted(e["result"]["probe_id"] for e in stored) == sorted(r["probe_id"] for r in report.results)
    assert previous_period(warehouse) == (pid, results_digest(report.results))
    [latest] = latest_periods(warehouse, 1)
    assert latest["seed"] == report.seed and latest["probes"] == 3 and latest["public_keys"] == [prober.public_key]
    ok = by[(live.address, "streamdiffusion")]
    n_samples = warehouse.scalar(f"SELECT uniqExact(probe_id, second) FROM {SAMPLES}")
    assert n_samples == len(ok["samples"]) and n_samples > 0
    row = warehouse.query(
        f"SELECT outcome, error_class, fault, toUnixTimestamp64Milli(started_at), dataset_id, dataset_version, item_id, e2e_p50_ms "
        f"FROM {RUNS} WHERE probe_id = {{p:String}} LIMIT 1", {"p": ok["probe_id"]},
    ).rows[0]  # fmt: skip
    assert row[:3] == ("ok", "", "none") and row[3] == ok["started_at_ms"]
    assert f"{row[4]}@{row[5]}" == ok["dataset"] and row[6] == ok["item_id"] and row[7] == pytest.approx(ok["e2e_p50_ms"])


async def test_a_period_where_nobody_answers_is_the_probers_fault(tmp_path: Path) -> None:
    """Every orchestrator unreachable at once (here: nothing listens) is likelier the prober's own network: the
    info-call failures are voided like probe failures."""
    from exporter.common.net import free_port

    prober = build_prober(settings(tmp_path))
    targets = [OrchestratorTarget("0x" + f"{i:040x}", f"127.0.0.1:{free_port()}") for i in range(3)]
    try:
        report = await prober.run_pass(targets, "t/600s/1", "seed")
    finally:
        await prober.close()
    assert report.void and {(r["error_class"], r["fault"]) for r in report.results} == {("prober_error", "prober")}


async def test_a_refused_address_in_a_pass_is_excluded_and_never_counted(tmp_path: Path) -> None:
    # Discovery handed the prober a target its own address rules refuse (loopback, not allowed): a refusal by the
    # prober's policy, so the row is fault `excluded`, never `orchestrator`, and the void rule leaves it alone.
    prober = build_prober(settings(tmp_path, allow_loopback=False, void_min_probes=1))
    a = "0x" + "a" * 40
    try:
        report = await prober.run_pass([OrchestratorTarget(a, "127.0.0.1:8935")], "test/600s/9", "seed")
    finally:
        await prober.close()
    [r] = report.results
    assert (r["outcome"], r["error_class"], r["fault"]) == ("failed", "refused_address", "excluded") and not report.void
    assert verify(report.envelopes[0], prober.public_key) is None
