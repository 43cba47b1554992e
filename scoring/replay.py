"""Replaying published scores: recompute each with the config version and hash it names, and say whether the bytes
are identical.

v0.x scores are recomputed from the raw log with the rows that had arrived by their `as_of`. v1 scores are sums of
base-window inputs: the score is recomputed from the inputs computed by its `as_of`, and each of those inputs is
recomputed from the raw log with the rows that had arrived by the input's own `as_of` (`verify_inputs`), so a
replay checks the whole path from samples to score. A v2 score also reads its window's probes from probe_runs as of
its `as_of` (scoring/probe_totals.py), as the publisher did.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from scoring.compute import compute_scores
from scoring.inputs_v1 import LOOKBACK_MS, as_stored, compute_inputs, read_inputs
from scoring.publish_v1 import compute_scores_v1, key_sums, scores_from_sums, window_probes
from scoring.sla_config import AnyConfig, is_v1, released_configs
from scoring.sla_v1 import ConfigV1
from warehouse.client import Warehouse

_PUBLISHED_SQL = """
SELECT period, orchestrator, workflow, toUnixTimestamp64Milli(window_end) AS window_end_ms, config_version, config_hash,
       toUnixTimestamp64Milli(as_of) AS as_of_ms, score, score_lower, score_upper, coverage, status, detail
FROM sla_scores
WHERE window_end >= fromUnixTimestamp64Milli({lo:Int64}, 'UTC') AND window_end <= fromUnixTimestamp64Milli({hi:Int64}, 'UTC')
  {filters}
ORDER BY period, window_end, orchestrator, workflow, computed_ts
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
    workflow: str = ""


def published_scores(wh: Warehouse, lo_ms: int, hi_ms: int, orchestrator: str | None = None,
                     period: str | None = None) -> list[dict[str, Any]]:  # fmt: skip
    """Published rows whose window ends in [lo, hi], oldest first."""
    params: dict[str, Any] = {"lo": lo_ms, "hi": hi_ms}
    filters = ""
    if orchestrator:
        filters += " AND orchestrator = {orch:String}"
        params["orch"] = orchestrator
    if period:
        filters += " AND period = {period:String}"
        params["period"] = period
    return wh.query(_PUBLISHED_SQL.replace("{filters}", filters), params).dicts()


# Said of inputs the raw log can no longer reproduce: reported, taken as stored, never a difference.
UNVERIFIABLE = "earlier rows passed the raw log's retention"

_MARKERS_SQL = """
SELECT toUnixTimestamp64Milli(window_start) AS ws, toUnixTimestamp64Milli(as_of) AS as_of_ms
FROM score_inputs_v1
WHERE config_hash = {hash:String} AND orchestrator = ''
  AND window_start >= fromUnixTimestamp64Milli({lo:Int64}, 'UTC') AND window_start < fromUnixTimestamp64Milli({hi:Int64}, 'UTC')
  AND computed_ts <= fromUnixTimestamp64Milli({cutoff:Int64}, 'UTC')
ORDER BY ws, computed_ts
LIMIT 1 BY ws
"""


