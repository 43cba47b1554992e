"""Failure classes of a probe (the `error_class` of a ProbeResult) and who was at fault.

The seed taxonomy (design §5, seed 000 §4.2) plus the probe's own classes. `fault` says whose failure it is, so
that the prober's own outages and unscoreable inputs never lower an orchestrator's score:

| class | when | fault |
|---|---|---|
| `no_capacity` | info says no idle runner for the model (or `OrchestratorCapped`) — the probe never started | excluded |
| `capacity` | the start call answered 503 `insufficient capacity` although info had shown an idle runner | excluded |
| `bad_request` | a dataset item of kind `bad` was refused (4xx or a runner `error` event), as it must be | excluded |
| `bad_request` | a valid item was refused with 400/402/403 (payment, credentials: the prober's request) | prober |
| `tls_pin_mismatch` | the certificate differs from the one pinned on first use | excluded |
| `tls` | TLS handshake or verification against the pinned certificate failed | orchestrator |
| `refused_address` | the service URI or a channel URL points at an address the prober's own address rules refuse (loopback, private, metadata…): a refusal by policy, not something the orchestrator failed | excluded |
| `dns` | the service host name does not resolve (no such name, or no address): no gateway can reach it | orchestrator |
| `dns` | the prober's resolver did not answer (temporary failure, EAI_AGAIN): the prober's network | prober |
| `connect` | the TCP connection was refused, reset during connect, or the host/network unreachable (the scraper's name) | orchestrator |
| `timeout` | info, start or first output past its deadline; output stalled past the swap threshold | orchestrator |
| `orchestrator_reset` | an established connection was reset by the orchestrator, gRPC UNAVAILABLE after the handshake, > N trickle read errors | orchestrator |
| `runner_disconnect` | the output channel closed or vanished mid-stream; a runner `restart` event | orchestrator |
| `model_error` | start 5xx; a runner `error` event or `ERROR` state; undecodable output | orchestrator |
| `unknown` | a malformed reply (bad JSON, missing channel URLs) or anything else the orchestrator did | orchestrator |
| `prober_error` | the prober's own fault: event loop stalled (CPU), its signer unreachable, no signer for a priced orchestrator, its own bug | prober |
| `gateway_reset` | in the seed taxonomy; a direct client never resets a stream, so probes do not produce it | — |

A DNS failure is the orchestrator's when its name does not exist or has no address (it registered a name no
gateway can resolve), and the prober's when the resolver itself failed to answer; a whole period in which every
probe failed to reach its orchestrator (`connect`, `dns`, `orchestrator_reset`, `timeout`, `tls`) is the prober's
anyway (prober/schedule.py's void rule).

Exceptions here are internal to a probe: `run_probe` turns every one into a ProbeResult.
"""

from __future__ import annotations

TIMEOUT = "timeout"
MODEL_ERROR = "model_error"
RUNNER_DISCONNECT = "runner_disconnect"
CAPACITY = "capacity"
GATEWAY_RESET = "gateway_reset"
ORCHESTRATOR_RESET = "orchestrator_reset"
UNKNOWN = "unknown"
NO_CAPACITY = "no_capacity"
TLS = "tls"
TLS_PIN_MISMATCH = "tls_pin_mismatch"
BAD_REQUEST = "bad_request"
REFUSED_ADDRESS = "refused_address"
DNS = "dns"
CONNECT = "connect"
PROBER_ERROR = "prober_error"

ALL = (
    TIMEOUT, MODEL_ERROR, RUNNER_DISCONNECT, CAPACITY, GATEWAY_RESET, ORCHESTRATOR_RESET, UNKNOWN,
    NO_CAPACITY, TLS, TLS_PIN_MISMATCH, BAD_REQUEST, REFUSED_ADDRESS, DNS, CONNECT, PROBER_ERROR,
)  # fmt: skip

# Who was at fault.
FAULT_NONE = "none"  # the probe succeeded
ORCHESTRATOR = "orchestrator"  # counts against the orchestrator
PROBER = "prober"  # the prober's own fault: excused, never counted
EXCLUDED = "excluded"  # neither side's to score (no capacity, bad items, pin changes)
FAULTS = (FAULT_NONE, ORCHESTRATOR, PROBER, EXCLUDED)

# Swap triggers: what a production gateway would have swapped orchestrators on (go-livepeer
# server/ai_live_video.go: 30 s without output segments, events gap 30 s, 5 consecutive read errors; plus the
# runner's ERROR state and restarts).
SWAP_NO_OUTPUT = "no_output"
SWAP_NO_EVENTS = "no_events"
SWAP_READ_ERRORS = "read_errors"
SWAP_CHANNEL_CLOSED = "channel_closed"
SWAP_ERROR_STATE = "error_state"
SWAP_RESTART = "restart"
SWAP_TRIGGERS = (SWAP_NO_OUTPUT, SWAP_NO_EVENTS, SWAP_READ_ERRORS, SWAP_CHANNEL_CLOSED, SWAP_ERROR_STATE, SWAP_RESTART)


class ProbeFailure(Exception):
    """A classified probe failure: `error_class` (one of ALL), `fault` (one of FAULTS) and a short message."""

    def __init__(self, error_class: str, fault: str, message: str) -> None:
        super().__init__(message)
        self.error_class = error_class
        self.fault = fault
        self.message = message[:500]


def dns_failure(host: str, e: BaseException | None) -> ProbeFailure:
    """The `dns` failure of `host` not resolving (`e` the resolver's error, None when it resolved to nothing):
    the prober's fault when its resolver did not answer (EAI_AGAIN), the orchestrator's otherwise (table above)."""
    import socket

    if isinstance(e, socket.gaierror) and e.errno == socket.EAI_AGAIN:
        return ProbeFailure(DNS, PROBER, f"cannot resolve {host[:120]}: the prober's resolver did not answer ({e})")
    why = "no address" if e is None else (getattr(e, "strerror", None) or str(e) or type(e).__name__)
    return ProbeFailure(DNS, ORCHESTRATOR, f"cannot resolve {host[:120]}: {why}")
