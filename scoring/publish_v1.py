"""Publishing score v1: base-window inputs first, then the scores of every period whose step has come.

One tick (the collector runs it every scoring interval):
1. every base window that ended at least `settle_s` ago and has no inputs yet (within `catchup_s`) gets its inputs
   computed from the rows that arrived up to `as_of_margin_s` ago, and written at once (inputs_v1.write_inputs);
2. for each period, every window end T that is a multiple of the period's step, later than the last one published
   (the latest one only, on a first start) and within `catchup_s`, gets its scores: per orchestrator and per
   (orchestrator, workflow), from the inputs computed by now (the score's `as_of`). They are inserted at once with
   a deduplication token naming config, period and T, so a restarted publisher cannot publish a window twice.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, Iterable

from exporter.common.clock import now_ms as wall_ms
from scoring.inputs_v1 import compute_inputs, computed_windows, read_inputs, write_inputs
from scoring.score_v1 import INSUFFICIENT, STATUS_OK, KeySums, Totals, combine, insufficient_reasons, metrics, totals_from
from scoring.probe_totals import ProbeSums, for_score, probe_totals
from scoring.sla_v1 import ConfigV1, uses_probes
from warehouse.client import Warehouse

log = logging.getLogger(__name__)

SCORE_COLUMNS = (
    "computed_ts", "window_start", "window_end", "period", "orchestrator", "workflow", "config_version", "config_hash",
    "score", "score_lower", "score_upper", "coverage", "status", "detail", "as_of",
)  # fmt: skip


@dataclass(frozen=True)
class ScoreV1:
    orchestrator: str
    workflow: str  # '' for the orchestrator's own score
    period: str
    window_start_ms: int
    window_end_ms: int
    config_version: str
    config_hash: str
    score: float | None
    score_lower: float | None
    score_upper: float | None
    coverage: float
    status: str  # ok | insufficient_data
    detail: dict[str, Any]
    as_of_ms: int

    def detail_json(self) -> str:
        return json.dumps(self.detail, sort_keys=True, separators=(",", ":"))

    def as_dict(self) -> dict[str, Any]:
        return {"orchestrator": self.orchestrator, "score": self.score, "status": self.status, **self.detail}


def compute_scores_v1(wh: Any, config: ConfigV1, period: str, window_end_ms: int, cutoff_ms: int,
                      orchestrator: str | None = None) -> list[ScoreV1]:  # fmt: skip
    """The scores of `period`'s window ending at `window_end_ms` from the inputs computed by `cutoff_ms`: one per
    orchestrator (workflow '') and one per (orchestrator, workflow), sorted by (orchestrator, workflow)."""
    if period not in config.spec.periods:
        raise ValueError(f"unknown period {period!r}; configured: {', '.join(config.spec.periods)}")
    start = window_end_ms - config.spec.periods[period].seconds * 1000
    rows = read_inputs(wh, config, start, window_end_ms, cutoff_ms, orchestrator)
    probes = window_probes(wh, config, period, window_end_ms, cutoff_ms, orchestrator)
    return scores_from_inputs(config, period, window_end_ms, cutoff_ms, rows, probes)


def window_probes(wh: Any, config: ConfigV1, period: str, window_end_ms: int, as_of_ms: int,
                  orchestrator: str | None = None) -> ProbeSums | None:  # fmt: skip
    """The probe totals a v2 score of this window reads (those that had arrived by `as_of_ms`); None for v1."""
    if not uses_probes(config):
        return None
    start = window_end_ms - config.spec.periods[period].seconds * 1000
    return probe_totals(wh, config, start, window_end_ms, as_of_ms, orchestrator)


def scores_from_inputs(config: ConfigV1, period: str, window_end_ms: int, as_of_ms: int,
                       rows: list[dict[str, Any]], probes: ProbeSums | None = None) -> list[ScoreV1]:  # fmt: skip
    """The scores of one window from its input rows (dicts with score_inputs_v1's columns and window_start_ms) and,
    for v2, its probe totals (window_probes). Pure: the same rows give the same bytes."""
    return scores_from_sums(config, period, window_end_ms, as_of_ms, key_sums(config, rows), probes=probes)


Sums = dict[str, tuple[KeySums, dict[str, KeySums]]]  # orchestrator -> (own rows, {workflow: rows})


def key_sums(config: ConfigV1, rows: list[dict[str, Any]]) -> Sums:
    """Prefix sums per (orchestrator, workflow) over input rows (any order; each key's rows sorted by window)."""
    by: dict[str, tuple[list[dict[str, Any]], dict[str, list[dict[str, Any]]]]] = {}
    for r in rows:
        own, wfs = by.setdefault(r["orchestrator"], ([], {}))
        (own if r["workflow"] == "" else wfs.setdefault(r["workflow"], [])).append(r)
    out: Sums = {}
    for orch, (own, wfs) in by.items():
        order = lambda rs: sorted(rs, key=lambda r: int(r["window_start_ms"]))  # noqa: E731
        out[orch] = (KeySums(config, order(own), True), {wf: KeySums(config, order(rs), False) for wf, rs in wfs.items()})
    return out


def scores_from_sums(config: ConfigV1, period: str, window_end_ms: int, as_of_ms: int, sums: Sums,
                     orchestrators: Iterable[str] | None = None, probes: ProbeSums | None = None) -> list[ScoreV1]:  # fmt: skip
    """The scores of one window from prefix sums (every orchestrator in `sums`, or those named) and, for a v2
    config, the window's probe totals (window_probes; required then), sorted by (orchestrator, workflow)."""
    if uses_probes(config) and probes is None:
        raise ValueError(f"config {config.version} scores with probes: pass the window's probe totals")
    spec = config.spec
    seconds = spec.periods[period].seconds
    start = window_end_ms - seconds * 1000
    windows = seconds // spec.base_window_s
    out: list[ScoreV1] = []
    for orch in sorted(orchestrators if orchestrators is not None else sums):
        if orch not in sums:
            continue
        own, wfs = sums[orch]
        oi, oj = own.span(start, window_end_ms)
        spans = {wf: ks.span(start, window_end_ms) for wf, ks in wfs.items()}
        present = sorted(wf for wf, (i, j) in spans.items() if j > i)
        if oj == oi and not present:
            continue
        base: dict[Any, int] = {}
        own.add_to(base, oi, oj)
        every = dict(base)
        for wf in present:
            wfs[wf].add_to(every, *spans[wf])
        keyed = [("", every)]
        for wf in present:
            acc = dict(base)
            wfs[wf].add_to(acc, *spans[wf])
            keyed.append((wf, acc))
        for wf, acc in keyed:
            p = for_score(probes, orch, wf) if probes is not None else None
            out.append(_score(config, period, start, window_end_ms, as_of_ms, windows, orch, wf, totals_from(acc), p))
    return out


def _score(config: ConfigV1, period: str, start: int, end: int, as_of_ms: int, windows: int, orch: str, wf: str,
           t: Totals, probes: Any = None) -> ScoreV1:  # fmt: skip
    coverage = round(t.observed_windows / windows, 6)
    mets = metrics(config, t, probes)
    groups, score, lower, upper = combine(config, mets)
    reasons = insufficient_reasons(config, mets, coverage, period)
    if reasons or score is None:
        status, score, lower, upper = INSUFFICIENT, None, None, None
        reasons = reasons or ["no group has a value"]
    else:
        status = STATUS_OK
    detail = {
        "period": period, "window_start": start, "window_end": end, "as_of": as_of_ms,
        "config_version": config.version, "config_hash": config.hash, "workflow": wf,
        "coverage": coverage, "observed_windows": t.observed_windows, "windows": windows,
        "score_lower": lower, "score_upper": upper,
        "groups": groups, "metrics": mets, "reasons": reasons,
    }  # fmt: skip
    return ScoreV1(orch, wf, period, start, end, config.version, config.hash, score, lower, upper, coverage, status, detail, as_of_ms)


def score_rows(scores: list[ScoreV1], computed_ms: int) -> list[tuple]:
    return [
        (computed_ms, s.window_start_ms, s.window_end_ms, s.period, s.orchestrator, s.workflow, s.config_version,
         s.config_hash, s.score, s.score_lower, s.score_upper, s.coverage, s.status, s.detail_json(), s.as_of_ms)
        for s in scores
    ]  # fmt: skip


def _last_published(wh: Warehouse, config: ConfigV1, period: str) -> int | None:
    v = wh.scalar(
        "SELECT toUnixTimestamp64Milli(max(window_end)) FROM sla_scores WHERE config_hash = {h:String} AND period = {p:String}",
        {"h": config.hash, "p": period},
    )
    return int(v) if v else None


@dataclass
class TickResult:
    inputs_written: int  # base windows computed this tick
    scores: list[ScoreV1]


def publish_tick(wh: Warehouse, config: ConfigV1, now_ms: int | None = None, settle_s: float = 30.0,
                 as_of_margin_s: float = 2.0, catchup_s: float = 3600.0) -> TickResult:  # fmt: skip
    """One publishing step (the module docstring). `now_ms` defaults to the wall clock; tests pass their own."""
    clock = (lambda: now_ms) if now_ms is not None else wall_ms
    now = clock()
    spec = config.spec
    base = spec.base_window_s * 1000
    last_end = (now - int(settle_s * 1000)) // base * base  # end of the last base window due
    lo = max(0, last_end - int(catchup_s * 1000)) // base * base
    done = computed_windows(wh, config, lo, last_end)
    written = 0
    for ws in range(lo, last_end, base):
        if ws in done:
            continue
        w = compute_inputs(wh, config, ws, now - int(as_of_margin_s * 1000))
        write_inputs(wh, config, w, clock())
        written += 1
        if w.dropped_workflows:
            log.warning("window %d: %d workflow rows over the per-orchestrator cap were not scored", ws, w.dropped_workflows)
    cutoff = clock()
    out: list[ScoreV1] = []
    for period, p in spec.periods.items():
        step = p.step_s * 1000
        latest = last_end // step * step
        prev = _last_published(wh, config, period)
        first = latest if prev is None else max(prev + step, lo // step * step + step)
        for end in range(first, latest + 1, step):
            scores = compute_scores_v1(wh, config, period, end, cutoff)
            token = f"sla_scores:{config.hash}:{period}:{end}"
            wh.insert_rows("sla_scores", SCORE_COLUMNS, score_rows(scores, cutoff), settings={"insert_deduplication_token": token})
            out.extend(scores)
    return TickResult(written, out)


def score_from_raw(wh: Any, config: ConfigV1, period: str, window_end_ms: int, as_of_ms: int) -> list[ScoreV1]:
    """Scores of one window computed straight from the raw log (inputs reduced in memory, nothing written): what
    `naap score` shows. Costs one reduction per base window of the period."""
    from scoring.inputs_v1 import as_dict

    base = config.spec.base_window_s * 1000
    start = window_end_ms - config.spec.periods[period].seconds * 1000
    rows = [as_dict(r) for ws in range(start, window_end_ms, base) for r in compute_inputs(wh, config, ws, as_of_ms).rows]
    rows.sort(key=lambda r: (r["orchestrator"], r["workflow"], r["window_start_ms"]))
    return scores_from_inputs(config, period, window_end_ms, as_of_ms, rows, window_probes(wh, config, period, window_end_ms, as_of_ms))
