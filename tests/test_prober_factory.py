"""The prober assembled from settings runs a period against two stand-in orchestrators on loopback and returns
signed results anyone can verify with its published key."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from prober.config import ProberSettings
from prober.datasets import DatasetError
from prober.factory import build_prober
from prober.schedule import Job, period_seed
from prober.signing import export_jsonl, verify_export
from prober.standin.orchestrator import ModelSpec, StandIn
from prober.standin.profile import Profile

ROOT = Path(__file__).resolve().parents[1]


def settings(tmp_path: Path, **over: object) -> ProberSettings:
    # limits far above any normal answer or output gap: a stall of the loaded test machine must not fail a probe
    base: dict[str, object] = dict(
        allow_loopback=True, duration_s=3, segment_s=1, fps=10, prompt_change_at_s=1.5, no_output_timeout_s=5,
        no_events_timeout_s=5, drain_timeout_s=2, datasets_dir=ROOT / "datasets", key_file=tmp_path / "key.pem",
        pin_store=tmp_path / "pins.json", connect_timeout_s=3, info_timeout_s=5, max_loop_lag_s=30,
        datasets=["live-video-to-video/streamdiffusion-good@1.0.0", "live-video-to-video/streamdiffusion-random@1.0.0"],
    )
    base.update(over)
    return ProberSettings(**base)  # type: ignore[arg-type]


async def test_a_period_end_to_end_with_signed_results(tmp_path: Path) -> None:
    prober = build_prober(settings(tmp_path))
    assert stat.S_IMODE((tmp_path / "key.pem").stat().st_mode) == 0o600 and len(prober.items) == 6 + 37
    busy = StandIn("busy", models={"streamdiffusion": ModelSpec(capacity=0)})
    live = StandIn("live", profile=Profile(delay_s=0.1, status_interval_s=0.5))
    for o in (busy, live):
        await o.start()
    try:
        jobs = [Job(o.address, o.grpc_target, "streamdiffusion") for o in (busy, live)]
        seed = period_seed("test/600s/1", "")
        report = await prober.run_period(jobs, "test/600s/1", seed)
    finally:
        for o in (busy, live):
            await o.stop()
        await prober.close()
    by_orch = {r["orchestrator"]: r for r in report.results}
    assert by_orch[live.address]["outcome"] == "ok" and by_orch[busy.address]["error_class"] == "no_capacity"
    assert by_orch[live.address]["dataset"] in ("streamdiffusion-good@1.0.0", "streamdiffusion-random@1.0.0")
    assert not report.void and prober.prices[live.address] == (0, 1)
    path = tmp_path / "export.jsonl"
    export_jsonl(path, prober.sign(report))
    check = verify_export(path, prober.public_key)
    assert check.ok and check.valid == 2
    assert (tmp_path / "pins.json").exists()


def test_an_invalid_dataset_stops_the_build(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no manifest.json"):
        build_prober(settings(tmp_path, datasets=["live-video-to-video/streamdiffusion-good@9.9.9"]))
