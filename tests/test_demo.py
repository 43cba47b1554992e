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


def test_demo_serves_a_numeric_score_for_every_orchestrator(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "naap", "--log-level", "warning", "demo", "--orchestrators", "3", "--port", "0",
         "--data-dir", str(tmp_path / "demo")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        api = None
        deadline = time.monotonic() + 60
        while api is None and time.monotonic() < deadline:
            line = proc.stdout.readline()  # type: ignore[union-attr]
            assert line or proc.poll() is None, proc.stderr.read()  # type: ignore[union-attr]
            m = re.search(r"API:\s+(http://127\.0\.0\.1:\d+)", line)
            if m:
                api = m.group(1)
        assert api, "the demo never printed its API URL"
        body: dict = {}
        deadline = time.monotonic() + 90  # the bound, from start
        while time.monotonic() < deadline:
            with urllib.request.urlopen(f"{api}/v1/sla/compliance?period=5m", timeout=5) as r:
                body = json.load(r)
            if body["count"] == 3 and all(isinstance(o["score"], float) for o in body["orchestrators"]):
                break
            time.sleep(2)
        assert body.get("count") == 3, body
        assert all(isinstance(o["score"], float) for o in body["orchestrators"]), body
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
