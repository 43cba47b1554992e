"""Catalog metrics of availability and network demand: scrape availability, streams and inference minutes, capacity
rate, missing capacity, stake, fees. Definitions and sources: docs/metrics.md."""

from __future__ import annotations

from typing import Any

from scoring.catalog.counters import increases, integrals
from scoring.catalog.dims import CAPACITY, ORCH, STREAM, group_dims
from scoring.catalog.result import Context, MetricResult, base, covered_seconds, dims_of, grouped, ratio, wilson_interval
from scoring.compute import AVAILABILITY_SQL

STARTED = "naap_streams_started_total"
ACTIVE = "naap_streams_active"
IN_USE, IDLE = "livepeer_ai_container_in_use", "livepeer_ai_container_idle"
ERRORS = "naap_stream_errors_total"


def _orch_dims(ctx: Context, orch: str) -> dict[str, str] | None:
    """The ORCH dimensions of `orch` for the question's grouping, or None when a filter excludes it."""
    region = ctx.lk.regions.get(orch, "")
    if (ctx.q.orchestrator and orch != ctx.q.orchestrator) or (ctx.q.region and region != ctx.q.region):
        return None
    full = {"orchestrator": orch, "region": region}
    return {d: full[d] for d in group_dims(ctx.q, ORCH)}


def availability(ctx: Context) -> MetricResult:
    """Successful / scheduled scrapes per orchestrator and step, leaving out the slots voided because the scraper
    itself was at fault — scoring/compute.py's AVAILABILITY_SQL, the score's own rule (docs/scraper.md). With its
    Wilson 95 % interval; ``value`` None with no answerable slot. Read from the `scrapes` table (no rollup: one row
    per scrape is already small)."""
    res = MetricResult("availability", "ratio", "scrapes", ("scrapes", "scraper_void"))
    sql = AVAILABILITY_SQL.replace("{asof}", "")
    acc: dict[tuple, dict[str, Any]] = {}
    for step, (a, b) in enumerate(ctx.q.windows()):
        for orch, scheduled, successful in ctx.wh.query(sql, {"start": a, "end": b}).rows:
            dims = _orch_dims(ctx, orch)
            if dims is None:
                continue
            r = acc.setdefault((step, *dims.values()), {"step": step, "dims": dims, "scheduled": 0, "successful": 0})
            r["scheduled"] += int(scheduled)
            r["successful"] += int(successful)
    for key in sorted(acc):
        r = acc[key]
        row = base(ctx, r["step"], r["dims"])
        row.update(scheduled=r["scheduled"], successful=r["successful"], value=ratio(r["successful"], r["scheduled"]),
                   wilson=wilson_interval(r["successful"], r["scheduled"]), samples=r["scheduled"])  # fmt: skip
        res.rows.append(row)
    return res


def streams(ctx: Context) -> MetricResult:
    """Demand in streams: ``started`` = Σ increase(naap_streams_started_total); ``stream_seconds`` = naap_streams_active
    integrated over the step (counters.integrals), ``inference_minutes`` = stream_seconds / 60 (group by gpu_model for
    inference minutes by GPU type), ``avg_concurrent`` = stream_seconds / the seconds of the step the data covers
    (result.covered_seconds: step start to min(step end, as-of), as-of defaulting to now — so the current hour is
    averaged over the minutes that have passed; None for a step that has not started)."""
    values, src = increases(ctx.wh, ctx.q, ctx.src, ctx.lk, (STARTED,), STREAM)
    res = MetricResult("streams", "streams, seconds, minutes", src.name, (STARTED, ACTIVE))
    started = grouped(ctx, STREAM, values)
    active = grouped(ctx, STREAM, integrals(ctx.wh, ctx.q, ctx.src, ctx.lk, (ACTIVE,), STREAM))
    for key in sorted(set(started) | set(active)):
        g = started.get(key) or active[key]
        secs = active.get(key, {}).get("value", 0.0)
        covered = covered_seconds(ctx, g["step"])
        row = base(ctx, g["step"], dims_of(g, ctx, STREAM))
        row.update(started=started.get(key, {}).get("value"), stream_seconds=secs, inference_minutes=secs / 60,
                   avg_concurrent=secs / covered if covered > 0 else None,
                   samples=started.get(key, {}).get("n", 0) + active.get(key, {}).get("n", 0))  # fmt: skip
        res.rows.append(row)
    return res


