"""Cross-check: what the prober measured against what the orchestrator's own exporter reported, for the same
orchestrator, model and window (design §10.3). A large disagreement is flagged — the exporter is the
orchestrator's word; the probe is an independent measurement of the same service.

Compared per (orchestrator, model id), over [start, end):
- **fps** — delivery ratio, output frames / input frames: the probe's `output_fps / input_fps` (mean over its
  successful probes) against the exporter's `increase(naap_frames_out_total) / increase(naap_frames_in_total)`.
  A ratio, because a probe's output can never exceed its own input rate (24 fps by default) while the exporter
  counts whatever its gateways send: a runner that keeps up delivers 1.0 either way. Flagged when the two differ
  by more than `fps_tolerance`.
- **p2ff**, **startup** — the probes' median against the exporter's mean (`increase(_sum) / increase(_count)` of
  its histogram; restarts left out of startup). Flagged when they differ by more than `latency_ms` AND by more than
  `latency_ratio` × the larger: probes measure on the gateway side at segment granularity (the input segment
  length is the natural slack), the runner on its own side.
- **failure** — the share of probes that reached the orchestrator (its info call answered) and failed by its fault,
  against `increase(naap_stream_errors_total) / increase(naap_streams_started_total)`. Flagged when the probes'
  rate exceeds the exporter's by more than `failure_tolerance` (an exporter hiding failures; one reporting more
  failures than probes see is not a lie worth flagging).
Left out: the prober's own faults and excluded probes (no capacity, bad dataset items, certificate changes);
probes of model id "" (the orchestrator could not be asked at all: that is availability, which the scraper
measures). A quantity is compared only with at least `min_probes` probes carrying it and a self-report of it;
otherwise `compared` says why not. Counter increases are reset-aware differences of consecutive samples inside the
window (no extrapolation), as in score v1's inputs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from prober.config import ProberSettings

OUT_FPS = "naap_stream_output_fps"
FRAMES_OUT = "naap_frames_out_total"
FRAMES_IN = "naap_frames_in_total"
STARTED = "naap_streams_started_total"
ERRORS = "naap_stream_errors_total"
P2FF_SUM, P2FF_COUNT = "naap_stream_prompt_to_first_frame_seconds_sum", "naap_stream_prompt_to_first_frame_seconds_count"
STARTUP_SUM, STARTUP_COUNT = "naap_stream_startup_seconds_sum", "naap_stream_startup_seconds_count"
COUNTERS = (FRAMES_OUT, FRAMES_IN, STARTED, ERRORS, P2FF_SUM, P2FF_COUNT, STARTUP_SUM, STARTUP_COUNT)
MAX_PAIRS = 10_000


@dataclass(frozen=True)
class Thresholds:
    min_probes: int = 2
    fps_tolerance: float = 0.25
    latency_ms: float = 1500.0
    latency_ratio: float = 0.5
    failure_tolerance: float = 0.5

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def thresholds(s: ProberSettings) -> Thresholds:
    return Thresholds(s.crosscheck_min_probes, s.crosscheck_fps_tolerance, s.crosscheck_latency_ms,
                      s.crosscheck_latency_ratio, s.crosscheck_failure_tolerance)  # fmt: skip


_WINDOW = "{col} >= fromUnixTimestamp64Milli({{start:Int64}}, 'UTC') AND {col} < fromUnixTimestamp64Milli({{end:Int64}}, 'UTC')"

# One row per probe (a retried insert stored twice counts once), those that can count against an orchestrator.
_PROBES_SQL = f"""
SELECT orchestrator, model_id,
       count() AS probes,
       countIf(outcome = 'ok') AS ok,
       countIf(capacity_idle IS NOT NULL) AS reached,
       countIf(capacity_idle IS NOT NULL AND fault = 'orchestrator') AS failed,
       avgIf(output_fps / input_fps, outcome = 'ok' AND input_fps > 0 AND output_fps IS NOT NULL) AS delivery,
       countIf(outcome = 'ok' AND input_fps > 0 AND output_fps IS NOT NULL) AS delivery_n,
       avgIf(output_fps, outcome = 'ok' AND output_fps IS NOT NULL) AS fps,
       medianExactIf(p2ff_ms, outcome = 'ok' AND p2ff_ms IS NOT NULL) AS p2ff,
       countIf(outcome = 'ok' AND p2ff_ms IS NOT NULL) AS p2ff_n,
       medianExactIf(startup_ms, outcome = 'ok' AND startup_ms IS NOT NULL) AS startup,
       countIf(outcome = 'ok' AND startup_ms IS NOT NULL) AS startup_n,
       medianExactIf(e2e_p50_ms, outcome = 'ok' AND e2e_p50_ms IS NOT NULL) AS e2e
