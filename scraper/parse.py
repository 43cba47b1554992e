"""Exposition body → samples, with limits. Text format and OpenMetrics, chosen by Content-Type.

Two paths give the same samples for the text format:
- the fast path (scraper/textformat.py), which the scraper asks for first and which decides the common shape;
- the reference path (scraper/textparse.py), which follows Prometheus line by line and takes every body the
  fast path is not certain about (it raises Fallback), so results never depend on which path ran.
OpenMetrics bodies (sent when a target ignores our Accept header) go through prometheus-client's OpenMetrics
parser, a strict implementation of that specification; their samples are stored by the same rules.

Both produce `Samples` (scraper/rows.py): canonical series fragments (empty-valued labels dropped, labels
sorted), values and exposition timestamps. What is then kept — duplicates, timestamps out of bounds, the
exporter's identity — is the append step's (scraper/append.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scraper import errors
from scraper.errors import ScrapeError
from scraper.limits import Limits
from scraper.rows import Samples
from scraper.textformat import NORMAL_NAN, Fallback, SeriesCache, canonical_fragment, check_label_lengths, parse_text
from scraper.textparse import parse_text_body


def is_openmetrics(content_type: str) -> bool:
    return content_type.split(";", 1)[0].strip().lower() == "application/openmetrics-text"


def _check_content_type(content_type: str) -> None:
    media = content_type.split(";", 1)[0].strip().lower()
    if media and media not in ("text/plain", "application/openmetrics-text", "text/openmetrics"):
        raise ScrapeError(errors.CONTENT_TYPE, f"unexpected Content-Type {media!r}")


def timestamp_ms(ts: object) -> int | None:
    """An OpenMetrics sample timestamp (prometheus-client: Timestamp(sec, nsec), or float seconds for exponent
    spellings) as integer milliseconds, truncated as Prometheus does; None when absent or not finite."""
    if ts is None:
        return None
    if hasattr(ts, "sec"):
        return ts.sec * 1000 + ts.nsec // 1_000_000  # type: ignore[attr-defined]
    secs = float(ts)  # type: ignore[arg-type]
    if not math.isfinite(secs) or abs(secs) > 1e13:
        return None
    return math.floor(secs * 1000)


def reference_text(body: bytes, limits: Limits) -> Samples:
    """The reference path for a text-format body (also what tests and tools call)."""
    text = body.decode("utf-8", errors="surrogateescape")
    out = Samples()
    for s in parse_text_body(text, limits).samples:
        if s.timestamp is not None:
            out.stamps[len(out.values)] = s.timestamp
        out.frags.append(canonical_fragment(s.name, s.labels))
        out.values.append(NORMAL_NAN if math.isnan(s.value) else s.value)
    return out


def _openmetrics(body: bytes, limits: Limits) -> Samples:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ScrapeError(errors.PARSE, f"body is not UTF-8 at byte {e.start}") from None
    out = Samples()
    try:
        from prometheus_client.openmetrics.parser import text_string_to_metric_families

        for family in text_string_to_metric_families(text):
            for s in family.samples:
                if len(s.labels) > limits.labels_per_series_max:
                    raise ScrapeError(errors.LABEL_LIMIT, f"{len(s.labels)} labels on one series (max {limits.labels_per_series_max})")
                for k, v in s.labels.items():
                    check_label_lengths(k, v, limits)
                ts = timestamp_ms(s.timestamp)
                if ts is not None:
                    out.stamps[len(out.values)] = ts
                out.frags.append(canonical_fragment(s.name, list(s.labels.items())))
                value = float(s.value)
                out.values.append(NORMAL_NAN if math.isnan(value) else value)
                if len(out.values) > limits.sample_limit:
                    raise ScrapeError(errors.SAMPLE_LIMIT, f"more than {limits.sample_limit} samples")
    except ScrapeError:
        raise
    except Exception as e:  # the parser raises ValueError, IndexError, TypeError, ... on bad input
        raise ScrapeError(errors.PARSE, f"malformed OpenMetrics: {str(e)[:200] or type(e).__name__}") from None
    return out


def parse_exposition(body: bytes, content_type: str, limits: Limits = Limits()) -> Samples:
    """The reference path alone, for either format (tests and tools)."""
    _check_content_type(content_type)
    return _openmetrics(body, limits) if is_openmetrics(content_type) else reference_text(body, limits)


@dataclass
class ParseOutcome:
    samples: Samples
    path: str  # "fast" | "reference" | "openmetrics"
    fallback_reason: str = ""


def parse_body(body: bytes, content_type: str, limits: Limits, cache: SeriesCache | None = None) -> ParseOutcome:
    """What the scraper calls: the fast path when it can decide the body, else the reference path."""
    _check_content_type(content_type)
    if is_openmetrics(content_type):
        return ParseOutcome(_openmetrics(body, limits), "openmetrics")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return ParseOutcome(reference_text(body, limits), "reference", "not UTF-8")
    try:
        return ParseOutcome(parse_text(text, limits, cache), "fast")
    except Fallback as f:
        return ParseOutcome(reference_text(body, limits), "reference", str(f))
