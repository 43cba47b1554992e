"""Rates and increases as PromQL defines them (scoring/promql.py), checked three ways:

1. hand-computed cases, with the arithmetic written out;
2. the SQL expression against the Python reference, value for value, on those cases and on a few hundred seeded
   random series stored in the `samples` table (bit-identical: the SQL repeats the reference's operations in
   the same order);
3. a stock Prometheus 2.42 (Debian's `/usr/bin/prometheus`) scraping a loopback exporter whose counter grows
   irregularly and resets: for several evaluation times, the samples it selects for ``x[30s]``, its own
   ``increase``, ``rate`` and ``delta``, against our `select`, Python reference and SQL on those very samples.

Units: timestamps in ms since the epoch; increases in the counter's unit; rates per second.
"""

from __future__ import annotations

import asyncio
import math
import random
import shutil
import struct
import subprocess
import time
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from exporter.common.net import free_port
from scoring.promql import (
    delta,
    extrapolated_rate,
    increase,
    promql_delta_sql,
    promql_increase_sql,
    promql_rate_sql,
    rate,
    select,
    series_increase,
    series_rate,
    series_windows,
)
from warehouse.client import Warehouse

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
BASE = 1_700_000_000_000  # ms; every hand case is shifted here so its range is [BASE, BASE + 60 s]
S = 1000  # ms per second
STALE_NAN = struct.unpack("<d", struct.pack("<Q", 0x7FF0000000000002))[0]


def at(seconds: float, value: float) -> tuple[int, float]:
    """A sample `seconds` into the hand cases' 60 s range."""
    return (BASE + round(seconds * S), value)