class InputsVerifier:
    """Recomputes v1 base-window inputs from the raw log, each window once, and remembers what differed."""

    def __init__(self, wh: Warehouse) -> None:
        self.wh = wh
        self.checked: dict[tuple[str, int], dict[tuple[str, str], str]] = {}  # (hash, window) -> {key: why}
        oldest = wh.scalar("SELECT toUnixTimestamp64Milli(min(ts)) FROM samples")
        self.raw_from = int(oldest) if oldest else None
        self.windows_recomputed = 0

    def differences(self, config: ConfigV1, lo_ms: int, hi_ms: int, cutoff_ms: int, orchestrator: str) -> list[str]:
        """Why the orchestrator's stored inputs of the windows in [lo, hi) differ from the raw log (empty: none)."""
        out = []
        for ws, as_of in self.wh.query(_MARKERS_SQL, {"hash": config.hash, "lo": lo_ms, "hi": hi_ms, "cutoff": cutoff_ms}).rows:
            diffs = self._window(config, int(ws), int(as_of), cutoff_ms)
            out.extend(f"inputs of window {ws}, {wf or 'orchestrator'}: {why}" for (o, wf), why in sorted(diffs.items()) if o == orchestrator)
        return out

    def _window(self, config: ConfigV1, ws: int, as_of: int, cutoff_ms: int) -> dict[tuple[str, str], str]:
        key = (config.hash, ws)
        if key in self.checked:
            return self.checked[key]
        diffs: dict[tuple[str, str], str] = {}
        stored = {(r["orchestrator"], r["workflow"]): as_stored(r)
                  for r in read_inputs(self.wh, config, ws, ws + 1, cutoff_ms)}  # fmt: skip
        if self.raw_from is None or ws + config.spec.base_window_s * 1000 <= self.raw_from:
            diffs = {k: f"no raw rows of this window remain ({UNVERIFIABLE}); inputs taken as stored" for k in stored}
        else:
            again = {(r.orchestrator, r.workflow): r.values() for r in compute_inputs(self.wh, config, ws, as_of).rows}
            self.windows_recomputed += 1
            for k in sorted(set(stored) | set(again)):
                if stored.get(k) == again.get(k):
                    continue
                if ws - LOOKBACK_MS < self.raw_from:  # the raw log begins inside this window or the lookback it reads
                    diffs[k] = f"the raw log begins inside this window or its lookback ({UNVERIFIABLE}); inputs taken as stored"
                else:
                    diffs[k] = "stored differ from the raw log" if k in stored and k in again else (
                        "stored but not in the raw log" if k in stored else "in the raw log but not stored")
        self.checked[key] = diffs
        return diffs


def replay(wh: Warehouse, rows: list[dict[str, Any]], configs: dict[str, AnyConfig] | None = None,
           verify_inputs: bool = True) -> list[Replayed]:  # fmt: skip
    """Recompute every published row; rows of one (period, window end, config, as_of) share one computation.
    `verify_inputs`: also recompute v1 inputs from the raw log (a difference there makes the score "differs")."""
    configs = configs if configs is not None else released_configs()
    cache: dict[tuple, dict[tuple[str, str], Any]] = _v1_batches(wh, rows, configs)
    verifier = InputsVerifier(wh) if verify_inputs else None
    out = []
    for r in rows:
        cfg = configs.get(r["config_version"])
        wf = r.get("workflow", "")
        base = dict(period=r["period"], orchestrator=r["orchestrator"], workflow=wf, window_end_ms=int(r["window_end_ms"]),
                    config_version=r["config_version"], published=r["detail"])  # fmt: skip
        if cfg is None or cfg.hash != r["config_hash"]:
            why = "unknown config version" if cfg is None else f"config hash differs ({r['config_hash'][:12]} published)"
            out.append(Replayed(identical=False, recomputed="", reason=why, **base))
            continue
        v1 = is_v1(cfg)
        as_of = int(r["as_of_ms"]) if (v1 or "as_of" in r["detail"]) else None
        key = (r["period"], base["window_end_ms"], cfg.version, as_of)
        if key not in cache:
            if v1:
                got = compute_scores_v1(wh, cfg, r["period"], base["window_end_ms"], as_of)
            else:
                got = compute_scores(wh, cfg, r["period"], base["window_end_ms"], as_of)
            cache[key] = {(s.orchestrator, getattr(s, "workflow", "")): s for s in got}
        s = cache[key].get((r["orchestrator"], wf))
        if s is None:
            out.append(Replayed(identical=False, recomputed="", reason="no score for this orchestrator now", **base))
            continue
        again = s.detail_json()
        same = again == r["detail"] and s.status == r["status"] and s.score == r["score"]
        reason = "" if same else "recomputed score differs"
        if v1:
            same = same and (s.score_lower, s.score_upper, s.coverage) == (r["score_lower"], r["score_upper"], r["coverage"])
            if verifier is not None:
                period_ms = cfg.spec.periods[r["period"]].seconds * 1000
                diffs = verifier.differences(cfg, base["window_end_ms"] - period_ms, base["window_end_ms"], as_of, r["orchestrator"])
                hard = [d for d in diffs if UNVERIFIABLE not in d]
                if hard:
                    same, reason = False, "; ".join(hard[:3]) + (f" (+{len(hard) - 3} more)" if len(hard) > 3 else "")
                elif diffs and same:
                    reason = diffs[0]
            if not same and not reason:
                reason = "recomputed score differs"
        out.append(Replayed(identical=same, recomputed=again, reason=reason, **base))
    return out


