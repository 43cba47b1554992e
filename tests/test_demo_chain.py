"""`naap demo --chain`: the fleet is registered on an in-process chain and found by on-chain discovery."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.load(r)


def test_demo_chain_discovers_and_scrapes_the_fleet(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "naap", "--log-level", "warning", "demo", "--chain", "--orchestrators", "2",
         "--port", "0", "--data-dir", str(tmp_path / "demo")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        api = rpc = None
        deadline = time.monotonic() + 60
        while api is None and time.monotonic() < deadline:
            line = proc.stdout.readline()  # type: ignore[union-attr]
            assert line or proc.poll() is None, proc.stderr.read()  # type: ignore[union-attr]
            if m := re.search(r"JSON-RPC (http://127\.0\.0\.1:\d+)", line):
                rpc = m.group(1)
            if m := re.search(r"API:\s+(http://127\.0\.0\.1:\d+)", line):
                api = m.group(1)
        assert api and rpc, "the demo never printed its URLs"
        listing = _get(f"{api}/v1/discovery/targets")
        assert [t["source"] for t in listing["accepted"]] == ["chain", "chain"]
        assert all(re.fullmatch(r"http://127\.0\.0\.\d+:\d+/metrics", t["url"]) for t in listing["accepted"])
        assert sorted(r["reason"] for r in listing["refused"]) == ["no_service_uri", "private"]
        assert listing["blocks"]["chain"] > 0
        assert len(_get(f"{api}/v1/discovery/http_sd")) == 2
        # Scraped through what the chain said: both orchestrators' GPUs show up.
        wallets: set[str] = set()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(wallets) < 2:
            wallets = {g["o_wallet"] for g in _get(f"{api}/v1/gpu/metrics?time_range=5m")["gpus"]}
            time.sleep(1)
        assert wallets == {t["orchestrator"] for t in listing["accepted"]}
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
