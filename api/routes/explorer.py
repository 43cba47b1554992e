"""The Livepeer Explorer's AI leaderboard API (livepeer/leaderboard-serverless), served from our scores, so that an
Explorer deployment switches to us by pointing NEXT_PUBLIC_AI_METRICS_SERVER_URL here (docs/explorer.md):

    GET /api/aggregated_stats?pipeline=&model=[&orchestrator=&region=&since=&until=]
        -> {"<address>": {"<REGION>": {"success_rate", "round_trip_score", "score"}}}
    GET /api/top_ai_score?orchestrator=   -> {"region", "orchestrator", "value", "model", "pipeline"} or {}
    GET /api/pipelines[?region=]          -> {"pipelines": [{"id", "models": [...], "regions": [...]}]}
    GET /api/regions                      -> {"regions": [{"id", "name", "type": "ai"}]}

Values are ratios 0-1: `score` = our score / 100, `success_rate` = our reliability group (the failure-rate subscore),
`round_trip_score` = our latency group (prompt-to-first-frame and startup within target). A region key is the
orchestrator's declared region in upper case (GLOBAL when it declares none); regions without data are left out.
Without since and until, the scores are those of the longest period of at most a day whose latest published window
(in the last 24 h) has scores with data — 24h, else 1h, else 5m with the shipped configs, so a fresh deployment answers
within minutes instead of after the 24 h period's 12 hours of coverage. With since or until, those of the configured
period closest to until - since, in the latest window ending by `until`. The period used is sent in the
`X-Score-Period` header (the bodies keep the leaderboard API's shapes exactly).
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from litestar import Request, Response, get
from litestar.datastructures import State
from litestar.params import Parameter

from api import models as m
from api.errors import BadRequest
from api.params import eth_address, short_text
from api.query import DATA_RESPONSES, norm_region, respond
from api.reads import ScoreFilter, latest_window_end, score_regions, scores_at, source_of
from api.scores import INSUFFICIENT, answering_period, group_values, rank_key
from exporter.common.clock import now_ms

GLOBAL = "GLOBAL"
DEFAULT_SPAN_MS = 86_400_000
MAX_SPAN_MS = 31 * 86_400_000


def region_id(region: str | None) -> str:
    return region.upper() if region else GLOBAL


def _seconds(value: str | None, name: str) -> int | None:
    """Unix seconds (fractions allowed), as the leaderboard API takes them, in ms."""
    if value is None or value == "":
        return None
    try:
        secs = float(value)
    except ValueError:
        raise BadRequest(f"{name} must be a Unix timestamp in seconds; got {value[:40]!r}") from None
    if not math.isfinite(secs) or not 0 <= secs < 1e13:
        raise BadRequest(f"{name} must be a Unix timestamp in seconds; got {value[:40]!r}")
    return int(secs * 1000)


def _span(since: str | None, until: str | None) -> tuple[int, int]:
    hi = _seconds(until, "until")
    lo = _seconds(since, "since")
    hi = now_ms() if hi is None else hi
    lo = hi - DEFAULT_SPAN_MS if lo is None else lo
    if lo >= hi:
        raise BadRequest("since must be before until")
    if hi - lo > MAX_SPAN_MS:
        raise BadRequest("since and until span at most 31 days")
    return lo, hi


def _period(config: Any, span_ms: int) -> str:
    """The configured period closest in length to the span (the longer on a tie)."""
    return min(config.periods, key=lambda p: (abs(config.periods[p] * 1000 - span_ms), -config.periods[p]))


PERIOD_HEADER = "X-Score-Period"


def _rows(state: State, lo: int, hi: int, f: ScoreFilter, default: bool) -> tuple[list[dict[str, Any]], dict[str, str], str]:
    """(rows, declared regions, period) of the latest window in (lo, hi]: with `default` (no since/until asked) of
    the longest period that has data (api.scores.answering_period), else of the period closest to hi - lo."""
    config = state.sla_config
    if default:
        period, end, rows = answering_period(state.warehouse, config, f, since_ms=lo, until_ms=hi)
    else:
        period = _period(config, hi - lo)
        end = latest_window_end(state.warehouse, period, config.version, until_ms=hi)
        rows = scores_at(state.warehouse, period, config.version, end, f) if end is not None and end > lo else []
    if end is None or end <= lo:
        return [], {}, period
    regions = score_regions(state.warehouse, end, end - rows[0]["window_start"], source_of(state)) if rows else {}
    return rows, regions, period


def _with_period(resp: Response, period: str) -> Response:
    resp.headers[PERIOD_HEADER] = period
    return resp


def _asked(since: str | None, until: str | None) -> bool:
    return bool(since) or bool(until)


def _stats(row: dict[str, Any]) -> m.AggregatedStats | None:
    """The Explorer's three ratios of one score, or None when one of them has no value."""
    if row["status"] == INSUFFICIENT or row["score"] is None:
        return None
    g = group_values(row)
    rel, lat = g.get("reliability"), g.get("latency")
    if rel is None or lat is None:
        return None
    return m.AggregatedStats(success_rate=rel, round_trip_score=lat, score=round(row["score"] / 100, 6))


