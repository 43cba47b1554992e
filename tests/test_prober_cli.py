"""`naap probe` (one pass, signed JSON lines, exit 0 when probes fail), `naap probe verify`, `naap datasets
validate`: the real commands as subprocesses against stand-in orchestrators on loopback."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from exporter.common.net import free_port
from prober.config import packaged_datasets_dir
from prober.signing import load_or_create_key, public_key_hex
from prober.standin.orchestrator import StandIn
from prober.standin.profile import Profile

FAST = {
    "NAAP_PROBER__DURATION_S": "3", "NAAP_PROBER__SEGMENT_S": "1", "NAAP_PROBER__FPS": "10",
    "NAAP_PROBER__PROMPT_CHANGE_AT_S": "1.5", "NAAP_PROBER__DRAIN_TIMEOUT_S": "2",
    # limits far above any normal answer or output gap: a stall of the loaded test machine must not fail a probe
    "NAAP_PROBER__NO_OUTPUT_TIMEOUT_S": "5", "NAAP_PROBER__NO_EVENTS_TIMEOUT_S": "5", "NAAP_PROBER__FIRST_OUTPUT_TIMEOUT_S": "10",
    "NAAP_PROBER__CONNECT_TIMEOUT_S": "3", "NAAP_PROBER__INFO_TIMEOUT_S": "5", "NAAP_PROBER__MAX_LOOP_LAG_S": "30",
}  # fmt: skip


def _env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, **FAST, "NAAP_PROBER__KEY_FILE": str(tmp_path / "key" / "ed25519.pem"),
            "NAAP_PROBER__PIN_STORE": str(tmp_path / "pins.json")}  # fmt: skip


async def _naap(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "naap", "--log-level", "warning", *args, env=_env(tmp_path),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_probe_prints_signed_lines_stores_them_and_they_verify(tmp_path: Path) -> None:
    good = StandIn("good", profile=Profile(delay_s=0.1, status_interval_s=0.5))
    down = StandIn("down", profile=Profile("offline", offline=True))
    for o in (good, down):
        await o.start()
    try:
        data = tmp_path / "wh"
        rc, out, err = await _naap(tmp_path, "probe", "--no-discovery", "--allow-loopback", "--data-dir", str(data),
                                   "--target", f"{good.grpc_target}={good.address}", "--target", f"{down.grpc_target}={down.address}")  # fmt: skip
    finally:
        for o in (good, down):
            await o.stop()
    assert rc == 0, err  # a failed probe is a result, not a failed command
    lines = [json.loads(line) for line in out.splitlines()]
    by = {env["result"]["orchestrator"]: env["result"] for env in lines}
    assert by[good.address]["outcome"] == "ok" and by[down.address]["error_class"] == "orchestrator_reset"
    assert "period " in err and "fault=orchestrator" in err
    key = public_key_hex(load_or_create_key(tmp_path / "key" / "ed25519.pem"))
    assert {env["public_key"] for env in lines} == {key}

    export = tmp_path / "results.jsonl"
    export.write_text(out)
    rc, vout, _ = await _naap(tmp_path, "probe", "verify", str(export), "--public-key", key)
    assert rc == 0 and "2 valid, 0 invalid" in vout
    rc, vout, _ = await _naap(tmp_path, "probe", "verify", str(export))  # the key of prober.key_file
    assert rc == 0 and "2 valid" in vout
    tampered = [dict(env) for env in lines]
    tampered[1] = {**tampered[1], "result": {**tampered[1]["result"], "outcome": "ok", "fault": "none"}}
    export.write_text("\n".join(json.dumps(env) for env in tampered) + "\nnot json\n")
    rc, vout, _ = await _naap(tmp_path, "probe", "verify", str(export), "--public-key", key)
    assert rc == 1 and ":2: signature does not match the result" in vout and ":3: not JSON" in vout and "1 valid, 2 invalid" in vout
    rc, _, verr = await _naap(tmp_path, "probe", "verify", str(export), "--public-key", "12")
    assert rc == 2 and "32 bytes" in verr

    # what was stored verifies too, and a second pass's seed chains from it (read in another process: chDB holds
    # one data directory per process)
    check = f"""