# Every hand case: range [0 s, 60 s] (i.e. x[1m] evaluated at 60 s), samples, expected increase / rate / delta.
# Notation: dS = durationToStart, dE = durationToEnd, si = sampledInterval, avg = si / (n - 1), thr = 1.1·avg,
# all in seconds; "ext" is the interval the result is extrapolated to; factor = ext / si.
HAND: dict[str, tuple[list[tuple[int, float]], float | None, float | None, float | None]] = {
    # Steady counter, every 10 s from 5 s to 55 s, 100 → 150.
    # result = 150 - 100 = 50. dS = 5, dE = 5, si = 50, avg = 10, thr = 11.
    # zero point: 50·(100/50) = 100 s ≥ dS, no cap. Both ends < thr: ext = 50 + 5 + 5 = 60.
    # increase = 50·60/50 = 60; rate = 60/60 s = 1; delta (same, no resets) = 60.
    "steady": ([at(5 + 10 * i, 100 + 10 * i) for i in range(6)], 60.0, 1.0, 60.0),
    # One reset: 10 20 30 | 5 15 25 at 5..55 s.
    # result = 25 - 10 = 15, + 30 (5 < 30) = 45. dS = dE = 5, si = 50, avg = 10.
    # zero point: 50·(10/45) = 11.1 s ≥ 5, no cap. ext = 60. increase = 45·1.2 = 54; rate = 54/60 = 0.9.
    # delta (gauge: no correction) = 15·1.2 = 18.
    "one_reset": ([at(5 + 10 * i, v) for i, v in enumerate([10, 20, 30, 5, 15, 25])], 54.0, 0.9, 18.0),
    # Two resets: 10 20 | 3 13 | 2 12.
    # result = 12 - 10 = 2, + 20 (3 < 20) + 13 (2 < 13) = 35. zero point 50·(10/35) = 14.3 s ≥ 5.
    # increase = 35·1.2 = 42; rate = 0.7; delta = 2·1.2 = 2.4.
    "two_resets": ([at(5 + 10 * i, v) for i, v in enumerate([10, 20, 3, 13, 2, 12])], 42.0, 0.7, 2.4),
    # Far from both edges: 50 60 70 at 20, 30, 40 s.
    # result = 20. dS = 20, dE = 20, si = 20, avg = 10, thr = 11. zero point 20·(50/20) = 50 ≥ 20.
    # Both ends ≥ thr: each extrapolated by avg/2 = 5 only: ext = 20 + 5 + 5 = 30.
    # increase = 20·30/20 = 30; rate = 0.5; delta = 30.
    "far_from_edges": ([at(20, 50), at(30, 60), at(40, 70)], 30.0, 0.5, 30.0),
    # Near both edges: 200 210 220 230 240 at 10.5, 20.5, .., 50.5 s.
    # result = 40. dS = 10.5, dE = 9.5, si = 40, avg = 10, thr = 11. Both < thr: extrapolated to the edges,
    # ext = 40 + 10.5 + 9.5 = 60. increase = 40·60/40 = 60; rate = 1; delta = 60.
    # Samples exactly on both edges (selected: the range is closed): 10 40 50 70 at 0, 20, 40, 60 s.
    # result = 60. dS = 0, dE = 0, si = 60, avg = 20. zero point 60·(10/60) = 10 s ≥ 0. ext = 60 + 0 + 0 = 60.
    # increase = 60; rate = 1; delta = 60. (A left-open range would drop the sample at 0 s and give 45.)
    "on_edges": ([at(0, 10), at(20, 40), at(40, 50), at(60, 70)], 60.0, 1.0, 60.0),
    "near_edges": ([at(10.5 + 10 * i, 200 + 10 * i) for i in range(5)], 60.0, 1.0, 60.0),
    # Just past the threshold at the start only: 100..140 at 11.5, 21.5, .., 51.5 s.
    # result = 40. dS = 11.5 ≥ thr 11 → + avg/2 = 5; dE = 8.5 < 11 → + 8.5. ext = 40 + 5 + 8.5 = 53.5.
    # increase = 40·53.5/40 = 53.5; rate = 53.5/60; delta = 53.5.
    "one_edge_far": ([at(11.5 + 10 * i, 100 + 10 * i) for i in range(5)], 53.5, 53.5 / 60, 53.5),
    # Zero-point cap: 1 11 21 31 at 20, 30, 40, 50 s.
    # result = 30. dS = 20, dE = 10, si = 30, avg = 10, thr = 11.
    # zero point: 30·(1/30) = 1 s < dS = 20 → dS = 1 (a counter is not extrapolated below 0); 1 < 11 → + 1.
    # dE = 10 < 11 → + 10. ext = 30 + 1 + 10 = 41. increase = 30·41/30 = 41 (45 without the cap); rate = 41/60.
    # delta (no cap for gauges): dS = 20 ≥ 11 → + 5; ext = 45; delta = 30·45/30 = 45.
    "zero_point_cap": ([at(20, 1), at(30, 11), at(40, 21), at(50, 31)], 41.0, 41 / 60, 45.0),
    # Irregular intervals: 7 10 16 27 33 48 at 2, 5, 17, 29.5, 44, 58 s.
    # result = 41. dS = 2, dE = 2, si = 56, avg = 56/5 = 11.2, thr = 12.32. zero point 56·(7/41) = 9.56 ≥ 2.
    # ext = 56 + 2 + 2 = 60. increase = 41·60/56 = 43.92857142857143; rate = 41/56 = 0.7321428571428571.
    "irregular": (
        [at(2, 7), at(5, 10), at(17, 16), at(29.5, 27), at(44, 33), at(58, 48)], 41 * 60 / 56, 41 / 56, 41 * 60 / 56,
    ),
    # A gauge that falls and rises: 50 30 40 10 at 15, 25, 35, 45 s.
    # delta: result = 10 - 50 = -40 (no reset correction). dS = 15 ≥ thr 11 → + 5, dE = 15 → + 5, si = 30,
    # ext = 40: delta = -40·40/30 = -53.333…
    # increase (read as a counter): -40 + 50 (30 < 50) + 40 (10 < 40) = 50; zero point 30·(50/50) = 30 ≥ 15;
    # increase = 50·40/30 = 66.666…; rate = 66.666…/60.
    "gauge": ([at(15, 50), at(25, 30), at(35, 40), at(45, 10)], 50 * 40 / 30, 50 * 40 / 30 / 60, -40 * 40 / 30),
    # Fewer than 2 samples: no value (PromQL drops the series).
    "one_sample": ([at(30, 5)], None, None, None),
    "no_sample": ([], None, None, None),
    # Only one of these is inside [0 s, 60 s]: still fewer than 2.
    "one_inside": ([at(-1, 1), at(30, 5), at(61, 9)], None, None, None),
    # A staleness marker is skipped by the selection: 10, <stale>, 30 at 10, 20, 30 s is the same as 10, 30.
    # result = 20. dS = 10, dE = 30, si = 20, avg = 20, thr = 22. zero point 20·(10/20) = 10 ≥ 10, no cap.
    # dS < 22 → + 10; dE ≥ 22 → + avg/2 = 10. ext = 40. increase = 20·40/20 = 40; rate = 40/60; delta = 40.
    "stale_marker": ([at(10, 10), at(20, STALE_NAN), at(30, 30)], 40.0, 40 / 60, 40.0),
}
RANGE = 60 * S
END = BASE + RANGE