FROM (
    SELECT * FROM probe_runs
    WHERE {_WINDOW.format(col="started_at")} AND model_id != '' AND fault IN ('none', 'orchestrator') AND item_kind != 'bad'
      {{orch}}
    ORDER BY probe_id, ingested_at
    LIMIT 1 BY probe_id
)
GROUP BY orchestrator, model_id
ORDER BY orchestrator, model_id
LIMIT {MAX_PAIRS}
"""

_GAUGES_SQL = f"""
SELECT orchestrator, labels['model_id'] AS model_id, avg(value) AS fps, count() AS n
FROM samples
WHERE metric = '{OUT_FPS}' AND {_WINDOW.format(col="ts")} AND orchestrator != '' AND isFinite(value) {{orch}}
GROUP BY orchestrator, model_id
"""

_COUNTERS_SQL = f"""
SELECT orchestrator, model_id, metric, toFloat64(sum(d)) AS inc
FROM (
    SELECT orchestrator, labels['model_id'] AS model_id, metric,
           lagInFrame(value, 1, nan) OVER w AS pv,
           if(isNaN(pv), 0, if(value >= pv, value - pv, value)) AS d
    FROM samples
    WHERE metric IN {{counters:Array(String)}} AND {_WINDOW.format(col="ts")} AND orchestrator != ''
      AND isFinite(value) AND value >= 0
      AND NOT (metric IN ('{STARTUP_SUM}', '{STARTUP_COUNT}') AND labels['startup'] = 'restart') {{orch}}
    WINDOW w AS (PARTITION BY orchestrator, metric, labels ORDER BY ts ROWS BETWEEN 1 PRECEDING AND CURRENT ROW)
)
GROUP BY orchestrator, model_id, metric
"""


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else a / b


def _exporter(wh: Any, params: dict[str, Any], orch: str) -> dict[tuple[str, str], dict[str, Any]]:
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for o, model, fps, n in wh.query(_GAUGES_SQL.replace("{orch}", orch), params).rows:
        out.setdefault((o, model), {})["output_fps"] = float(fps) if n else None
    inc: dict[tuple[str, str], dict[str, float]] = {}
    for o, model, metric, v in wh.query(_COUNTERS_SQL.replace("{orch}", orch), {**params, "counters": list(COUNTERS)}).rows:
        inc.setdefault((o, model), {})[metric] = float(v)
    for key, c in inc.items():
        e = out.setdefault(key, {})
        e["delivery"] = _ratio(c.get(FRAMES_OUT), c.get(FRAMES_IN))
        e["p2ff_ms"] = None if not c.get(P2FF_COUNT) else 1000 * c.get(P2FF_SUM, 0.0) / c[P2FF_COUNT]
        e["startup_ms"] = None if not c.get(STARTUP_COUNT) else 1000 * c.get(STARTUP_SUM, 0.0) / c[STARTUP_COUNT]
        e["failure_rate"] = _ratio(c.get(ERRORS, 0.0), c.get(STARTED))
        e["streams_started"], e["errors"] = c.get(STARTED, 0.0), c.get(ERRORS, 0.0)
    return out


def _num(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if f == f and abs(f) != float("inf") else None


def compare(probe: dict[str, Any], exp: dict[str, Any], t: Thresholds) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The flags and, per quantity, whether it was compared (or why not)."""
    flags: list[dict[str, Any]] = []
    compared: dict[str, str] = {}

    def check(name: str, p: float | None, n: int, e: float | None, too_far: Any, tolerance: Any) -> None:
        if p is None or n == 0:
            compared[name] = "no probe measurement"
        elif n < t.min_probes:
            compared[name] = f"too few probes ({n} < {t.min_probes})"
        elif e is None:
            compared[name] = "no self-report"
        else:
            compared[name] = "compared"
            if too_far(p, e):
                flags.append({"metric": name, "probe": round(p, 3), "exporter": round(e, 3), "difference": round(p - e, 3),
                              "tolerance": tolerance})  # fmt: skip

    check("fps", probe["delivery"], probe["delivery_n"], exp.get("delivery"), lambda p, e: abs(p - e) > t.fps_tolerance,
          t.fps_tolerance)  # fmt: skip
    latency = lambda p, e: abs(p - e) > t.latency_ms and abs(p - e) > t.latency_ratio * max(p, e)  # noqa: E731
    tol = {"ms": t.latency_ms, "ratio": t.latency_ratio}
    check("p2ff", probe["p2ff_ms"], probe["p2ff_n"], exp.get("p2ff_ms"), latency, tol)
    check("startup", probe["startup_ms"], probe["startup_n"], exp.get("startup_ms"), latency, tol)
    check("failure", probe["failure_rate"], probe["reached"], exp.get("failure_rate"), lambda p, e: p - e > t.failure_tolerance,
          t.failure_tolerance)  # fmt: skip
    return flags, compared


def crosscheck(wh: Any, t: Thresholds, start_ms: int, end_ms: int, orchestrator: str | None = None) -> list[dict[str, Any]]:
    """One entry per (orchestrator, model) the prober probed in [start, end): probe figures, the exporter's, flags."""
    params: dict[str, Any] = {"start": start_ms, "end": end_ms}
    orch = ""
    if orchestrator:
        orch, params["orch"] = "AND orchestrator = {orch:String}", orchestrator
    exporter = _exporter(wh, params, orch)
    out = []
    for row in wh.query(_PROBES_SQL.replace("{orch}", orch), params).rows:
        o, model, probes, ok, reached, failed, delivery, delivery_n, fps, p2ff, p2ff_n, startup, startup_n, e2e = row
        probe = {
            "probes": int(probes), "ok": int(ok), "reached": int(reached), "failed": int(failed),
            "failure_rate": (int(failed) / int(reached)) if reached else None,
            "delivery": _num(delivery) if delivery_n else None, "delivery_n": int(delivery_n),
            "output_fps": _num(fps) if ok else None,
            "p2ff_ms": _num(p2ff) if p2ff_n else None, "p2ff_n": int(p2ff_n),
            "startup_ms": _num(startup) if startup_n else None, "startup_n": int(startup_n),
            "e2e_p50_ms": _num(e2e) if ok else None,
        }  # fmt: skip
        exp = exporter.get((o, model), {})
        flags, compared = compare(probe, exp, t)
        out.append({
            "orchestrator": o, "model_id": model,
            "probe": {k: (round(v, 3) if isinstance(v, float) else v) for k, v in probe.items()},
            "exporter": {k: (round(v, 3) if isinstance(v, float) else v) for k, v in sorted(exp.items())} or None,
            "compared": compared, "flags": flags,
        })  # fmt: skip
    return out