import json
from warehouse.client import Warehouse
from prober.store import period_envelopes, previous_period, latest_periods
from prober.signing import verify
wh = Warehouse("chdb://{data / 'warehouse'}", "naap")
[p] = latest_periods(wh, 5)
envs = period_envelopes(wh, p["period_id"])
print(json.dumps({{"n": len(envs), "ok": all(verify(e, "{key}") is None for e in envs), "prev": previous_period(wh)}}))
wh.close()
"""
    proc = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=120, env=_env(tmp_path))
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["n"] == 2 and got["ok"] and got["prev"][0] == lines[0]["result"]["period_id"]


async def test_probe_usage_errors(tmp_path: Path) -> None:
    rc, _, err = await _naap(tmp_path, "probe", "--no-discovery", "--target", "127.0.0.1:1")
    assert rc == 2 and "destination" in err
    rc, _, err = await _naap(tmp_path, "probe", "--dry-run", "--target", "127.0.0.1:99999")
    assert rc == 2 and "bad port" in err
    rc, _, err = await _naap(tmp_path, "probe", "--dry-run", "--no-discovery")
    assert rc == 2 and "nothing to probe" in err
    rc, _, err = await _naap(tmp_path, "probe", "--dry-run", "--no-discovery", "--target", "127.0.0.1:1", "--allow-loopback",
                             "--dataset", "live-video-to-video/nope@1.0.0")  # fmt: skip
    assert rc == 1 and "no manifest.json" in err
    # a target the prober's own address rules refuse is the command line's mistake: a usage error, no signed result
    rc, out, err = await _naap(tmp_path, "probe", "--dry-run", "--no-discovery", "--target", "127.0.0.1:55051")
    assert rc == 2 and out == "" and "refused by the prober's address rules: loopback" in err and "--allow-loopback" in err
    assert [line for line in err.splitlines() if line.startswith("Error:")] == [err.strip().splitlines()[-1]]
    rc, out, err = await _naap(tmp_path, "probe", "--dry-run", "--no-discovery", "--allow-loopback", "--target", "10.1.2.3:8935")
    assert rc == 2 and out == "" and "private" in err


async def test_probe_of_a_closed_port_is_connect(tmp_path: Path) -> None:
    rc, out, err = await _naap(tmp_path, "probe", "--dry-run", "--no-discovery", "--allow-loopback", "--target", f"127.0.0.1:{free_port()}")
    assert rc == 0, err
    [env] = [json.loads(line) for line in out.splitlines()]
    assert (env["result"]["error_class"], env["result"]["fault"]) == ("connect", "orchestrator")
    assert "failed connect fault=orchestrator startup=- e2e_p50=- p2ff=- fps=-" in err


def test_summary_line_says_dash_without_a_unit_when_there_is_no_value() -> None:
    from naap.probing import summary_line

    line = summary_line({"orchestrator": "0xab", "model_id": "m", "outcome": "ok", "fault": "none", "startup_ms": 812.4,
                         "e2e_p50_ms": 230.0, "p2ff_ms": None, "output_fps": 24.0})  # fmt: skip
    assert line == "0xab m ok ok fault=none startup=812ms e2e_p50=230ms p2ff=- fps=24.0"


def test_datasets_validate_says_what_is_wrong(tmp_path: Path) -> None:
    src = packaged_datasets_dir() / "live-video-to-video" / "streamdiffusion-good" / "1.0.0"
    bad = tmp_path / "live-video-to-video" / "streamdiffusion-good" / "1.0.0"
    shutil.copytree(src, bad)
    manifest = json.loads((bad / "manifest.json").read_text())
    manifest["licence"] = "proprietary"
    (bad / "manifest.json").write_text(json.dumps(manifest))
    lines = (bad / "items.jsonl").read_bytes().splitlines(keepends=True)
    (bad / "items.jsonl").write_bytes(b"".join([*lines, lines[0]]))
    run = lambda *a: subprocess.run([sys.executable, "-m", "naap", "datasets", "validate", *a], capture_output=True, text=True, timeout=60)  # noqa: E731
    ok = run(str(packaged_datasets_dir()))
    assert ok.returncode == 0 and ok.stdout.count(": ok") == 3, ok.stdout + ok.stderr
    proc = run(str(tmp_path))
    assert proc.returncode == 1 and "licence: 'proprietary' is not an accepted SPDX licence" in proc.stdout
    manifest["licence"] = "MIT"
    (bad / "manifest.json").write_text(json.dumps(manifest))
    proc = run(str(bad))
    assert proc.returncode == 1 and f"items.jsonl:{len(lines) + 1}: duplicate id" in proc.stdout and "sha256" in proc.stdout
    proc = run(str(tmp_path / "live-video-to-video"))
    assert proc.returncode == 1 and "no dataset here" in proc.stdout


@pytest.mark.parametrize("args", [["datasets", "list"]])
def test_datasets_list(args: list[str]) -> None:
    proc = subprocess.run([sys.executable, "-m", "naap", *args], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "streamdiffusion-good@1.0.0" in proc.stdout and "MIT" in proc.stdout