def _v1_batches(wh: Warehouse, rows: list[dict[str, Any]], configs: dict[str, AnyConfig]) -> dict[tuple, dict[tuple[str, str], Any]]:
    """Recompute the v1 rows' scores in one pass per config: the inputs of the whole range read once, each score's
    sums taken from prefix sums. A score whose range holds an input first computed after its as_of (which a
    publisher never produces, but a replay must not assume) is recomputed on its own, exactly as published."""
    out: dict[tuple, dict[tuple[str, str], Any]] = {}
    by_cfg: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        cfg = configs.get(r["config_version"])
        if cfg is not None and is_v1(cfg) and cfg.hash == r["config_hash"]:
            by_cfg.setdefault(cfg.version, []).append(r)
    for version, rs in by_cfg.items():
        cfg = configs[version]
        assert isinstance(cfg, ConfigV1)
        ms = {p: spec.seconds * 1000 for p, spec in cfg.spec.periods.items()}
        rs = [r for r in rs if r["period"] in ms]
        if not rs:
            continue
        lo = min(int(r["window_end_ms"]) - ms[r["period"]] for r in rs)
        hi = max(int(r["window_end_ms"]) for r in rs)
        sums = key_sums(cfg, read_inputs(wh, cfg, lo, hi, max(int(r["as_of_ms"]) for r in rs)))
        groups: dict[tuple, set[str]] = {}
        for r in rs:
            groups.setdefault((r["period"], int(r["window_end_ms"]), cfg.version, int(r["as_of_ms"])), set()).add(r["orchestrator"])
        for key, orchs in groups.items():
            period, end, _, as_of = key
            start = end - ms[period]
            late = any(ks.latest_computed(*ks.span(start, end)) > as_of
                       for o in orchs if o in sums for ks in (sums[o][0], *sums[o][1].values()))  # fmt: skip
            if late:
                got = compute_scores_v1(wh, cfg, period, end, as_of)
            else:  # v2 also reads the window's probes as of the score's as_of (None for v1)
                got = scores_from_sums(cfg, period, end, as_of, sums, orchs, window_probes(wh, cfg, period, end, as_of))
            out[key] = {(s.orchestrator, s.workflow): s for s in got}
    return out


def json_diff(a: Any, b: Any, path: str = "") -> list[str]:
    """Where two JSON values differ, as `path: published -> recomputed` lines (paths like groups.latency.value)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out: list[str] = []
        for k in sorted(set(a) | set(b)):
            p = f"{path}.{k}" if path else str(k)
            if k not in a or k not in b:
                out.append(f"{p}: {a.get(k, '(absent)')!r} -> {b.get(k, '(absent)')!r}")
            else:
                out.extend(json_diff(a[k], b[k], p))
        return out
    return [] if a == b else [f"{path or '(value)'}: {a!r} -> {b!r}"]


def summary(results: list[Replayed]) -> dict[str, int]:
    same = sum(1 for r in results if r.identical)
    return {"replayed": len(results), "identical": same, "differ": len(results) - same}
