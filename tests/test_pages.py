"""The built-in pages (api/pages) in a real headless Chromium (Debian's `chromium`, driven by Playwright) against the
real API served on loopback over a chDB warehouse holding known rows (tests/api_fixtures.py: published v1 scores,
samples, scrapes, probe results): no console error, no failed request, the leaderboard's numbers equal the API's,
filters change the rows, the orchestrator page's charts have points, the iframe mode renders inside a parent page of
another origin, a phone-sized screen does not scroll sideways, nothing shifts as data loads; cross-check flags on the
leaderboard and probes beside self-reports on the orchestrator page, failed probes of an unreachable orchestrator,
HTML error pages, unknown addresses and invalid parameters said as such, a lone point's time axis. Screenshots are saved
under the test's tmp_path."""

from __future__ import annotations

import contextlib
import copy
import http.server
import json
import re
import threading
import time
import shutil
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest

from api_fixtures import A, B, C, H, SDXL, load, metrics, score_rows, t0
from live_api import serve
from warehouse.client import Warehouse
from warehouse.migrations import apply_migrations

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian package chromium not installed (make system-deps)")
sync_api = pytest.importorskip("playwright.sync_api")

PAGES = ("/", f"/orchestrators/{A}", "/network", "/targets")
E = "0x" + "e" * 40  # a v2.1-style score whose p2ff came from probes and disagrees with the self-report
UNKNOWN = "0x" + "f" * 40  # nothing stored for it anywhere


@pytest.fixture(scope="module")
def base(chdb_dir: Path) -> Iterator[str]:
    wh = Warehouse(f"chdb://{chdb_dir}", f"pages_{uuid.uuid4().hex[:10]}")
    apply_migrations(wh)
    load(wh)
    add_probes(wh)
    add_probed_score(wh)
    try:
        with serve(wh) as url:
            yield url
    finally:
        wh.command(f"DROP DATABASE IF EXISTS `{wh.database}` SYNC")
        wh.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        # Loopback only: no name resolves except to loopback, and Chromium's own background traffic (updates,
        # safe browsing, metrics) is off — the pages must need nothing from outside, and the tests reach nothing.
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
            "--disable-background-networking", "--disable-component-update", "--disable-domain-reliability",
            "--no-pings", "--safebrowsing-disable-auto-update"])  # fmt: skip
        yield b
        b.close()


PROBE_PERIOD = "global/600s/1"


def add_probes(wh: Warehouse) -> None:
    """One prober period (its results carry their JSON, as /v1/prober/results serves them):
    - A: three good probes of its sdxl model that reached it (fault none): the cross-check has a row, no flag;
    - C: three probes of its sdxl model that reached it and failed by its fault (model_error), while its exporter
      reports 1 error in 10 streams: the cross-check flags `failure`;
    - B: two probes refused before the info call answered (orchestrator_reset, model_id ''): never reached, so no
      cross-check row, only failed probes."""
    now = int(time.time() * 1000)
    cols = ("probe_id", "period_id", "started_at", "ended_at", "orchestrator", "region", "workflow", "model_id", "outcome",
            "error_class", "item_kind", "fault", "capacity_idle", "capacity_in_use", "input_fps", "output_fps", "p2ff_ms",
            "startup_ms", "result_json")  # fmt: skip
    runs = [(f"pa{i}", A, "streamdiffusion-sdxl", "ok", "", "none", 1, 20.0, 19.0, 400.0 + i, 900.0) for i in range(3)]
    runs += [(f"pc{i}", C, "streamdiffusion-sdxl", "failed", "model_error", "orchestrator", 1, 20.0, None, None, None) for i in range(3)]
    runs += [(f"pb{i}", B, "", "failed", "orchestrator_reset", "orchestrator", None, None, None, None, None) for i in range(2)]
    rows = []
    for i, (pid, orch, model, outcome, cls, fault, idle, fin, fout, p2ff, startup) in enumerate(runs):
        started = now - (i + 2) * 60_000
        result = {"probe_id": pid, "period_id": PROBE_PERIOD, "started_at_ms": started, "ended_at_ms": started + 10_000,
                  "orchestrator": orch, "model_id": model, "outcome": outcome, "error_class": cls or None, "fault": fault}
        rows.append((pid, PROBE_PERIOD, started, started + 10_000, orch, "eu-west", "live-video-to-video" if model else "", model,
                     outcome, cls, "good", fault, idle, None if idle is None else 1, fin, fout, p2ff, startup,
                     json.dumps(result, sort_keys=True, separators=(",", ":"))))  # fmt: skip
    wh.insert_rows("probe_runs", cols, rows)