def _pipeline_model(pipeline: str | None, model: str | None) -> ScoreFilter:
    p = short_text(pipeline, "pipeline", 64)
    mo = short_text(model, "model", 128)
    if mo and not p:
        raise BadRequest("model needs pipeline (as the leaderboard API)")
    if p and mo:
        return ScoreFilter(None, f"{p}/{mo}")
    return ScoreFilter(None, "*") if p else ScoreFilter(None, None)


_SINCE = Annotated[str | None, Parameter(description="Unix seconds; default until - 24 h. Without since and until the "
                                          "scores are the longest period's with data (24h, else 1h, else 5m).")]
_UNTIL = Annotated[str | None, Parameter(description="Unix seconds; default now.")]


@get(
    "/api/aggregated_stats",
    sync_to_thread=True,
    summary="Explorer: aggregated stats",
    description=(
        "The Livepeer Explorer's AI leaderboard shape: {address: {REGION: {success_rate, round_trip_score, score}}}, "
        "ratios 0-1 from our published scores (success_rate = reliability group, round_trip_score = latency group, "
        "score = score/100). With pipeline and model: that workflow's scores; with pipeline alone: each "
        "orchestrator's best workflow of the pipeline; without either: the orchestrators' own scores. An "
        "orchestrator whose score or either group has no value is left out."
    ),
    tags=["explorer"],
    responses=DATA_RESPONSES,
)
def aggregated_stats(
    request: Request,
    state: State,
    pipeline: Annotated[str | None, Parameter(description="Pipeline, e.g. live-video-to-video.")] = None,
    model: Annotated[str | None, Parameter(description="Model id (needs pipeline).")] = None,
    orchestrator: Annotated[str | None, Parameter(description="Only this orchestrator (any case).")] = None,
    region: Annotated[str | None, Parameter(description="Only this region id (any case), as /api/regions lists.")] = None,
    since: _SINCE = None,
    until: _UNTIL = None,
) -> Response[dict[str, dict[str, m.AggregatedStats]]]:
    f = _pipeline_model(pipeline, model)
    orch = eth_address(orchestrator, "orchestrator")
    want = short_text(region, "region", 64)
    lo, hi = _span(since, until)
    rows, regions, period = _rows(state, lo, hi, ScoreFilter(orch, f.workflow), not _asked(since, until))
    if f.workflow == "*":  # pipeline alone: each orchestrator's best workflow of that pipeline
        p = (pipeline or "").strip()
        best: dict[str, dict[str, Any]] = {}
        for r in sorted((r for r in rows if r["workflow"].partition("/")[0] == p), key=rank_key):
            best.setdefault(r["orchestrator"], r)
        rows = list(best.values())
    out: dict[str, dict[str, m.AggregatedStats]] = {}
    for r in sorted(rows, key=lambda r: r["orchestrator"]):
        rid = region_id(norm_region(regions.get(r["orchestrator"])))
        if want and rid != want.upper():
            continue
        s = _stats(r)
        if s is not None:
            out.setdefault(r["orchestrator"], {})[rid] = s
    return _with_period(respond(request, out, False), period)


