"""Discovery: merges every configured source into one checked target list, and records each walk.

A source is anything with ``name`` and ``async discover() -> SourceResult``. Static targets and files are
sources; on-chain discovery is another. Every URL passes the safety check here, so a refused target is
recorded with its reason and never reaches the scraper.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Protocol

from discovery.safety import url_refusal
from discovery.static import dedupe, load_target_file, normalise_url
from discovery.target import Target, make_target

log = logging.getLogger(__name__)


@dataclass
class SourceResult:
    targets: list[Target] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    block_number: int = 0
    # Extra per-orchestrator facts a source knows (service URI, stake, active), keyed by target URL.
    facts: dict[str, dict] = field(default_factory=dict)


class Source(Protocol):
    name: str

    async def discover(self) -> SourceResult: ...


@dataclass(frozen=True)
class Refused:
    target: Target
    reason: str


@dataclass
class Snapshot:
    snapshot_id: str
    ts_ms: int
    accepted: list[Target]
    refused: list[Refused]
    errors: list[str]
    results: dict[str, SourceResult]


class StaticSource:
    """Targets from settings and from file_sd / URL-list files (re-read at every walk)."""

    name = "static"

    def __init__(self, targets: list[Target], files: list[str]) -> None:
        self._targets = targets
        self._files = files

    async def discover(self) -> SourceResult:
        result = SourceResult(targets=list(self._targets))
        for f in self._files:
            loaded = load_target_file(f)
            result.targets.extend(loaded.targets)
            result.errors.extend(loaded.errors)
        return result


class Discovery:
    def __init__(self, sources: list[Source], allow_loopback: bool = False) -> None:
        self.sources = sources
        self.allow_loopback = allow_loopback
        self.last: Snapshot | None = None
        self.walks = 0
        self.failures = 0

    async def walk(self) -> Snapshot:
        """Ask every source; a failing source keeps its previous targets (last good snapshot)."""
        self.walks += 1
        results: dict[str, SourceResult] = {}
        errors: list[str] = []
        for src in self.sources:
            try:
                results[src.name] = await src.discover()
            except Exception as e:  # a source failure is transient: keep what we had
                self.failures += 1
                log.warning("discovery source %s failed: %s; keeping its last good targets", src.name, e)
                errors.append(f"{src.name}: {e}")
                if self.last is not None and src.name in self.last.results:
                    results[src.name] = self.last.results[src.name]
        accepted: list[Target] = []
        refused: list[Refused] = []
        for name in results:
            errors.extend(f"{name}: {e}" for e in results[name].errors)
            for t in results[name].targets:
                reason = url_refusal(t.url, self.allow_loopback)
                if reason is None:
                    accepted.append(t)
                else:
                    refused.append(Refused(t, reason))
        for r in refused:
            log.info("refused target %s (%s): %s", r.target.url, r.target.orchestrator or "-", r.reason)
        for e in errors:
            log.warning("discovery: %s", e)
        snap = Snapshot(
            snapshot_id=uuid.uuid4().hex,
            ts_ms=int(time.time() * 1000),
            accepted=dedupe(accepted),
            refused=refused,
            errors=errors,
            results=results,
        )
        self.last = snap
        return snap


SNAPSHOT_COLUMNS = (
    "ts",
    "snapshot_id",
    "source",
    "block_number",
    "orchestrator",
    "service_uri",
    "metrics_url",
    "stake",
    "active",
    "status",
    "reason",
)


def snapshot_rows(snap: Snapshot) -> list[tuple]:
    rows = []
    source_of = {}
    for name, res in snap.results.items():
        for t in res.targets:
            source_of[t.url] = (name, res)
    for status, items in (("accepted", [(t, "") for t in snap.accepted]), ("refused", [(r.target, r.reason) for r in snap.refused])):
        for t, reason in items:
            name, res = source_of.get(t.url, (t.source, SourceResult()))
            facts = res.facts.get(t.url, {})
            rows.append(
                (
                    snap.ts_ms,
                    snap.snapshot_id,
                    name,
                    res.block_number,
                    t.orchestrator,
                    str(facts.get("service_uri", "")),
                    t.url,
                    float(facts.get("stake", 0.0)),
                    int(bool(facts.get("active", True))),
                    status,
                    reason,
                )
            )
    return rows


def static_targets_from_settings(entries: list) -> list[Target]:
    """Targets from the settings' `discovery.targets`; a bad URL raises ValueError at start-up."""
    return [make_target(normalise_url(e.url), e.orchestrator, e.labels, source="config") for e in entries]
