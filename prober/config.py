"""The prober's configuration: the `prober` section of the settings. Every field is validated and documented;
durations are seconds, sizes bytes, prices wei.

Defaults follow go-livepeer's gateway where it has one (info 8 s / connect 3 s, start 5 s, 30 s without output
or events, 5 read errors, control keepalive 10 s, payments every 5 s) and design §10.3 otherwise (every
orchestrator × advertised model every 10 minutes per region).
"""

from __future__ import annotations

from pathlib import Path

import re

from pydantic import Field, field_validator, model_validator

from exporter.common.configfile import Section
from exporter.common.eth import OptionalEthAddress
from warehouse.config import default_data_dir

# The shipped datasets: `datasets/` at the top of the repository, packaged as prober/bundled_datasets (a symbolic
# link to it that setuptools follows, so wheels and editable installs find the same files).
BUNDLED_DATASETS = Path(__file__).resolve().parent / "bundled_datasets"


def packaged_datasets_dir() -> Path:
    """Where the shipped datasets are in this installation (a source checkout, an editable install or a wheel)."""
    return BUNDLED_DATASETS


class ProberSettings(Section):
    # Whether the collector runs it.
    enabled: bool = Field(
        False, description="Run the prober inside `naap collect` (the demo turns it on); `naap probe` runs one pass regardless."
    )
    # What and how often.
    region: str = Field("", max_length=64, description="The region this prober runs in (recorded on every result).")
    interval_s: float = Field(600.0, ge=10, le=86_400, description="Period: every orchestrator × advertised model once per period.")
    max_concurrency: int = Field(4, ge=1, le=256, description="Most probes in flight at once (at most one per orchestrator).")
    budget_share: float = Field(
        0.10, gt=0, le=1, description="Most of an orchestrator's day (fraction of 86,400 s) spent streaming probes to it."
    )
    budget_wei_per_day: int = Field(
        0, ge=0, description="Most wei paid to one orchestrator per day; 0 allows off-chain (free) orchestrators only."
    )
    void_min_probes: int = Field(
        5, ge=1, description="A period in which at least this many probes all fail to reach their orchestrators is void (the prober's fault)."
    )
    datasets_dir: Path = Field(
        default_factory=packaged_datasets_dir,
        description="Root of the datasets (<workflow>/<id>/<version>/); default: the datasets shipped with naap.",
    )
    datasets: list[str] = Field(
        default_factory=lambda: ["live-video-to-video/streamdiffusion-good@1.0.0"],
        description="Datasets probes draw items from, as <workflow>/<id>@<version>.",
    )

    # One probe.
    duration_s: float = Field(20.0, ge=2, le=600, description="Input streamed per probe.")
    segment_s: float = Field(1.0, ge=0.2, le=10, description="Input segment length (one MPEG-TS container, one GOP).")
    fps: int = Field(24, ge=1, le=60, description="Input frame rate (ai-runner drops frames above 24 fps by PTS).")
    width: int = Field(256, ge=32, le=1920, multiple_of=16, description="Input frame width (pixels).")
    height: int = Field(144, ge=32, le=1080, multiple_of=16, description="Input frame height (pixels).")
    prompt_change_at_s: float | None = Field(
        None, gt=0, description="When the scheduled prompt change is written; None: the item's schedule (else half-way)."
    )
    info_timeout_s: float = Field(8.0, gt=0, le=60, description="GetOrchestrator deadline (go-livepeer GRPCTimeout).")
    connect_timeout_s: float = Field(3.0, gt=0, le=60, description="TCP+TLS connect deadline (go-livepeer GRPCConnectTimeout).")
    start_timeout_s: float = Field(5.0, gt=0, le=60, description="Start call deadline (go-livepeer reqTimeout).")
    first_output_timeout_s: float = Field(30.0, gt=0, le=600, description="Start reply → first output segment (cold starts).")
    no_output_timeout_s: float = Field(30.0, gt=0, le=600, description="Swap trigger: no output segment for this long.")
    no_events_timeout_s: float = Field(30.0, gt=0, le=600, description="Swap trigger: no event for this long.")
    max_read_errors: int = Field(5, ge=1, le=100, description="Swap trigger: more consecutive trickle read errors than this.")
    drain_timeout_s: float = Field(10.0, gt=0, le=600, description="After the last input segment: wait this long for its output.")
    p2ff_timeout_s: float = Field(15.0, gt=0, le=600, description="Prompt change → visibly changed frame, at most.")
    keepalive_s: float = Field(10.0, gt=0, le=600, description="Control channel keepalive period (go-livepeer: 10 s).")
    payment_interval_s: float = Field(5.0, gt=0, le=600, description="Live payments at most this often (go-livepeer: 5 s).")
    max_segment_bytes: int = Field(8 << 20, ge=1 << 16, description="Largest output segment read.")
    max_event_bytes: int = Field(1 << 20, ge=1 << 10, description="Largest event or control message read.")
    max_loop_lag_s: float = Field(
        0.5, gt=0, le=60, description="The prober's own event loop stalled longer than this: the probe is the prober's fault."
    )
    teardown_timeout_s: float = Field(3.0, gt=0, le=60, description="Closing the channels, at most.")

    # Identity, trust and payment.
    key_file: Path = Field(
        default_factory=lambda: default_data_dir() / "prober" / "ed25519.pem",
        description="The prober's ed25519 signing key (created 0600 in a 0700 folder when absent).",
    )
    pin_store: Path = Field(
        default_factory=lambda: default_data_dir() / "prober" / "tls_pins.json",
        description="TLS certificate pins (trust on first use; a changed certificate is re-pinned after one excluded probe).",
    )
    signer_url: str | None = Field(
        None, description="go-livepeer remote signer (e.g. http://127.0.0.1:8935); None: off-chain orchestrators only."
    )
    signer_timeout_s: float = Field(3.0, gt=0, le=60, description="Remote signer request deadline.")
    eth_address: OptionalEthAddress = Field("", description="The prober's address sent in GetOrchestrator when no signer is set.")
    allow_loopback: bool = Field(False, description="Allow loopback orchestrators (demo and tests only).")

    # Cross-check of exporters' self-reports against probes (prober/crosscheck.py).
    crosscheck_window_s: float = Field(
        3600.0, ge=60, le=31 * 86_400, description="Cross-check: the window probes and self-reports are compared over."
    )
    crosscheck_min_probes: int = Field(
        2, ge=1, le=10_000, description="Cross-check: probes of an orchestrator × model needed before it can be flagged."
    )
    crosscheck_fps_tolerance: float = Field(
        0.25, gt=0, le=1, description="Cross-check: flag when probe and exporter delivery ratios (output/input FPS) differ by more."
    )
    crosscheck_latency_ms: float = Field(
        1500.0, gt=0, le=600_000,
        description="Cross-check: flag P2FF or startup when they differ by more than this (ms) and by more than crosscheck_latency_ratio.",
    )
    crosscheck_latency_ratio: float = Field(
        0.5, gt=0, le=10, description="Cross-check: … and by more than this fraction of the larger of the two."
    )
    crosscheck_failure_tolerance: float = Field(
        0.5, gt=0, le=1, description="Cross-check: flag when the probes' failure rate exceeds the exporter's by more."
    )

    @field_validator("datasets")
    @classmethod
    def _refs(cls, v: list[str]) -> list[str]:
        bad = [r for r in v if not re.fullmatch(r"[a-z0-9-]+/[a-z0-9-]+@\d+\.\d+\.\d+", r)]
        if bad:
            raise ValueError(f"dataset references must be <workflow>/<id>@<version>, got {bad}")
        return v

    @field_validator("signer_url")
    @classmethod
    def _signer(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^https?://[^/\s]+", v):
            raise ValueError("must be an http(s) URL, e.g. http://127.0.0.1:8935")
        return v

    @model_validator(mode="after")
    def _fits(self) -> "ProberSettings":
        if self.segment_s > self.duration_s:
            raise ValueError(f"segment_s ({self.segment_s}) must not exceed duration_s ({self.duration_s})")
        if self.prompt_change_at_s is not None and self.prompt_change_at_s >= self.duration_s:
            raise ValueError(f"prompt_change_at_s ({self.prompt_change_at_s}) must be inside duration_s ({self.duration_s})")
        if round(self.fps * self.segment_s) < 1:
            raise ValueError("fps × segment_s must give at least one frame per segment")
        return self

    @property
    def frames_per_segment(self) -> int:
        return max(1, round(self.fps * self.segment_s))

    @property
    def segments(self) -> int:
        return max(1, round(self.duration_s / self.segment_s))

    def probe_deadline_s(self) -> float:
        """The hard upper bound of one probe, everything included (seconds)."""
        return (
            self.connect_timeout_s + self.info_timeout_s + self.start_timeout_s + self.first_output_timeout_s
            + self.duration_s + self.drain_timeout_s + self.teardown_timeout_s + 5.0
        )  # fmt: skip
