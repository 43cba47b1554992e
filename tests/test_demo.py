"""`naap demo` (what `make demo` runs): a real fleet of exporter processes, scraped, scored and served."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
import urllib.request
from importlib import resources
from pathlib import Path

import yaml

from scoring.sla_config import CURRENT, load_config


def _fast_settings(tmp_path: Path) -> Path:
    """Settings whose SLA config is the current one (scoring/sla_config.py CURRENT) with 10 s base windows and one
    90 s period, so that a couple of minutes of the demo are scored (the released config's first 5 m scores take
    about four minutes)."""
    data = yaml.safe_load(resources.files("scoring.configs").joinpath(CURRENT).read_text())
    data.update(version=f"{data['version']}-test", base_window_s=10,
                periods={"90s": {"seconds": 90, "step_s": 10, "min_coverage": 0.5}})  # fmt: skip
    sla = tmp_path / "sla.yaml"
    sla.write_text(yaml.safe_dump(data))
    settings = tmp_path / "settings.yaml"
    settings.write_text(yaml.safe_dump({"scoring": {"config": str(sla), "settle_s": 3.0}}))
    return settings


def test_demo_starts_clean_and_scores_each_profile_as_its_faults_say(tmp_path: Path) -> None:
    """Five orchestrators (steady, jittery, flaky, slow, offline part of the time) on a fresh warehouse of its
    own, scored with the current config: every one gets a numeric score with every group, offline < flaky <
    steady, the slow one loses on FPS and the jittery one on jitter; the prober probed every one of them (signed
    results stored for each address) and, with a config that scores probes, the steady one's E2E comes from probes;
    the warehouse directory is gone when the demo stops."""
    settings = _fast_settings(tmp_path)
    version = f"{load_config().version}-test"
    probed_score = version.startswith("v2")
    proc = subprocess.Popen(
        [sys.executable, "-m", "naap", "--log-level", "warning", "demo", "--orchestrators", "5", "--port", "0",
         "--config", str(settings)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    profiles: dict[str, str] = {}
    warehouse = None
    try:
        api = None
        deadline = time.monotonic() + 60
        while api is None and time.monotonic() < deadline:
            line = proc.stdout.readline()  # type: ignore[union-attr]
            assert line or proc.poll() is None, proc.stderr.read()  # type: ignore[union-attr]
            m = re.match(r"\s+(0x[0-9a-f]{40})\s+(\w+)\s", line)
            if m:
                profiles[m.group(2)] = m.group(1)
            m = re.search(r"warehouse: (\S+)", line)
            if m:
                warehouse = Path(m.group(1))
            m = re.search(r"API:\s+(http://127\.0\.0\.1:\d+)", line)
            if m:
                api = m.group(1)
        assert api, "the demo never printed its API URL"
        assert warehouse is not None and warehouse.is_dir() and "naap-demo-" in warehouse.name
        assert set(profiles) == {"steady", "jittery", "flaky", "slow", "offline"}
        entries: dict[str, dict] = {}
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            with urllib.request.urlopen(f"{api}/v1/sla/compliance?period=90s", timeout=5) as r:
                body = json.load(r)
            assert body["config_version"] == version
            entries = {o["orchestrator"]: o for o in body["orchestrators"] if isinstance(o["score"], float)}
            if len(entries) == 5 and _ranked(entries, profiles) and (not probed_score or _probed(entries[profiles["steady"]])):
                break
            time.sleep(3)
        assert len(entries) == 5, body
        by = {p: entries[a] for p, a in profiles.items()}
        score = {p: e["score"] for p, e in by.items()}
        for p, e in by.items():  # every group that carries weight has a value
            assert all(e["groups"][g]["value"] is not None for g in ("availability", "latency", "reliability", "consistency")), (p, e["groups"])
        assert score["offline"] < score["flaky"] < score["steady"], score
        fps = {p: e["metrics"]["output_fps"]["value"] for p, e in by.items()}
        jitter = {p: e["metrics"]["jitter"]["value"] for p, e in by.items()}
        assert fps["slow"] < fps["steady"] and jitter["jittery"] < jitter["steady"], (fps, jitter)
        if probed_score:
            assert _probed(by["steady"]), by["steady"]["metrics"]["e2e"]
        probed = _probed_orchestrators(api)
        assert probed == set(profiles.values()), {p: a in probed for p, a in profiles.items()}
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert not warehouse.exists(), "the demo's fresh warehouse outlived it"


def _probed(entry: dict) -> bool:
    e2e = entry["metrics"]["e2e"]
    return e2e.get("source") == "probe" and (e2e.get("events") or 0) > 0


def _probed_orchestrators(api: str) -> set[str]:
    """The addresses with at least one stored, signed probe result (every stored period the API lists)."""
    with urllib.request.urlopen(f"{api}/v1/prober", timeout=5) as r:
        periods = [p["period_id"] for p in json.load(r)["stored_periods"]]
    out: set[str] = set()
    for pid in periods:
        with urllib.request.urlopen(f"{api}/v1/prober/results?period_id={pid}", timeout=10) as r:
            out |= {e["result"]["orchestrator"] for e in json.load(r)["results"] if e["signature"]}
    return out


def _ranked(entries: dict[str, dict], profiles: dict[str, str]) -> bool:
    e = {p: entries[a] for p, a in profiles.items()}
    s = {p: x["score"] for p, x in e.items()}
    m = {p: x["metrics"] for p, x in e.items()}
    groups_ok = all(x["groups"][g]["value"] is not None for x in e.values() for g in ("availability", "latency", "reliability", "consistency"))
    return (groups_ok and s["offline"] < s["flaky"] < s["steady"]
            and m["slow"]["output_fps"]["value"] < m["steady"]["output_fps"]["value"]
            and m["jittery"]["jitter"]["value"] < m["steady"]["jitter"]["value"])  # fmt: skip
