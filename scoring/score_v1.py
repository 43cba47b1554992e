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
interval's bound. Score v2 (a config with `probes`) adds the prober's figures, v2.1 counts unreached probes as failures: `_with_probes`. Deterministic: inputs are summed in (workflow, window) order; values rounded to 6 decimals,
scores to 2; the detail is canonical JSON.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from dataclasses import dataclass
from typing import Any, Iterable

from scoring.compute import rounded
from scoring.promql import histogram_quantile
from scoring.probe_totals import ProbeTotals, nearest_rank
from scoring.sla_v1 import GROUPS, METRIC_GROUPS, ConfigV1, counts_unreached, uses_probes

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


# Sums are kept in integer micro-units (inputs are Decimal(6) values): exact and independent of the order rows are
# added in, so a window's sum read from prefix sums equals the same rows added one by one, bit for bit.
_MICRO = 1_000_000
_INT_OWN = ("scheduled", "successful")
_MICRO_OWN = ("swaps",)
_INT_WF = ("active_n", "fps_n", "fps_ok", "jitter_n", "jitter_ok")
_MICRO_WF = ("fps_sum", "jitter_sum", "started", "restarts", "rx_bytes", "tx_bytes", "frames_out")
_MAPS_OWN = (("cue_n", False), ("cue_ok", False), ("cue_sum", True))
_MAPS_WF = (("p2ff_buckets", True), ("startup_buckets", True), ("errors", True))


def _micro(v: float) -> int:
    return int(round(float(v) * _MICRO))


def _prefix(values: list[int]) -> list[int]:
    out = [0]
    for v in values:
        out.append(out[-1] + v)
    return out


class KeySums:
    """Prefix sums over one (orchestrator, workflow) key's input rows (sorted by window_start), so that the totals
    of any run of windows cost O(fields), whatever its length (a 7-day score sums 10,080 base windows)."""

    def __init__(self, config: ConfigV1, rows: list[dict[str, Any]], own: bool) -> None:
        self.own = own
        self.starts = [int(r["window_start_ms"]) for r in rows]
        self.computed = [int(r.get("computed_ts_ms", 0)) for r in rows]
        self.p: dict[Any, list[int]] = {}
        if own:
            for f in _INT_OWN:
                self.p[f] = _prefix([int(r[f]) for r in rows])
            self.p["observed"] = _prefix([1 if int(r["scheduled"]) > 0 else 0 for r in rows])
            for f in _MICRO_OWN:
                self.p[f] = _prefix([_micro(r[f]) for r in rows])
            maps, fams = _MAPS_OWN, sorted({x for r in rows for x in r["families"]})
            for fam in fams:
                self.p[("families", fam)] = _prefix([1 if fam in r["families"] else 0 for r in rows])
        else:
            for f in _INT_WF:
                self.p[f] = _prefix([int(r[f]) for r in rows])
            for f in _MICRO_WF:
                self.p[f] = _prefix([_micro(r[f]) for r in rows])
            targets = [config.targets(r["workflow"]) for r in rows]
            self.p["p2ff_ok"] = _prefix([_micro(r["p2ff_buckets"].get(t.p2ff_s, 0.0)) for r, t in zip(rows, targets)])
            self.p["startup_ok"] = _prefix([_micro(r["startup_buckets"].get(t.startup_s, 0.0)) for r, t in zip(rows, targets)])
            self.active_max = [float(r["active_max"]) for r in rows]
            self.fps_min = [float(r["fps_min"]) if int(r["fps_n"]) else math.inf for r in rows]
            self.fps_max = [float(r["fps_max"]) if int(r["fps_n"]) else -math.inf for r in rows]
            maps = _MAPS_WF
        for f, micro in maps:
            for k in sorted({k for r in rows for k in r[f]}):
                conv = _micro if micro else int
                self.p[(f, k)] = _prefix([conv(r[f].get(k, 0)) for r in rows])
                self.p[("has", f, k)] = _prefix([1 if k in r[f] else 0 for r in rows])  # a map keeps the keys its rows had

    def span(self, lo_ms: int, hi_ms: int) -> tuple[int, int]:
        """Row index range of the windows starting in [lo, hi)."""
        return bisect_left(self.starts, lo_ms), bisect_left(self.starts, hi_ms)

    def latest_computed(self, i: int, j: int) -> int:
        return max(self.computed[i:j], default=0)

    def add_to(self, acc: dict[Any, int], i: int, j: int) -> None:
        for k, pre in self.p.items():
            v = pre[j] - pre[i]
            if v or k not in acc:
                acc[k] = acc.get(k, 0) + v
        if not self.own and j > i:
            acc["active_max"] = max(acc.get("active_max", 0.0), max(self.active_max[i:j]))
            acc["fps_min"] = min(acc.get("fps_min", math.inf), min(self.fps_min[i:j]))
            acc["fps_max"] = max(acc.get("fps_max", -math.inf), max(self.fps_max[i:j]))


