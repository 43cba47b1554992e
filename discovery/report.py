"""One chain walk for people and tools: what `naap discover` prints."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from discovery.chain import ChainSource, ChainWalk
from discovery.http_sd import http_sd_groups, table
from discovery.service import Discovery, Snapshot


@dataclass
class WalkReport:
    walk: ChainWalk
    snapshot: Snapshot

    def rows(self) -> list[dict[str, Any]]:
        """One row per orchestrator in pool order: stake, active, service URI, metrics URL, status."""
        status: dict[str, tuple[str, str]] = {}
        for t in self.snapshot.accepted:
            status[t.orchestrator] = (t.url, "ok")
        for r in self.snapshot.refused:
            status[r.target.orchestrator] = (r.target.url, f"refused: {r.reason}")
        rows = []
        for o in self.walk.orchestrators:
            url, st = status.get(o.address, ("", "?"))
            rows.append(
                {
                    "orchestrator": o.address,
                    "stake_lpt": f"{o.stake_lpt:.3f}",
                    "active": "yes" if o.active else "no",
                    "service_uri": o.service_uri or f"({o.uri_problem})",
                    "metrics_url": url or "-",
                    "status": st,
                }
            )
        return rows

    def summary(self) -> str:
        w = self.walk
        return (
            f"block {w.block_number}: {len(w.orchestrators)} orchestrators in the pool, {len(self.snapshot.accepted)} targets, "
            f"{len(self.snapshot.refused)} refused; walk {w.duration_s:.2f} s, {w.requests} RPC requests via {w.rpc_url}"
        )

    def render(self, fmt: str) -> str:
        if fmt == "http_sd":
            return json.dumps(http_sd_groups(self.snapshot.accepted), indent=1) + "\n"
        if fmt == "json":
            return "".join(json.dumps(r, sort_keys=True) + "\n" for r in self.rows())
        return table(self.rows())


async def walk_once(source: ChainSource, allow_loopback: bool = False, resolve_names: bool = True) -> WalkReport:
    """One walk of the chain source through Discovery (so the same safety checks apply); raises on failure."""
    discovery = Discovery([source], allow_loopback=allow_loopback, resolve_names=resolve_names)
    try:
        snap = await discovery.walk()
    finally:
        await discovery.close()
    if snap.failed or source.last_walk is None:
        raise RuntimeError(snap.failed.get(source.name, "the chain walk failed"))
    return WalkReport(source.last_walk, snap)
