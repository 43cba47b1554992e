"""Score v1's inputs: every base window, the raw log reduced to additive counts per (orchestrator, workflow).

A score is the sum of the inputs of its window's base windows (scoring/score_v1.py), so a 7-day score costs what a
5-minute one does, and replaying a month of scores reads a month of inputs, not a month of samples. Each base
window is computed once, from the rows that had arrived by its `as_of` (ingested_at < as_of), and written with a
deduplication token, so neither late data nor a retried insert can change it; `recompute` rebuilds it from the raw
log for replay.

Definitions (docs/scoring.md):
- availability: the v0 scrape rule (scoring/compute.py AVAILABILITY_SQL): answerable slots and successful ones.
- gauges (FPS, jitter, streams active, CUE): the samples whose timestamp lies in [start, end).
- counters (streams started, errors, restarts, swaps, bytes, frames, histogram buckets): the increase of each
  series over the window, without extrapolation — the reset-aware differences between consecutive samples whose
  later sample lies in the window (a value below its predecessor is a counter reset and counts in full, as PromQL's
  rate() treats resets). The previous sample is looked for up to LOOKBACK_MS before the window. A series whose first
  sample lies in the window counts its value from zero when the exporter was being scraped (its build-info series
  present) within LOOKBACK_MS before: it was created in between, as prometheus-client creates a labelled child at
  its first increment. Adjacent windows share no pair, so the inputs of consecutive windows add up exactly.
- sums are taken as Decimal128(6), so their value does not depend on the order the engine adds rows in (replays
  compare bytes); values are clamped to ±1e15 first, so no exporter can overflow them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from scoring.compute import AS_OF, AVAILABILITY_SQL
from scoring.sla_v1 import ConfigV1
from warehouse.client import Warehouse

log = logging.getLogger(__name__)

TABLE = "score_inputs_v1"
LOOKBACK_MS = 5 * 60_000  # Prometheus' default lookback delta
MAX_WORKFLOWS = 32  # per orchestrator and window; more is an exporter inventing label values
FPS = "naap_stream_output_fps"
JITTER = "naap_stream_jitter_ratio"
ACTIVE = "naap_streams_active"
CUE = "naap_gpu_cue_ratio"
BUILD_INFO = "naap_exporter_build_info"
STARTED = "naap_streams_started_total"
ERRORS = "naap_stream_errors_total"
RESTARTS = "naap_stream_restarts_total"
SWAPS = "livepeer_orchestrator_swaps_total"
RX = "naap_stream_receive_bytes_total"
TX = "naap_stream_transmit_bytes_total"
FRAMES_OUT = "naap_frames_out_total"
P2FF_BUCKET = "naap_stream_prompt_to_first_frame_seconds_bucket"
STARTUP_BUCKET = "naap_stream_startup_seconds_bucket"
COUNTERS = (STARTED, ERRORS, RESTARTS, SWAPS, RX, TX, FRAMES_OUT, P2FF_BUCKET, STARTUP_BUCKET)
# The families whose presence a score needs to tell "nothing happened" from "not reported" (missing data never pays).
FAMILIES = (ACTIVE, FPS, JITTER, STARTED, P2FF_BUCKET, STARTUP_BUCKET, CUE, SWAPS)

COLUMNS = (
    "window_start", "window_s", "orchestrator", "workflow", "config_version", "config_hash", "computed_ts", "as_of",
    "scheduled", "successful", "active_n", "active_sum", "active_max",
    "fps_n", "fps_ok", "fps_sum", "fps_min", "fps_max", "jitter_n", "jitter_ok", "jitter_sum",
    "p2ff_buckets", "startup_buckets", "started", "errors", "restarts", "swaps", "rx_bytes", "tx_bytes", "frames_out",
    "cue_n", "cue_ok", "cue_sum", "families",
)  # fmt: skip

_WINDOW = "ts >= fromUnixTimestamp64Milli({start:Int64}, 'UTC') AND ts < fromUnixTimestamp64Milli({end:Int64}, 'UTC')"
_DEC = "toDecimal128(least(greatest({x}, -1e15), 1e15), 6)"


def _dsum(x: str, cond: str) -> str:
    return f"toFloat64(sumIf({_DEC.format(x=x)}, {cond}))"


# The workflow's target: "pipeline/model_id" first, then model_id alone, then the default.
_TARGET = ("transform(concat(labels['pipeline'], '/', labels['model_id']), {full_keys:Array(String)}, {full_{t}:Array(Float64)}, "
           "transform(labels['model_id'], {model_keys:Array(String)}, {model_{t}:Array(Float64)}, {default_{t}:Float64}))")  # fmt: skip

_GAUGES_SQL = f"""
SELECT orchestrator, labels['pipeline'] AS pipeline, labels['model_id'] AS model_id,
       countIf(metric = '{ACTIVE}') AS active_n,
       {_dsum("value", f"metric = '{ACTIVE}'")} AS active_sum,
       maxIf(value, metric = '{ACTIVE}') AS active_max,
       countIf(metric = '{FPS}') AS fps_n,
       countIf(metric = '{FPS}' AND value >= {_TARGET.replace("{t}", "fps")}) AS fps_ok,
       {_dsum("value", f"metric = '{FPS}'")} AS fps_sum,
       minIf(value, metric = '{FPS}') AS fps_min,
       maxIf(value, metric = '{FPS}') AS fps_max,
       countIf(metric = '{JITTER}') AS jitter_n,
       countIf(metric = '{JITTER}' AND value <= {{jitter_max:Float64}}) AS jitter_ok,
       {_dsum("value", f"metric = '{JITTER}'")} AS jitter_sum