def totals_from(acc: dict[Any, int]) -> Totals:
    """Totals from sums accumulated by KeySums.add_to (own key first, then workflow keys)."""
    def m(k: Any) -> float:
        return acc.get(k, 0) / _MICRO

    def mapped(f: str, micro: bool) -> dict:
        return {k[1]: (v / _MICRO if micro else v) for k, v in sorted(acc.items(), key=lambda kv: str(kv[0]))
                if isinstance(k, tuple) and k[0] == f and acc.get(("has", f, k[1]), 0) > 0}

    fmin, fmax = acc.get("fps_min", math.inf), acc.get("fps_max", -math.inf)
    p2ff, startup = mapped("p2ff_buckets", True), mapped("startup_buckets", True)
    return Totals(
        scheduled=acc.get("scheduled", 0), successful=acc.get("successful", 0), observed_windows=acc.get("observed", 0),
        active_n=acc.get("active_n", 0), active_max=acc.get("active_max", 0.0),
        fps_n=acc.get("fps_n", 0), fps_ok=acc.get("fps_ok", 0), fps_sum=m("fps_sum"),
        fps_min=None if math.isinf(fmin) else fmin, fps_max=None if math.isinf(fmax) else fmax,
        jitter_n=acc.get("jitter_n", 0), jitter_ok=acc.get("jitter_ok", 0), jitter_sum=m("jitter_sum"),
        p2ff_n=p2ff.get(math.inf, 0.0), p2ff_ok=m("p2ff_ok"), startup_n=startup.get(math.inf, 0.0), startup_ok=m("startup_ok"),
        started=m("started"), errors=mapped("errors", True), restarts=m("restarts"), swaps=m("swaps"),
        rx_bytes=m("rx_bytes"), tx_bytes=m("tx_bytes"), frames_out=m("frames_out"),
        p2ff_buckets=dict(sorted(p2ff.items())), startup_buckets=dict(sorted(startup.items())),
        cue_n=mapped("cue_n", False), cue_ok=mapped("cue_ok", False), cue_sum=mapped("cue_sum", True),
        families={k[1] for k, v in acc.items() if isinstance(k, tuple) and k[0] == "families" and v > 0},
    )  # fmt: skip


def totals(config: ConfigV1, own: Iterable[dict[str, Any]], workflow_rows: Iterable[dict[str, Any]]) -> Totals:
    """Sum the orchestrator rows (`own`: availability, swaps, CUE, families) and the workflow rows. Latency
    within-target counts use each workflow's own targets."""
    acc: dict[Any, int] = {}
    own = list(own)
    KeySums(config, own, True).add_to(acc, 0, len(own))
    by_wf: dict[str, list[dict[str, Any]]] = {}
    for r in workflow_rows:
        by_wf.setdefault(r["workflow"], []).append(r)
    for wf in sorted(by_wf):
        rows = by_wf[wf]
        KeySums(config, rows, False).add_to(acc, 0, len(rows))
    return totals_from(acc)


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


def metrics(config: ConfigV1, t: Totals, probes: ProbeTotals | None = None) -> dict[str, dict[str, Any]]:
    """Every metric of the config, with its status, events, value and interval (see the module docstring). With a
    v2 config, `probes` (the window's probe totals) brings in the prober's figures (`_with_probes`)."""
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
    if uses_probes(config):
        _with_probes(config, out, probes or ProbeTotals())
    return out


def _ms(v: float | None) -> float | None:
    return None if v is None else rounded(v)