def add_probed_score(wh: Warehouse) -> None:
    """E's published 1h score (window T0+2h) as score v2.1 writes one: p2ff from probes (p50 5200 ms) against a
    self-reported 400 ms, flagged; e2e from probes; the rest self-reported, failure_rate with the probes' beside."""
    from scoring.publish_v1 import SCORE_COLUMNS

    row = list(next(r for r in score_rows(t0()) if r[3] == "1h" and r[4] == A and r[5] == "" and r[2] == t0() + 2 * H))
    detail = json.loads(row[13])
    m = copy.deepcopy(metrics(True))
    for v in m.values():
        v["source"] = "self-reported"
    m["p2ff"] = {"group": "latency", "scored": True, "status": "ok", "source": "probe", "events": 3.0, "good": 0.0, "value": 0.0,
                 "lower": 0.0, "upper": 0.56, "p50_ms": 5200.0, "p95_ms": 5400.0, "flagged": True,
                 "self_reported": {"status": "ok", "events": 4.0, "good": 4.0, "value": 1.0, "p50_s": 0.4, "p95_s": 0.5}}  # fmt: skip
    m["e2e"] = {"group": "latency", "scored": True, "status": "ok", "source": "probe", "events": 3.0, "good": 3.0, "value": 1.0,
                "lower": 0.44, "upper": 1.0, "p50_ms": 300.0, "p95_ms": 320.0}  # fmt: skip
    m["failure_rate"]["probe"] = {"attempts": 1, "failures": 0, "rate": 0.0, "by_class": {}}
    m["failure_rate"]["flagged"] = False
    detail["metrics"] = m
    row[4] = E
    row[13] = json.dumps(detail, sort_keys=True, separators=(",", ":"))
    wh.insert_rows("sla_scores", SCORE_COLUMNS, [tuple(row)])


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


def http_error(url: str, accept: str | None = None) -> urllib.error.HTTPError:
    req = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req)
    return e.value


def test_pages_allow_framing_and_answer_errors_with_an_html_page(base: str, browser: Any) -> None:
    with urllib.request.urlopen(base + "/?embed=1") as r:
        assert r.headers.get("X-Frame-Options") is None and "frame-ancestors *" in r.headers["Content-Security-Policy"]
        assert b'<html lang="en" class="embed">' in r.read()
    # Page routes answer errors as HTML pages (a person reads them), whatever the client accepts.
    for path, code, words in (("/orchestrators/0xdeadbeef", 400, "address"), ("/orchestrators", 404, "/orchestrators/0x"),
                              ("/?bogus=1", 400, "bogus")):  # fmt: skip
        e = http_error(base + path)
        assert e.code == code and e.headers.get_content_type() == "text/html", path
        body = e.read().decode()
        assert words in body and "<h1>" in body and 'href="/"' in body, (path, body)
    # An unknown path a browser asks for is an HTML 404; the API's own errors stay JSON.
    e = http_error(base + "/no-such-page", accept="text/html,application/xhtml+xml")
    assert e.code == 404 and e.headers.get_content_type() == "text/html"
    for path in ("/v1/sla/compliance?orchestrator_id=0x123", "/v1/no-such-route"):
        e = http_error(base + path, accept="text/html,application/xhtml+xml")
        assert e.headers.get_content_type() == "application/json" and json.loads(e.read())["message"], path
    # In a browser: the message is on the page.
    page = browser.new_context().new_page()
    resp = page.goto(base + "/orchestrators/0xdeadbeef")
    assert resp.status == 400 and "address" in page.text_content("#error-message")
    page.context.close()


def test_a_valid_but_unknown_address_says_so_instead_of_empty_sections(base: str, browser: Any) -> None:
    page, watch = open_page(browser, base + f"/orchestrators/{UNKNOWN}")
    assert page.get_attribute("body", "data-unknown") == "1"
    assert "unknown orchestrator: nothing scraped, scored or probed" in page.text_content("#notice")
    assert not page.is_visible("#sections") and not page.is_visible("#c-score")
    assert watch.problems == []
    # A known one is not called unknown.
    page2, _ = open_page(browser, base + f"/orchestrators/{A}")
    assert page2.get_attribute("body", "data-unknown") is None and not page2.text_content("#notice")
    assert page2.is_visible("#sections")


