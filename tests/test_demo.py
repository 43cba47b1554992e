"""`naap demo` (what `make demo` runs): a real fleet of exporter processes, scraped, scored and served."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def test_demo_starts_clean_and_scores_each_profile_as_its_faults_say() -> None:
    """Five orchestrators (steady, jittery, flaky, slow, offline part of the time) on a fresh warehouse of its
    own: every one gets a numeric score, the flaky and offline ones below the steady one, and the warehouse
    directory is gone when the demo stops."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "naap", "--log-level", "warning", "demo", "--orchestrators", "5", "--port", "0"],
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
        scores: dict[str, float] = {}
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:
            with urllib.request.urlopen(f"{api}/v1/sla/compliance?period=5m", timeout=5) as r:
                body = json.load(r)
            scores = {o["orchestrator"]: o["score"] for o in body["orchestrators"] if isinstance(o["score"], float)}
            if len(scores) == 5 and all(scores[profiles[p]] < scores[profiles["steady"]] for p in ("flaky", "offline")):
                break
            time.sleep(3)
        assert len(scores) == 5, body
        assert scores[profiles["flaky"]] < scores[profiles["steady"]], scores
        assert scores[profiles["offline"]] < scores[profiles["steady"]], scores
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert not warehouse.exists(), "the demo's fresh warehouse outlived it"
