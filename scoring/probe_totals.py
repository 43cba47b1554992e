"""Score v2's probe inputs: what the load-test prober measured in a score's window, per (orchestrator, workflow).

Read straight from `probe_runs` (migration 0009) at scoring time — probes are few (one per orchestrator × model
per prober period), so a 7-day window reads at most a few thousand rows per orchestrator — with the rows that had
arrived by the score's `as_of` (ingested_at < as_of), so a replay reads exactly what the publisher read.

Which probes count: those of scoring/catalog/probes.py (`COUNTED`): one row per probe id, started in
[start, end), of an advertised model, not a `bad` dataset item, fault `none` or `orchestrator`. Per
(orchestrator, "live-video-to-video/<model_id>"):
- reached: probes whose info call answered (capacity_idle known); failed: those failed by the orchestrator's fault
  (by error class); swaps: those in which a production gateway would have swapped (by trigger);
- startup_ms, p2ff_ms, e2e_ms: the ok probes' measurements (E2E: each probe's median frame latency), sorted.
A workflow's within-target counts use its own targets (config.targets(workflow)), so summing workflows for the
orchestrator's own score keeps each workflow's target, as score v1 does for self-reported histograms.

Score v2.1 (`probes.count_unreached: true`, sla_v1.counts_unreached) also reads the probes whose info call failed
(model_id '': the orchestrator could not even be asked what it serves) and keeps, per workflow, `unreached`: the
probes failed by the orchestrator's fault before its info call answered (capacity_idle unknown), by error class.
Those with model_id '' name no workflow: they are kept under workflow '' and so count only in the orchestrator's
own score (for_score sums every workflow); those of a model (its own info call failed) count in its workflow too.
The excused ones never count: fault `prober` (including the void rule's) or `excluded` (no_capacity, pin change),
and `bad` items.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from scoring.catalog.probes import COUNTED, nearest_rank
from scoring.sla_v1 import counts_unreached

_SQL = f"""
SELECT orchestrator, if(model_id = '', '', concat(workflow, '/', model_id)) AS wf,
       countIf(capacity_idle IS NOT NULL) AS reached,
       arraySort(groupArrayIf(error_class, capacity_idle IS NULL AND fault = 'orchestrator')) AS unreached,
       arraySort(groupArrayIf(error_class, capacity_idle IS NOT NULL AND fault = 'orchestrator')) AS failed,
       arraySort(groupArrayIf(swap_trigger, capacity_idle IS NOT NULL AND swap_trigger != '')) AS swaps,
       arraySort(groupArrayIf(startup_ms, outcome = 'ok' AND startup_ms IS NOT NULL AND isFinite(startup_ms))) AS startup,
       arraySort(groupArrayIf(p2ff_ms, outcome = 'ok' AND p2ff_ms IS NOT NULL AND isFinite(p2ff_ms))) AS p2ff,
       arraySort(groupArrayIf(e2e_p50_ms, outcome = 'ok' AND e2e_p50_ms IS NOT NULL AND isFinite(e2e_p50_ms))) AS e2e
FROM ({COUNTED})
GROUP BY orchestrator, wf
ORDER BY orchestrator, wf
"""
_AS_OF = " AND ingested_at < fromUnixTimestamp64Milli({as_of:Int64}, 'UTC')"
# v2.1's set: COUNTED without its "advertised model" condition, so probes whose info call failed are read too.
_ANY_MODEL = "model_id != '' AND "
assert _ANY_MODEL in COUNTED
_SQL_V21 = _SQL.replace(COUNTED, COUNTED.replace(_ANY_MODEL, ""))


@dataclass
class ProbeTotals:
    """One (orchestrator, workflow)'s probes in a window — or, summed, an orchestrator's (see the module docstring).
    `*_ok`: measurements at or below the workflow's target."""

    reached: int = 0
    failed: dict[str, int] = field(default_factory=dict)
    unreached: dict[str, int] = field(default_factory=dict)  # failed by the orchestrator before its info answered
    swaps: dict[str, int] = field(default_factory=dict)
    startup_ms: list[float] = field(default_factory=list)
    p2ff_ms: list[float] = field(default_factory=list)
    e2e_ms: list[float] = field(default_factory=list)
    startup_ok: int = 0
    p2ff_ok: int = 0
    e2e_ok: int = 0

    @property
    def failures(self) -> int:
        return sum(self.failed.values())

    @property
    def unreached_failures(self) -> int:
        return sum(self.unreached.values())

    @property
    def swap_count(self) -> int:
        return sum(self.swaps.values())

    def add(self, o: "ProbeTotals") -> None:
        self.reached += o.reached
        for mine, theirs in ((self.failed, o.failed), (self.unreached, o.unreached), (self.swaps, o.swaps)):
            for k, v in theirs.items():
                mine[k] = mine.get(k, 0) + v
        for name in ("startup_ms", "p2ff_ms", "e2e_ms"):
            setattr(self, name, sorted(getattr(self, name) + getattr(o, name)))
        self.startup_ok += o.startup_ok
        self.p2ff_ok += o.p2ff_ok
        self.e2e_ok += o.e2e_ok


__all__ = ["ProbeSums", "ProbeTotals", "for_score", "nearest_rank", "probe_totals"]

ProbeSums = dict[str, dict[str, ProbeTotals]]  # orchestrator -> workflow -> totals


def _counts(values: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return dict(sorted(out.items()))


def probe_totals(wh: Any, config: Any, start_ms: int, end_ms: int, as_of_ms: int,
                 orchestrator: str | None = None) -> ProbeSums:  # fmt: skip
    """Per orchestrator and workflow, the counted probes started in [start, end) that had arrived by `as_of_ms`.
    `config` (a v2 ConfigV1) gives each workflow's targets and, with count_unreached (v2.1), has the probes whose
    info call failed read too (workflow '')."""
    params: dict[str, Any] = {"start": start_ms, "end": end_ms, "as_of": as_of_ms}
    sql = _SQL_V21 if counts_unreached(config) else _SQL
    filters = _AS_OF
    if orchestrator:
        filters += " AND orchestrator = {orch:String}"
        params["orch"] = orchestrator
    out: ProbeSums = {}
    for orch, wf, reached, unreached, failed, swaps, startup, p2ff, e2e in wh.query(sql.replace("{filters}", filters), params).rows:
        t = config.targets(wf)  # wf '' (v2.1's unreached probes) has the default targets, and no measurement
        startup, p2ff, e2e = ([float(v) for v in xs] for xs in (startup, p2ff, e2e))
        out.setdefault(orch, {})[wf] = ProbeTotals(
            reached=int(reached), failed=_counts(list(failed)), unreached=_counts(list(unreached)), swaps=_counts(list(swaps)),
            startup_ms=startup, p2ff_ms=p2ff, e2e_ms=e2e,
            startup_ok=sum(1 for v in startup if v <= t.startup_s * 1000), p2ff_ok=sum(1 for v in p2ff if v <= t.p2ff_s * 1000),
            e2e_ok=sum(1 for v in e2e if v <= t.e2e_ms),
        )  # fmt: skip
    return out


def for_score(sums: ProbeSums, orchestrator: str, workflow: str) -> ProbeTotals:
    """The totals a score uses: its workflow's, or (workflow '') every workflow of the orchestrator summed."""
    wfs = sums.get(orchestrator, {})
    if workflow:
        return wfs.get(workflow) or ProbeTotals()
    out = ProbeTotals()
    for wf in sorted(wfs):
        out.add(wfs[wf])
    return out