def test_an_invalid_period_parameter_is_said_so(base: str, browser: Any) -> None:
    names = list(api(base, "/v1/sla/targets")["periods"])
    for path in ("/?period=99y", f"/orchestrators/{A}?period=99y"):
        page, watch = open_page(browser, base + path)
        notice = page.text_content("#notice")
        chosen = page.input_value("#f-period")
        assert "period=99y is not a period" in notice and chosen in names and f"showing {chosen}" in notice, (path, notice)
        assert watch.problems == []
    page, _ = open_page(browser, base + "/?period=1h")
    assert not page.text_content("#notice")


def expected_flags(base: str, period: str) -> dict[tuple[str, str], set[str]]:
    """Per leaderboard row (orchestrator, workflow): the flagged metrics, from the API (the cross-check's flagged pairs,
    a workflow row matching its model, and the score's own `flagged` metrics)."""
    lb = api(base, f"/v1/leaderboard?period={period}")
    comp = {(c["orchestrator"], c["workflow"]): c for c in api(base, f"/v1/sla/compliance?period={period}&window_end={lb['window_end']}")["orchestrators"]}
    pairs = api(base, "/v1/prober/crosscheck?flagged=true&window=1d")["pairs"]
    out = {}
    for e in lb["entries"]:
        key = (e["orchestrator"], e["workflow"])
        names = {k for k, m in comp[key]["metrics"].items() if m.get("flagged") is True}
        names |= {f["metric"] for p in pairs if p["orchestrator"] == e["orchestrator"]
                  and (not e["workflow"] or p["model_id"] == e["workflow"].split("/")[-1]) for f in p["flags"]}
        out[key] = names
    return out


def test_the_leaderboard_marks_orchestrators_whose_self_report_disagrees_with_probes(base: str, browser: Any, tmp_path: Path) -> None:
    page, watch = open_page(browser, base + "/?period=1h", viewport={"width": 1400, "height": 900})
    expected = expected_flags(base, "1h")
    shown = {(r["orchestrator"], r["workflow"]): set(filter(None, (r["flagged"] or "").split(","))) for r in page.eval_on_selector_all(
        "#board tbody tr[data-orchestrator]", """rs => rs.map(r => ({orchestrator: r.dataset.orchestrator, workflow: r.dataset.workflow,
        flagged: (r.querySelector('[data-flagged]') || {dataset: {}}).dataset.flagged}))""")}  # fmt: skip
    assert shown == expected
    # The fixture: C's probes fail while its exporter reports few errors (cross-check), E's score has p2ff flagged;
    # A's probes agree with its exporter.
    assert shown[(C, "")] == {"failure"} and shown[(E, "")] == {"p2ff"} and shown[(A, "")] == set()
    text = page.text_content(f"#board tr[data-orchestrator='{C}']")
    assert "flagged: self-report disagrees with probes" in text
    assert page.is_visible(f"#board tr[data-orchestrator='{C}'] .badge.flag")
    page.screenshot(path=str(tmp_path / "leaderboard-flagged.png"), full_page=True)
    assert watch.problems == []


def test_the_data_column_fps_targets_and_container_tile_say_what_they_are(base: str, browser: Any) -> None:
    page, watch = open_page(browser, base + "/?period=1h")
    heads = page.eval_on_selector_all("#board thead th", "hs => hs.map(h => h.textContent.trim())")
    assert "Data" in heads and "Status" not in heads
    statuses = page.eval_on_selector_all("#board tbody tr[data-orchestrator] td:last-child", "ts => ts.map(t => t.textContent)")
    assert set(statuses) <= {"enough", "insufficient"} and "enough" in statuses
    # With all workflows shown, each row still shows its FPS target: A's own row, the target of the workflow it offers.
    targets = {w["workflow"]: w for w in api(base, "/v1/sla/targets")["workflows"]}
    sdxl = (targets.get(SDXL) or targets.get(SDXL.split("/")[-1]) or targets["default"])["output_fps"]
    fps = dict(page.eval_on_selector_all("#board tbody tr[data-orchestrator]", "rs => rs.map(r => [r.dataset.orchestrator + '|' + r.dataset.workflow, r.querySelector('[data-fps]').dataset.fps])"))
    assert all(re.search(r"/ \d", v) for v in fps.values()), fps
    assert fps[f"{A}|"].endswith(f"/ {sdxl:g} fps")
    assert "Runner containers" in page.text_content("#network") and "Demand vs supply" not in page.text_content("#network")
    assert watch.problems == []


