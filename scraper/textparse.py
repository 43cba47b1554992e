"""The Prometheus text format (0.0.4), parsed as Prometheus parses it: the exact, line-by-line reference path.

Prometheus has two parsers for this format and the scraper must agree with both:
- the server's scrape parser (prometheus/prometheus model/textparse: promlex.l + promparse.go), which decides
  what a Prometheus server stores;
- the format's reference parser (prometheus/common expfmt TextParser), which `promtool check metrics` runs.
They disagree at the edges (each accepts some bodies the other rejects). A body is accepted here only when
both accept it, and what is returned is what the server would store (docs/scraper.md, "Stored as Prometheus
stores it"; tests/test_prometheus_conformance.py checks both against the real binaries). In short:

- lines end with "\\n"; a last line without one is an error unless it is blank (expfmt: "unexpected end of
  input stream");
- comments and blank lines may start with blanks (space, tab), samples may not (the server refuses them); a
  sample is `name[{labels}] value[ timestamp]`, names
  `[a-zA-Z_:][a-zA-Z0-9_:]*`, label names `[a-zA-Z_][a-zA-Z0-9_]*` (never `__name__`, no duplicates), label
  values quoted, valid UTF-8, single-line, with only the escapes \\\\ \\" \\n; labels separated by commas (a
  trailing comma is fine), blanks around every token of the label block;
- the value is Go's ParseFloat without hex, `p` or `_` (so: decimal, Inf/Infinity with a sign, NaN without
  one; out of range is an error, underflow is zero); no trailing blanks after it unless a timestamp follows;
- the timestamp is ASCII digits only (no sign), an int64 of milliseconds, and ends the line;
- `# HELP name text` (text escapes \\\\ and \\n only; valid UTF-8) at most once per family; `# TYPE name type`
  at most once and never after a sample of its family, type one of counter, gauge, histogram, summary,
  untyped (written as is, one blank before it); other comments are free text;
- in a histogram family `le`, in a summary family `quantile`, must be a float;
- families follow expfmt: a sample or HELP/TYPE named `x_count`/`x_sum` (`x_bucket`) joins the summary
  (histogram) family `x` when `x` was declared as one.

Stored as the server stores it: labels with an empty value are dropped, labels are sorted by name, NaN is
Prometheus' canonical NaN. Duplicates, timestamps out of bounds and identity are the append step's
(scraper/append.py), applied to this path and the fast path alike.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from scraper import errors
from scraper.errors import ScrapeError
from scraper.limits import Limits

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*+"
LABEL_NAME = r"[a-zA-Z_][a-zA-Z0-9_]*+"
_LABEL_VALUE = r'"(?:[^"\\\n]|\\.)*+"'  # any escape is tokenised; which ones are allowed is checked after
_PAIR = rf"{LABEL_NAME}[ \t]*+=[ \t]*+{_LABEL_VALUE}"
_BLOCK = rf"\{{[ \t]*+(?:{_PAIR}[ \t]*+(?:,[ \t]*+{_PAIR}[ \t]*+)*+(?:,[ \t]*+)?)?\}}"
SAMPLE_LINE = re.compile(rf"({NAME})[ \t]*+({_BLOCK})?[ \t]*+([^ \t\n]++)(?:[ \t]++([^ \t\n]++))?")
PAIR = re.compile(rf'({LABEL_NAME})[ \t]*=[ \t]*"((?:[^"\\\n]|\\.)*)"')
ESCAPE = re.compile(r"\\(.)")
_UNESCAPED = {"\\": "\\", '"': '"', "n": "\n"}

# Go's strconv.ParseFloat as both parsers call it (no hex: 'p' and '_' are refused before it runs).
GO_FLOAT = re.compile(
    r"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[iI][nN][fF](?:[iI][nN][iI][tT][yY])?)|[nN][aA][nN]"
)
_INFINITIES = frozenset(("inf", "infinity"))
INT64_MAX = 2**63 - 1
TIMESTAMP = re.compile(r"[0-9]+")

# The server's TYPE words; expfmt compares upper-cased against its enum (which also knows GAUGE_HISTOGRAM).
SERVER_TYPES = frozenset(("counter", "gauge", "histogram", "summary", "untyped"))
EXPFMT_TYPES = frozenset(("COUNTER", "GAUGE", "SUMMARY", "UNTYPED", "HISTOGRAM", "GAUGE_HISTOGRAM"))
# A comment the server reads as HELP/TYPE (promlex: `#[ \t]+` then `HELP[\t ]+` / `TYPE[\t ]+`).
SERVER_META = re.compile(r"[ \t]*#[ \t]+(HELP|TYPE)[ \t]")


def parse_go_float(token: str) -> float | None:
    """The value Go's ParseFloat gives `token`, or None where it fails (syntax, or out of float64 range)."""
    if GO_FLOAT.fullmatch(token) is None:
        return None
    value = float(token)
    if math.isinf(value) and token.lstrip("+-").lower() not in _INFINITIES:
        return None  # Go: ErrRange for a finite spelling past float64; Python would give inf
    return value


