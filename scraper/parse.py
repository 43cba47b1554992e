"""Exposition body → samples, with limits. Text format and OpenMetrics, chosen by Content-Type.

The contract with the rest of the scraper is :class:`ParsedSamples` (parallel columns). This module uses
prometheus-client's parsers; any faster parser must produce identical ParsedSamples on the same inputs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from scraper import errors as E
from scraper.errors import ScrapeError


@dataclass(frozen=True)
class Limits:
    sample_limit: int = 200_000
    label_name_max: int = 128
    label_value_max: int = 1024
    labels_per_series_max: int = 64


@dataclass
class ParsedSamples:
    names: list[str] = field(default_factory=list)
    labels: list[dict[str, str]] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    # Exposition timestamps in ms, or None where the sample carried none.
    timestamps: list[int | None] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.values)


def is_openmetrics(content_type: str) -> bool:
    return content_type.split(";", 1)[0].strip().lower() == "application/openmetrics-text"


def _check_content_type(content_type: str) -> None:
    media = content_type.split(";", 1)[0].strip().lower()
    if media and media not in ("text/plain", "application/openmetrics-text", "text/openmetrics"):
        raise ScrapeError(E.CONTENT_TYPE, f"unexpected Content-Type {media!r}")


def parse_exposition(body: bytes, content_type: str, limits: Limits = Limits()) -> ParsedSamples:
    _check_content_type(content_type)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ScrapeError(E.PARSE, f"body is not UTF-8 at byte {e.start}") from None
    out = ParsedSamples()
    try:
        if is_openmetrics(content_type):
            from prometheus_client.openmetrics.parser import text_string_to_metric_families
        else:
            from prometheus_client.parser import text_string_to_metric_families
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                _check_labels(s.labels, limits)
                out.names.append(s.name)
                out.labels.append(s.labels)
                out.values.append(float(s.value))
                ts = s.timestamp
                if ts is not None:
                    # prometheus-client gives seconds (float) or a Timestamp object
                    secs = float(ts) if not hasattr(ts, "sec") else ts.sec + ts.nsec / 1e9
                    out.timestamps.append(int(math.floor(secs * 1000)) if math.isfinite(secs) else None)
                else:
                    out.timestamps.append(None)
                if len(out.values) > limits.sample_limit:
                    raise ScrapeError(E.SAMPLE_LIMIT, f"more than {limits.sample_limit} samples")
    except ScrapeError:
        raise
    except Exception as e:  # the parsers raise ValueError, IndexError, TypeError, ... on bad input
        raise ScrapeError(E.PARSE, f"malformed exposition: {str(e)[:200] or type(e).__name__}") from None
    return out


def _check_labels(labels: dict[str, str], limits: Limits) -> None:
    if len(labels) > limits.labels_per_series_max:
        raise ScrapeError(E.LABEL_LIMIT, f"{len(labels)} labels on one series (max {limits.labels_per_series_max})")
    for k, v in labels.items():
        if len(k) > limits.label_name_max:
            raise ScrapeError(E.LABEL_LIMIT, f"label name longer than {limits.label_name_max}")
        if len(v) > limits.label_value_max:
            raise ScrapeError(E.LABEL_LIMIT, f"label {k} value longer than {limits.label_value_max}")
