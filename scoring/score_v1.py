"""SLA score v1: sums of a window's base-window inputs (scoring/inputs_v1.py) turned into subscores, groups and a score.

Every scored metric is a rate of good events among events, with a Wilson score interval:
  availability  successful / scheduled scrape slots                      (the v0 rule)
  output_fps    5 s FPS windows at or above the workflow's target / windows seen
  jitter        jitter values (σ/μ over 60 s) at or below jitter_max / values seen
  p2ff, startup events at or below the workflow's target (a histogram bound) / events
  failure_rate  errors / max(streams started, errors); its subscore is 1 at or below failure_rate_target, 0 at or
                above failure_rate_zero_at, linear between (the seeds: error events / requests; an error beyond
                the streams started counts as one more failed request, never as a rate above 1)
A metric's status: ok (enough events), no_events (its source is there, nothing happened: an idle orchestrator has no
FPS windows, a window without prompt updates no P2FF), insufficient_samples (fewer than min_samples: left out like
no_events), or missing (the orchestrator does not expose the source at all, or had active streams without FPS).
A missing scored metric, availability below its minimum, or coverage below the period's minimum makes the whole
score insufficient_data (design §9: missing data never pays). Groups average their ok metrics by weight; the score
is 100 × Σ w·group / Σ w over groups with a value; score_lower and score_upper are the same with every rate at its
interval's bound. Deterministic: inputs are summed in (workflow, window) order; values rounded to 6 decimals,
scores to 2; the detail is canonical JSON.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable

from scoring.compute import rounded
from scoring.promql import histogram_quantile
from scoring.sla_v1 import GROUPS, METRIC_GROUPS, ConfigV1

STATUS_OK = "ok"
INSUFFICIENT = "insufficient_data"


def wilson(k: float, n: float, z: float) -> tuple[float, float]:
    """The Wilson score interval (lower, upper) of k successes in n trials (Wilson 1927); (0, 1) when n = 0."""
    if n <= 0:
        return 0.0, 1.0
    p = k / n
    denom = 1 + z * z / n
    centre = p + z * z / (2 * n)
    margin = z * math.sqrt(max(0.0, p * (1 - p) / n + z * z / (4 * n * n)))
    return max(0.0, (centre - margin) / denom), min(1.0, (centre + margin) / denom)


@dataclass
class Totals:
    """Sums of input rows over a score's window."""

    scheduled: int = 0
    successful: int = 0
    observed_windows: int = 0
    active_n: int = 0
    active_max: float = 0.0
    fps_n: int = 0
    fps_ok: int = 0
    fps_sum: float = 0.0
    fps_min: float | None = None
    fps_max: float | None = None
    jitter_n: int = 0
    jitter_ok: int = 0
    jitter_sum: float = 0.0
    p2ff_n: float = 0.0
    p2ff_ok: float = 0.0
    startup_n: float = 0.0
    startup_ok: float = 0.0
    started: float = 0.0
    errors: dict[str, float] | None = None
    restarts: float = 0.0
    swaps: float = 0.0
    rx_bytes: float = 0.0
    tx_bytes: float = 0.0
    frames_out: float = 0.0
    p2ff_buckets: dict[float, float] | None = None
    startup_buckets: dict[float, float] | None = None
    cue_n: dict[str, int] | None = None
    cue_ok: dict[str, int] | None = None
    cue_sum: dict[str, float] | None = None
    families: set[str] | None = None


def _add_map(into: dict, m: dict) -> None:
    for k in sorted(m):
        into[k] = into.get(k, 0) + m[k]