def same(a: float | None, b: float | None) -> bool:
    """Bit-identical floats (NaN equal to NaN), or both None."""
    if a is None or b is None:
        return a is b
    return struct.pack("<d", a) == struct.pack("<d", b)


def rel_close(a: float, b: float, rel: float) -> bool:
    return a == b or abs(a - b) <= rel * max(abs(a), abs(b))


# -- 1. the reference by hand ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(HAND))
def test_reference_matches_the_hand_computed_cases(name: str) -> None:
    samples, want_increase, want_rate, want_delta = HAND[name]
    for fn, want in ((increase, want_increase), (rate, want_rate), (delta, want_delta)):
        got = fn(samples, RANGE, END)
        if want is None:
            assert got is None, (fn.__name__, got)
        else:
            assert got == pytest.approx(want, rel=1e-12), (fn.__name__, got, want)


def test_selection_is_closed_at_both_ends_and_skips_stale_markers() -> None:
    # x[60s] at END selects END - 60 s <= t <= END (Prometheus 2.42; the server test below measures it).
    pts = [(END - RANGE - 1, 1.0), (END - RANGE, 2.0), (END - 1, 3.0), (END, 4.0), (END + 1, 5.0)]
    assert select(reversed(pts), RANGE, END) == [(END - RANGE, 2.0), (END - 1, 3.0), (END, 4.0)]
    assert select([(END - 5, STALE_NAN), (END - 4, math.nan)], RANGE, END)[0][0] == END - 4  # a plain NaN stays
    # The reference divides a rate by the range as Go's Duration.Seconds() does: 90.5 s here.
    pts = [(END - 80_000, 70.0), (END - 10_000, 140.0)]
    # result 70, dS = 10.5 s, dE = 10 s, si = 70 s = avg, thr = 77; zero point 70·(70/70) = 70 s ≥ dS.
    # ext = 70 + 10.5 + 10 = 90.5; increase = 70·90.5/70 = 90.5; rate = 90.5/90.5 s = 1.
    assert increase(pts, 90_500, END) == pytest.approx(90.5, rel=1e-12)
    assert rate(pts, 90_500, END) == pytest.approx(1.0, rel=1e-12)


def test_a_rate_of_a_counter_that_never_moves_is_zero_and_duplicate_times_do_not_raise() -> None:
    assert increase([at(10, 5), at(20, 5)], RANGE, END) == 0.0
    # Two samples at one timestamp: sampledInterval 0 → Go's float division gives NaN/Inf, and so do we.
    assert math.isnan(extrapolated_rate([at(10, 5), at(10, 5)], BASE, END, True, False))


# -- 2. the SQL against the reference ----------------------------------------------------------------------


def _insert(wh: Warehouse, metric: str, series: dict[tuple[str, str, str], list[tuple[int, float]]]) -> None:
    """`series`: (orchestrator, instance, label `case`) → samples; stored as the scraper stores them."""
    cols: list[list] = [[], [], [], [], [], []]
    for (orch, inst, case), pts in series.items():
        for t, v in pts:
            for col, x in zip(cols, (t, orch, inst, metric, {"case": case}, v)):
                col.append(x)
    wh.insert_columns("samples", ["ts", "orchestrator", "instance", "metric", "labels", "value"], cols)


def _key(orch: str, inst: str, case: str) -> tuple[str, str, tuple[tuple[str, str], ...]]:
    return (orch, inst, (("case", case),))


