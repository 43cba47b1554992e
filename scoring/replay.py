"""Replaying published scores: recompute each from the raw log with the config version and hash it names and the
rows that had arrived by its `as_of`, and say whether the bytes are identical."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from scoring.compute import compute_scores
from scoring.sla_config import SlaConfig, released_configs
from warehouse.client import Warehouse

_PUBLISHED_SQL = """
SELECT period, orchestrator, toUnixTimestamp64Milli(window_end) AS window_end_ms, config_version, config_hash, toUnixTimestamp64Milli(as_of) AS as_of_ms,
       score, status, detail
FROM sla_scores
WHERE window_end >= fromUnixTimestamp64Milli({lo:Int64}, 'UTC') AND window_end <= fromUnixTimestamp64Milli({hi:Int64}, 'UTC')
  {filters}
ORDER BY period, window_end, orchestrator, computed_ts
"""


@dataclass
class Replayed:
    period: str
    orchestrator: str
    window_end_ms: int
    config_version: str
    identical: bool
    published: str  # the published detail JSON
    recomputed: str  # the recomputed detail JSON ("" when it could not be recomputed)
    reason: str = ""


def published_scores(wh: Warehouse, lo_ms: int, hi_ms: int, orchestrator: str | None = None,
                     period: str | None = None) -> list[dict[str, Any]]:  # fmt: skip
    params: dict[str, Any] = {"lo": lo_ms, "hi": hi_ms}
    filters = ""
    if orchestrator:
        filters += " AND orchestrator = {orch:String}"
        params["orch"] = orchestrator
    if period:
        filters += " AND period = {period:String}"
        params["period"] = period
    return wh.query(_PUBLISHED_SQL.replace("{filters}", filters), params).dicts()


def replay(wh: Warehouse, rows: list[dict[str, Any]], configs: dict[str, SlaConfig] | None = None) -> list[Replayed]:
    """Recompute every published row; rows of one (period, window end, config, as_of) share one computation."""
    configs = configs if configs is not None else released_configs()
    cache: dict[tuple, dict[str, Any]] = {}
    out = []
    for r in rows:
        cfg = configs.get(r["config_version"])
        base = dict(period=r["period"], orchestrator=r["orchestrator"], window_end_ms=int(r["window_end_ms"]),
                    config_version=r["config_version"], published=r["detail"])  # fmt: skip
        if cfg is None or cfg.hash != r["config_hash"]:
            why = "unknown config version" if cfg is None else f"config hash differs ({r['config_hash'][:12]} published)"
            out.append(Replayed(identical=False, recomputed="", reason=why, **base))
            continue
        as_of = int(r["as_of_ms"]) if "as_of" in r["detail"] else None
        key = (r["period"], base["window_end_ms"], cfg.version, as_of)
        if key not in cache:
            cache[key] = {s.orchestrator: s for s in compute_scores(wh, cfg, r["period"], base["window_end_ms"], as_of)}
        s = cache[key].get(r["orchestrator"])
        if s is None:
            out.append(Replayed(identical=False, recomputed="", reason="no score for this orchestrator now", **base))
            continue
        again = s.detail_json()
        same = again == r["detail"] and s.status == r["status"] and s.score == r["score"]
        out.append(Replayed(identical=same, recomputed=again, **base))
    return out
