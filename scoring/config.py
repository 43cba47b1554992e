"""Scoring's configuration: which versioned SLA config to publish with, and how often.
The `scoring` section of the settings (the SLA config itself is scoring/sla_config.py)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from exporter.common.configfile import Section


class ScoringSettings(Section):
    config: Path | None = Field(None, description="SLA config YAML; default: the packaged current version.")
    interval_s: float = Field(60.0, gt=0, description="Recompute scores this often.")
    settle_s: float = Field(
        30.0, ge=0, le=3600, description="Publish the window that ended this long ago (aligned to the config's step), "
        "so that its scrapes have finished and been written."
    )
    as_of_margin_s: float = Field(
        2.0, ge=0, le=300, description="A published score counts the rows that arrived up to this long before it was "
        "computed (inserts still committing are left to the next window's score, never half-counted)."
    )
    catchup_s: float = Field(
        3600.0, ge=0, le=7 * 86400, description="Score v1: base windows and score windows that fell due while the "
        "collector was down are computed on restart if they ended within this long ago; older ones stay unpublished "
        "(their absence lowers coverage, never a score)."
    )