FROM samples
WHERE metric IN ('{ACTIVE}', '{FPS}', '{JITTER}') AND {_WINDOW} AND orchestrator != '' AND isFinite(value) {{asof}}
GROUP BY orchestrator, pipeline, model_id
ORDER BY orchestrator, pipeline, model_id
"""

_CUE_SQL = f"""
SELECT orchestrator, labels['method'] AS method, count() AS n, countIf(value >= {{cue_target:Float64}}) AS ok,
       {_dsum("value", "1")} AS total
FROM samples
WHERE metric = '{CUE}' AND {_WINDOW} AND orchestrator != '' AND isFinite(value) {{asof}}
GROUP BY orchestrator, method
ORDER BY orchestrator, method
"""

_FAMILIES_SQL = f"""
SELECT orchestrator, arraySort(groupUniqArray(metric)) AS families
FROM samples
WHERE metric IN {{families:Array(String)}} AND {_WINDOW} AND orchestrator != '' {{asof}}
GROUP BY orchestrator
"""

_WATCHED_SQL = f"""
SELECT orchestrator, arraySort(groupArray(toUnixTimestamp64Milli(ts))) AS seen
FROM samples
WHERE metric = '{BUILD_INFO}' AND ts >= fromUnixTimestamp64Milli({{lookback:Int64}}, 'UTC')
  AND ts < fromUnixTimestamp64Milli({{end:Int64}}, 'UTC') AND orchestrator != '' {{asof}}
GROUP BY orchestrator
"""

# Per counter series: its increase in the window (pairs whose later sample lies in it), and its first sample in
# [lookback, end) so the caller can apply the created-in-between rule.
_COUNTERS_SQL = f"""
SELECT orchestrator, metric, labels,
       {_dsum("d", "ts >= fromUnixTimestamp64Milli({start:Int64}, 'UTC')")} AS inc,
       toUnixTimestamp64Milli(min(ts)) AS first_ts,
       argMin(value, ts) AS first_v
