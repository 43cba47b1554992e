"""Published scores as the API serves them: one `ScoreEntry` shape for /v1/sla/compliance, /v1/sla/history, the
leaderboard, /v1/select and the Explorer routes, whichever scoring engine (v0 or v1) published them."""

from __future__ import annotations

import logging
from typing import Any, Mapping

import msgspec

from api import models as m
from api.errors import BadRequest
from api.query import instant_ms, norm_region, time_window
from scoring.sla_config import is_v1

log = logging.getLogger(__name__)

INSUFFICIENT = "insufficient_data"


def scoring_version(config: Any) -> str:
    """The engine that publishes with `config`: v1 (groups and metrics) or v0 (subscores)."""
    return "v1" if is_v1(config) else "v0"


def check_period(config: Any, period: str) -> str:
    if period not in config.periods:
        raise BadRequest(f"unknown period {period[:20]!r}; one of: {', '.join(config.periods)}")
    return period


def default_period(config: Any, preferred: str) -> str:
    """`preferred` when the config publishes it, else its longest period of at most a day, else its first."""
    if preferred in config.periods:
        return preferred
    day = [p for p, s in config.periods.items() if s <= 86400]
    return max(day, key=lambda p: config.periods[p]) if day else next(iter(config.periods))


def has_data(row: Mapping[str, Any]) -> bool:
    """A published score that is not insufficient_data and has a value."""
    return row["status"] != INSUFFICIENT and row["score"] is not None


def answering_period(wh: Any, config: Any, f: Any, since_ms: int | None = None,
                     until_ms: int | None = None) -> tuple[str, int | None, list[dict[str, Any]]]:  # fmt: skip
    """The longest period of at most a day (24h, else 1h, else 5m with the shipped configs) whose latest published
    window (ending in ``(since_ms, until_ms]``) holds a score with data matching the filter `f` (api.reads.ScoreFilter),
    with that window's end and rows. A fresh deployment publishes its short periods first: the 24 h period needs
    half a day of coverage before its scores have data. When no period has data, the longest period that has a
    window (its rows all insufficient), else the config's default period with no window: (period, None, [])."""
    from api.reads import latest_window_end, scores_at  # api.reads is the data layer; imported here to keep it lazy

    day = sorted((p for p, s in config.periods.items() if s <= 86400), key=lambda p: -config.periods[p])
    fallback: tuple[str, int | None, list[dict[str, Any]]] | None = None
    for p in day or [default_period(config, "24h")]:
        end = latest_window_end(wh, p, config.version, until_ms=until_ms)
        if end is None or (since_ms is not None and end <= since_ms):
            continue
        rows = scores_at(wh, p, config.version, end, f)
        if any(has_data(r) for r in rows):
            return p, end, rows
        if fallback is None:
            fallback = (p, end, rows)
    return fallback or (default_period(config, "24h"), None, [])


def window_end_param(value: str | None) -> int | None:
    return None if value is None or value == "" else instant_ms(value, "window_end")


def _convert(value: Any, typ: Any, what: str) -> Any:
    try:
        return msgspec.convert(value, typ)
    except msgspec.ValidationError as e:  # a row not written by this version's publisher: leave that part out
        log.warning("a published score's %s does not have the documented shape: %s", what, e)
        return msgspec.UNSET


def entry(row: Mapping[str, Any], config: Any, regions: Mapping[str, str]) -> m.ScoreEntry:
    """A published row (api.reads) as served."""
    d = row["detail"] if isinstance(row.get("detail"), dict) else {}
    kw: dict[str, Any] = {}
    if isinstance(d.get("groups"), dict):
        kw["groups"] = _convert(d["groups"], dict[str, m.GroupDetail], "groups")
    if isinstance(d.get("metrics"), dict):
        kw["metrics"] = _convert(d["metrics"], dict[str, m.MetricDetail], "metrics")
    for k in ("observed_windows", "windows"):
        if isinstance(d.get(k), int):
            kw[k] = d[k]
    if isinstance(d.get("subscores"), dict):
        kw["subscores"] = d["subscores"]
    status = str(row["status"])
    reasons = [str(x) for x in d.get("reasons", [])] if isinstance(d.get("reasons"), list) else []
    return m.ScoreEntry(
        orchestrator=row["orchestrator"], workflow=row["workflow"], region=norm_region(regions.get(row["orchestrator"])),
        period=row["period"], window_start=row["window_start"], window_end=row["window_end"],
        time_window=time_window(row["window_start"], row["window_end"]), as_of=row["as_of"],
        config_version=config.version, config_hash=row["config_hash"], scoring_version=scoring_version(config),
        score=row["score"], score_lower=row["score_lower"], score_upper=row["score_upper"], coverage=row["coverage"],
        status=status, insufficient_data=status == INSUFFICIENT, reasons=reasons, **kw,
    )  # fmt: skip


def group_values(row: Mapping[str, Any]) -> dict[str, float | None]:
    """{group: value} of a v1 row's detail (empty for v0)."""
    groups = row["detail"].get("groups") if isinstance(row.get("detail"), dict) else None
    if not isinstance(groups, dict):
        return {}
    return {g: (v.get("value") if isinstance(v, dict) else None) for g, v in sorted(groups.items())}


def rank_key(row: Mapping[str, Any]) -> tuple:
    """Best first: ok before insufficient, then score_lower, score (higher first), then the address."""
    ok = row["status"] == "ok" and row["score"] is not None
    lo = row["score_lower"] if row["score_lower"] is not None else row["score"]
    return (0 if ok else 1, -(lo or 0.0), -(row["score"] or 0.0), row["orchestrator"], row["workflow"])
