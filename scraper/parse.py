"""Exposition body → samples, with limits. Text format and OpenMetrics, chosen by Content-Type.

Two paths give the same samples:
- the fast path (scraper/textformat.py) for the text format, which the scraper asks for first;
- the reference path: prometheus-client's own parsers. It takes OpenMetrics bodies and every text body the
  fast path is not certain about (it raises Fallback), so results never depend on which path ran.

Both produce `Samples` (scraper/rows.py): series fragments, values and exposition timestamps, turned into
RowBinary rows for the samples table by its one `to_rows`. `parse_exposition` runs the reference path alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scraper import errors
from scraper.errors import ScrapeError
from scraper.limits import Limits
from scraper.rows import Samples, series_fragment
from scraper.textformat import Fallback, SeriesCache, parse_text


def is_openmetrics(content_type: str) -> bool:
    return content_type.split(";", 1)[0].strip().lower() == "application/openmetrics-text"


def _check_content_type(content_type: str) -> None:
    media = content_type.split(";", 1)[0].strip().lower()
    if media and media not in ("text/plain", "application/openmetrics-text", "text/openmetrics"):
        raise ScrapeError(errors.CONTENT_TYPE, f"unexpected Content-Type {media!r}")


def _decode(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ScrapeError(errors.PARSE, f"body is not UTF-8 at byte {e.start}") from None


def timestamp_ms(ts: object, openmetrics: bool) -> int | None:
    """prometheus-client's sample timestamp as integer milliseconds (None: absent or not a finite time).

    The text parser gives seconds as a float (the exposition's milliseconds / 1000): rounding recovers the
    integer exactly for any timestamp below 10^15 ms. OpenMetrics gives a Timestamp(sec, nsec) (truncated to
    ms) or, for exponent spellings, a float (floored to ms)."""
    if ts is None:
        return None
    if hasattr(ts, "sec"):
        return ts.sec * 1000 + ts.nsec // 1_000_000  # type: ignore[attr-defined]
    secs = float(ts)  # type: ignore[arg-type]
    if not math.isfinite(secs) or abs(secs) > 1e13:
        return None
    return math.floor(secs * 1000) if openmetrics else round(secs * 1000)


def parse_exposition(body: bytes, content_type: str, limits: Limits = Limits()) -> Samples:
    """The reference path alone: prometheus-client's parser, limits applied (tests and tools)."""
    _check_content_type(content_type)
    return _reference(_decode(body), is_openmetrics(content_type), limits)


def _reference(text: str, openmetrics: bool, limits: Limits) -> Samples:
    out = Samples()
    try:
        if openmetrics:
            from prometheus_client.openmetrics.parser import text_string_to_metric_families
        else:
            from prometheus_client.parser import text_string_to_metric_families
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                _check_labels(s.labels, limits)
                ts = timestamp_ms(s.timestamp, openmetrics)
                if ts is not None:
                    out.stamps[len(out.values)] = ts
                out.frags.append(series_fragment(s.name, s.labels))
                out.values.append(float(s.value))
                if len(out.values) > limits.sample_limit:
                    raise ScrapeError(errors.SAMPLE_LIMIT, f"more than {limits.sample_limit} samples")
    except ScrapeError:
        raise
    except Exception as e:  # the parsers raise ValueError, IndexError, TypeError, ... on bad input
        raise ScrapeError(errors.PARSE, f"malformed exposition: {str(e)[:200] or type(e).__name__}") from None
    return out


@dataclass
class ParseOutcome:
    samples: Samples
    path: str  # "fast" | "reference"
    fallback_reason: str = ""


def parse_body(body: bytes, content_type: str, limits: Limits, cache: SeriesCache | None = None) -> ParseOutcome:
    """What the scraper calls: the fast path when it can decide the body, else the reference path."""
    _check_content_type(content_type)
    text = _decode(body)
    if is_openmetrics(content_type):
        return ParseOutcome(_reference(text, True, limits), "reference", "openmetrics")
    try:
        return ParseOutcome(parse_text(text, limits, cache), "fast")
    except Fallback as f:
        return ParseOutcome(_reference(text, False, limits), "reference", str(f))


def _check_labels(labels: dict[str, str], limits: Limits) -> None:
    if len(labels) > limits.labels_per_series_max:
        raise ScrapeError(errors.LABEL_LIMIT, f"{len(labels)} labels on one series (max {limits.labels_per_series_max})")
    for k, v in labels.items():
        if len(k) > limits.label_name_max:
            raise ScrapeError(errors.LABEL_LIMIT, f"label name longer than {limits.label_name_max}")
        if len(v) > limits.label_value_max:
            raise ScrapeError(errors.LABEL_LIMIT, f"label {k} value longer than {limits.label_value_max}")