def _with_probes(config: ConfigV1, out: dict[str, dict[str, Any]], p: ProbeTotals) -> None:
    """Score v2 (docs/scoring.md): every metric says its `source` ("probe" or "self-reported").
    - e2e: probes only (a good event = a probe whose median frame latency met the workflow's e2e_ms);
    - swap_rate: probes only (good = a probe that reached the orchestrator without a swap trigger);
    - p2ff, startup, failure_rate: the probes' figure where the window holds at least probes.min_probes of them,
      the self-report otherwise; where both exist the other one is shown beside it (`self_reported` / `probe`) and
      a disagreement past the cross-check's tolerances is `flagged` (prober/crosscheck.py's rule);
    - v2.1 (probes.count_unreached): the failure rate's attempts and failures also count the probes the
      orchestrator failed before its info call answered (ProbeTotals.unreached; their count is `unreached`).
    No probe in the window is `no_events`, never `missing`: whether the prober came by is not the orchestrator's
    doing, so it neither pays nor costs."""
    spec, m, pr = config.spec, config.spec.metrics, config.spec.probes  # type: ignore[attr-defined]
    for mets in out.values():
        mets.setdefault("source", "self-reported")

    def latency_flag(probe_ms: float | None, self_ms: float | None) -> bool | None:
        if probe_ms is None or self_ms is None:
            return None
        d = abs(probe_ms - self_ms)
        return d > pr.latency_ms and d > pr.latency_ratio * max(probe_ms, self_ms)

    def quantiles(values: list[float]) -> dict[str, Any]:
        return {"p50_ms": _ms(nearest_rank(values, 0.5)), "p95_ms": _ms(nearest_rank(values, 0.95))}

    n = len(p.e2e_ms)
    out["e2e"] = _rate_metric(config, "e2e", p.e2e_ok, n, _status(n, m["e2e"].min_samples, True), source="probe",
                              **quantiles(p.e2e_ms))  # fmt: skip
    for name, values, ok in (("p2ff", p.p2ff_ms, p.p2ff_ok), ("startup", p.startup_ms, p.startup_ok)):
        own = out[name]
        self_p50 = own.get("p50_s")
        probe_fig = {"events": len(values), "good": ok, **quantiles(values)}
        flag = latency_flag(probe_fig["p50_ms"], None if self_p50 is None else 1000 * self_p50)
        if len(values) >= pr.min_probes:
            mine = _rate_metric(config, name, ok, len(values), _status(len(values), m[name].min_samples, True),
                                source="probe", **quantiles(values))  # fmt: skip
            mine["self_reported"] = {k: own.get(k) for k in ("status", "events", "good", "value", "p50_s", "p95_s")}
            mine["flagged"] = flag
            out[name] = mine
        else:
            own["probe"], own["flagged"] = probe_fig, flag
    fr = out["failure_rate"]
    # v2: attempts = probes that reached the orchestrator. v2.1 (count_unreached) adds those it failed before its
    # info call answered (unreachable, refused, TLS): otherwise an orchestrator nobody can reach looks better on
    # failures than one that answers and then fails.
    attempts, failures, by_class = p.reached, p.failures, dict(p.failed)
    unreached: dict[str, Any] = {}
    if counts_unreached(config):
        attempts += p.unreached_failures
        failures += p.unreached_failures
        for k, v in p.unreached.items():
            by_class[k] = by_class.get(k, 0) + v
        by_class = dict(sorted(by_class.items()))
        unreached = {"unreached": p.unreached_failures}
    probe_rate = failures / attempts if attempts else None
    self_rate = fr.get("rate")
    fr_flag = None if probe_rate is None or self_rate is None else probe_rate - self_rate > pr.failure_tolerance
    probe_fig = {"attempts": attempts, "failures": failures, **unreached, "rate": _ms(probe_rate), "by_class": by_class}
    if attempts >= pr.min_probes:
        mine = _rate_metric(config, "failure_rate", attempts - failures, attempts,
                            _status(attempts, m["failure_rate"].min_samples, True), source="probe", **probe_fig)  # fmt: skip
        lo, hi = wilson(failures, attempts, spec.confidence_z)
        rate = failures / attempts
        mine.update(rate_lower=rounded(lo), rate_upper=rounded(hi), value=rounded(_failure_subscore(config, rate)),
                    lower=rounded(_failure_subscore(config, hi)), upper=rounded(_failure_subscore(config, lo)))  # fmt: skip
        mine["self_reported"] = {k: fr.get(k) for k in ("status", "attempts", "failures", "rate")}
        mine["flagged"] = fr_flag
        out["failure_rate"] = mine
    else:
        fr["probe"], fr["flagged"] = probe_fig, fr_flag
    own_swaps = out["swap_rate"]
    sw = _rate_metric(config, "swap_rate", p.reached - p.swap_count, p.reached,
                      _status(p.reached, m["swap_rate"].min_samples, True), source="probe",
                      swaps=p.swap_count, by_trigger=dict(p.swaps), target=spec.swap_rate_target,
                      rate=_ms(p.swap_count / p.reached) if p.reached else None)  # fmt: skip
    sw["self_reported"] = {k: own_swaps.get(k) for k in ("swaps", "streams_started", "rate")}
    out["swap_rate"] = sw


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