def test_sql_gives_the_references_values_on_the_hand_cases(warehouse: Warehouse) -> None:
    _insert(warehouse, "c_total", {("0xa", "h:1", name): pts for name, (pts, *_) in HAND.items()})
    _insert(warehouse, "other_total", {("0xa", "h:1", "steady"): [at(1, 0), at(2, 100)]})  # another metric
    for fn, ref in (("increase", increase), ("rate", rate), ("delta", delta)):
        got = series_windows(warehouse, "c_total", [(BASE, END)], fn)
        want = {(_key("0xa", "h:1", n), BASE, END): ref(pts, RANGE, END) for n, (pts, *_) in HAND.items()}
        assert set(got) == {k for k, v in want.items() if v is not None}, fn
        for k, v in got.items():
            assert same(v, want[k]), (fn, k, v, want[k])
    # The small API, with a label filter and a column filter.
    assert series_increase(warehouse, "c_total", BASE, END, {"case": "one_reset"}) == {
        _key("0xa", "h:1", "one_reset"): increase(HAND["one_reset"][0], RANGE, END)
    }
    assert series_rate(warehouse, "c_total", BASE, END, {"orchestrator": "0xb"}) == {}
    assert len(series_rate(warehouse, "c_total", BASE, END, {"orchestrator": "0xa", "instance": "h:1"})) == 11
    # as_of: nothing had arrived at the epoch.
    assert series_increase(warehouse, "c_total", BASE, END, as_of_ms=0) == {}


def test_the_fragment_is_usable_inside_a_group_by_with_parameters(warehouse: Warehouse) -> None:
    """How the catalog calls it: groupArray of (ms, value) per series, the range as query parameters."""
    _insert(warehouse, "c_total", {("0xa", "h:1", name): pts for name, (pts, *_) in HAND.items()})
    pts = "groupArray((toUnixTimestamp64Milli(ts), value))"
    sql = f"""
        SELECT labels['case'] AS case,
               {promql_increase_sql(pts, start_param="start", end_param="end")} AS inc,
               {promql_rate_sql(pts, start_param="start", end_param="end")} AS r,
               {promql_delta_sql(pts, start_param="start", end_param="end")} AS d
        FROM samples
        WHERE metric = 'c_total'
          AND ts >= fromUnixTimestamp64Milli({{start:Int64}}, 'UTC')
          AND ts <= fromUnixTimestamp64Milli({{end:Int64}}, 'UTC')
        GROUP BY case ORDER BY case"""
    rows = warehouse.query(sql, {"start": BASE, "end": END}).rows
    assert [r[0] for r in rows] == sorted(n for n, (pts_, *_) in HAND.items() if pts_ and n != "no_sample")
    for case, inc, r, d in rows:
        samples = HAND[case][0]
        assert same(inc, increase(samples, RANGE, END)) and same(r, rate(samples, RANGE, END)), case
        assert same(d, delta(samples, RANGE, END)), case
    with pytest.raises(ValueError):
        promql_increase_sql(pts, start_param="start; DROP", end_param="end")
    with pytest.raises(ValueError):
        promql_increase_sql(pts, start_param="start", end_param="end", end_expr="1")


def _random_series(rng: random.Random, start: int) -> list[tuple[int, float]]:
    """An irregular counter (or, one time in five, a gauge) with resets, over ~3 minutes from `start`."""
    n = rng.choice([0, 1, 2, 3, rng.randint(4, 60), rng.randint(4, 60), rng.randint(4, 60)])
    t = start + rng.choice([0, 5_000, 30_000, rng.randint(0, 40_000)])  # often exactly on a window's edge
    gauge = rng.random() < 0.2
    v = rng.choice([0.0, 0.0, rng.uniform(0, 5), rng.uniform(0, 1e6)]) if not gauge else rng.uniform(-50, 50)
    out = []
    for _ in range(n):
        out.append((t, v))
        t += rng.choice([rng.randint(1, 20_000), 1000, 5000, 15_000, rng.randint(200, 1200)])
        if gauge:
            v += rng.uniform(-10, 10)
        elif rng.random() < 0.08:
            v = rng.choice([0.0, rng.uniform(0, 3)])  # a reset
        else:
            v += rng.choice([0.0, 1.0, rng.uniform(0, 10), rng.expovariate(0.01), 0.1])
    return out


def test_sql_gives_the_references_values_on_random_series_and_windows(warehouse: Warehouse) -> None:
    rng = random.Random(20240611)
    start = BASE
    series = {("0x%02x" % (i % 7), f"h{i % 3}:9", f"s{i}"): _random_series(rng, start) for i in range(300)}
    _insert(warehouse, "r_total", series)
    # Windows of several lengths, including ones that are not whole seconds and ones at the data's edges.
    windows = [(start, start + 60_000), (start + 30_000, start + 90_000), (start + 12_345, start + 102_346),
               (start + 100_000, start + 400_000), (start - 60_000, start + 1),
               (start + 59_999, start + 64_999)]  # fmt: skip
    checked = 0
    for fn, ref in (("increase", increase), ("rate", rate), ("delta", delta)):
        got = series_windows(warehouse, "r_total", windows, fn)
        for (orch, inst, case), pts in series.items():
            for lo, hi in windows:
                want = ref(pts, hi - lo, hi)
                have = got.get((_key(orch, inst, case), lo, hi))
                assert same(have, want), (fn, case, lo - start, hi - start, have, want)
                checked += want is not None
    assert checked > 1000  # most (series, window) pairs had at least 2 samples


