"""Discovery: merges every configured source into one checked target list, and records each walk.

A source is anything with ``name`` and ``async discover() -> SourceResult``. Static targets and files are
sources; on-chain discovery is another. Every URL passes the safety check here, so a refused target is
recorded with its reason and never reaches the scraper.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass, field
from typing import Protocol

from discovery.safety import Resolver, collision_key, resolved_refusal, system_resolver, url_refusal
from discovery.static import TargetFileError, load_target_file, normalise_url
from discovery.target import Target, make_target
from exporter.common.clock import Clock, now_ms

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Refused:
    target: Target
    reason: str


@dataclass
class SourceResult:
    targets: list[Target] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    block_number: int = 0
    # Extra per-orchestrator facts a source knows (service URI, stake, active), keyed by target.
    facts: dict[Target, dict] = field(default_factory=dict)
    # Orchestrators the source itself could not turn into a target (no service URI, inactive, ...).
    refused: list[Refused] = field(default_factory=list)


class Source(Protocol):
    name: str

    async def discover(self) -> SourceResult: ...


@dataclass
class Snapshot:
    snapshot_id: str
    ts_ms: int
    accepted: list[Target]
    refused: list[Refused]
    errors: list[str]
    results: dict[str, SourceResult]
    # Sources whose discover() failed in this walk, with the error; their last good result is in `results`.
    failed: dict[str, str] = field(default_factory=dict)


class StaticSource:
    """Targets from settings (and, for callers that pass them, files re-read at every walk without memory: the
    collector gives each file its own TargetFileSource instead)."""

    name = "static"

    def __init__(self, targets: list[Target], files: list[str] | None = None) -> None:
        self._targets = targets
        self._files = list(files or [])

    async def discover(self) -> SourceResult:
        result = SourceResult(targets=list(self._targets))
        for f in self._files:
            loaded = await asyncio.to_thread(load_target_file, f)
            result.targets.extend(loaded.targets)
            result.errors.extend(loaded.errors)
        return result


class TargetFileSource:
    """One file_sd / URL-list file, re-read at every walk, off the event loop and with bounds (discovery/static.py).

    A file that cannot be used as a whole (missing, unreadable, not a regular file, too large, not UTF-8, broken
    JSON, not one usable entry) fails the walk of this source: Discovery counts the failure, reports it, and keeps
    the file's last good targets, so an editor's half-written save never stops every scrape. Bad entries in an
    otherwise good file are reported one by one and skipped."""

    qualified_errors = True  # its messages already name the file

    def __init__(self, path: str) -> None:
        self.path = path
        self.name = f"file:{path}"

    async def discover(self) -> SourceResult:
        loaded = await asyncio.to_thread(load_target_file, self.path)
        if loaded.failure:
            raise TargetFileError(loaded.failure)
        return SourceResult(targets=loaded.targets, errors=loaded.errors)


class Discovery:
    """Merges the sources into one checked target list.

    `resolve_names`: also resolve every target's host name at each walk and refuse names that point at
    forbidden addresses (the scraper checks again when it connects). `resolver` replaces DNS in tests.
    """

    def __init__(
        self,
        sources: list[Source],
        allow_loopback: bool = False,
        resolve_names: bool = False,
        resolver: Resolver | None = None,
        resolve_concurrency: int = 16,
        clock: Clock = now_ms,
    ) -> None:
        self.sources = sources
        self.clock = clock
        self.allow_loopback = allow_loopback
        self.resolve_names = resolve_names or resolver is not None
        self.resolver: Resolver = resolver or system_resolver
        self.resolve_concurrency = resolve_concurrency
        self.last: Snapshot | None = None
        self.walks = 0
        self.failures = 0  # source failures over all walks; per source in source_failures
        self.source_failures: dict[str, int] = {}

    async def close(self) -> None:
        """Release what sources hold between walks (the chain source's HTTP session)."""
        for src in self.sources:
            close = getattr(src, "close", None)
            if close is not None:
                await close()

    async def _refusal(self, url: str, sem: asyncio.Semaphore) -> str | None:
        if not self.resolve_names:
            return url_refusal(url, self.allow_loopback)
        async with sem:
            return await resolved_refusal(url, self.allow_loopback, self.resolver)

    async def walk(self) -> Snapshot:
        """Ask every source; a failing source keeps its previous targets (last good snapshot)."""
        self.walks += 1
        results: dict[str, SourceResult] = {}
        errors: list[str] = []
        failed: dict[str, str] = {}
        for src in self.sources:
            try:
                results[src.name] = await src.discover()
            except Exception as e:  # a source failure is transient: keep what we had
                self.failures += 1
                self.source_failures[src.name] = self.source_failures.get(src.name, 0) + 1
                kept = self.last is not None and src.name in self.last.results
                log.warning(
                    "discovery source %s failed (%d failures so far): %s; %s", src.name,
                    self.source_failures[src.name], e, "keeping its last good targets" if kept else "no earlier targets to keep",
                )  # fmt: skip
                failed[src.name] = str(e) or type(e).__name__
                errors.append(_qualified(src, failed[src.name]))
                if kept:
                    assert self.last is not None
                    results[src.name] = self.last.results[src.name]
        candidates: list[Target] = []
        refused: list[Refused] = []
        by_name = {src.name: src for src in self.sources}
        for name in results:
            errors.extend(_qualified(by_name.get(name), e, name) for e in results[name].errors if name not in failed)
            candidates.extend(results[name].targets)
            refused.extend(results[name].refused)
        sem = asyncio.Semaphore(self.resolve_concurrency)
        reasons = await asyncio.gather(*(self._refusal(t.url, sem) for t in candidates))
        accepted: list[Target] = []
        for t, reason in zip(candidates, reasons):
            if reason is None:
                accepted.append(t)
            else:
                refused.append(Refused(t, reason))
        accepted, collided = one_orchestrator_per_url(accepted)
        refused.extend(collided)
        before = {(r.target.url, r.target.orchestrator, r.reason) for r in self.last.refused} if self.last else set()
        for r in refused:
            # New refusals at INFO; the same refusal again at every walk only at DEBUG.
            level = logging.DEBUG if (r.target.url, r.target.orchestrator, r.reason) in before else logging.INFO
            log.log(level, "refused target %s (%s): %s", r.target.url or "-", r.target.orchestrator or "-", r.reason)
        logged = {_qualified(src, failed[src.name]) for src in self.sources if src.name in failed}
        for e in errors:
            if e not in logged:  # a failed source was logged above, with what is kept
                log.warning("discovery: %s", e)
        snap = Snapshot(
            snapshot_id=uuid.uuid4().hex,
            ts_ms=self.clock(),
            accepted=accepted,
            refused=refused,
            errors=errors,
            results=results,
            failed=failed,
        )
        self.last = snap
        return snap


def _qualified(src: object, message: str, name: str = "") -> str:
    """A source's message prefixed with its name, unless the source's messages name it already (files)."""
    if getattr(src, "qualified_errors", False):
        return message
    return f"{name or getattr(src, 'name', '?')}: {message}"


DUPLICATE_METRICS_URL = "duplicate_metrics_url"


def one_orchestrator_per_url(targets: list[Target]) -> tuple[list[Target], list[Refused]]:
    """One target per metrics URL; nobody silently lost.

    The same URL named twice for the same orchestrator (or once without one) is one target, the first. Two
    orchestrators whose metrics URLs are the same (one operator's several service ports, or two spellings of
    one host) are a collision: the exporter there can declare only one of them, so none of them is scraped and
    each is refused with `duplicate_metrics_url` naming the others, until an override gives each its own URL.
    URLs are compared with their host in one spelling per address (`localhost` is 127.0.0.1; other numeric
    spellings are refused before this), so one exporter listed twice is scraped once."""
    by_url: dict[str, list[Target]] = {}
    for t in targets:
        by_url.setdefault(collision_key(t.url), []).append(t)
    kept: list[Target] = []
    refused: list[Refused] = []
    for url, group in by_url.items():
        named = sorted({t.orchestrator for t in group if t.orchestrator})
        if len(named) > 1:
            first = {}
            for t in group:
                if t.orchestrator and t.orchestrator not in first:
                    first[t.orchestrator] = t
            for orch, t in first.items():
                others = ", ".join(o for o in named if o != orch)
                refused.append(Refused(t, f"{DUPLICATE_METRICS_URL} (also {others})"))
            continue
        kept.append(next((t for t in group if t.orchestrator), group[0]))
    return kept, refused


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
    """One row per target (accepted or refused, with the facts its source knew) and one per failed source."""
    rows = []
    source_of: dict[Target, tuple[str, SourceResult]] = {}
    for name, res in snap.results.items():
        for t in [*res.targets, *(r.target for r in res.refused)]:
            source_of.setdefault(t, (name, res))
    items = [("accepted", t, "") for t in snap.accepted] + [("refused", r.target, r.reason) for r in snap.refused]
    for status, t, reason in items:
        name, res = source_of.get(t, (t.source, SourceResult()))
        facts = res.facts.get(t, {})
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
    for name, message in sorted(snap.failed.items()):
        # The walk of this source failed; its rows above (if any) are the last good result, still in use.
        kept = snap.results.get(name)
        rows.append((snap.ts_ms, snap.snapshot_id, name, kept.block_number if kept else 0, "", "", "", 0.0, 0,
                     "error", message[:1000]))  # fmt: skip
    return rows


def static_targets_from_settings(entries: list) -> list[Target]:
    """Targets from the settings' `discovery.targets`; a bad URL raises ValueError at start-up."""
    return [make_target(normalise_url(e.url), e.orchestrator, e.labels, source="config") for e in entries]
