"""The prober inside `naap collect`: discovery's targets with a service address are probed on the collector's
schedule, the signed results land in the warehouse through the one writer, and the API serves the prober's key,
period and seed, the stored results (which verify), the datasets and the cross-check — over real HTTP, with a
stand-in orchestrator and a real exporter on loopback."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from exporter.config import ExporterConfig
from exporter.server import Exporter, ExporterServer
from naap.collector import Collector, Running
from naap.settings import Settings, with_overrides
from prober.schedule import period_seed
from prober.signing import verify
from prober.standin.orchestrator import ModelSpec, StandIn
from prober.standin.profile import Profile

MODEL = "streamdiffusion-sdxl"


def _prober(tmp_path: Path) -> dict[str, Any]:
    return {
        "enabled": True, "allow_loopback": True, "interval_s": 10, "duration_s": 3, "segment_s": 1, "fps": 10,
        "prompt_change_at_s": 1.5, "no_output_timeout_s": 5, "no_events_timeout_s": 5, "drain_timeout_s": 2,
        "first_output_timeout_s": 10, "connect_timeout_s": 3, "info_timeout_s": 5, "max_loop_lag_s": 30,  # far above normal gaps
        "key_file": str(tmp_path / "key.pem"), "pin_store": str(tmp_path / "pins.json"),
        "crosscheck_min_probes": 1,
    }  # fmt: skip


async def test_the_collector_probes_and_serves_the_results(settings: Settings, tmp_path: Path) -> None:
    orch = StandIn("o1", profile=Profile(delay_s=0.1, status_interval_s=0.5), models={MODEL: ModelSpec()})
    await orch.start()
    exporter = ExporterServer(Exporter(ExporterConfig(host="127.0.0.1", port=0, nvml=False, orchestrator=orch.address)))
    await exporter.start()
    targets = [{"url": f"http://127.0.0.1:{exporter.port}/metrics", "orchestrator": orch.address,
                "labels": {"service_uri": f"https://{orch.grpc_target}"}}]  # fmt: skip
    s = with_overrides(settings, {"discovery": {"targets": targets}, "prober": _prober(tmp_path)})
    ready: asyncio.Future[Running] = asyncio.get_running_loop().create_future()
    stop = asyncio.Event()
    task = asyncio.create_task(Collector(s).run(stop, ready.set_result))
    try:
        api = (await asyncio.wait_for(ready, 60)).api_url
        async with aiohttp.ClientSession(api) as http:
            body: dict[str, Any] = {}
            for _ in range(300):
                async with http.get("/v1/prober/results") as r:
                    body = await r.json()
                if body.get("count"):
                    break
                await asyncio.sleep(0.2)
            assert body["count"] == 1, body
            async with http.get("/v1/prober") as r:
                status = await r.json()
            async with http.get("/metrics") as r:
                metrics = await r.read()
            async with http.get("/v1/datasets", params={"type": "good"}) as r:
                ds = await r.json()
            async with http.get("/v1/datasets", params={"type": "average"}) as r:
                bad_type = (r.status, await r.json())
            async with http.get("/v1/prober/crosscheck", params={"window": "1h"}) as r:
                cross = await r.json()
            async with http.get("/v1/prober/crosscheck", params={"orchestrator": "0x12"}) as r:
                bad_orch = (r.status, await r.json())
            async with http.get("/v1/prober/results", params={"period_id": "'; DROP TABLE probe_runs"}) as r:
                bad_period = (r.status, await r.json())
    finally:
        stop.set()
        await asyncio.wait_for(task, 60)
        await exporter.stop()
        await orch.stop()
    [env] = body["results"]
    key = status["public_key"]
    assert verify(env, key) is None and env["result"]["orchestrator"] == orch.address and env["result"]["model_id"] == MODEL
    assert env["result"]["outcome"] == "ok" and env["result"]["period_id"] == body["period_id"]
    assert status["enabled"] is True and status["alg"] == "ed25519" and len(key) == 64
    assert status["stored_periods"][0]["period_id"] == body["period_id"]
    assert status["stored_periods"][0]["seed"] == period_seed(body["period_id"], "")  # nothing stored before it
    assert status["schedule"]["interval_s"] == 10 and status["schedule"]["max_concurrency"] == 4
    assert [d["id"] for d in ds["datasets"]] == ["streamdiffusion-good"] and ds["datasets"][0]["licence"] == "MIT"
    assert bad_type[0] == 400 and "type must be one of good, random, bad" in bad_type[1]["message"]
    assert bad_orch[0] == 400 and "orchestrator" in bad_orch[1]["message"]
    assert bad_period[0] == 400 and "period_id" in bad_period[1]["message"]
    [pair] = cross["pairs"]
    assert pair["orchestrator"] == orch.address and pair["model_id"] == MODEL and pair["probe"]["ok"] == 1

    # the prober's own health is on the collector's /metrics beside the scraper's (prober/telemetry.py)
    got = {(x.name, tuple(sorted(x.labels.items()))): x.value
           for f in text_string_to_metric_families(metrics.decode()) for x in f.samples}  # fmt: skip
    assert got[("naap_prober_passes_total", (("outcome", "completed"),))] >= 1
    assert got[("naap_prober_probes_total", (("error_class", "none"), ("fault", "none"), ("outcome", "ok")))] >= 1
    assert got[("naap_prober_pass_duration_seconds_count", ())] >= 1 and got[("naap_prober_last_pass_timestamp_seconds", ())] > 0
    assert ("naap_prober_skipped_total", (("reason", "period_overlap"),)) in got and ("naap_prober_event_loop_lag_seconds", ()) in got
    assert ("naap_scraper_targets", ()) in got  # beside the scraper's, on one registry
    lint = subprocess.run(["promtool", "check", "metrics"], input=metrics, capture_output=True, timeout=60)
    assert "text format parsing error" not in lint.stderr.decode() + lint.stdout.decode()
    assert not [line for line in (lint.stdout + lint.stderr).decode().splitlines() if "naap_prober" in line]
    assert pair["compared"]["fps"] in ("compared", "no self-report")  # the exporter runs no streams here


async def test_a_broken_dataset_stops_start_up_with_one_line(settings: Settings, tmp_path: Path) -> None:
    from naap.collector import StartError

    s = with_overrides(settings, {"prober": {**_prober(tmp_path), "datasets": ["live-video-to-video/nope@1.0.0"]}})
    try:
        await Collector(s).run(asyncio.Event())
    except StartError as e:
        assert "prober datasets" in str(e) and "no manifest.json" in str(e) and "\n" not in str(e)
    else:
        raise AssertionError("the collector started with a missing dataset")