# -- 3. against a stock Prometheus 2.42 ----------------------------------------------------------------------

COUNTER = "naap_promql_test_total"
GAUGE = "naap_promql_test_gauge"
RANGE_S = 30


async def _serve_exporter(rng: random.Random) -> tuple[web.AppRunner, int]:
    """A loopback exporter: each scrape the counter grows by an irregular step (sometimes 0); it resets to a
    small value on the 9th and the 22nd scrape. The gauge wanders up and down."""
    state = {"n": 0, "c": 3.0, "g": 10.0}

    async def metrics(_: web.Request) -> web.Response:
        state["n"] += 1
        if state["n"] in (9, 22):
            state["c"] = rng.choice([0.0, 1.5])
        else:
            state["c"] += rng.choice([0.0, 1.0, 2.5, 7.0, 13.25, rng.uniform(0, 20)])
        state["g"] += rng.uniform(-5, 5)
        body = (f"# TYPE {COUNTER} counter\n{COUNTER} {state['c']!r}\n"
                f"# TYPE {GAUGE} gauge\n{GAUGE} {state['g']!r}\n")  # fmt: skip
        return web.Response(text=body, content_type="text/plain")

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, port


def _prom_time(ms: int) -> str:
    return f"{ms // 1000}.{ms % 1000:03d}"


async def _query(http: aiohttp.ClientSession, base: str, query: str, at_ms: int) -> list[dict]:
    async with http.get(f"{base}/api/v1/query", params={"query": query, "time": _prom_time(at_ms)}) as r:
        body = await r.json()
    assert body["status"] == "success", body
    return body["data"]["result"]


async def _raw(http: aiohttp.ClientSession, base: str, metric: str, range_s: int,
               at_ms: int) -> list[tuple[int, float]]:  # fmt: skip
    """The samples Prometheus selects for metric[range] at `at_ms`: exact timestamps (ms) and values (its
    decimal strings are Go's shortest round-trip formatting, so float() gives the stored double)."""
    result = await _query(http, base, f"{metric}[{range_s}s]", at_ms)
    if not result:
        return []
    assert len(result) == 1, result
    return [(round(float(ts) * 1000), float(v)) for ts, v in result[0]["values"]]


async def _value(http: aiohttp.ClientSession, base: str, query: str, at_ms: int) -> float | None:
    result = await _query(http, base, query, at_ms)
    assert len(result) <= 1, result
    return float(result[0]["value"][1]) if result else None


