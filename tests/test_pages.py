"""The built-in pages (api/pages) in a real headless Chromium (Debian's `chromium`, driven by Playwright) against the
real API served on loopback over a chDB warehouse holding known rows (tests/api_fixtures.py: published v1 scores,
samples, scrapes, probe results): no console error, no failed request, the leaderboard's numbers equal the API's,
filters change the rows, the orchestrator page's charts have points, the iframe mode renders inside a parent page of
another origin, a phone-sized screen does not scroll sideways, nothing shifts as data loads. Screenshots are saved
under the test's tmp_path."""

from __future__ import annotations

import contextlib
import http.server
import json
import threading
import time
import shutil
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest

from api_fixtures import A, C, SDXL, load
from live_api import serve
from warehouse.client import Warehouse
from warehouse.migrations import apply_migrations

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian package chromium not installed (make system-deps)")
sync_api = pytest.importorskip("playwright.sync_api")

PAGES = ("/", f"/orchestrators/{A}", "/network", "/targets")


@pytest.fixture(scope="module")
def base(chdb_dir: Path) -> Iterator[str]:
    wh = Warehouse(f"chdb://{chdb_dir}", f"pages_{uuid.uuid4().hex[:10]}")
    apply_migrations(wh)
    load(wh)
    add_probes(wh)
    try:
        with serve(wh) as url:
            yield url
    finally:
        wh.command(f"DROP DATABASE IF EXISTS `{wh.database}`")
        wh.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield b
        b.close()


def add_probes(wh: Warehouse) -> None:
    """Three good probes of A's sdxl model that reached it (fault none): the cross-check table has a row."""
    now = int(time.time() * 1000)
    cols = ("probe_id", "period_id", "started_at", "ended_at", "orchestrator", "region", "workflow", "model_id", "outcome",
            "item_kind", "fault", "capacity_idle", "capacity_in_use", "input_fps", "output_fps", "p2ff_ms", "startup_ms")
    wh.insert_rows("probe_runs", cols, [(f"pg{i}", "per2", now - (i + 2) * 60_000, now - (i + 1) * 60_000, A, "eu-west",
                                         "live-video-to-video", "streamdiffusion-sdxl", "ok", "good", "none", 1, 1, 20.0,
                                         19.0, 400.0 + i, 900.0) for i in range(3)])  # fmt: skip


