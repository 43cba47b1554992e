"""Exposition body → samples, with limits. Text format and OpenMetrics, chosen by Content-Type.

Two paths give the same samples:
- the fast path (scraper/textformat.py) for the text format, which the scraper asks for first;
- the reference path: prometheus-client's own parsers. It takes OpenMetrics bodies and every text body the
  fast path is not certain about (it raises Fallback), so results never depend on which path ran.

Both produce something with `len()` and `to_rows(...)` (RowBinary rows for the samples table, scraper/rows.py), which is
all the scraper needs. `parse_exposition` (reference only) returns plain columns, for tests and tools.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Union

from scraper import errors as E
from scraper.errors import ScrapeError
from scraper.rows import row_prefix, row_tail, series_fragment
from scraper.textformat import Fallback, SeriesCache, TextLimits, TextSamples, parse_text


@dataclass(frozen=True)
class Limits:
    sample_limit: int = 200_000
    label_name_max: int = 128
    label_value_max: int = 1024
    labels_per_series_max: int = 64

    def text(self) -> TextLimits:
        return TextLimits(self.sample_limit, self.label_name_max, self.label_value_max, self.labels_per_series_max)


@dataclass
class ParsedSamples:
    names: list[str] = field(default_factory=list)
    labels: list[dict[str, str]] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    # Exposition timestamps in ms, or None where the sample carried none.
    timestamps: list[int | None] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.values)

    def to_rows(self, scrape_ms: int, orchestrator: str, instance: str, accept_ts: Callable[[int], bool]) -> tuple[bytes, int]:
        if not self.values:
            return b"", 0
        prefix = row_prefix(orchestrator, instance)
        rows = []
        replaced = 0
        for name, labels, value, ts in zip(self.names, self.labels, self.values, self.timestamps):
            if ts is None:
                ts = scrape_ms
            elif not accept_ts(ts):
                replaced += 1
                ts = scrape_ms
            rows.append(prefix + series_fragment(name, labels) + row_tail(ts, value))
        return b"".join(rows), replaced


Samples = Union[TextSamples, ParsedSamples]


def is_openmetrics(content_type: str) -> bool:
    return content_type.split(";", 1)[0].strip().lower() == "application/openmetrics-text"


def _check_content_type(content_type: str) -> None:
    media = content_type.split(";", 1)[0].strip().lower()
    if media and media not in ("text/plain", "application/openmetrics-text", "text/openmetrics"):
        raise ScrapeError(E.CONTENT_TYPE, f"unexpected Content-Type {media!r}")


def _decode(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ScrapeError(E.PARSE, f"body is not UTF-8 at byte {e.start}") from None


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


def parse_exposition(body: bytes, content_type: str, limits: Limits = Limits()) -> ParsedSamples:
    """The reference path: prometheus-client's parser, its samples as columns, limits applied."""
    _check_content_type(content_type)
    return _reference(_decode(body), is_openmetrics(content_type), limits)


def _reference(text: str, openmetrics: bool, limits: Limits) -> ParsedSamples:
    out = ParsedSamples()
    try:
        if openmetrics:
            from prometheus_client.openmetrics.parser import text_string_to_metric_families
        else:
            from prometheus_client.parser import text_string_to_metric_families
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                _check_labels(s.labels, limits)
                out.names.append(s.name)
                out.labels.append(s.labels)
                out.values.append(float(s.value))
                out.timestamps.append(timestamp_ms(s.timestamp, openmetrics))
                if len(out.values) > limits.sample_limit:
                    raise ScrapeError(E.SAMPLE_LIMIT, f"more than {limits.sample_limit} samples")
    except ScrapeError:
        raise
    except Exception as e:  # the parsers raise ValueError, IndexError, TypeError, ... on bad input
        raise ScrapeError(E.PARSE, f"malformed exposition: {str(e)[:200] or type(e).__name__}") from None
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
        return ParseOutcome(parse_text(text, limits.text(), cache), "fast")
    except Fallback as f:
        return ParseOutcome(_reference(text, False, limits), "reference", str(f))


def _check_labels(labels: dict[str, str], limits: Limits) -> None:
    if len(labels) > limits.labels_per_series_max:
        raise ScrapeError(E.LABEL_LIMIT, f"{len(labels)} labels on one series (max {limits.labels_per_series_max})")
    for k, v in labels.items():
        if len(k) > limits.label_name_max:
            raise ScrapeError(E.LABEL_LIMIT, f"label name longer than {limits.label_name_max}")
        if len(v) > limits.label_value_max:
            raise ScrapeError(E.LABEL_LIMIT, f"label {k} value longer than {limits.label_value_max}")
