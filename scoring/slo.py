"""Error budgets, Sloth style: per (orchestrator, workflow) and SLO, the objective, the error budget left over the
config's SLO period, burn rates over seven windows and the four multiwindow multi-burn-rate alert conditions of the
Google SRE workbook (ch. 5, "Alerting on SLOs"; slok/sloth's google-30d windows) — all computed in SQL over
`score_inputs_v1`, one query per SLI. docs/slo.md states every definition below for readers.

Definitions (units: events are counts, rates are ratios, times are integer milliseconds since the epoch, UTC):

- An SLI is good events / valid events, summed over base windows (score_inputs_v1 rows, 60 s in v1):
  availability = successful / scheduled scrape slots (the orchestrator's row, workflow ''); output_fps = 5 s FPS
  windows at or above the workflow's target / windows seen; jitter = jitter values at or below jitter_max / seen;
  p2ff and startup = histogram events within the workflow's target bound (the bucket whose `le` equals it) / all
  (the +Inf bucket); failure_rate: valid = streams started, bad = min(started, Σ errors) **per base window** — errors
  are counted per event and one stream can fail several times, so each base window's bad events are capped at its
  starts (a window with errors but no starts adds none).
- Where the SLO applies: every workflow row ('pipeline/model_id') gets every configured SLO; the orchestrator's own
  row (workflow '') gets them too, its workflow SLIs summed over all its workflows. Availability is the
  orchestrator's: a workflow's availability SLO is its orchestrator's (scrapes are per orchestrator), given when the
  orchestrator has its own rows in the lookback.
- Error rate over a window = bad / valid; burn rate = error rate / (1 − objective) (1 spends the budget exactly over
  the period); error budget remaining = 1 − burn rate over the whole SLO period (negative once overspent). A window
  without valid events has no rate: None, and no alert condition holds on it.
- Windows end at the end of the last complete base window at or before `now_ms`, and hold the base windows that
  start inside them. Rows computed after `now_ms` are not read, so a status at a given `now_ms` is reproducible.
- Should a key (config_version, orchestrator, workflow, window_start) appear twice, the row computed first counts
  (ties broken by its values, so the choice never depends on storage order).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from scoring.sla_v1 import ConfigV1

# Burn-rate windows (name, seconds), shortest first: Sloth's google-30d set.
WINDOWS: tuple[tuple[str, int], ...] = (
    ("5m", 300), ("30m", 1800), ("1h", 3600), ("2h", 7200), ("6h", 21600), ("1d", 86400), ("3d", 259200),
)  # fmt: skip


@dataclass(frozen=True)
class AlertCondition:
    """A multiwindow condition: both windows burn faster than `factor` (strictly, as Sloth compares)."""

    name: str
    severity: str
    factor: float
    short: str
    long: str


# The SRE workbook's table for a 30-day budget: 2 % of it in 1 h and 5 % in 6 h page; 10 % in 1 d or 3 d tickets.
ALERTS: tuple[AlertCondition, ...] = (
    AlertCondition("page_fast", "page", 14.4, "5m", "1h"),
    AlertCondition("page_slow", "page", 6.0, "30m", "6h"),
    AlertCondition("ticket_fast", "ticket", 3.0, "2h", "1d"),
    AlertCondition("ticket_slow", "ticket", 1.0, "6h", "3d"),
)


@dataclass(frozen=True)
class SloWindow:
    """Events of one burn-rate window (or of the whole SLO period) and its burn rate (None without valid events)."""

    valid: float
    bad: float
    burn_rate: float | None


@dataclass(frozen=True)
class SloStatus:
    """One SLO of one (orchestrator, workflow) at `window_end_ms`; workflow '' is the orchestrator as a whole.

    `period` holds the events and burn rate of the whole SLO period (`period_s`); `budget_remaining` is
    1 − period.burn_rate (None without valid events). `windows` maps each of WINDOWS' names to its SloWindow;
    `alerts` each of ALERTS' names to whether its condition holds."""

    orchestrator: str
    workflow: str
    slo: str
    objective: float
    period_s: int
    window_end_ms: int
    period: SloWindow
    budget_remaining: float | None
    windows: dict[str, SloWindow]
    alerts: dict[str, bool]

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (windows and alerts in their fixed order)."""
        win = lambda w: {"valid": w.valid, "bad": w.bad, "burn_rate": w.burn_rate}  # noqa: E731
        return {
            "orchestrator": self.orchestrator, "workflow": self.workflow, "slo": self.slo,
            "objective": self.objective, "period_s": self.period_s, "window_end_ms": self.window_end_ms,
            "budget_remaining": self.budget_remaining, "period": win(self.period),
            "windows": {name: win(self.windows[name]) for name, _ in WINDOWS},
            "alerts": {a.name: self.alerts[a.name] for a in ALERTS},
        }  # fmt: skip


def _bucket(column: str, bound: str) -> str:
    # Map(Float64, …) cannot be subscripted by a Float64 key in ClickHouse; index 0 of an array gives 0.
    return f"mapValues({column})[indexOf(mapKeys({column}), {bound})]"


# A workflow's latency target as ConfigV1.targets() resolves it: pipeline/model_id, then model_id, then default.
_TARGET = ("transform(workflow, {t_keys:Array(String)}, {t_vals:Array(Float64)}, transform(arrayElement("
           "splitByChar('/', workflow), -1), {t_keys:Array(String)}, {t_vals:Array(Float64)}, {t_default:Float64}))")  # fmt: skip


def _latency(column: str) -> tuple[str, str]:
    total = _bucket(column, "inf")
    return total, f"greatest({total} - {_bucket(column, _TARGET)}, 0)"


# SLI -> (valid events, bad events) of one score_inputs_v1 row, and whether it is the orchestrator row's.
_SLIS: dict[str, tuple[str, str, bool]] = {
    "availability": ("toFloat64(scheduled)", "toFloat64(scheduled) - toFloat64(successful)", True),
    "output_fps": ("toFloat64(fps_n)", "toFloat64(fps_n) - toFloat64(fps_ok)", False),
    "jitter": ("toFloat64(jitter_n)", "toFloat64(jitter_n) - toFloat64(jitter_ok)", False),
    "p2ff": (*_latency("p2ff_buckets"), False),
    "startup": (*_latency("startup_buckets"), False),
    "failure_rate": ("started", "least(started, arraySum(mapValues(errors)))", False),
}
_LATENCY_TARGET = {"p2ff": "p2ff_s", "startup": "startup_s"}

_IN_LOOKBACK = """config_version = {version:String} AND orchestrator != ''
      AND window_start >= fromUnixTimestamp64Milli({start:Int64}, 'UTC')
      AND window_start < fromUnixTimestamp64Milli({end:Int64}, 'UTC')
      AND computed_ts <= fromUnixTimestamp64Milli({now:Int64}, 'UTC')"""

# The first-computed row of every key in the lookback, reduced to its valid and bad events. LIMIT 1 BY over the
# table's own order reads in order; a GROUP BY with argMin was ten times slower (measured on 13 M rows).
_ROWS = """
SELECT orchestrator, workflow, toUnixTimestamp64Milli(window_start) AS ws, {valid} AS valid, {bad} AS bad
FROM score_inputs_v1
WHERE {lookback} AND {where}
ORDER BY orchestrator, workflow, window_start, computed_ts, valid, bad
LIMIT 1 BY orchestrator, workflow, window_start"""


def _sums() -> str:
    names = [name for name, _ in WINDOWS] + ["period"]
    cols = [f"sumIf(valid, ws >= {{s_{n}:Int64}}) AS v_{n}, sumIf(bad, ws >= {{s_{n}:Int64}}) AS b_{n}" for n in names]
    return ",\n       ".join(cols)


def _sql(sli: str) -> str:
    valid, bad, orchestrator_row = _SLIS[sli]
    if orchestrator_row:  # the orchestrator's row, repeated for every workflow the orchestrator has rows for
        rows = _ROWS.format(valid=valid, bad=bad, lookback=_IN_LOOKBACK, where="workflow = ''")
        sums = f"""