def test_the_orchestrator_page_shows_probes_beside_the_self_report(base: str, browser: Any, tmp_path: Path) -> None:
    page, watch = open_page(browser, base + f"/orchestrators/{C}?period=1h")
    cc = api(base, f"/v1/prober/crosscheck?orchestrator={C}&window=1d")["pairs"]
    flag = next(f for p in cc for f in p["flags"] if f["metric"] == "failure")
    row = page.eval_on_selector("#probes tr[data-quantity='failure']", "r => ({flagged: r.dataset.flagged, cells: [...r.cells].map(c => c.textContent)})")
    assert row["flagged"] == "1"
    # Plain text, side by side: what the probes measured and what the exporter reported.
    assert row["cells"][3] == f"{round(100 * flag['probe'])} %" and row["cells"][4] == f"{round(100 * flag['exporter'])} %"
    assert "flagged" in row["cells"][5]
    assert "3 of 3 probes failed (model_error ×3)" in page.text_content("#probe-summary")
    page.screenshot(path=str(tmp_path / "orchestrator-flagged.png"), full_page=True)
    assert watch.problems == []


def test_an_unreachable_orchestrator_shows_its_failed_probes(base: str, browser: Any) -> None:
    page, watch = open_page(browser, base + f"/orchestrators/{B}")
    results = [e["result"] for e in api(base, f"/v1/prober/results?period_id={PROBE_PERIOD}")["results"] if e["result"].get("orchestrator") == B]
    assert results and all(r["model_id"] == "" for r in results)
    summary = page.text_content("#probe-summary")
    assert f"{len(results)} of {len(results)} probes failed (orchestrator_reset ×{len(results)}), last at" in summary, summary
    last = max(r["started_at_ms"] for r in results)
    assert time.strftime("%Y-%m-%d %H:%M", time.gmtime(last / 1000)) in summary
    rows = page.eval_on_selector_all("#probe-failures tbody tr[data-class]", "rs => rs.map(r => r.textContent)")
    assert len(rows) == len(results) and all("never reached it" in r and "orchestrator_reset" in r for r in rows)
    assert "not probed" not in page.text_content("#sections")
    assert watch.problems == []


def test_why_this_score_says_which_metrics_came_from_probes_and_fits_its_columns(base: str, browser: Any, tmp_path: Path) -> None:
    page, watch = open_page(browser, base + f"/orchestrators/{E}?period=1h", viewport={"width": 1400, "height": 900})
    latest = api(base, f"/v1/sla/compliance?orchestrator_id={E}&period=1h")["orchestrators"][0]
    from_probes = sorted(k for k, m in latest["metrics"].items() if m.get("source") == "probe")
    sources = dict(page.eval_on_selector_all("#why-metrics tbody tr", "rs => rs.map(r => [r.dataset.metric, r.cells[1].textContent])"))
    assert sorted(k for k, v in sources.items() if v == "probe") == from_probes == ["e2e", "p2ff"]
    assert f"From the prober's measurements: {', '.join(from_probes)}" in page.text_content("#why-sources")
    assert "p2ff" in page.text_content("#why-flagged")
    p2ff = page.text_content("#why-metrics tr[data-metric='p2ff']")
    assert "self-report: " in p2ff and "p50 400 ms" in p2ff and "disagrees" in p2ff
    # No table in "why this score" scrolls or clips at 1400 px: every column is inside its box.
    overflow = page.eval_on_selector_all("#why .tablewrap", "ws => ws.map(w => w.scrollWidth - w.clientWidth)")
    assert overflow and all(o <= 0 for o in overflow), overflow
    page.screenshot(path=str(tmp_path / "why-1400.png"), full_page=True)
    assert watch.problems == []


def test_a_chart_with_one_point_spans_its_period_not_years(base: str, browser: Any) -> None:
    hist = [s for s in api(base, f"/v1/sla/history?orchestrator_id={C}&period=1h")["scores"] if s["score"] is not None]
    assert len(hist) == 1  # the fixture: C has one published 1h score
    x = hist[0]["window_end"]
    page, watch = open_page(browser, base + f"/orchestrators/{C}?period=1h")
    for sel in ("#c-score", "#c-slos .chart"):
        lo, hi, ticks = page.eval_on_selector(sel, "h => [h._chart.scales.x.min, h._chart.scales.x.max, h._chart.scales.x.ticks.map(t => t.value)]")
        assert (lo, hi) == (x - H, x + H), sel
        assert ticks and all(lo <= t <= hi for t in ticks)
    assert watch.problems == []
