"""Publishing scores to `sla_scores`, and reading the latest published ones back.

A score is published for the window ending `settle_s` before now (aligned to the config's step), so that the
window's scrapes have finished and been written; it is computed from the rows that had arrived by its `as_of`
time (now, less a small margin for inserts still committing), and records both. Replaying it later with the same
`as_of` gives the same bytes, whatever arrived since (scoring/replay.py).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from exporter.common.clock import now_ms as wall_ms
from scoring.compute import Score, aligned_window_end, compute_scores
from scoring.sla_config import SlaConfig
from warehouse.client import Warehouse
from warehouse.writer import Writer

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
    "as_of",
)


def score_rows(scores: list[Score], computed_ms: int) -> list[tuple]:
    return [
        (computed_ms, s.window_start_ms, s.window_end_ms, s.period, s.orchestrator, s.config_version, s.config_hash,
         s.score, s.status, s.detail_json(), s.as_of_ms)
        for s in scores
    ]  # fmt: skip


def publish_scores(wh: Warehouse, config: SlaConfig, writer: Writer | None = None, now_ms: int | None = None,
                   settle_s: float = 0.0, as_of_margin_s: float = 2.0) -> list[Score]:  # fmt: skip
    """Compute and publish the scores of every configured period for the window ending at the last step at
    least `settle_s` ago, from the rows that arrived up to `as_of_margin_s` ago (rows whose insert was still
    committing may not be visible yet: the cut-off stays behind them). Rows go through `writer` (the process's
    one writer) or, without one, straight in."""
    now_ms = wall_ms() if now_ms is None else now_ms
    end = aligned_window_end(now_ms - int(settle_s * 1000), config.step_s)
    as_of = now_ms - int(as_of_margin_s * 1000)
    out: list[Score] = []
    for period in config.periods:
        scores = compute_scores(wh, config, period, end, as_of)
        rows = score_rows(scores, now_ms)
        if writer is not None:
            writer.add("sla_scores", SCORE_COLUMNS, rows)
        else:
            wh.insert_rows("sla_scores", SCORE_COLUMNS, rows)
        out.extend(scores)
    log.debug("published %d scores for window end %d (as of %d)", len(out), end, as_of)
    return out


_LATEST_SQL = """
SELECT orchestrator, score, status, detail, window_end
FROM sla_scores
WHERE period = {period:String} AND config_version = {version:String} AND workflow = {workflow:String}
  AND window_end = (SELECT max(window_end) FROM sla_scores
                    WHERE period = {period:String} AND config_version = {version:String})
  {orch_filter}
ORDER BY orchestrator, computed_ts
LIMIT 1 BY orchestrator
"""


def latest_scores(wh: Any, period: str, orchestrator: str | None = None, config_version: str | None = None,
                  workflow: str = "") -> list[dict[str, Any]]:  # fmt: skip
    """The most recent published window of `period` for `config_version`, one entry per orchestrator (sorted): the
    orchestrator's own score (workflow '') or one workflow's. The first published row wins if a window was
    published twice."""
    params: dict[str, Any] = {"period": period, "version": config_version or "", "workflow": workflow}
    if config_version is None:
        params["version"] = wh.scalar(
            "SELECT argMax(config_version, window_end) FROM sla_scores WHERE period = {period:String}", {"period": period}
        ) or ""
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