FROM (
    SELECT orchestrator, metric, labels, ts, value,
           lagInFrame(value, 1, nan) OVER w AS pv,
           if(isNaN(pv), 0, if(value >= pv, value - pv, value)) AS d
    FROM samples
    WHERE metric IN {{counters:Array(String)}}
      AND ts >= fromUnixTimestamp64Milli({{lookback:Int64}}, 'UTC') AND ts < fromUnixTimestamp64Milli({{end:Int64}}, 'UTC')
      AND orchestrator != '' AND isFinite(value) AND value >= 0 {{asof}}
      AND NOT (metric = '{STARTUP_BUCKET}' AND labels['startup'] = 'restart')
    WINDOW w AS (PARTITION BY orchestrator, metric, labels ORDER BY ts ROWS BETWEEN 1 PRECEDING AND CURRENT ROW)
)
GROUP BY orchestrator, metric, labels
HAVING max(ts) >= fromUnixTimestamp64Milli({{start:Int64}}, 'UTC')
ORDER BY orchestrator, metric, labels
"""


@dataclass
class Inputs:
    """One row of score_inputs_v1 (see the migration for the columns' meaning). workflow '' = the orchestrator's
    own row (availability, swaps, CUE, families); orchestrator '' = the window's computed-marker."""

    window_start_ms: int
    orchestrator: str
    workflow: str
    scheduled: int = 0
    successful: int = 0
    active_n: int = 0
    active_sum: float = 0.0
    active_max: float = 0.0
    fps_n: int = 0
    fps_ok: int = 0
    fps_sum: float = 0.0
    fps_min: float = 0.0
    fps_max: float = 0.0
    jitter_n: int = 0
    jitter_ok: int = 0
    jitter_sum: float = 0.0
    p2ff_buckets: dict[float, float] = field(default_factory=dict)
    startup_buckets: dict[float, float] = field(default_factory=dict)
    started: float = 0.0
    errors: dict[str, float] = field(default_factory=dict)
    restarts: float = 0.0
    swaps: float = 0.0
    rx_bytes: float = 0.0
    tx_bytes: float = 0.0
    frames_out: float = 0.0
    cue_n: dict[str, int] = field(default_factory=dict)
    cue_ok: dict[str, int] = field(default_factory=dict)
    cue_sum: dict[str, float] = field(default_factory=dict)
    families: list[str] = field(default_factory=list)

    def values(self) -> tuple:
        """The row's data columns (COLUMNS after as_of), canonical: maps sorted by key."""
        return (
            self.scheduled, self.successful, self.active_n, self.active_sum, self.active_max,
            self.fps_n, self.fps_ok, self.fps_sum, self.fps_min, self.fps_max,
            self.jitter_n, self.jitter_ok, self.jitter_sum,
            dict(sorted(self.p2ff_buckets.items())), dict(sorted(self.startup_buckets.items())),
            self.started, dict(sorted(self.errors.items())), self.restarts, self.swaps,
            self.rx_bytes, self.tx_bytes, self.frames_out,
            dict(sorted(self.cue_n.items())), dict(sorted(self.cue_ok.items())), dict(sorted(self.cue_sum.items())),
            sorted(self.families),
        )  # fmt: skip


@dataclass
class WindowInputs:
    """The inputs of one base window: rows sorted by (orchestrator, workflow), and what was refused."""

    window_start_ms: int
    as_of_ms: int
    rows: list[Inputs]
    dropped_workflows: int = 0


def _workflow(labels: dict[str, str]) -> str:
    pipeline, model = labels.get("pipeline", ""), labels.get("model_id", "")
    return f"{pipeline}/{model}" if pipeline or model else ""


def _le(labels: dict[str, str]) -> float | None:
    try:
        return float(labels.get("le", ""))
    except ValueError:
        return None


def _target_params(config: ConfigV1) -> dict[str, Any]:
    full = sorted(k for k in config.spec.workflows if "/" in k)
    model = sorted(k for k in config.spec.workflows if "/" not in k and k != "default")
    w = config.spec.workflows
    return {
        "full_keys": full, "full_fps": [float(w[k].output_fps) for k in full],
        "model_keys": model, "model_fps": [float(w[k].output_fps) for k in model],
        "default_fps": float(w["default"].output_fps),
    }  # fmt: skip


def compute_inputs(wh: Warehouse, config: ConfigV1, window_start_ms: int, as_of_ms: int) -> WindowInputs:
    """The inputs of the base window starting at `window_start_ms` (config.spec.base_window_s long), from the rows
    with ingested_at < `as_of_ms`. Rows sorted by (orchestrator, workflow); the computed-marker is not included."""
    spec = config.spec
    end = window_start_ms + spec.base_window_s * 1000
    params: dict[str, Any] = {"start": window_start_ms, "end": end, "lookback": window_start_ms - LOOKBACK_MS, "as_of": as_of_ms}
    rows: dict[tuple[str, str], Inputs] = {}

    def row(orch: str, wf: str) -> Inputs:
        r = rows.get((orch, wf))
        if r is None:
            r = rows[(orch, wf)] = Inputs(window_start_ms, orch, wf)
        return r

    for orch, scheduled, successful in wh.query(AVAILABILITY_SQL.replace("{asof}", AS_OF), params).rows:
        r = row(orch, "")
        r.scheduled, r.successful = int(scheduled), int(successful)

    gauge_params = {**params, **_target_params(config), "jitter_max": float(spec.jitter_max)}
    for rec in wh.query(_GAUGES_SQL.replace("{asof}", AS_OF), gauge_params).rows:
        orch, pipeline, model = rec[0], rec[1], rec[2]
        r = row(orch, _workflow({"pipeline": pipeline, "model_id": model}))
        (r.active_n, r.active_sum, r.active_max, r.fps_n, r.fps_ok, r.fps_sum, r.fps_min, r.fps_max,
         r.jitter_n, r.jitter_ok, r.jitter_sum) = (
            int(rec[3]), float(rec[4]), float(rec[5]) if rec[3] else 0.0, int(rec[6]), int(rec[7]), float(rec[8]),
            float(rec[9]) if rec[6] else 0.0, float(rec[10]) if rec[6] else 0.0, int(rec[11]), int(rec[12]), float(rec[13]),
        )  # fmt: skip

    for orch, method, n, ok, total in wh.query(_CUE_SQL.replace("{asof}", AS_OF), {**params, "cue_target": float(spec.cue_target)}).rows:
        r = row(orch, "")
        r.cue_n[method], r.cue_ok[method], r.cue_sum[method] = int(n), int(ok), float(total)

    for orch, fams in wh.query(_FAMILIES_SQL.replace("{asof}", AS_OF), {**params, "families": list(FAMILIES)}).rows:
        row(orch, "").families = list(fams)

    watched = {orch: seen for orch, seen in wh.query(_WATCHED_SQL.replace("{asof}", AS_OF), params).rows}
    for orch, metric, labels, inc, first_ts, first_v in wh.query(_COUNTERS_SQL.replace("{asof}", AS_OF), {**params, "counters": list(COUNTERS)}).rows:
        inc = float(inc)
        if first_ts >= window_start_ms and _watched_before(watched.get(orch, ()), int(first_ts)):
            inc += min(float(first_v), 1e15)
        if inc == 0 and metric not in (P2FF_BUCKET, STARTUP_BUCKET):
            continue  # (a bucket without increase still bounds its neighbours' interpolation)
        if metric == SWAPS:
            row(orch, "").swaps += inc
            continue
        r = row(orch, _workflow(labels))
        if metric == STARTED:
            r.started += inc
        elif metric == ERRORS:
            cls = labels.get("error_class", "unknown")
            r.errors[cls] = r.errors.get(cls, 0.0) + inc
        elif metric == RESTARTS:
            r.restarts += inc
        elif metric == RX:
            r.rx_bytes += inc
        elif metric == TX:
            r.tx_bytes += inc
        elif metric == FRAMES_OUT:
            r.frames_out += inc
        else:
            le = _le(labels)
            if le is not None:
                buckets = r.p2ff_buckets if metric == P2FF_BUCKET else r.startup_buckets
                buckets[le] = buckets.get(le, 0.0) + inc

    out, dropped = _cap_workflows(rows)
    return WindowInputs(window_start_ms, as_of_ms, out, dropped)


def _watched_before(seen: Any, ts: int) -> bool:
    """Whether the exporter answered a scrape in [ts - LOOKBACK_MS, ts)."""
    return any(ts - LOOKBACK_MS <= s < ts for s in seen)


def _cap_workflows(rows: dict[tuple[str, str], Inputs]) -> tuple[list[Inputs], int]:
    """Keep at most MAX_WORKFLOWS workflow rows per orchestrator (the most active ones; ties by name)."""
    by_orch: dict[str, list[Inputs]] = {}
    for (orch, _wf), r in sorted(rows.items()):
        by_orch.setdefault(orch, []).append(r)
    out: list[Inputs] = []
    dropped = 0
    for orch, rs in by_orch.items():
        own = [r for r in rs if r.workflow == ""]
        wfs = [r for r in rs if r.workflow != ""]
        if len(wfs) > MAX_WORKFLOWS:
            keep = sorted(wfs, key=lambda r: (-r.fps_n, -r.active_n, r.workflow))[:MAX_WORKFLOWS]
            dropped += len(wfs) - len(keep)
            log.warning("orchestrator %s exposed %d workflows in one window; scored the %d most active",
                        orch, len(wfs), MAX_WORKFLOWS)  # fmt: skip
            wfs = sorted(keep, key=lambda r: r.workflow)
        out.extend(own + wfs)
    return out, dropped


def input_rows(config: ConfigV1, w: WindowInputs, computed_ms: int) -> list[tuple]:
    """Rows for score_inputs_v1, COLUMNS order, with the window's computed-marker (orchestrator '') first."""
    head = (w.window_start_ms, config.spec.base_window_s)
    meta = (config.version, config.hash, computed_ms, w.as_of_ms)
    marker = Inputs(w.window_start_ms, "", "")
    return [(*head, r.orchestrator, r.workflow, *meta, *r.values()) for r in [marker, *w.rows]]


def write_inputs(wh: Warehouse, config: ConfigV1, w: WindowInputs, computed_ms: int) -> None:
    """Insert one window's inputs now (scores read them next), as one block whose deduplication token names the
    config and the window: a second write of the same window, by a retry or a restarted scorer, is dropped."""
    token = f"{TABLE}:{config.hash}:{w.window_start_ms}"
    wh.insert_rows(TABLE, COLUMNS, input_rows(config, w, computed_ms), settings={"insert_deduplication_token": token})


_COMPUTED_SQL = f"""
SELECT DISTINCT toUnixTimestamp64Milli(window_start)
FROM {TABLE}
WHERE config_hash = {{hash:String}} AND orchestrator = ''
  AND window_start >= fromUnixTimestamp64Milli({{lo:Int64}}, 'UTC') AND window_start < fromUnixTimestamp64Milli({{hi:Int64}}, 'UTC')
"""


def computed_windows(wh: Any, config: ConfigV1, lo_ms: int, hi_ms: int) -> set[int]:
    """Starts (epoch ms) of the base windows in [lo, hi) whose inputs were already written for this config."""
    return {int(r[0]) for r in wh.query(_COMPUTED_SQL, {"hash": config.hash, "lo": lo_ms, "hi": hi_ms}).rows}


# The first-computed row of each key whose computed_ts is at most the cut-off (a score's as_of): what that score read.
# (Times come back as epoch ms under *_ms names: an alias named like its column would shadow it in WHERE.)
_TIMES = ("window_start", "computed_ts", "as_of")
_READ_SQL = f"""
SELECT {", ".join(c if c not in _TIMES else f"toUnixTimestamp64Milli({c}) AS {c}_ms" for c in COLUMNS)}
FROM {TABLE}
WHERE config_hash = {{hash:String}} AND orchestrator != ''
  AND window_start >= fromUnixTimestamp64Milli({{lo:Int64}}, 'UTC') AND window_start < fromUnixTimestamp64Milli({{hi:Int64}}, 'UTC')
  AND computed_ts <= fromUnixTimestamp64Milli({{cutoff:Int64}}, 'UTC')
  {{filters}}
ORDER BY orchestrator, workflow, window_start, computed_ts
LIMIT 1 BY orchestrator, workflow, window_start
"""


def read_inputs(wh: Any, config: ConfigV1, lo_ms: int, hi_ms: int, cutoff_ms: int,
                orchestrator: str | None = None) -> list[dict[str, Any]]:  # fmt: skip
    """Input rows of base windows starting in [lo, hi), as dicts, sorted by (orchestrator, workflow, window_start),
    each key's first-computed row among those computed by `cutoff_ms`."""
    params: dict[str, Any] = {"hash": config.hash, "lo": lo_ms, "hi": hi_ms, "cutoff": cutoff_ms}
    filters = ""
    if orchestrator:
        filters, params["orch"] = "AND orchestrator = {orch:String}", orchestrator
    return wh.query(_READ_SQL.replace("{filters}", filters), params).dicts()  # window_start_ms, computed_ts_ms, as_of_ms


def as_dict(r: Inputs) -> dict[str, Any]:
    """An Inputs row as read_inputs returns it (for scoring inputs that were computed but not stored)."""
    return {"window_start_ms": r.window_start_ms, "orchestrator": r.orchestrator, "workflow": r.workflow,
            **dict(zip(COLUMNS[8:], r.values()))}  # fmt: skip


def as_stored(r: dict[str, Any]) -> tuple:
    """A read row's data columns in Inputs.values() order, canonical (maps sorted), to compare with a recomputation."""
    out = []
    for c in COLUMNS[8:]:
        v = r[c]
        if isinstance(v, dict):
            v = dict(sorted(v.items()))
        elif isinstance(v, (list, tuple)):
            v = sorted(v)
        out.append(v)
    return tuple(out)
