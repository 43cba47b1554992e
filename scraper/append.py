"""The append step: what of a parsed scrape is stored, decided in one place, as Prometheus' scrape loop decides
it (prometheus/prometheus scrape/scrape.go, the loop's append), with one set of counters.

In order:
1. Identity (design §9): a scrape counts for orchestrator X only if the exporter it reached declares X in
   `naap_exporter_build_info{orchestrator="…"}`; otherwise the scrape fails (`identity_mismatch`) and nothing is
   stored. A target without an orchestrator (a URL in a targets file the collector's operator wrote) takes the
   exporter's declared address, marked `self_declared`; an exporter that declares none fails the same way.
2. Duplicates: one sample per series per scrape time; the first is kept, later ones dropped and counted
   (`duplicate`), as the scrape loop drops a series it already appended in this scrape. (A series whose
   samples carry increasing timestamps keeps them all, as the TSDB does.)
3. Exposition timestamps are honoured, never re-dated: a sample is stored at its own time, unless it lies
   more than `max_age` before the scrape or more than `max_future` after it (Prometheus: older than the head's
   appendable window, one hour; more than ten minutes ahead) — then it is dropped and counted
   (`out_of_bounds`). Per series, a timestamp older than the last one stored is dropped (`out_of_order`); the
   same timestamp again is dropped, counted as `duplicate` when the value differs (the TSDB's "duplicate sample
   for timestamp") and silently when it is the same sample exposed again.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from itertools import compress, count
from operator import methodcaller

from exporter.common.eth import is_eth_address
from scraper import errors
from scraper.errors import ScrapeError
from scraper.rows import MAX_TS_MS, MIN_TS_MS, Samples, parse_fragment, string

BUILD_INFO = "naap_exporter_build_info"
_BUILD_INFO_PREFIX = string(BUILD_INFO)

DUPLICATE = "duplicate"
OUT_OF_BOUNDS = "out_of_bounds"
OUT_OF_ORDER = "out_of_order"
DROP_REASONS = (DUPLICATE, OUT_OF_BOUNDS, OUT_OF_ORDER)

CHECKED = "checked"  # the target's orchestrator, confirmed by the exporter
SELF_DECLARED = "self_declared"  # no orchestrator on the target: the exporter's own claim

_bits = struct.Struct("<d").pack


@dataclass(frozen=True)
class TimestampBounds:
    """How far an exposition timestamp may lie from the scrape's start: Prometheus' defaults (1 h back, the
    TSDB head's appendable window; 10 min ahead, its scrape appender's limit)."""

    max_age_ms: int = 3_600_000
    max_future_ms: int = 600_000

    @classmethod
    def from_seconds(cls, max_age_s: float, max_future_s: float) -> "TimestampBounds":
        return cls(int(max_age_s * 1000), int(max_future_s * 1000))

    def window(self, scrape_ms: int) -> tuple[int, int]:
        return max(scrape_ms - self.max_age_ms, MIN_TS_MS), min(scrape_ms + self.max_future_ms, MAX_TS_MS)


class SeriesState:
    """Per target: the last stored (timestamp, value bits) of every series that carried exposition timestamps.
    Bounded: past `max_series` it starts afresh (a target churning stamped series costs memory, never more)."""

    __slots__ = ("last", "max_series")

    def __init__(self, max_series: int = 50_000) -> None:
        self.last: dict[bytes, tuple[int, bytes]] = {}
        self.max_series = max_series


@dataclass
class Appended:
    samples: Samples
    orchestrator: str
    identity: str  # checked | self_declared
    dropped: dict[str, int] = field(default_factory=dict)


_DECLARED: dict[bytes, str] = {}  # build-info fragment → declared orchestrator ("" when it declares none)
_IS_BUILD_INFO = methodcaller("startswith", _BUILD_INFO_PREFIX)


def _is_one(value: str | float) -> bool:
    try:
        return float(value) == 1.0
    except ValueError:
        return False


def declared_orchestrator(samples: Samples) -> str | None:
    """The orchestrator the exporter declares (lowercase; "" when its build info names none), None without
    build info, or ScrapeError when it declares two different ones. An info series declares only with value 1
    (the info-metric convention): a build-info sample of any other value declares nothing."""
    found: str | None = None
    frags, values = samples.frags, samples.values
    for i in compress(count(), map(_IS_BUILD_INFO, frags)):  # the scan runs in C; a body has one or two
        frag = frags[i]
        if not _is_one(values[i]):
            continue
        declared = _DECLARED.get(frag)
        if declared is None:
            name, labels = parse_fragment(frag)
            if name != BUILD_INFO:
                continue
            declared = labels.get("orchestrator", "").lower()
            if len(_DECLARED) < 10_000:
                _DECLARED[frag] = declared
        if found is not None and declared != found:
            raise ScrapeError(errors.IDENTITY_MISMATCH, "the exporter declares more than one orchestrator")
        found = declared
    return found


def check_identity(samples: Samples, target_orchestrator: str) -> tuple[str, str]:
    """(orchestrator, identity kind) this scrape counts for, or ScrapeError identity_mismatch."""
    declared = declared_orchestrator(samples)
    if target_orchestrator:
        if declared == target_orchestrator:
            return target_orchestrator, CHECKED
        if declared is None:
            why = f"the exporter declares no identity ({_missing_why(samples)}); expected {target_orchestrator}"
        elif not declared:
            why = f"the exporter declares no orchestrator (set --orchestrator); expected {target_orchestrator}"
        else:
            why = f"the exporter declares {declared[:42]}, not {target_orchestrator}"
        raise ScrapeError(errors.IDENTITY_MISMATCH, why)
    if declared and is_eth_address(declared):
        return declared, SELF_DECLARED
    raise ScrapeError(
        errors.IDENTITY_MISMATCH,
        "the target names no orchestrator and the exporter declares none: give the target an orchestrator label",
    )


def _missing_why(samples: Samples) -> str:
    if any(map(_IS_BUILD_INFO, samples.frags)):
        return f"its {BUILD_INFO} is not 1"
    return f"{BUILD_INFO} is missing"


def append(samples: Samples, scrape_ms: int, target_orchestrator: str, state: SeriesState | None,
           bounds: TimestampBounds = TimestampBounds()) -> Appended:  # fmt: skip
    """The samples of one scrape that are stored, who they count for, and what was dropped and why."""
    orchestrator, identity = check_identity(samples, target_orchestrator)
    kept, dropped = scrape_loop_rules(samples, scrape_ms, state, bounds)
    return Appended(kept, orchestrator, identity, dropped)


def scrape_loop_rules(samples: Samples, scrape_ms: int, state: SeriesState | None,
                      bounds: TimestampBounds = TimestampBounds()) -> tuple[Samples, dict[str, int]]:  # fmt: skip
    """Prometheus' own rules alone (2 and 3 above): the samples it would store, and the drops by reason.

    Per series, times must increase, as the TSDB appends them: a sample without a timestamp is at the scrape's
    start, so a second one of the same series in the same scrape is a duplicate; stamped samples of one series
    are kept while their timestamps increase (within the scrape, and across scrapes through `state`)."""
    dropped: dict[str, int] = {}
    frags = samples.frags
    if not samples.stamps and len(set(frags)) == len(frags):
        return samples, dropped  # the common case: nothing to decide
    lo, hi = bounds.window(scrape_ms)
    last = state.last if state is not None else {}
    if state is not None and len(last) > state.max_series:
        last.clear()
    this_scrape: dict[bytes, int] = {}
    keep: list[int] = []
    for i, frag in enumerate(frags):
        ts = samples.stamps.get(i)
        if ts is not None and not lo <= ts <= hi:
            _count(dropped, OUT_OF_BOUNDS)
            continue
        t = scrape_ms if ts is None else ts
        prev = this_scrape.get(frag)
        if prev is not None:
            if t <= prev:
                _count(dropped, DUPLICATE if t == prev else OUT_OF_ORDER)
                continue
        elif ts is not None:
            before = last.get(frag)
            if before is not None and t <= before[0]:
                if t < before[0]:
                    _count(dropped, OUT_OF_ORDER)
                elif _bits(float(samples.values[i])) != before[1]:
                    _count(dropped, DUPLICATE)  # the TSDB's "duplicate sample for timestamp"
                continue  # the same sample exposed again: already stored, silently
        this_scrape[frag] = t
        if ts is not None:
            last[frag] = (t, _bits(float(samples.values[i])))
        keep.append(i)
    if len(keep) == len(frags):
        return samples, dropped
    out = Samples()
    for i in keep:
        ts = samples.stamps.get(i)
        if ts is not None:
            out.stamps[len(out.values)] = ts
        out.frags.append(frags[i])
        out.values.append(samples.values[i])
    return out, dropped


def _count(dropped: dict[str, int], reason: str) -> None:
    dropped[reason] = dropped.get(reason, 0) + 1
