"""Sample rows as ClickHouse TabSeparated text: the one format the sink writes to the `samples` table.

A row is `ts<TAB>orchestrator<TAB>instance<TAB>metric<TAB>{'k':'v',...}<TAB>value`. Why text: the warehouse
parses it in C++ (raw insert), and the fast parser can hand over the exposition's own value tokens and a
cached rendering of each series, so a sample costs the scraper a dictionary lookup, not an object.

Exactness rules, measured against chDB 4.4 (tests/test_parse_differential.py keeps them true):
- values are parsed by ClickHouse with `precise_float_parsing=1`; without it about 1 in 3 random doubles
  written with 17 digits comes back one ulp off. With it, every decimal token Python's float() accepts in
  the fast path's grammar (and nan/inf spellings) gives the same bits as float().
- timestamps are written as 'YYYY-MM-DD hh:mm:ss.fff' UTC: an integer is read as seconds, and epoch seconds
  with a fraction are rejected below 10 integer digits (before 2001-09-09).
- Map keys and values are single-quoted; backslash, quote, tab and newline are escaped (ClickHouse reads a
  Map field's quoted strings directly, without a second TSV unescaping pass).
"""

from __future__ import annotations

import math
import re
import time

SAMPLE_COLUMNS = ("ts", "orchestrator", "instance", "metric", "labels", "value")

# Settings every samples insert runs with (see the module docstring).
INSERT_SETTINGS = {"precise_float_parsing": 1, "input_format_parallel_parsing": 0, "max_threads": 1, "max_insert_threads": 1}

_TSV_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\0": "\\0"})
_QUOTED_ESCAPES = str.maketrans({"\\": "\\\\", "'": "\\'", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\0": "\\0"})


def tsv_field(s: str) -> str:
    """A plain String field, escaped for TabSeparated."""
    return s.translate(_TSV_ESCAPES)


def quoted(s: str) -> str:
    """A string inside a Map literal."""
    return "'" + s.translate(_QUOTED_ESCAPES) + "'"


# DateTime64(3)'s range; timestamps outside it never reach a row (see TimestampPolicy).
MIN_TS_MS = -2_208_988_800_000  # 1900-01-01
MAX_TS_MS = 10_413_791_999_999  # 2299-12-31 23:59:59.999


def ts_text(ms: int) -> str:
    """Milliseconds since the epoch as 'YYYY-MM-DD hh:mm:ss.fff' (UTC): the one spelling DateTime64(3) reads
    the same way for every date (epoch seconds with fewer than 10 digits are rejected or misread)."""
    sec, milli = divmod(ms, 1000)
    t = time.gmtime(sec)
    return f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d} {t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}.{milli:03d}"


def row_prefix(ts_ms: int, orchestrator: str, instance: str) -> str:
    return f"{ts_text(ts_ms)}\t{tsv_field(orchestrator)}\t{tsv_field(instance)}\t"


def series_fragment(name: str, labels: dict[str, str] | list[tuple[str, str]]) -> str:
    """`metric<TAB>{...}<TAB>`: the part of a row that depends only on the series."""
    items = labels.items() if isinstance(labels, dict) else labels
    body = ",".join(f"{quoted(k)}:{quoted(v)}" for k, v in items)
    return f"{tsv_field(name)}\t{{{body}}}\t"


def value_text(v: float) -> str:
    """A float as text ClickHouse reads back to the same bits (repr round-trips under precise parsing)."""
    if math.isnan(v):
        # repr() drops a NaN's sign; ClickHouse reads '-nan' as the sign-bit NaN, as float() does.
        return "-nan" if math.copysign(1.0, v) < 0 else "nan"
    return repr(v)


_QUOTED = re.compile(r"'((?:[^'\\]|\\.)*)'")
_UNQUOTE = {"\\": "\\", "'": "'", "t": "\t", "n": "\n", "r": "\r", "0": "\0"}
_UNQUOTE_RE = re.compile(r"\\(.)", re.S)
_UNTSV = re.compile(r"\\(.)", re.S)


def parse_fragment(fragment: str) -> tuple[str, dict[str, str]]:
    """The inverse of series_fragment, for tests and debugging: (metric, labels)."""
    name_field, labels_field, rest = fragment.split("\t", 2)
    if rest:
        raise ValueError(f"not a fragment: {fragment!r}")
    name = _UNTSV.sub(lambda m: _UNQUOTE.get(m.group(1), "\\" + m.group(1)), name_field)
    strings = [_UNQUOTE_RE.sub(lambda m: _UNQUOTE[m.group(1)], s) for s in _QUOTED.findall(labels_field)]
    return name, dict(zip(strings[0::2], strings[1::2]))
