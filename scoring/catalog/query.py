"""What a catalog question is (window, step, grouping, filters) and where it is answered from (raw or a rollup).

A question is a half-open window ``[start_ms, end_ms)`` (integer ms since the Unix epoch, UTC), optionally cut into
consecutive steps of `step_s` seconds (the last one may be shorter), grouped by some of `DIMENSIONS` and filtered
by exact values. Half-open so that consecutive windows tile: a sample exactly at `end_ms` belongs to the next one.

The source is the coarsest rollup whose resolution divides the window's start, end and step (docs/metrics.md,
"Rollups"); the raw `samples` table otherwise, or when asked for explicitly. Raw stays the source of truth: a
rollup is only read where it gives the same answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# The catalog's dimensions (design §5): region is what the exporter declares in its build info, gpu_model what
# NVML names the GPU in naap_gpu_info, workflow is "pipeline/model_id", gpu_instance the MIG instance ("" = the
# whole GPU).
DIMENSIONS = ("orchestrator", "region", "gpu_id", "gpu_model", "gpu_instance", "workflow")
ROLLUP_VERSION = "v1"
# name -> seconds, coarsest first: the first that divides the window is read.
RESOLUTIONS = (("1h", 3600), ("5m", 300), ("1m", 60))
SOURCES = ("auto", "raw") + tuple(f"rollup_{name}" for name, _ in RESOLUTIONS)


@dataclass(frozen=True)
class CatalogQuery:
    """One catalog question.

    `start_ms`, `end_ms`: the window ``[start, end)`` in ms. `step_s`: None for one row per group over the whole
    window, else one row per group and step ``[start + i·step, start + (i+1)·step) ∩ [start, end)``.
    `by`: the dimensions to group by (a metric that lacks one is not split by it: e.g. swaps, per orchestrator,
    ignore `gpu_id`). Filters: exact values; `workflow` matches "pipeline/model_id" or model_id alone; a filter
    on a dimension a metric lacks leaves that metric unfiltered by it (region applies to every metric, since every
    row has an orchestrator). `source`: auto | raw | rollup_1m | rollup_5m | rollup_1h. `as_of_ms`: the time the
    data runs to (None: now, read when a rate is computed); a step, or the part of one, after it holds no data
    yet, so time averages (average concurrent streams) divide by the time covered up to it (`covered_seconds`)."""

    start_ms: int
    end_ms: int
    step_s: int | None = None
    by: tuple[str, ...] = ("orchestrator", "gpu_id", "workflow")
    orchestrator: str | None = None
    gpu_id: str | None = None
    gpu_model: str | None = None
    workflow: str | None = None
    region: str | None = None
    source: str = "auto"
    as_of_ms: int | None = None

    def __post_init__(self) -> None:
        if self.end_ms <= self.start_ms:
            raise ValueError("the window must end after it starts")
        if self.step_s is not None and self.step_s <= 0:
            raise ValueError("step_s must be positive")
        unknown = [d for d in self.by if d not in DIMENSIONS]
        if unknown:
            raise ValueError(f"unknown dimensions {unknown}; known: {', '.join(DIMENSIONS)}")
        if self.source not in SOURCES:
            raise ValueError(f"source must be one of {', '.join(SOURCES)}")
        if self.source.startswith("rollup_") and not _divides(_resolution(self.source), self):
            raise ValueError(f"{self.source} needs start, end and step on whole {self.source[7:]} buckets")

    @property
    def step_ms(self) -> int:
        """The step in ms; the whole window when no step was asked for."""
        return self.step_s * 1000 if self.step_s else self.end_ms - self.start_ms

    def windows(self) -> list[tuple[int, int]]:
        """The steps as ``(start_ms, end_ms)`` pairs, in time order."""
        out, t = [], self.start_ms
        while t < self.end_ms:
            out.append((t, min(t + self.step_ms, self.end_ms)))
            t += self.step_ms
        return out


@dataclass(frozen=True)
class Source:
    """Where a question is answered: the raw log or one rollup table (its resolution in seconds; 0 for raw)."""

    name: str
    table: str
    resolution_s: int

    @property
    def raw(self) -> bool:
        return self.resolution_s == 0

    @property
    def time_ms(self) -> str:
        """SQL: a row's time in ms (a raw sample's own time; a rollup bucket's start)."""
        return "toUnixTimestamp64Milli(ts)" if self.raw else "toInt64(toUnixTimestamp(bucket)) * 1000"

    def where(self) -> str:
        """SQL: the window ``[start, end)`` (parameters `start`, `end` in ms); raw rows must hold a finite value
        (NaN and staleness markers are no catalog input — the rollups never see them either)."""
        if self.raw:
            return ("ts >= fromUnixTimestamp64Milli({start:Int64}, 'UTC') AND ts < fromUnixTimestamp64Milli({end:Int64}, 'UTC')"
                    " AND isFinite(value)")  # fmt: skip
        return "bucket >= toDateTime(intDiv({start:Int64}, 1000), 'UTC') AND bucket < toDateTime(intDiv({end:Int64}, 1000), 'UTC')"

    @property
    def step(self) -> str:
        """SQL: the index of a row's step (parameter `step` in ms)."""
        return f"intDiv({self.time_ms} - {{start:Int64}}, {{step:Int64}})"


RAW = Source("raw", "samples", 0)


def _resolution(name: str) -> int:
    return dict(RESOLUTIONS)[name.removeprefix("rollup_")]


def _divides(res_s: int, q: CatalogQuery) -> bool:
    ms = res_s * 1000
    return q.start_ms % ms == 0 and q.end_ms % ms == 0 and (q.step_s is None or q.step_s % res_s == 0)


def rollup(name: str) -> Source:
    """The rollup table of resolution `name` (1m, 5m, 1h) in this version."""
    return Source(f"rollup_{name}", f"rollup_{name}_{ROLLUP_VERSION}", _resolution(f"rollup_{name}"))


def pick_source(q: CatalogQuery) -> Source:
    """The source a question reads: as asked, or (auto) the coarsest rollup that divides its window and step, else
    raw."""
    if q.source == "raw":
        return RAW
    if q.source != "auto":
        return rollup(q.source.removeprefix("rollup_"))
    for name, seconds in RESOLUTIONS:
        if _divides(seconds, q):
            return rollup(name)
    return RAW


def params(q: CatalogQuery) -> dict[str, Any]:
    """The query parameters every catalog SQL statement takes: window and step in ms."""
    return {"start": q.start_ms, "end": q.end_ms, "step": q.step_ms}