class Watch:
    """Everything that went wrong on a page: console errors, uncaught exceptions, failed or 4xx/5xx requests."""

    def __init__(self, page: Any) -> None:
        self.problems: list[str] = []
        self.requests: list[str] = []
        page.on("console", lambda m: self.problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        page.on("requestfailed", lambda r: self.problems.append(f"request failed: {r.url} {r.failure}"))
        page.on("request", lambda r: self.requests.append(r.url))
        page.on("response", lambda r: self.problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)


def open_page(browser: Any, url: str, **ctx: Any) -> tuple[Any, Watch]:
    page = browser.new_context(**ctx).new_page()
    watch = Watch(page)
    page.goto(url)
    page.wait_for_selector("body[data-ready]", timeout=30_000)
    assert page.get_attribute("body", "data-ready") == "1", page.text_content("#error")
    return page, watch


def api(base: str, path: str) -> dict[str, Any]:
    with urllib.request.urlopen(base + path) as r:
        return json.loads(r.read())


def board_rows(page: Any) -> list[dict[str, Any]]:
    return page.eval_on_selector_all("#board tbody tr[data-orchestrator]", """rows => rows.map(r => ({
        orchestrator: r.dataset.orchestrator, workflow: r.dataset.workflow, rank: r.cells[0].textContent,
        score: r.querySelector('[data-score]').dataset.score, availability: r.querySelector('[data-availability]').dataset.availability,
        bars: [...r.querySelectorAll('.bar')].map(b => b.dataset.value)}))""")


def test_every_page_renders_without_console_errors_or_failed_requests(base: str, browser: Any, tmp_path: Path) -> None:
    for path in PAGES:
        page, watch = open_page(browser, base + path, viewport={"width": 1280, "height": 900})
        page.screenshot(path=str(tmp_path / f"{path.strip('/').split('/')[0] or 'leaderboard'}.png"), full_page=True)
        assert watch.problems == [], (path, watch.problems)
        # Pages read the public /v1 API and their own files only: no CDN, no private route.
        others = [u for u in watch.requests if not u.startswith((base + "/v1/", base + "/static/")) and u != base + path]
        assert others == [], others
        assert not page.text_content("#error")
        page.context.close()


def test_leaderboard_numbers_equal_the_api(base: str, browser: Any) -> None:
    page, watch = open_page(browser, base + "/")
    period = page.input_value("#f-period")
    lb = api(base, f"/v1/leaderboard?period={period}")
    comp = {(c["orchestrator"], c["workflow"]): c for c in api(base, f"/v1/sla/compliance?period={period}&window_end={lb['window_end']}")["orchestrators"]}
    rows = board_rows(page)
    assert [r["orchestrator"] for r in rows] == [e["orchestrator"] for e in lb["entries"]] and rows
    for r, e in zip(rows, lb["entries"]):
        assert r["rank"] == (str(e["rank"]) if e["rank"] is not None else "–")
        if e["insufficient_data"]:
            assert r["score"] == ""
        else:
            assert float(r["score"]) == e["score"]
        groups = [e["groups"].get(g) for g in ("availability", "latency", "reliability", "consistency", "efficiency")]
        assert [float(b) if b else None for b in r["bars"]] == groups
        av = comp[(e["orchestrator"], e["workflow"])]["metrics"]["availability"]["value"]
        assert float(r["availability"]) == av
    # The fixture's D has too few samples: shown as such, without a rank.
    texts = page.eval_on_selector_all("#board tbody tr.insufficient", "rs => rs.map(r => r.textContent)")
    assert all("insufficient data" in t for t in texts)
    assert watch.problems == []


def test_filters_change_the_rows_to_the_apis(base: str, browser: Any) -> None:
    page, watch = open_page(browser, base + "/?period=1h")
    before = [r["orchestrator"] for r in board_rows(page)]
    renders = page.get_attribute("body", "data-renders")
    page.select_option("#f-workflow", SDXL)
    page.wait_for_selector(f"body:not([data-renders='{renders}'])")
    after = board_rows(page)
    expected = api(base, f"/v1/leaderboard?period=1h&workflow={SDXL}")["entries"]
    assert [r["orchestrator"] for r in after] == [e["orchestrator"] for e in expected] != before
    assert {r["workflow"] for r in after} == {SDXL}
    assert page.url.endswith(f"workflow={SDXL.replace('/', '%2F')}")  # the filter is in the URL (shareable)
    renders = page.get_attribute("body", "data-renders")
    page.select_option("#f-region", "us-east")
    page.wait_for_selector(f"body:not([data-renders='{renders}'])")
    assert [r["orchestrator"] for r in board_rows(page)] == [C]
    assert watch.problems == []


def test_the_orchestrator_page_charts_history_and_explains_the_score(base: str, browser: Any, tmp_path: Path) -> None:
    page, watch = open_page(browser, base + f"/orchestrators/{A}?period=1h")
    hist = api(base, f"/v1/sla/history?orchestrator_id={A}&period=1h")["scores"]
    assert int(page.get_attribute("#c-score", "data-points")) >= len(hist) >= 2
    assert page.eval_on_selector("#c-score canvas", "c => c.width > 0 && c.height > 0")
    assert int(page.get_attribute("#c-groups", "data-points")) > 0
    latest = hist[-1]
    assert page.text_content("#o-score") == f"{latest['score']:g}"
    replay = page.text_content("#replay")
    assert replay.startswith(f"naap replay --orchestrator {A} --period 1h --from ") and latest["config_hash"] in page.text_content("#why")
    gpu_rows = page.eval_on_selector_all("#gpus tbody tr[data-gpu]", "rs => rs.map(r => r.textContent)")
    assert len(gpu_rows) == 1 and "RTX 4090" in gpu_rows[0] and "dcgm / high" in gpu_rows[0]
    assert "http_5xx" in page.text_content("#failures") and "1 of 10 scrapes failed" in page.text_content("#scrape-summary")
    assert "streamdiffusion-sdxl" in page.text_content("#probes")
    page.screenshot(path=str(tmp_path / "orchestrator-1h.png"), full_page=True)
    assert watch.problems == []


@contextlib.contextmanager
def parent_site(html: str) -> Iterator[str]:
    """A page of another origin (its own loopback port) that frames ours, as the Explorer would."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            body = html.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def test_embed_mode_renders_inside_a_parent_page_of_another_origin(base: str, browser: Any, tmp_path: Path) -> None:
    html = f"<!doctype html><title>Explorer</title><h1>Parent</h1><iframe id=f src='{base}/?embed=1' width=960 height=700></iframe>"
    with parent_site(html) as parent:
        ctx = browser.new_context(viewport={"width": 1000, "height": 900})
        page = ctx.new_page()
        watch = Watch(page)
        page.goto(parent)
        frame = page.frame_locator("#f")
        frame.locator("body[data-ready='1']").wait_for(timeout=30_000)
        assert frame.locator("html.embed").count() == 1
        assert not frame.locator("header.chrome").is_visible() and not frame.locator("footer.chrome").is_visible()
        assert frame.locator("#board tbody tr[data-orchestrator]").count() > 0
        # Links inside the frame keep the iframe mode.
        assert all("embed=1" in h for h in frame.locator("#board a").evaluate_all("as => as.map(a => a.getAttribute('href'))"))
        page.screenshot(path=str(tmp_path / "embedded.png"))
        assert watch.problems == []
        ctx.close()


def test_a_phone_screen_does_not_scroll_sideways_and_nothing_shifts_as_data_loads(base: str, browser: Any, tmp_path: Path) -> None:
    for path in ("/", f"/orchestrators/{A}"):
        ctx = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True, has_touch=True)
        page = ctx.new_page()
        watch = Watch(page)
        # Cumulative layout shift as Chromium measures it (the Layout Instability API), from the first paint on.
        page.add_init_script("""window.__cls = 0; new PerformanceObserver(l => { for (const e of l.getEntries())
            if (!e.hadRecentInput) window.__cls += e.value; }).observe({type: 'layout-shift', buffered: true});""")
        page.goto(base + path)
        page.wait_for_selector("body[data-ready='1']", timeout=30_000)
        assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
        cls = page.evaluate("window.__cls")
        page.screenshot(path=str(tmp_path / f"phone-{path.strip('/').split('/')[0] or 'leaderboard'}.png"), full_page=True)
        assert cls < 0.1, (path, cls)  # "good" by web.dev's threshold
        assert watch.problems == []
        ctx.close()


def test_pages_allow_framing_and_refuse_a_malformed_address(base: str) -> None:
    with urllib.request.urlopen(base + "/?embed=1") as r:
        assert r.headers.get("X-Frame-Options") is None and "frame-ancestors *" in r.headers["Content-Security-Policy"]
        assert b'<html lang="en" class="embed">' in r.read()
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(base + "/orchestrators/0x123")
    assert e.value.code == 400 and "address" in json.loads(e.value.read())["message"]