@get(
    "/api/top_ai_score",
    sync_to_thread=True,
    summary="Explorer: top AI score",
    description=(
        "The orchestrator's best workflow in the latest window of the longest period with data (24h, else 1h, else "
        "5m; the `X-Score-Period` header): {region, orchestrator, value (score/100), model, pipeline}, or {} when it "
        "has no ok score."
    ),
    tags=["explorer"],
    responses=DATA_RESPONSES,
)
def top_ai_score(
    request: Request,
    state: State,
    orchestrator: Annotated[str | None, Parameter(description="Orchestrator eth address (any case).")] = None,
) -> Response[m.TopAiScore]:
    orch = eth_address(orchestrator, "orchestrator")
    if orch is None:
        return respond(request, m.TopAiScore(), False)
    lo, hi = _span(None, None)
    rows, regions, period = _rows(state, lo, hi, ScoreFilter(orch, "*"), True)
    ok = [r for r in rows if r["status"] != INSUFFICIENT and r["score"] is not None]
    if not ok:
        return _with_period(respond(request, m.TopAiScore(), False), period)
    best = sorted(ok, key=lambda r: (-r["score"], r["workflow"]))[0]
    pipeline, _, model = best["workflow"].partition("/")
    body = m.TopAiScore(region=region_id(norm_region(regions.get(orch))), orchestrator=orch,
                        value=round(best["score"] / 100, 6), model=model, pipeline=pipeline)  # fmt: skip
    return _with_period(respond(request, body, False), period)


@get(
    "/api/pipelines",
    sync_to_thread=True,
    summary="Explorer: pipelines",
    description="Pipelines with published workflow scores, their models and the regions they were scored in.",
    tags=["explorer"],
    responses=DATA_RESPONSES,
)
def pipelines(
    request: Request,
    state: State,
    region: Annotated[str | None, Parameter(description="Only pipelines scored in this region id (any case).")] = None,
    since: _SINCE = None,
    until: _UNTIL = None,
) -> Response[m.ExplorerPipelines]:
    want = short_text(region, "region", 64)
    lo, hi = _span(since, until)
    rows, regions, period = _rows(state, lo, hi, ScoreFilter(None, "*"), not _asked(since, until))
    found: dict[str, tuple[set[str], set[str]]] = {}
    for r in rows:
        rid = region_id(norm_region(regions.get(r["orchestrator"])))
        if want and rid != want.upper():
            continue
        p, _, model = r["workflow"].partition("/")
        models, regs = found.setdefault(p, (set(), set()))
        models.add(model)
        regs.add(rid)
    body = m.ExplorerPipelines(pipelines=[m.ExplorerPipeline(id=p, models=sorted(ms), regions=sorted(rs))
                                          for p, (ms, rs) in sorted(found.items())])  # fmt: skip
    return _with_period(respond(request, body, False), period)


@get(
    "/api/regions",
    sync_to_thread=True,
    summary="Explorer: regions",
    description="The region ids /api/aggregated_stats uses (type \"ai\"): the regions with scored orchestrators, in "
                "the latest window of the longest period with data (24h, else 1h, else 5m; the `X-Score-Period` header).",
    tags=["explorer"],
    responses=DATA_RESPONSES,
)
def explorer_regions(request: Request, state: State) -> Response[m.ExplorerRegions]:
    lo, hi = _span(None, None)
    rows, regions, period = _rows(state, lo, hi, ScoreFilter(None, None, every=True), True)
    ids: dict[str, str] = {}
    for r in rows:
        if _stats(r) is None:  # a region is listed when /api/aggregated_stats can have data for it
            continue
        reg = norm_region(regions.get(r["orchestrator"]))
        ids[region_id(reg)] = reg or "no declared region"
    body = m.ExplorerRegions(regions=[m.ExplorerRegion(id=i, name=n, type="ai") for i, n in sorted(ids.items())])
    return _with_period(respond(request, body, False), period)
