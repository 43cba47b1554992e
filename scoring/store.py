"""Publishing scores to `sla_scores` and reading the latest published ones back."""

from __future__ import annotations

import json
import logging
from typing import Any

from exporter.common.clock import now_ms as wall_ms
from scoring.compute import Score, aligned_window_end, compute_scores
from scoring.sla_config import SlaConfig
from warehouse.client import Warehouse

log = logging.getLogger(__name__)

SCORE_COLUMNS = (
    "computed_ts",
    "window_start",
    "window_end",
    "period",
    "orchestrator",
    "config_version",
    "config_hash",
    "score",
    "status",
    "detail",
)


def publish_scores(wh: Warehouse, config: SlaConfig, now_ms: int | None = None) -> list[Score]:
    """Compute and store the scores of every configured period for the window ending at the last step."""
    now_ms = wall_ms() if now_ms is None else now_ms
    end = aligned_window_end(now_ms, config.step_s)
    out: list[Score] = []
    for period in config.periods:
        scores = compute_scores(wh, config, period, end)
        wh.insert_rows(
            "sla_scores",
            SCORE_COLUMNS,
            [
                (now_ms, s.window_start_ms, s.window_end_ms, s.period, s.orchestrator, s.config_version,
                 s.config_hash, s.score, s.status, s.detail_json())
                for s in scores
            ],
        )
        out.extend(scores)
    log.debug("published %d scores for window end %d", len(out), end)
    return out


_LATEST_SQL = """
SELECT orchestrator, score, status, detail, window_end
FROM sla_scores
WHERE period = {period:String}
  AND window_end = (SELECT max(window_end) FROM sla_scores WHERE period = {period:String})
  {orch_filter}
ORDER BY orchestrator, computed_ts DESC
LIMIT 1 BY orchestrator
"""


def latest_scores(wh: Warehouse, period: str, orchestrator: str | None = None) -> list[dict[str, Any]]:
    """The most recent published window of `period`, one entry per orchestrator (sorted)."""
    params: dict[str, Any] = {"period": period}
    orch_filter = ""
    if orchestrator:
        orch_filter = "AND orchestrator = {orch:String}"
        params["orch"] = orchestrator
    rows = wh.query(_LATEST_SQL.replace("{orch_filter}", orch_filter), params).rows
    out = []
    for orch, score, status, detail, _end in rows:
        entry = {"orchestrator": orch, "score": score, "status": status}
        entry.update(json.loads(detail))
        out.append(entry)
    return out