@pytest.mark.timeout(120)
async def test_stock_prometheus_agrees_on_selection_increase_rate_and_delta(
    warehouse: Warehouse, tmp_path: Path
) -> None:
    # A missing binary fails rather than skips: a skipped oracle would pass without checking anything.
    assert Path(PROMETHEUS).exists(), "prometheus is installed by `make test` (Debian package prometheus)"
    version = subprocess.run([PROMETHEUS, "--version"], capture_output=True, text=True, timeout=10)
    assert "version 2.42." in version.stdout + version.stderr, version
    runner, port = await _serve_exporter(random.Random(7))
    (tmp_path / "prometheus.yml").write_text(
        "global: {scrape_interval: 1s, scrape_timeout: 1s}\n"
        f"scrape_configs:\n  - job_name: t\n    static_configs: [{{targets: ['127.0.0.1:{port}']}}]\n"
    )
    base = f"http://127.0.0.1:{free_port()}"
    log_path = tmp_path / "prometheus.log"
    prom: subprocess.Popen | None = None
    try:
        with log_path.open("wb") as log:
            prom = subprocess.Popen(
                [PROMETHEUS, f"--config.file={tmp_path / 'prometheus.yml'}", f"--storage.tsdb.path={tmp_path / 'data'}",
                 f"--web.listen-address={base.removeprefix('http://')}", "--log.level=warn"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )  # fmt: skip
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
            # Collect ~36 scrapes (one a second): at most 70 s of waiting, then fail.
            history: list[tuple[int, float]] = []
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 70
            while len(history) < 36:
                assert prom.poll() is None, f"prometheus exited: {log_path.read_text()[-2000:]}"
                assert loop.time() < deadline, f"only {len(history)} samples stored in time"
                await asyncio.sleep(1)
                try:
                    history = await _raw(http, base, COUNTER, 3600, int(time.time() * 1000))
                except aiohttp.ClientError:
                    continue
            ts = [t for t, _ in history]
            first, last = ts[0], ts[-1]
            k = max(i for i, t in enumerate(ts) if t + RANGE_S * S <= last - 2500)  # a few samples in
            evaluation_times = sorted({
                last,                          # the newest window: both resets inside
                ts[k] + RANGE_S * S,           # a sample exactly on the left edge: selected (closed interval)?
                ts[k] + RANGE_S * S + 1,       # 1 ms later: no longer
                ts[k] + RANGE_S * S - 1,
                ts[10] + 333,                  # the window reaches before the first sample
                ts[4] + 2 * S,                 # few samples, the counter's zero point near
                first + 500,                   # a single sample: no value
                ts[21] + 1500, ts[25] + 777, last - 4321,
            })  # fmt: skip
            observed = {}
            for T in evaluation_times:
                observed[T] = {
                    "raw": await _raw(http, base, COUNTER, RANGE_S, T),
                    "graw": await _raw(http, base, GAUGE, RANGE_S, T),
                    "increase": await _value(http, base, f"increase({COUNTER}[{RANGE_S}s])", T),
                    "rate": await _value(http, base, f"rate({COUNTER}[{RANGE_S}s])", T),
                    "delta": await _value(http, base, f"delta({GAUGE}[{RANGE_S}s])", T),
                }
            gauge_history = await _raw(http, base, GAUGE, 3600, last + 1)
    finally:
        if prom is not None:
            prom.terminate()
            try:
                prom.wait(timeout=10)
            except subprocess.TimeoutExpired:
                prom.kill()
                prom.wait()
        await runner.cleanup()

    # The selection rule of 2.42, from the server itself: the sample at exactly T - 30 s is selected, and T is.
    edge = ts[k] + RANGE_S * S
    assert observed[edge]["raw"][0][0] == ts[k], "x[30s] at T selects the sample at exactly T - 30s (closed)"
    assert observed[edge + 1]["raw"][0][0] == ts[k + 1]
    assert k > 0 and observed[edge - 1]["raw"][0][0] == ts[k]
    assert observed[last]["raw"][-1][0] == last
    resets_seen = 0
    windows = []
    for T, o in observed.items():
        assert o["raw"] == select(history, RANGE_S * S, T), T  # our selection = Prometheus' selection
        assert o["graw"] == select(gauge_history, RANGE_S * S, T), T
        ours = {
            "increase": extrapolated_rate(o["raw"], T - RANGE_S * S, T, True, False),
            "rate": extrapolated_rate(o["raw"], T - RANGE_S * S, T, True, True),
            "delta": extrapolated_rate(o["graw"], T - RANGE_S * S, T, False, False),
        }
        for fn, v in ours.items():
            if o[fn] is None:
                assert v is None, (T, fn, v)
            else:
                assert v is not None and rel_close(v, o[fn], 1e-9), (T, fn, v, o[fn])
        resets_seen += any(b[1] < a[1] for a, b in zip(o["raw"], o["raw"][1:]))
        windows.append((T - RANGE_S * S, T))
    assert resets_seen >= 2, "at least two evaluated windows hold a counter reset"
    assert observed[first + 500]["increase"] is None  # one sample: Prometheus gives no value, nor do we

    # The SQL, on the same samples stored in the warehouse, gives the reference's values (bit-identical).
    _insert(warehouse, COUNTER, {("0xp", "prom", "c"): history})
    _insert(warehouse, GAUGE, {("0xp", "prom", "g"): gauge_history})
    for fn, metric, case in (("increase", COUNTER, "c"), ("rate", COUNTER, "c"), ("delta", GAUGE, "g")):
        got = series_windows(warehouse, metric, windows, fn)
        for lo, hi in windows:
            o = observed[hi]
            want = extrapolated_rate(o["raw" if case == "c" else "graw"], lo, hi, fn != "delta", fn == "rate")
            assert same(got.get((_key("0xp", "prom", case), lo, hi)), want), (fn, hi, want)
