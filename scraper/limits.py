"""What one scrape may contain before it fails: samples, label name and value lengths, labels per series."""

from __future__ import annotations

from dataclasses import dataclass

from scraper.config import ScraperSettings


@dataclass(frozen=True)
class Limits:
    sample_limit: int = 200_000
    label_name_max: int = 128
    label_value_max: int = 1024
    labels_per_series_max: int = 64

    @classmethod
    def from_settings(cls, s: ScraperSettings) -> "Limits":
        return cls(s.sample_limit, s.label_name_max, s.label_value_max, s.labels_per_series_max)
