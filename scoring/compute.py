"""The v0 SLA score, computed in SQL over the raw log and scrape rows.

Deterministic by construction: the window is a parameter (never the wall clock), aggregates are exact
(integer counts, exact quantiles that return one of the input values), orchestrators are iterated in
sorted order and the detail is canonical JSON — so the same rows and config give the same bytes.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from scoring.sla_config import SlaConfig
from warehouse.client import Warehouse

FPS_METRIC = "naap_stream_output_fps"

# Availability = successful / scheduled scrapes, over the slots the targets are answerable for: rows the
# scraper marked void (slots it missed, failures of scrapes it started late) and rows inside a void window of
# the same scraper (it was paused, every target of a round was unreachable at once, rows were dropped) count
# neither way. docs/scraper.md, "Availability", states the rule.
# `{asof}` limits every table to the rows that had arrived when the score was published (AS_OF below), so a
# published score replays to the same bytes whatever arrives later.
AVAILABILITY_SQL = """
SELECT orchestrator, count() AS scheduled, sum(up) AS successful
FROM scrapes
WHERE scheduled_ts >= fromUnixTimestamp64Milli({start:Int64}, 'UTC')
  AND scheduled_ts <  fromUnixTimestamp64Milli({end:Int64}, 'UTC')
  AND orchestrator != ''
  AND void = 0 {asof}
  AND NOT arrayExists(w -> w.1 = scraper AND scheduled_ts >= w.2 AND scheduled_ts < w.3, (
        SELECT groupArray((scraper, start_ts, end_ts)) FROM scraper_void
        WHERE end_ts > fromUnixTimestamp64Milli({start:Int64}, 'UTC')
          AND start_ts < fromUnixTimestamp64Milli({end:Int64}, 'UTC') {asof}))
GROUP BY orchestrator
ORDER BY orchestrator
"""
AS_OF = "AND ingested_at < fromUnixTimestamp64Milli({as_of:Int64}, 'UTC')"

# {pct} is inlined (a validated float): ClickHouse needs aggregate parameters as literals.
_FPS_SQL = """
SELECT orchestrator,
       count() AS n,
       quantileExactInclusive(0.5)(value) AS p50,
       quantileExactInclusive(0.95)(value) AS p95,
       quantileExactInclusive({pct})(value / transform(labels['model_id'], {models:Array(String)},
                                                      {targets:Array(Float64)}, {fallback:Float64})) AS ratio
FROM samples
WHERE metric = {metric:String}
  AND ts >= fromUnixTimestamp64Milli({start:Int64}, 'UTC')
  AND ts <  fromUnixTimestamp64Milli({end:Int64}, 'UTC')
  AND orchestrator != ''
  AND isFinite(value) {asof}
GROUP BY orchestrator
ORDER BY orchestrator
"""


@dataclass(frozen=True)
class Score:
    orchestrator: str
    period: str
    window_start_ms: int
    window_end_ms: int
    config_version: str
    config_hash: str
    score: float | None
    status: str  # ok | insufficient_data
    detail: dict[str, Any]
    as_of_ms: int | None = None

    def detail_json(self) -> str:
        return json.dumps(self.detail, sort_keys=True, separators=(",", ":"))

    def as_dict(self) -> dict[str, Any]:
        return {
            "orchestrator": self.orchestrator,
            "score": self.score,
            "status": self.status,
            **self.detail,
        }


def wilson_lower(successes: int, n: int, z: float = 1.96) -> float:
    """Lower bound of the Wilson score interval: an honest rate for small n."""
    if n == 0:
        return 0.0
    p = successes / n
    denom = 1 + z * z / n
    centre = p + z * z / (2 * n)
    margin = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, (centre - margin) / denom)


def rounded(x: float) -> float:
    """Six decimals: what a published subscore carries (stable bytes across platforms)."""
    return round(float(x), 6)


def aligned_window_end(now_ms: int, step_s: int) -> int:
    step = step_s * 1000
    return (now_ms // step) * step


def compute_scores(wh: Warehouse, config: SlaConfig, period: str, window_end_ms: int, as_of_ms: int | None = None) -> list[Score]:
    """The scores of one period's window ending at `window_end_ms`, from the rows that had arrived before
    `as_of_ms` (None: every row there is now — what `naap score` shows; published scores always name one)."""
    if period not in config.periods:
        raise ValueError(f"unknown period {period!r}; configured: {', '.join(config.periods)}")
    start_ms = window_end_ms - config.periods[period] * 1000
    params: dict[str, Any] = {"start": start_ms, "end": window_end_ms}
    asof = ""
    if as_of_ms is not None:
        asof, params["as_of"] = AS_OF, as_of_ms
    avail = {r[0]: (int(r[1]), int(r[2])) for r in wh.query(AVAILABILITY_SQL.replace("{asof}", asof), params).rows}
    models = sorted(k for k in config.fps_targets if k != "default")
    fps_rows = wh.query(
        _FPS_SQL.replace("{pct}", repr(float(config.fps_percentile))).replace("{asof}", asof),
        {
            **params,
            "metric": FPS_METRIC,
            "models": models,
            "targets": [float(config.fps_targets[m]) for m in models],
            "fallback": float(config.fps_targets["default"]),
        },
    ).rows
    fps = {r[0]: (int(r[1]), float(r[2]), float(r[3]), float(r[4])) for r in fps_rows}

    scores = []
    for orch in sorted(set(avail) | set(fps)):
        scheduled, successful = avail.get(orch, (0, 0))
        subscores: dict[str, dict[str, Any]] = {}
        availability: dict[str, Any] = {"scheduled": scheduled, "successful": successful}
        if scheduled >= config.min_scrapes:
            availability["value"] = rounded(successful / scheduled)
            availability["wilson_lower"] = rounded(wilson_lower(successful, scheduled))
        else:
            availability["value"] = None
            availability["status"] = "insufficient_data"
        subscores["availability"] = availability

        n, p50, p95, ratio = fps.get(orch, (0, 0.0, 0.0, 0.0))
        out_fps: dict[str, Any] = {"samples": n}
        if n >= config.min_fps_samples:
            out_fps.update(p50=rounded(p50), p95=rounded(p95), target_ratio=rounded(ratio), value=rounded(min(1.0, max(0.0, ratio))))
        else:
            out_fps.update(value=None, status="insufficient_data")
        subscores["output_fps"] = out_fps

        weighted = [(config.weights.get(k, 0.0), s["value"]) for k, s in subscores.items() if s["value"] is not None]
        wsum = sum(w for w, _ in weighted)
        missing = [k for k, s in subscores.items() if s["value"] is None and config.weights.get(k, 0.0) > 0]
        if availability["value"] is None or wsum <= 0 or (missing and config.missing_data == "insufficient_data"):
            score, status = None, "insufficient_data"
        else:
            score, status = round(100.0 * sum(w * v for w, v in weighted) / wsum, 2), "ok"
        detail = {
            "period": period,
            "window_start": start_ms,
            "window_end": window_end_ms,
            **({"as_of": as_of_ms} if as_of_ms is not None else {}),
            "config_version": config.version,
            "config_hash": config.hash,
            "subscores": subscores,
        }
        scores.append(Score(orch, period, start_ms, window_end_ms, config.version, config.hash, score, status, detail, as_of_ms))
    return scores
