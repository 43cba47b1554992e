"""Quality profiles of a stand-in orchestrator: what its fake runner and its start call do. Every delay is
injected exactly (on the stand-in's monotonic clock), so a test can compare what the prober measured with what
was injected.

| field | effect |
|---|---|
| `delay_s` | each output segment is published this long after its input segment arrived |
| `jitter_s` | plus a seeded uniform extra delay in [0, jitter_s] per segment |
| `drop_every` | drop every Nth frame (0: none) |
| `cold_start_s` | no output until this long after the start call (state LOADING) |
| `stall_after_s` | output stops for good this long after start (events continue) |
| `restart_after_s`, `restart_gap_s` | a `restart` event then no output for the gap |
| `error_after_s`, `error_state` | an `error` event; with error_state, status reports ERROR from then on |
| `close_after_s` | the output channel is deleted (runner gone) |
| `status_interval_s` | status events every this often (ai-runner: 10 s) |
| `control_delay_s` | a params update takes effect this long after it arrives |
| `start_status`, `start_delay_s` | the start call answers this status (400, 500, 503) / this late |
| `bad_params` | invalid initial params: "http_400" (refused at start) or "error_event" (accepted, an `error` event, defaults used — what ai-runner does) |
| `offline` | GetOrchestrator answers UNAVAILABLE |
| `start_reply` | "ok", or a hostile reply: "not_json", "foreign_origin" (channel URLs on another host) |
| `garbage_output` | output segments are bytes no decoder accepts |
| `no_input_timeout_s` | the session ends after this long without input (ai-runner: 60 s) |
| `faults_every` | the stall/restart/error/close faults play in every Nth session only (0 or 1: every session) |
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Profile:
    name: str = "steady"
    delay_s: float = 0.1
    jitter_s: float = 0.0
    drop_every: int = 0
    cold_start_s: float = 0.0
    stall_after_s: float | None = None
    restart_after_s: float | None = None
    restart_gap_s: float = 1.0
    error_after_s: float | None = None
    error_state: bool = False
    close_after_s: float | None = None
    status_interval_s: float = 10.0
    control_delay_s: float = 0.0
    start_status: int | None = None
    start_delay_s: float = 0.0
    bad_params: str = "http_400"
    offline: bool = False
    start_reply: str = "ok"
    garbage_output: bool = False
    no_input_timeout_s: float = 60.0
    faults_every: int = 0
    seed: int = 0

    def with_(self, **changes: object) -> "Profile":
        return replace(self, **changes)  # type: ignore[arg-type]


PROFILES: dict[str, Profile] = {
    "steady": Profile("steady", delay_s=0.1),
    "jittery": Profile("jittery", delay_s=0.1, jitter_s=0.4, drop_every=7),
    "slow": Profile("slow", delay_s=0.8, drop_every=3, cold_start_s=2.0),
    "flaky": Profile("flaky", delay_s=0.2, restart_after_s=8.0, error_after_s=12.0),
    "offline": Profile("offline", offline=True),
}


def profile(name_or_profile: "str | Profile") -> Profile:
    """A Profile by name (KeyError lists the names) or the Profile itself."""
    if isinstance(name_or_profile, Profile):
        return name_or_profile
    try:
        return PROFILES[name_or_profile]
    except KeyError:
        raise KeyError(f"unknown profile {name_or_profile!r}; known: {sorted(PROFILES)}") from None