def unescape_label_value(raw: str) -> str | None:
    """A label value's text between its quotes, unescaped; None if it holds an escape other than \\\\ \\" \\n."""
    if "\\" not in raw:
        return raw
    bad = False

    def one(m: re.Match[str]) -> str:
        nonlocal bad
        c = m.group(1)
        if c not in _UNESCAPED:
            bad = True
            return ""
        return _UNESCAPED[c]

    out = ESCAPE.sub(one, raw)
    return None if bad else out


def _utf8(text: str) -> bool:
    """Bodies are decoded with surrogateescape: a lone surrogate is a byte that was not UTF-8."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@dataclass
class Family:
    """expfmt's view of a metric family while a body is read: has it a HELP, a type (from TYPE or a sample)?"""

    name: str
    type: str | None = None  # expfmt's upper-case type, "UNTYPED" once a sample arrived first
    help: bool = False


@dataclass
class Sample:
    name: str
    labels: list[tuple[str, str]]  # as written (body order, empty values included)
    value: float
    timestamp: int | None  # ms, when the line carried one


@dataclass
class TextBody:
    samples: list[Sample] = field(default_factory=list)


class _Families:
    """expfmt's setOrCreateCurrentMF: which family a name belongs to."""

    def __init__(self) -> None:
        self.by_name: dict[str, Family] = {}

    def resolve(self, name: str) -> Family:
        fam = self.by_name.get(name)
        if fam is not None:
            return fam
        for suffix, types in (("_count", ("SUMMARY", "HISTOGRAM")), ("_sum", ("SUMMARY", "HISTOGRAM")), ("_bucket", ("HISTOGRAM",))):
            if len(name) > len(suffix) and name.endswith(suffix):
                base = self.by_name.get(name[: -len(suffix)])
                if base is not None and base.type in types:
                    return base
        fam = self.by_name[name] = Family(name)
        return fam


def _fail(line_no: int, message: str) -> ScrapeError:
    return ScrapeError(errors.PARSE, f"line {line_no}: {message}"[:300])


def parse_text_body(text: str, limits: Limits) -> TextBody:
    """Every sample of a text-format body, as the Prometheus server reads it, or ScrapeError (parse, or a
    limit: sample_limit, label_limit). `text` is the body decoded with errors="surrogateescape"."""
    out = TextBody()
    families = _Families()
    lines = text.split("\n")
    last = lines.pop()  # "" when the body ends with a newline
    if last.strip(" \t"):
        raise _fail(len(lines) + 1, "the last line has no line break (unexpected end of input)")
    for i, line in enumerate(lines, start=1):
        body = line.lstrip(" \t")
        if not body:
            continue
        if body[0] == "#":
            _comment(line, body, i, families)
            continue
        if body is not line and len(body) != len(line):
            raise _fail(i, "blanks before a metric name")  # the server refuses them (comments may be indented)
        sample = _sample(line, i, families, limits)
        out.samples.append(sample)
        if len(out.samples) > limits.sample_limit:
            raise ScrapeError(errors.SAMPLE_LIMIT, f"more than {limits.sample_limit} samples")
    return out


