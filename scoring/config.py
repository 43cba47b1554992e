"""Scoring's configuration: which versioned SLA config to publish with, and how often.
The `scoring` section of the settings (the SLA config itself is scoring/sla_config.py)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from exporter.common.configfile import Section


class ScoringSettings(Section):
    config: Path | None = Field(None, description="SLA config YAML; default: the packaged current version.")
    interval_s: float = Field(60.0, gt=0, description="Recompute scores this often.")