SELECT orchestrator, arrayConcat([''], wfs) AS levels, * EXCEPT (orchestrator, wfs)
FROM (SELECT orchestrator, {_sums()} FROM ({rows}) GROUP BY orchestrator) AS own
LEFT JOIN (SELECT orchestrator, arraySort(groupUniqArray(workflow)) AS wfs FROM score_inputs_v1
           WHERE {_IN_LOOKBACK} AND workflow != '' GROUP BY orchestrator) AS wf USING (orchestrator)"""
    else:  # each workflow row counts for its workflow and for the orchestrator as a whole ('')
        rows = _ROWS.format(valid=valid, bad=bad, lookback=_IN_LOOKBACK, where="workflow != ''")
        sums = f"""
SELECT orchestrator, [level] AS levels, {_sums()}
FROM ({rows}) ARRAY JOIN [workflow, ''] AS level GROUP BY orchestrator, level"""
    names = [name for name, _ in WINDOWS] + ["period"]
    burns = ", ".join(f"if(v_{n} > 0, b_{n} / v_{n} / {{budget:Float64}}, NULL) AS br_{n}" for n in names)
    events = ", ".join(f"v_{n}, b_{n}" for n in names)
    alerts = ", ".join(f"ifNull(br_{a.short} > {a.factor!r} AND br_{a.long} > {a.factor!r}, 0) AS {a.name}" for a in ALERTS)
    return f"""