def _comment(line: str, body: str, line_no: int, families: _Families) -> None:
    rest = body[1:].lstrip(" \t")
    keyword_end = next((k for k, c in enumerate(rest) if c in " \t"), len(rest))
    keyword = rest[:keyword_end]
    if keyword not in ("HELP", "TYPE"):
        return  # a comment (both parsers skip it)
    after = rest[keyword_end:].lstrip(" \t")
    server_meta = SERVER_META.match(line) is not None
    if not after:
        if server_meta:
            raise _fail(line_no, f"expected a metric name after {keyword}")
        return  # "# HELP" alone: not an error for either parser
    m = re.match(NAME, after)
    name = m.group(0) if m else ""
    tail = after[len(name) :]
    if not name:
        raise _fail(line_no, f"invalid metric name in {keyword} line")
    if not tail:
        if server_meta and keyword == "TYPE":
            raise _fail(line_no, "TYPE line without a type")
        return
    if tail[0] not in " \t":
        raise _fail(line_no, f"invalid metric name in {keyword} line")
    family = families.resolve(name)
    value = tail.lstrip(" \t")
    if keyword == "HELP":
        if not value:
            return
        if family.help:
            raise _fail(line_no, f"second HELP line for metric name {name!r}")
        if unescape_help(value) is None:
            raise _fail(line_no, "invalid escape sequence in HELP text (only \\\\ and \\n)")
        if server_meta and not _utf8(tail[1:]):
            raise _fail(line_no, "HELP text is not valid UTF-8")
        family.help = True
        return
    if server_meta and tail[1:] not in SERVER_TYPES:
        raise _fail(line_no, f"invalid metric type {tail[1:][:40]!r}")
    if not value:
        return
    if family.type is not None:
        raise _fail(line_no, f"second TYPE line for metric name {name!r}, or TYPE reported after samples")
    if value.upper() not in EXPFMT_TYPES:
        raise _fail(line_no, f"unknown metric type {value[:40]!r}")
    family.type = value.upper()


def unescape_help(text: str) -> str | None:
    """HELP text unescaped (\\\\ and \\n only), or None for any other escape or a trailing backslash."""
    out = []
    k = 0
    while k < len(text):
        c = text[k]
        if c == "\\":
            if k + 1 >= len(text) or text[k + 1] not in "\\n":
                return None
            out.append("\\" if text[k + 1] == "\\" else "\n")
            k += 2
            continue
        out.append(c)
        k += 1
    return "".join(out)


def _sample(line: str, line_no: int, families: _Families, limits: Limits) -> Sample:
    m = SAMPLE_LINE.fullmatch(line)
    if m is None:
        raise _fail(line_no, f"malformed sample line {line[:80]!r}")
    name, block, value_token, ts_token = m.group(1), m.group(2), m.group(3), m.group(4)
    family = families.resolve(name)
    if family.type is None:
        family.type = "UNTYPED"
    labels: list[tuple[str, str]] = []
    if block:
        seen: set[str] = set()
        for pm in PAIR.finditer(block):
            k, raw = pm.group(1), pm.group(2)
            if k == "__name__":
                raise _fail(line_no, "label name __name__ is reserved")
            if k in seen:
                raise _fail(line_no, f"duplicate label name {k!r}")
            seen.add(k)
            v = unescape_label_value(raw)
            if v is None:
                raise _fail(line_no, f"invalid escape sequence in the value of label {k!r}")
            if not _utf8(v):
                raise _fail(line_no, f"label {k!r} value is not valid UTF-8")
            if (k == "le" and family.type == "HISTOGRAM") or (k == "quantile" and family.type == "SUMMARY"):
                if "p" in v or "P" in v or "_" in v or parse_go_float(v) is None:
                    raise _fail(line_no, f"expected a float as the value of label {k!r}, got {v[:40]!r}")
            if len(k) > limits.label_name_max:
                raise ScrapeError(errors.LABEL_LIMIT, f"label name longer than {limits.label_name_max}")
            if len(v) > limits.label_value_max:
                raise ScrapeError(errors.LABEL_LIMIT, f"label {k} value longer than {limits.label_value_max}")
            labels.append((k, v))
        if len(labels) > limits.labels_per_series_max:
            raise ScrapeError(errors.LABEL_LIMIT, f"{len(labels)} labels on one series (max {limits.labels_per_series_max})")
    value = parse_go_float(value_token)
    if value is None:
        raise _fail(line_no, f"expected a float as value, got {value_token[:40]!r}")
    timestamp: int | None = None
    if ts_token is not None:
        if TIMESTAMP.fullmatch(ts_token) is None or int(ts_token) > INT64_MAX:
            raise _fail(line_no, f"expected an integer timestamp in milliseconds, got {ts_token[:40]!r}")
        timestamp = int(ts_token)
    return Sample(name, labels, value, timestamp)
