"""Whom to probe: orchestrators' service addresses, from discovery's snapshot or given by hand.

A probe talks to an orchestrator's *service* address — the `-serviceAddr` it registers on chain, where go-livepeer
serves gRPC (GetOrchestrator) and HTTPS on one port — not to its exporter. Discovery's targets are metrics URLs,
so the service address comes from:
- on-chain targets: the registered service URI (the `service_uri` fact the chain source records);
- static targets and file_sd entries: a `service_uri` label (`https://host:8935` or `host:8935`);
targets with neither are not probed (counted in `Unprobed`). The address is untrusted text: it is parsed here and
checked against the address rules (discovery/safety.py) when the prober connects (prober/netguard.py).
One orchestrator is probed at one address: when two targets name the same orchestrator with different service
addresses, the first (sorted) is used and the other reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from discovery.target import Target

SERVICE_LABEL = "service_uri"
DEFAULT_SERVICE_PORT = 8935  # go-livepeer's default -serviceAddr port


@dataclass(frozen=True)
class OrchestratorTarget:
    """One orchestrator to probe: its lowercase address ("" unknown) and its service `host:port` (gRPC)."""

    orchestrator: str
    target: str

    @property
    def key(self) -> str:
        """The fairness key: the address, or the target for an orchestrator of unknown address."""
        return self.orchestrator or self.target


@dataclass
class Unprobed:
    """Targets that cannot be probed, with why: no service address known, a malformed one, a duplicate."""

    reasons: list[tuple[str, str]] = field(default_factory=list)  # (target url or orchestrator, reason)


def service_target(uri: str) -> str:
    """`host:port` of a service URI (`https://host:8935`, `host:8935`, `[v6]:8935`; no port → 8935).
    ValueError when it is not one."""
    text = uri
    if not text or len(text) > 2048 or any(ord(c) < 33 or ord(c) == 127 for c in text):
        raise ValueError(f"not a service address: {uri[:80]!r}")
    if "://" in text:
        scheme, _, text = text.partition("://")
        if scheme.lower() not in ("https", "http"):
            raise ValueError(f"service URI scheme must be https: {uri[:80]!r}")
    hostport = text.split("/", 1)[0]
    if "@" in hostport:
        raise ValueError(f"service URI must not carry credentials: {uri[:80]!r}")
    if hostport.startswith("["):
        host, _, rest = hostport[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
        shown = f"[{host}]"
    else:
        host, sep, port = hostport.rpartition(":")
        if not sep:
            host, port = hostport, ""
        shown = host
    if not host:
        raise ValueError(f"no host in {uri[:80]!r}")
    if port and not (port.isdigit() and 0 < int(port) < 65536):
        raise ValueError(f"bad port in {uri[:80]!r}")
    return f"{shown}:{int(port) if port else DEFAULT_SERVICE_PORT}"


def from_targets(targets: Iterable[Target], facts: dict[Target, dict[str, Any]] | None = None) -> tuple[list[OrchestratorTarget], Unprobed]:
    """Probe targets for discovery targets: a `service_uri` label first, then the source's `service_uri` fact."""
    facts = facts or {}
    out: dict[str, OrchestratorTarget] = {}
    unprobed = Unprobed()
    for t in sorted(targets, key=lambda t: (t.orchestrator, t.url)):
        uri = t.label_dict().get(SERVICE_LABEL) or str(facts.get(t, {}).get("service_uri") or "")
        if not uri:
            unprobed.reasons.append((t.url, "no service address (on-chain service URI or a service_uri label)"))
            continue
        try:
            ot = OrchestratorTarget(t.orchestrator.lower(), service_target(uri))
        except ValueError as e:
            unprobed.reasons.append((t.url, str(e)))
            continue
        seen = out.get(ot.key)
        if seen is not None:
            if seen.target != ot.target:
                unprobed.reasons.append((t.url, f"orchestrator {ot.key} is already probed at {seen.target}"))
            continue
        out[ot.key] = ot
    return list(out.values()), unprobed


def from_snapshot(snapshot: Any) -> tuple[list[OrchestratorTarget], Unprobed]:
    """Probe targets of a discovery Snapshot's accepted targets (facts from every source's last result)."""
    facts: dict[Target, dict[str, Any]] = {}
    for res in getattr(snapshot, "results", {}).values():
        facts.update(getattr(res, "facts", {}) or {})
    return from_targets(snapshot.accepted, facts)


def parse_target(spec: str) -> OrchestratorTarget:
    """A target given by hand: `host:port` or `host:port=0x<address>` (or a service URI in place of host:port).
    ValueError when malformed."""
    uri, _, address = spec.partition("=")
    address = address.strip().lower()
    if address and not (address.startswith("0x") and len(address) == 42 and all(c in "0123456789abcdef" for c in address[2:])):
        raise ValueError(f"orchestrator address must be 0x + 40 hex digits, got {address[:60]!r}")
    return OrchestratorTarget(address, service_target(uri))
