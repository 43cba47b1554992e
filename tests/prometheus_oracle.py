"""The oracles for "stored as Prometheus stores it": the real `promtool` and a real Prometheus server (Debian's
`prometheus` package, installed by `make test`).

- `promtool_verdict(body)`: does `promtool check metrics` (expfmt, the format's reference parser) parse it?
  Lint problems (missing HELP, counter naming) are not parse errors.
- `ServerOracle(bodies)`: one Prometheus server scraping every body from a loopback HTTP server (one target per
  body, file_sd with `__metrics_path__`), then, per body, whether a scrape succeeded (`up` at any time: a parse
  rejection is deterministic, a slow or broken transfer is not) and the series it stored with their values and
  timestamps, read back through its HTTP API.
"""

from __future__ import annotations

import asyncio
import json
import math
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from exporter.common.net import free_port

PROMTOOL = shutil.which("promtool")
PROMETHEUS = shutil.which("prometheus")
# Labels Prometheus attaches itself (target labels), not part of what the body exposed.
TARGET_LABELS = ("job", "instance", "body")


def promtool_verdict(body: bytes) -> tuple[bool, str]:
    """(parses, message) by `promtool check metrics`."""
    assert PROMTOOL, "promtool is missing: `make test` installs Debian's prometheus package"
    p = subprocess.run([PROMTOOL, "check", "metrics"], input=body, capture_output=True, timeout=30)
    out = (p.stdout + p.stderr).decode("utf-8", "replace")
    if "error while linting" in out or "text format parsing error" in out:
        return False, out.strip()[:300]
    return True, ""


def promtool_verdicts(bodies: list[bytes]) -> list[tuple[bool, str]]:
    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(promtool_verdict, bodies))


@dataclass
class Stored:
    """What the server stored from one body: None when the scrape failed, else series → its samples
    [(value, timestamp ms)] in time order (one per scrape for unstamped samples)."""

    up: bool
    series: dict[tuple[str, frozenset], list[tuple[float, int]]] | None


class ServerOracle:
    """Scrapes every body once with a real Prometheus; `results[i]` is what it stored from body i."""

    def __init__(self, bodies: list[tuple[bytes, str]], timeout_s: float = 60.0) -> None:
        assert PROMETHEUS, "prometheus is missing: `make test` installs Debian's prometheus package"
        self.bodies = bodies
        self.results: list[Stored] = []
        self._dir = Path(tempfile.mkdtemp(prefix="naap-prom-oracle-"))
        self._timeout_s = timeout_s

    def run(self) -> list[Stored]:
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        holder: dict = {}

        async def serve() -> None:
            async def handler(request: web.Request) -> web.Response:
                body, ctype = self.bodies[int(request.match_info["i"])]
                return web.Response(body=body, headers={"Content-Type": ctype})

            app = web.Application()
            app.router.add_get("/b/{i}", handler)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            port = free_port()
            await web.TCPSite(runner, "127.0.0.1", port).start()
            holder["port"], holder["runner"] = port, runner
            ready.set()

        thread = threading.Thread(target=lambda: (loop.run_until_complete(serve()), loop.run_forever()), daemon=True)
        thread.start()
        ready.wait(10)
        try:
            return self._scrape(holder["port"])
        finally:
            loop.call_soon_threadsafe(lambda: asyncio.ensure_future(holder["runner"].cleanup()))
            time.sleep(0.2)
            loop.call_soon_threadsafe(loop.stop)
            shutil.rmtree(self._dir, ignore_errors=True)

    def _scrape(self, port: int) -> list[Stored]:
        sd = [{"targets": [f"127.0.0.1:{port}"], "labels": {"__metrics_path__": f"/b/{i}", "body": str(i)}}
              for i in range(len(self.bodies))]  # fmt: skip
        (self._dir / "sd.json").write_text(json.dumps(sd))
        # ~400 bodies served by one Python thread: a generous scrape timeout (at most the interval)
        (self._dir / "prometheus.yml").write_text(
            "global:\n  scrape_interval: 3s\n  scrape_timeout: 3s\nscrape_configs:\n- job_name: t\n"
            f"  file_sd_configs:\n  - files: ['{self._dir}/sd.json']\n    refresh_interval: 1s\n"
        )
        api_port = free_port()
        proc = subprocess.Popen(
            [PROMETHEUS, f"--config.file={self._dir}/prometheus.yml", f"--storage.tsdb.path={self._dir}/data",
             f"--web.listen-address=127.0.0.1:{api_port}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        base = f"http://127.0.0.1:{api_port}"
        try:
            deadline = time.monotonic() + self._timeout_s
            while True:  # every target scraped, the last scrape of each up or refused for its body (not the transfer)
                try:
                    targets = _get(f"{base}/api/v1/targets")["data"]["activeTargets"]
                    done = [t for t in targets if t.get("lastScrape", "").startswith("20")]
                    if len(done) == len(self.bodies) and all(t["health"] != "unknown" and not _transient(t) for t in done):
                        break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError("Prometheus did not scrape every body in time")
                time.sleep(0.5)
            time.sleep(2.5)
            at = time.time() + 1200  # after any sample stamped up to 20 minutes ahead
            up = {r["metric"]["body"]: r["value"][1] == "1" for r in _query(base, 'max_over_time(up{job="t"}[1h])', time.time())}
            stored: dict[str, dict] = {}
            for r in _query(base, '{job="t",__name__!~"up|scrape_.+"}[3h]', at):
                labels = r["metric"]
                key = (labels["__name__"], frozenset((k, v) for k, v in labels.items() if k not in (*TARGET_LABELS, "__name__")))
                stored.setdefault(labels["body"], {})[key] = [(_float(v), int(round(float(ts) * 1000))) for ts, v in r["values"]]
            return [Stored(up.get(str(i), False), stored.get(str(i), {}) if up.get(str(i)) else None)
                    for i in range(len(self.bodies))]  # fmt: skip
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


def _transient(target: dict) -> bool:
    """The target's last scrape failed in the HTTP transfer (timeout, reset: load), not on its body. Prometheus
    words those `Get "<url>": …`; a parse error never is."""
    err = target.get("lastError") or ""
    return target.get("health") != "up" and (err.startswith("Get ") or "deadline exceeded" in err)


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.load(r)


def _query(base: str, query: str, at: float) -> list[dict]:
    data = _get(f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": query, "time": f"{at:.3f}"}))["data"]
    return data["result"]


def _float(text: str) -> float:
    return float(text) if text not in ("NaN", "+Inf", "-Inf") else {"NaN": math.nan, "+Inf": math.inf, "-Inf": -math.inf}[text]