def totals(config: ConfigV1, own: Iterable[dict[str, Any]], workflow_rows: Iterable[dict[str, Any]]) -> Totals:
    """Sum the orchestrator rows (`own`: availability, swaps, CUE, families) and the workflow rows, each iterable
    sorted by (workflow, window_start). Latency within-target counts use each workflow's own targets."""
    t = Totals(errors={}, p2ff_buckets={}, startup_buckets={}, cue_n={}, cue_ok={}, cue_sum={}, families=set())
    for r in own:
        t.scheduled += int(r["scheduled"])
        t.successful += int(r["successful"])
        t.observed_windows += 1 if int(r["scheduled"]) > 0 else 0
        t.swaps += float(r["swaps"])
        _add_map(t.cue_n, r["cue_n"])
        _add_map(t.cue_ok, r["cue_ok"])
        _add_map(t.cue_sum, r["cue_sum"])
        t.families.update(r["families"])
    for r in workflow_rows:
        targets = config.targets(r["workflow"])
        t.active_n += int(r["active_n"])
        t.active_max = max(t.active_max, float(r["active_max"]))
        if int(r["fps_n"]):
            t.fps_min = float(r["fps_min"]) if t.fps_min is None else min(t.fps_min, float(r["fps_min"]))
            t.fps_max = float(r["fps_max"]) if t.fps_max is None else max(t.fps_max, float(r["fps_max"]))
        t.fps_n += int(r["fps_n"])
        t.fps_ok += int(r["fps_ok"])
        t.fps_sum += float(r["fps_sum"])
        t.jitter_n += int(r["jitter_n"])
        t.jitter_ok += int(r["jitter_ok"])
        t.jitter_sum += float(r["jitter_sum"])
        p2ff, startup = r["p2ff_buckets"], r["startup_buckets"]
        t.p2ff_n += float(p2ff.get(math.inf, 0.0))
        t.p2ff_ok += float(p2ff.get(targets.p2ff_s, 0.0))
        t.startup_n += float(startup.get(math.inf, 0.0))
        t.startup_ok += float(startup.get(targets.startup_s, 0.0))
        _add_map(t.p2ff_buckets, p2ff)
        _add_map(t.startup_buckets, startup)
        t.started += float(r["started"])
        _add_map(t.errors, r["errors"])
        t.restarts += float(r["restarts"])
        t.rx_bytes += float(r["rx_bytes"])
        t.tx_bytes += float(r["tx_bytes"])
        t.frames_out += float(r["frames_out"])
    return t


def _rate_metric(config: ConfigV1, name: str, good: float, n: float, status: str, **extra: Any) -> dict[str, Any]:
    spec = config.spec.metrics[name]
    out: dict[str, Any] = {"group": METRIC_GROUPS[name], "scored": spec.scored, "status": status, "events": rounded(n), "good": rounded(good), **extra}
    if n > 0:
        lo, hi = wilson(good, n, config.spec.confidence_z)
        out.update(value=rounded(good / n), lower=rounded(lo), upper=rounded(hi))
    else:
        out.update(value=None, lower=None, upper=None)
    return out


def _status(n: float, min_samples: int, present: bool) -> str:
    if not present:
        return "missing"
    if n <= 0:
        return "no_events"
    return STATUS_OK if n >= min_samples else "insufficient_samples"


def _failure_subscore(config: ConfigV1, rate: float) -> float:
    s = config.spec
    if rate <= s.failure_rate_target:
        return 1.0
    if rate >= s.failure_rate_zero_at:
        return 0.0
    return (s.failure_rate_zero_at - rate) / (s.failure_rate_zero_at - s.failure_rate_target)


