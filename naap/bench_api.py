"""`naap bench api`: the public API under concurrent clients over loopback, with rollups and on the raw log.

1. A server process generates a fleet with `naap bench catalog`'s deterministic generator (naap/bench_catalog.py:
   N orchestrators × G GPUs, the exporter's whole series set) and loads `hours` of its scrapes through the scraper's
   own insert path (rollup views included) into a fresh embedded warehouse, ending two whole hours before now, so
   every window is closed and the Explorer's default "last 24 h" sees it.
2. Score v1 is published over the day: the inputs of one base window per hour are computed from the raw log
   (scoring.inputs_v1.compute_inputs) and stand for every base window of that hour (the generated fleet is
   stationary within an hour; computing all 1,440 costs about a second each here), then every 5m, 1h and 24h
   window is scored from them with the publisher's own functions (scoring.publish_v1) and inserted into
   `sla_scores`: the score endpoints read real published rows.
3. The same process serves the real app (api.app.create_app on the read-only handle, uvicorn) three times on
   loopback: as configured (the response cache on), with the cache off (every request reaches the warehouse and
   the rollups), and with the cache off and `catalog_source="raw"` (every catalog read from the raw `samples`
   table: the baseline without rollups). Rate limits are lifted so that they do not cut the measurement short.
4. This process drives every endpoint for `seconds` each: with `concurrency` aiohttp clients against the cached app
   and against the uncached one (p50/p95/p99 latency and requests/s under load), then with one client at a time
   against the uncached app and the raw-log one (the same queries, one after another: their p50 ratio is what the
   rollups save), then every endpoint at once against the cached app (overall requests/s). A non-200 answer counts
   as an error and is printed beside its endpoint.

Nothing here asserts a figure: it prints what it measured. The client shares the machine's CPUs with the server.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import secrets
import statistics
import time
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import urlencode

H_MS = 3_600_000
SDXL = ("live-video-to-video", "streamdiffusion-sdxl")
SERVERS = ("cached", "rollup", "raw")  # the three apps the server process serves
# (title, server, concurrent?) of each measurement
RUNS = {
    "cached": ("as configured (response cache on), {c} concurrent clients", "cached", True),
    "rollup": ("cache off: every request reads the warehouse (catalog from the rollups), {c} concurrent clients", "rollup", True),
    "rollup1": ("cache off, rollups: one client at a time", "rollup", False),
    "raw1": ("cache off, rollups disabled (every catalog read on the raw log): one client at a time", "raw", False),
}


@dataclass
class Plan:
    orchestrators: int = 100
    gpus: int = 4
    hours: int = 24
    interval_s: float = 60.0
    seed: int = 1
    seconds: float = 5.0
    concurrency: int = 32


@dataclass
class Stats:
    n: int = 0
    errors: dict[int, int] = field(default_factory=dict)  # status (0: connection error) -> count
    p50: float = 0.0
    p95: float = 0.0
    p99: float = 0.0
    rps: float = 0.0


@dataclass
class BenchResult:
    plan: Plan
    setup: dict[str, Any] = field(default_factory=dict)
    endpoints: list[str] = field(default_factory=list)
    stats: dict[str, dict[str, Stats]] = field(default_factory=dict)  # mode -> endpoint -> stats
    mixed: Stats | None = None


# ------------------------------------------------------------------------------------------------ server process


def _iso(ms: int) -> str:
    from api.query import iso

    return iso(ms)


def _publish(wh: Any, start: int, end: int, progress: Callable[[str], None]) -> tuple[int, int]:
    """Score v1 over [start, end): one computed base window per hour standing for the hour (module doc). Returns
    (base windows computed, scores published)."""
    from scoring.inputs_v1 import as_dict, compute_inputs
    from scoring.publish_v1 import SCORE_COLUMNS, key_sums, score_rows, scores_from_sums, window_probes
    from scoring.sla_config import load_config

    config = load_config()
    base = config.spec.base_window_s * 1000
    from exporter.common.clock import now_ms

    as_of = now_ms() + 60_000  # rows count by their arrival (ingested_at): every row loaded just now
    rows: list[dict[str, Any]] = []
    computed = 0
    for hour in range(start, end, H_MS):
        sample = [as_dict(r) for r in compute_inputs(wh, config, hour + H_MS // 2, as_of).rows]  # mid-hour
        computed += 1
        for ws in range(hour, min(hour + H_MS, end), base):
            rows.extend({**r, "window_start_ms": ws} for r in sample)
    progress(f"  inputs: {computed} base windows computed, {len(rows):,} input rows over the day")
    sums = key_sums(config, rows)
    published = 0
    for period, p in config.spec.periods.items():
        step = p.step_s * 1000
        if p.seconds * 1000 > end - start:
            continue
        ends = range(start + p.seconds * 1000, end + 1, step)
        out = []
        for we in ends:
            out.extend(scores_from_sums(config, period, we, as_of, sums, probes=window_probes(wh, config, period, we, as_of)))
        if out:
            wh.insert_rows("sla_scores", SCORE_COLUMNS, score_rows(out, as_of))
        published += len(out)
        progress(f"  {period}: {len(out):,} scores ({len(ends)} windows)")
    return computed, published


class _Server:
    """uvicorn without its own signal handling (this process is stopped through its pipe)."""

    @staticmethod
    def make(app: Any, sock: Any) -> Any:
        import contextlib

        import uvicorn

        class S(uvicorn.Server):
            @contextlib.contextmanager
            def capture_signals(self):  # type: ignore[no-untyped-def]
                yield

        return S(uvicorn.Config(app, log_level="critical", access_log=False, lifespan="on"))


def serve(plan: Plan, data_dir: str, conn: Any) -> None:
    """The server process: load, publish, serve the three apps until told to stop (module doc)."""
    import logging

    logging.disable(logging.WARNING)

    def progress(msg: str) -> None:
        conn.send(("progress", msg))

    try:
        asyncio.run(_serve(plan, data_dir, conn, progress))
    except BaseException as e:  # the parent must hear of it instead of waiting
        conn.send(("error", f"{type(e).__name__}: {e}"))
        raise


async def _serve(plan: Plan, data_dir: str, conn: Any, progress: Callable[[str], None]) -> None:
    from api.app import create_app
    from api.config import ApiSettings
    from exporter.common.clock import now_ms
    from naap.bench_catalog import Fleet, load_fleet
    from naap.collector import bind_listener
    from scoring.sla_config import load_config
    from warehouse.client import Warehouse
    from warehouse.migrations import apply_migrations

    wh = Warehouse(f"chdb://{data_dir}", "bench")
    apply_migrations(wh)
    end = (now_ms() // H_MS - 2) * H_MS  # closed: ends more than api.closed_after_s ago
    start = end - plan.hours * H_MS
    fleet = Fleet(plan.orchestrators, plan.gpus, plan.seed)
    rounds = int(plan.hours * 3600 / plan.interval_s)
    progress(f"loading {rounds} scrape rounds of {plan.orchestrators} orchestrators × {plan.gpus} GPUs "
             f"({fleet.samples_per_round:,} samples a round), {_iso(start)} to {_iso(end)}")  # fmt: skip
    t = time.perf_counter()
    samples = await load_fleet(wh, fleet, rounds, int(plan.interval_s * 1000), 500_000, progress, start_ms=start)
    load_s = time.perf_counter() - t
    progress("OPTIMIZE FINAL")
    t = time.perf_counter()
    for table in ("samples", "scrapes", "rollup_1m_v1", "rollup_5m_v1", "rollup_1h_v1"):
        wh.command(f"OPTIMIZE TABLE {table} FINAL")
    optimize_s = time.perf_counter() - t
    progress("publishing score v1 over the day")
    t = time.perf_counter()
    computed, published = await asyncio.to_thread(_publish, wh, start, end, progress)
    publish_s = time.perf_counter() - t
    config = load_config()
    servers, tasks, ports = [], [], {}
    token = ""
    secret = secrets.token_hex(32)  # one key for the three apps: the token below is good on each
    for mode in SERVERS:
        settings = ApiSettings(rate_limit_per_minute=10**9, cache_max_mb=64 if mode == "cached" else 0,
                               query_timeout_s=300 if mode == "raw" else 10, port=0, auth_jwt_secret=secret,
                               auth_token_ttl_s=86400)  # fmt: skip
        app = create_app(wh.reader(settings.query_timeout_s), config, settings,
                         catalog_source="raw" if mode == "raw" else "auto")  # fmt: skip
        if not token:  # the benchmark owns the server: it takes a token for orchestrator 1 as a sign-in would give
            token = app.state.auth.issue_token(fleet.members[0][0]).token
        sock = bind_listener("127.0.0.1", 0)
        server = _Server.make(app, sock)
        servers.append(server)
        tasks.append(asyncio.create_task(server.serve(sockets=[sock])))
        ports[mode] = sock.getsockname()[1]
    while not all(s.started for s in servers):
        if any(t.done() for t in tasks):
            raise RuntimeError("an API server failed to start")
        await asyncio.sleep(0.05)
    conn.send(("ready", {"ports": ports, "token": token, "start": start, "end": end, "samples": samples,
                         "load_s": load_s, "optimize_s": optimize_s, "publish_s": publish_s, "inputs": computed,
                         "scores": published, "orchestrators": [m[0] for m in fleet.members]}))  # fmt: skip
    while not await asyncio.to_thread(conn.poll, 0.5):
        pass
    for s in servers:
        s.should_exit = True
    await asyncio.gather(*tasks, return_exceptions=True)
    wh.close()


# ------------------------------------------------------------------------------------------------ client


def endpoints(setup: dict[str, Any]) -> dict[str, list[tuple[str, dict[str, str]]]]:
    """Every endpoint with the URLs (path?query, headers) its clients cycle through, over the loaded day."""
    start, end, orchs = setup["start"], setup["end"], setup["orchestrators"]
    auth = {"Authorization": f"Bearer {setup['token']}"}
    wf = "/".join(SDXL)
    hours = [(end - k * H_MS - H_MS, end - k * H_MS) for k in range(min(4, (end - start) // H_MS))]
    some = orchs[:: max(1, len(orchs) // 8)][:8]
    day = f"{_iso(start)}/{_iso(end)}"

    def u(path: str, **q: Any) -> str:
        return path + ("?" + urlencode(q) if q else "")

    return {
        "/v1/gpu/metrics (1 h)": [(u("/v1/gpu/metrics", time_range=f"{_iso(a)}/{_iso(b)}"), {}) for a, b in hours],
        "/v1/gpu/metrics (24 h, o_wallet)": [(u("/v1/gpu/metrics", time_range=day, o_wallet=o), {}) for o in some],
        "/v1/network/demand": [(u("/v1/network/demand", **{"from": _iso(start), "to": _iso(end)}), {}),
                               (u("/v1/network/demand", workflow=wf, **{"from": _iso(start), "to": _iso(end)}), {})],
        "/v1/sla/compliance": [(u("/v1/sla/compliance", period="1h", window_end=_iso(b)), {}) for _, b in hours],
        "/v1/sla/history": [(u("/v1/sla/history", period="1h", orchestrator_id=o, to=_iso(end)), {}) for o in some],
        "/v1/leaderboard": [(u("/v1/leaderboard", period="24h", window_end=_iso(end)), {}),
                            (u("/v1/leaderboard", period="24h", window_end=_iso(end), workflow=wf), {})],
        "/v1/select": [(u("/v1/select", workflow=wf), {}), (u("/v1/select", workflow=wf, region="eu-west", min_score=50), {})],
        "/v1/network/capabilities": [(u("/v1/network/capabilities", time_range=f"{_iso(a)}/{_iso(b)}"), {}) for a, b in hours],
        "/v1/regions": [(u("/v1/regions", time_range=day), {})],
        "/v1/datasets": [(u("/v1/datasets"), {})],
        "/api/aggregated_stats": [(u("/api/aggregated_stats", pipeline=SDXL[0], model=SDXL[1]), {}),
                                  (u("/api/aggregated_stats"), {})],
        "/api/top_ai_score": [(u("/api/top_ai_score", orchestrator=o), {}) for o in some],
        "/api/pipelines": [(u("/api/pipelines"), {})],
        "/api/regions": [(u("/api/regions"), {})],
        "/v1/orchestrators/{a}/samples (JWT)": [(u(f"/v1/orchestrators/{orchs[0]}/samples",
                                                   time_range=f"{_iso(end - 300_000)}/{_iso(end)}"), auth)],
        "/v1/orchestrators/{a}/gpus (JWT)": [(u(f"/v1/orchestrators/{orchs[0]}/gpus",
                                                time_range=f"{_iso(end - H_MS)}/{_iso(end)}"), auth)],
    }  # fmt: skip


def _percentile(xs: list[float], q: float) -> float:
    if not xs:
        return float("nan")
    if len(xs) == 1:
        return xs[0]
    return statistics.quantiles(xs, n=100, method="inclusive")[int(q) - 1]


async def _drive(base: str, urls: list[tuple[str, dict[str, str]]], seconds: float, concurrency: int) -> Stats:
    """`concurrency` clients request `urls` round-robin for `seconds` (a request under way at the deadline is waited
    for and counted)."""
    import aiohttp

    lat: list[float] = []
    errors: dict[int, int] = {}
    conn = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    timeout = aiohttp.ClientTimeout(total=600)
    async with aiohttp.ClientSession(base, connector=conn, timeout=timeout) as http:
        deadline = time.perf_counter() + seconds

        async def client(k: int) -> None:
            i = k
            while time.perf_counter() < deadline:
                path, headers = urls[i % len(urls)]
                i += 1
                t = time.perf_counter()
                try:
                    async with http.get(path, headers=headers) as r:
                        await r.read()
                        status = r.status
                except aiohttp.ClientError:
                    status = 0
                lat.append(time.perf_counter() - t)
                if status != 200:
                    errors[status] = errors.get(status, 0) + 1

        t0 = time.perf_counter()
        await asyncio.gather(*(client(k) for k in range(concurrency)))
        took = time.perf_counter() - t0
    lat.sort()
    return Stats(len(lat), errors, _percentile(lat, 50) * 1000, _percentile(lat, 95) * 1000, _percentile(lat, 99) * 1000,
                 len(lat) / took if took else 0.0)  # fmt: skip


async def _warm(base: str, urls: list[tuple[str, dict[str, str]]]) -> dict[int, int]:
    """One request per URL (fills the cache, loads the chDB parts): the statuses seen."""
    import aiohttp

    seen: dict[int, int] = {}
    async with aiohttp.ClientSession(base, timeout=aiohttp.ClientTimeout(total=600)) as http:
        for path, headers in urls:
            async with http.get(path, headers=headers) as r:
                await r.read()
                seen[r.status] = seen.get(r.status, 0) + 1
    return seen


async def _measure(res: BenchResult, progress: Callable[[str], None]) -> None:
    plan, setup = res.plan, res.setup
    eps = endpoints(setup)
    res.endpoints = list(eps)
    for mode, (_, server, concurrent) in RUNS.items():
        base = f"http://127.0.0.1:{setup['ports'][server]}"
        conc = plan.concurrency if concurrent else 1
        res.stats[mode] = {}
        for name, urls in eps.items():
            progress(f"  {mode:<7} {name}")
            warm = await _warm(base, urls)
            s = await _drive(base, urls, plan.seconds, conc)
            for status, n in warm.items():
                if status != 200:
                    s.errors[status] = s.errors.get(status, 0) + n
            res.stats[mode][name] = s
    progress("  mixed: every endpoint at once, response cache on")
    everything = [u for urls in eps.values() for u in urls]
    res.mixed = await _drive(f"http://127.0.0.1:{setup['ports']['cached']}", everything, plan.seconds * 2, plan.concurrency)


def run_bench(plan: Plan, data_dir: str | None = None, progress: Callable[[str], None] = lambda _: None) -> BenchResult:
    """Start the server process, wait for it to load and publish, measure, stop it (module doc)."""
    import shutil
    import tempfile

    res = BenchResult(plan)
    tmp = tempfile.mkdtemp(prefix="naap-bench-api-") if data_dir is None else None
    path = data_dir or tmp
    assert path is not None
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=serve, args=(plan, path, child), daemon=True)
    proc.start()
    try:
        while True:
            if not parent.poll(1.0):
                if not proc.is_alive():
                    raise RuntimeError(f"the server process exited ({proc.exitcode})")
                continue
            kind, payload = parent.recv()
            if kind == "progress":
                progress(payload)
            elif kind == "error":
                raise RuntimeError(f"the server process failed: {payload}")
            else:
                res.setup = payload
                break
        progress(f"measuring {len(endpoints(res.setup))} endpoints × {len(RUNS)} runs, {plan.seconds:g} s each")
        asyncio.run(_measure(res, progress))
    finally:
        if proc.is_alive():
            parent.send("stop")
            proc.join(60)
            if proc.is_alive():
                proc.terminate()
                proc.join(10)
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    return res


def _row(name: str, s: Stats) -> str:
    err = "" if not s.errors else "  errors " + ", ".join(f"{k or 'conn'}×{v}" for k, v in sorted(s.errors.items()))
    return f"    {name:<38} {s.p50:>8.1f} {s.p95:>8.1f} {s.p99:>8.1f} {s.rps:>9.0f} {s.n:>7}{err}"


def format_result(res: BenchResult) -> str:
    """The figures as the command prints them."""
    p, st = res.plan, res.setup
    lines = [
        f"naap bench api: {p.orchestrators} orchestrators × {p.gpus} GPUs, {p.hours} h scraped every {p.interval_s:g} s "
        f"(seed {p.seed}); {p.seconds:g} s per endpoint and run, over loopback",
        f"  loaded {st['samples']:,} samples in {st['load_s']:.0f} s, OPTIMIZE FINAL {st['optimize_s']:.0f} s; score v1: "
        f"{st['inputs']} base windows computed, {st['scores']:,} scores published in {st['publish_s']:.0f} s",
    ]
    for mode, (title, _, _) in RUNS.items():
        lines.append(f"  {title.format(c=p.concurrency)}:")
        lines.append(f"    {'endpoint':<38} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'req/s':>9} {'reqs':>7}")
        for name in res.endpoints:
            lines.append(_row(name, res.stats[mode][name]))
    lines.append("  raw log / rollups, one client at a time (cache off), p50 latency:")
    for name in res.endpoints:
        r, a = res.stats["raw1"][name], res.stats["rollup1"][name]
        lines.append(f"    {name:<38} {r.p50 / a.p50 if a.p50 else float('nan'):>7.1f}x")
    if res.mixed is not None:
        m = res.mixed
        lines.append(f"  mixed, every endpoint at once (cache on, {p.concurrency} clients): {m.rps:,.0f} requests/s, "
                     f"p50 {m.p50:.1f} ms, p95 {m.p95:.1f} ms, p99 {m.p99:.1f} ms ({m.n:,} requests"
                     + (f", errors {m.errors}" if m.errors else "") + ")")  # fmt: skip
    return "\n".join(lines)