SELECT orchestrator, workflow, {events}, {burns}, {alerts}
FROM ({sums}) ARRAY JOIN levels AS workflow
ORDER BY orchestrator, workflow"""


def window_end(config: ConfigV1, now_ms: int) -> int:
    """End (ms) of the last complete base window at or before `now_ms`: where every burn-rate window ends."""
    base = config.spec.base_window_s * 1000
    return now_ms // base * base


def _params(config: ConfigV1, sli: str, end: int, now_ms: int) -> dict[str, Any]:
    period_ms = config.spec.slo_period_s * 1000
    params: dict[str, Any] = {"version": config.version, "end": end, "now": now_ms,
                              "budget": 1.0 - config.spec.slos[sli], "s_period": end - period_ms}  # fmt: skip
    params["start"] = end - max(period_ms, max(s for _, s in WINDOWS) * 1000)
    params.update({f"s_{name}": end - secs * 1000 for name, secs in WINDOWS})
    if sli in _LATENCY_TARGET:
        field = _LATENCY_TARGET[sli]
        workflows = config.spec.workflows
        params["t_keys"] = list(workflows)
        params["t_vals"] = [getattr(t, field) for t in workflows.values()]
        params["t_default"] = getattr(workflows["default"], field)
    return params


def slo_status(wh: Any, config: ConfigV1, now_ms: int) -> list[SloStatus]:
    """Every configured SLO (config.spec.slos) of every (orchestrator, workflow) with inputs in the lookback (the
    SLO period or the longest window, whichever is longer), sorted by (orchestrator, workflow, slo).

    `wh` is anything with the warehouse's `query(sql, parameters)` (a Warehouse or its read-only reader). One query
    per SLI computes every window's events, burn rates and alert conditions at once (sumIf over the lookback)."""
    end = window_end(config, now_ms)
    out: list[SloStatus] = []
    for sli, objective in sorted(config.spec.slos.items()):
        result = wh.query(_sql(sli), _params(config, sli, end, now_ms))
        for row in result.dicts():
            win = {n: SloWindow(row[f"v_{n}"], row[f"b_{n}"], row[f"br_{n}"]) for n, _ in WINDOWS}
            period = SloWindow(row["v_period"], row["b_period"], row["br_period"])
            out.append(SloStatus(
                orchestrator=row["orchestrator"], workflow=row["workflow"], slo=sli, objective=objective,
                period_s=config.spec.slo_period_s, window_end_ms=end, period=period,
                budget_remaining=None if period.burn_rate is None else 1.0 - period.burn_rate,
                windows=win, alerts={a.name: bool(row[a.name]) for a in ALERTS},
            ))  # fmt: skip
    out.sort(key=lambda s: (s.orchestrator, s.workflow, s.slo))
    return out


def status_table(statuses: list[SloStatus]) -> list[str]:
    """Lines of a fixed-width table for people: budget left in %, burn rates per window ('-': no events), and the
    alert conditions that hold."""

    def num(x: float | None, fmt: str) -> str:
        return "-" if x is None else format(x, fmt)

    head = ["orchestrator", "workflow", "slo", "objective", "budget_left", *(n for n, _ in WINDOWS), "alerts"]
    rows = [head]
    for s in statuses:
        firing = ",".join(a.name for a in ALERTS if s.alerts[a.name]) or "-"
        budget = None if s.budget_remaining is None else 100 * s.budget_remaining
        rows.append([s.orchestrator, s.workflow or "-", s.slo, f"{100 * s.objective:g}%", num(budget, ".1f") + ("%" if budget is not None else ""),
                     *(num(s.windows[n].burn_rate, ".2f") for n, _ in WINDOWS), firing])  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