def metrics(config: ConfigV1, t: Totals) -> dict[str, dict[str, Any]]:
    """Every metric of the config, with its status, events, value and interval (see the module docstring)."""
    spec = config.spec
    m = spec.metrics
    sdk = "naap_streams_active" in t.families  # the runner reports through the SDK (or an adapter)
    streaming = t.active_max > 0 or t.fps_n > 0
    out: dict[str, dict[str, Any]] = {}

    out["availability"] = _rate_metric(config, "availability", t.successful, t.scheduled,
                                       _status(t.scheduled, m["availability"].min_samples, True))  # fmt: skip
    fps_present = sdk and not (t.active_max > 0 and t.fps_n == 0)
    fps_extra: dict[str, Any] = {}
    if t.fps_n:
        fps_extra = {"mean": rounded(t.fps_sum / t.fps_n), "min": rounded(t.fps_min or 0.0), "max": rounded(t.fps_max or 0.0)}
    out["output_fps"] = _rate_metric(config, "output_fps", t.fps_ok, t.fps_n,
                                     _status(t.fps_n, m["output_fps"].min_samples, fps_present), **fps_extra)  # fmt: skip
    jit_extra = {"mean": rounded(t.jitter_sum / t.jitter_n)} if t.jitter_n else {}
    out["jitter"] = _rate_metric(config, "jitter", t.jitter_ok, t.jitter_n,
                                 _status(t.jitter_n, m["jitter"].min_samples, sdk), **jit_extra)  # fmt: skip
    for name, n, ok, buckets in (("p2ff", t.p2ff_n, t.p2ff_ok, t.p2ff_buckets), ("startup", t.startup_n, t.startup_ok, t.startup_buckets)):
        q = {k: histogram_quantile(p, buckets or {}) for k, p in (("p50_s", 0.5), ("p95_s", 0.95))}
        out[name] = _rate_metric(config, name, ok, n, _status(n, m[name].min_samples, sdk),
                                 **{k: (rounded(v) if v is not None else None) for k, v in q.items()})  # fmt: skip

    errors = sum(t.errors.values()) if t.errors else 0.0
    attempts = max(t.started, errors)
    fr = _rate_metric(config, "failure_rate", attempts - errors, attempts, _status(attempts, m["failure_rate"].min_samples, sdk),
                      failures=rounded(errors), attempts=rounded(attempts), streams_started=rounded(t.started),
                      by_class={k: rounded(v) for k, v in sorted((t.errors or {}).items())})  # fmt: skip
    if attempts > 0:
        rate = errors / attempts
        lo, hi = wilson(errors, attempts, spec.confidence_z)
        fr.update(rate=rounded(rate), rate_lower=rounded(lo), rate_upper=rounded(hi),
                  value=rounded(_failure_subscore(config, rate)), lower=rounded(_failure_subscore(config, hi)),
                  upper=rounded(_failure_subscore(config, lo)))  # fmt: skip
    out["failure_rate"] = fr

    swap = {"group": METRIC_GROUPS["swap_rate"], "scored": m["swap_rate"].scored, "reason": m["swap_rate"].reason,
            "status": "report_only", "swaps": rounded(t.swaps), "streams_started": rounded(t.started),
            "target": spec.swap_rate_target,
            "rate": rounded(min(1.0, t.swaps / t.started)) if t.started > 0 else None}  # fmt: skip
    out["swap_rate"] = swap
    out["e2e"] = {"group": METRIC_GROUPS["e2e"], "scored": m["e2e"].scored, "reason": m["e2e"].reason, "status": "no_source"}
    cue: dict[str, Any] = {"group": METRIC_GROUPS["cue"], "scored": m["cue"].scored, "reason": m["cue"].reason,
                           "status": "report_only" if t.cue_n else "no_source", "target": spec.cue_target, "by_method": {}}  # fmt: skip
    for method in sorted(t.cue_n or {}):
        n = (t.cue_n or {})[method]
        ok = (t.cue_ok or {}).get(method, 0)
        lo, hi = wilson(ok, n, spec.confidence_z)
        cue["by_method"][method] = {"samples": n, "at_target": ok, "share_at_target": rounded(ok / n) if n else None,
                                    "mean": rounded((t.cue_sum or {}).get(method, 0.0) / n) if n else None,
                                    "lower": rounded(lo), "upper": rounded(hi)}  # fmt: skip
    out["cue"] = cue
    out["restarts"] = {"group": "reliability", "scored": False, "status": "report_only", "restarts": rounded(t.restarts),
                       "streaming": streaming}  # fmt: skip
    return out


def combine(config: ConfigV1, mets: dict[str, dict[str, Any]]) -> tuple[dict[str, dict[str, Any]], float | None, float | None, float | None]:
    """Groups from the ok scored metrics, then (score, score_lower, score_upper) — None when no group has a value."""
    groups: dict[str, dict[str, Any]] = {}
    for g in GROUPS:
        members = [(n, mets[n]) for n, grp in METRIC_GROUPS.items() if grp == g and config.spec.metrics[n].scored]
        ok = [(config.spec.metrics[n].weight, x) for n, x in members if x["status"] == STATUS_OK]
        wsum = sum(w for w, _ in ok)
        entry: dict[str, Any] = {"weight": config.spec.groups[g], "metrics": [n for n, _ in members]}
        if ok and wsum > 0:
            for key in ("value", "lower", "upper"):
                entry[key] = rounded(sum(w * x[key] for w, x in ok) / wsum)
        else:
            entry.update(value=None, lower=None, upper=None)
        groups[g] = entry
    valued = [(e["weight"], e) for e in groups.values() if e["value"] is not None and e["weight"] > 0]
    wsum = sum(w for w, _ in valued)
    if not valued or wsum <= 0:
        return groups, None, None, None
    out = [round(100.0 * sum(w * e[key] for w, e in valued) / wsum, 2) for key in ("value", "lower", "upper")]
    return groups, out[0], out[1], out[2]


def insufficient_reasons(config: ConfigV1, mets: dict[str, dict[str, Any]], coverage: float, period: str) -> list[str]:
    """Why a score cannot be given (empty when it can)."""
    reasons = []
    need = config.spec.periods[period].min_coverage
    if coverage < need:
        reasons.append(f"coverage {coverage:.3f} below the period's minimum {need}")
    if mets["availability"]["status"] != STATUS_OK:
        reasons.append("availability: fewer scrape slots than min_samples")
    for name, spec in sorted(config.spec.metrics.items()):
        if spec.scored and config.spec.groups[METRIC_GROUPS[name]] > 0 and mets[name]["status"] == "missing":
            reasons.append(f"{name}: source missing")
    return reasons