def capacity_rate(ctx: Context) -> MetricResult:
    """In-use / (in-use + idle) AI-runner container-minutes, from go-livepeer's livepeer_ai_container_in_use and
    livepeer_ai_container_idle (relayed by the exporter) integrated over the step; per orchestrator and workflow
    (go-livepeer's gauges have no GPU). ``value`` None with no container time."""
    rows = integrals(ctx.wh, ctx.q, ctx.src, ctx.lk, (IN_USE, IDLE), CAPACITY)
    res = MetricResult("capacity_rate", "ratio", ctx.src.name, (IN_USE, IDLE))
    in_use = grouped(ctx, CAPACITY, [v for v in rows if v.metric == IN_USE])
    idle = grouped(ctx, CAPACITY, [v for v in rows if v.metric == IDLE])
    for key in sorted(set(in_use) | set(idle)):
        g = in_use.get(key) or idle[key]
        u, i = in_use.get(key, {}).get("value", 0.0) / 60, idle.get(key, {}).get("value", 0.0) / 60
        row = base(ctx, g["step"], dims_of(g, ctx, CAPACITY))
        row.update(in_use_minutes=u, idle_minutes=i, value=ratio(u, u + i),
                   samples=in_use.get(key, {}).get("n", 0) + idle.get(key, {}).get("n", 0))  # fmt: skip
        res.rows.append(row)
    return res


MISSING_CAPACITY_NOTE = (
    "counts requests a runner refused for lack of room (naap_stream_errors_total{error_class=\"capacity\"}, e.g. "
    "CUDA out of memory); a request go-livepeer turned away before any runner saw it is visible only to the gateway "
    "(the prober will measure it), so this is a lower bound"
)


def missing_capacity(ctx: Context) -> MetricResult:
    """Requests refused for lack of capacity: Σ increase(naap_stream_errors_total{error_class="capacity"}) — the
    only source that says so today (see MISSING_CAPACITY_NOTE)."""
    values, src = increases(ctx.wh, ctx.q, ctx.src, ctx.lk, (ERRORS,), STREAM)
    res = MetricResult("missing_capacity", "requests", src.name, (f'{ERRORS}{{error_class="capacity"}}',),
                       note=MISSING_CAPACITY_NOTE)  # fmt: skip
    for g in grouped(ctx, STREAM, [v for v in values if v.labels.get("error_class") == "capacity"]).values():
        row = base(ctx, g["step"], dims_of(g, ctx, STREAM))
        row.update(refused=g["value"], samples=g["n"])
        res.rows.append(row)
    return res


_STAKE = """
SELECT e, orchestrator, argMax(stake, (ts, stake))
FROM discovery_snapshots ARRAY JOIN {ends:Array(Int64)} AS e
WHERE source = 'chain' AND orchestrator != '' AND ts < fromUnixTimestamp64Milli(e, 'UTC')
GROUP BY e, orchestrator
ORDER BY e, orchestrator
"""


def stake(ctx: Context) -> MetricResult:
    """Bonded stake (LPT) at each step's end: the latest on-chain discovery snapshot before it
    (discovery_snapshots, source "chain": BondingManager.transcoderTotalStake), summed per group. Static targets
    carry no stake; with no chain snapshot there are no rows and the note says so."""
    ends = [b for _, b in ctx.q.windows()]
    step_of = {b: i for i, b in enumerate(ends)}
    res = MetricResult("stake", "LPT", "discovery_snapshots", ("discovery_snapshots.stake",))
    acc: dict[tuple, dict[str, Any]] = {}
    for end, orch, lpt in ctx.wh.query(_STAKE, {"ends": ends}).rows:
        dims = _orch_dims(ctx, orch)
        if dims is None:
            continue
        step = step_of[int(end)]
        r = acc.setdefault((step, *dims.values()), {"step": step, "dims": dims, "lpt": 0.0, "n": 0})
        r["lpt"] += float(lpt)
        r["n"] += 1
    for key in sorted(acc):
        row = base(ctx, acc[key]["step"], acc[key]["dims"])
        row.update(stake_lpt=acc[key]["lpt"], orchestrators=acc[key]["n"])
        res.rows.append(row)
    if not res.rows:
        res.note = "no on-chain discovery snapshot before the window's end (static or http_sd targets carry no stake)"
    return res


FEES_NOTE = (
    "no source exposes fees today: the exporter relays none of go-livepeer's ticket or payment series "
    "(exporter/relay/livepeer.py, RELAYED), and discovery reads no TicketBroker redemptions; a fee source is future work"
)


def fees(ctx: Context) -> MetricResult:
    """Fees (ETH): None in every step, with the reason (FEES_NOTE)."""
    res = MetricResult("fees", "ETH", "none", (), note=FEES_NOTE)
    res.rows = [{"start": a, "end": b, "fees_eth": None} for a, b in ctx.q.windows()]
    return res
