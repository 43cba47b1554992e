"""The fast path for the Prometheus text format (0.0.4): a body in, series fragments and value tokens out.

Exactness contract: for every body this path accepts, the samples are the ones the reference path
(scraper/textparse.py, which follows the Prometheus server and expfmt as checked against the real binaries)
gives — names, labels, values to the bit, timestamps; for anything it is not certain about it raises
:class:`Fallback` and the reference path takes the whole body. tests/test_parse_differential.py checks the
contract on a corpus and on mutations of it.

Why it is fast: a target's series repeat on every scrape, so each distinct series text (`name{labels}`) is
validated and rendered once into its row fragment (`metric, labels` as RowBinary bytes: empty-valued labels
dropped, labels sorted, as Prometheus stores them) and kept in the target's :class:`SeriesCache`. A sample then
costs one split, one dictionary lookup and a few appends; values are checked with one regular expression over
all of them. Comment lines are classified once per process.

What it hands to the reference path: lines with leading, doubled or tab blanks, label escapes other than
\\\\ \\" \\n, label names with a reserved `__` prefix or repeated, `le`/`quantile` values that are not floats,
value spellings outside the plain decimal / Inf / NaN forms (or with a 3-digit exponent: they may overflow),
timestamps of 19 digits or more, HELP/TYPE lines in any but the plain form or in an order that needs expfmt's
family rules, bodies that are not UTF-8 or lack the final line break, and anything malformed (so that the
reference path produces the error).
"""

from __future__ import annotations

import re
import struct
from operator import itemgetter
from typing import Iterator

from scraper import errors
from scraper.errors import ScrapeError
from scraper.limits import Limits
from scraper.rows import Samples, series_fragment
from scraper.textparse import LABEL_NAME, NAME, parse_go_float

_LNAME = r"(?!__)[a-zA-Z_][a-zA-Z0-9_]*"
_LVALUE = r'(?:[^"\\\n]|\\[\\"n])*'
_SERIES = re.compile(rf'({NAME})(?:\{{((?:{_LNAME}="{_LVALUE}",)*(?:{_LNAME}="{_LVALUE}")?)\}})?')
_LABEL = re.compile(rf'({_LNAME})="({_LVALUE})",?')
# The same grammar without escapes: a plain character class instead of an alternation per character.
_PLAIN_SERIES = re.compile(rf'({NAME})(?:\{{((?:{_LNAME}="[^"\\\n]*",)*(?:{_LNAME}="[^"\\\n]*")?)\}})?')
_PLAIN_LABEL = re.compile(rf'({_LNAME})="([^"\\\n]*)"')
_UNESCAPE = re.compile(r'\\([\\"n])')
_UNESCAPED = {"\\": "\\", '"': '"', "n": "\n"}

# Every value token, each followed by "\n": Go's float grammar with at most 40 characters and a 2-digit
# exponent, so that no token can overflow (Go fails those; Python would give inf).
_VALUES = re.compile(
    r"(?:(?=[^\n]{1,40}\n)"
    r"(?:[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]{1,2})?|[+-]?[iI][nN][fF](?:[iI][nN][iI][tT][yY])?|[nN][aA][nN])\n)*"
)
_TIMESTAMP = re.compile(r"[0-9]{1,18}")
_HELP = re.compile(rf"# HELP ({NAME})(?: ((?:[^\\\n]|\\[\\n])*))?")
_TYPE = re.compile(rf"# TYPE ({NAME}) (counter|gauge|histogram|summary|untyped)")
_LE_OR_QUANTILE = re.compile(r'(?:^|[{,])(?:le|quantile)="')

# Prometheus' canonical NaN (model/value.NormalNaN): the bits the server stores for any NaN it parses.
NORMAL_NAN = struct.unpack("<d", struct.pack("<Q", 0x7FF8000000000001))[0]
_SUFFIXED = (("_count", ("summary", "histogram")), ("_sum", ("summary", "histogram")), ("_bucket", ("histogram",)))

# Comment line → what it means (None: a plain comment; ("H", name, has_text); ("T", name, type)), for all
# targets; bounded, so hostile bodies full of distinct comments only cost a regex check each time.
_COMMENTS: dict[str, tuple | None] = {}
_COMMENTS_MAX = 100_000


class Fallback(Exception):
    """The fast path cannot decide this body exactly; the reference path must take it."""


def comment_info(line: str) -> tuple | None:
    """What a comment line means (see _COMMENTS), or Fallback when only the reference path can say."""
    if line == "#":
        return None
    if not line.startswith("# ") or line[2:3] in (" ", "\t", ""):
        raise Fallback("comment line the fast path does not model")
    rest = line[2:]
    keyword = rest.split(" ", 1)[0]
    if "\t" in keyword:
        raise Fallback("comment line the fast path does not model")
    if keyword not in ("HELP", "TYPE"):
        return None
    m = _HELP.fullmatch(line)
    if m is not None:
        return ("H", m.group(1), m.group(2) is not None and m.group(2) != "", _member_of(m.group(1)))
    m = _TYPE.fullmatch(line)
    if m is not None:
        return ("T", m.group(1), m.group(2), _member_of(m.group(1)))
    raise Fallback("HELP/TYPE line the fast path does not model")


def _member_of(name: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The (base family, types) a HELP/TYPE name would join in expfmt's family rules (x_count joins a summary
    or histogram x, x_bucket a histogram x): precomputed per comment line, checked per body."""
    return tuple((name[: -len(sfx)], types) for sfx, types in _SUFFIXED if len(name) > len(sfx) and name.endswith(sfx))


def render_series(series: str, limits: Limits) -> bytes | None:
    """The row fragment of a series text, None if it is not one the fast path decides, or a limit error."""
    m = _PLAIN_SERIES.fullmatch(series)
    if m is not None:  # the common case, ~4x cheaper: no escapes in any label value
        name, block = m.group(1), m.group(2)
        if not block:
            return series_fragment(name, ())
        pairs = _PLAIN_LABEL.findall(block)
    else:
        m = _SERIES.fullmatch(series)
        if m is None:
            return None
        name, block = m.group(1), m.group(2)
        if not block:
            return series_fragment(name, ())
        pairs = []
        for lm in _LABEL.finditer(block):
            k, v = lm.group(1), lm.group(2)
            if "\\" in v:
                v = _UNESCAPE.sub(lambda e: _UNESCAPED[e.group(1)], v)
            pairs.append((k, v))
    if len(pairs) > limits.labels_per_series_max:
        raise ScrapeError(errors.LABEL_LIMIT, f"{len(pairs)} labels on one series (max {limits.labels_per_series_max})")
    if len(block) > limits.label_name_max or len(block) > limits.label_value_max:
        for k, v in pairs:
            check_label_lengths(k, v, limits)
    if _LE_OR_QUANTILE.search(block) is not None:
        for k, v in pairs:
            if k in ("le", "quantile") and parse_go_float(v) is None:
                return None  # an error in a histogram or summary family only: the reference path decides
    pairs.sort()
    if any(a[0] == b[0] for a, b in zip(pairs, pairs[1:])):
        return None  # duplicate label names: the reference path says why
    return series_fragment(name, [p for p in pairs if p[1]])


def canonical_fragment(name: str, pairs: list[tuple[str, str]] | tuple) -> bytes:
    """`metric, labels` as Prometheus stores a series: empty-valued labels dropped, labels sorted by name."""
    return series_fragment(name, sorted((k, v) for k, v in pairs if v))


def check_label_lengths(k: str, v: str, limits: Limits) -> None:
    if len(k) > limits.label_name_max:
        raise ScrapeError(errors.LABEL_LIMIT, f"label name longer than {limits.label_name_max}")
    if len(v) > limits.label_value_max:
        raise ScrapeError(errors.LABEL_LIMIT, f"label {k} value longer than {limits.label_value_max}")


class CacheBudget:
    """Entries all series caches together may hold; past it, series are rendered on every scrape instead."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self.used = 0
        self.refused = 0

    @property
    def full(self) -> bool:
        return self.used >= self.max_entries


class SeriesCache:
    """One target's series text → (row fragment, metric name).

    Bounded: entries a scrape did not use are dropped at the next scrape once the cache holds more than twice
    what a scrape uses, so churning series (streams come and go) never accumulate."""

    __slots__ = ("entries", "_old", "budget", "_last_used")

    def __init__(self, budget: CacheBudget | None = None) -> None:
        self.entries: dict[str, tuple[bytes, str]] = {}
        self._old: dict[str, tuple[bytes, str]] | None = None
        self.budget = budget or CacheBudget(1 << 62)
        self._last_used = 0

    def __len__(self) -> int:
        return len(self.entries)

    def begin(self) -> None:
        if len(self.entries) > 2 * self._last_used + 64:
            self._old, self.entries = self.entries, {}

    def end(self, used: int) -> None:
        if self._old is not None:
            self.budget.used -= len(self._old)
            self._old = None
        self._last_used = used

    def recall(self, key: str) -> tuple[bytes, str] | None:
        """A key missed in the current generation: promote it from the previous one if it is there."""
        old = self._old
        if old is not None:
            v = old.pop(key, None)
            if v is not None:
                self.entries[key] = v
                return v
        return None

    def store(self, key: str, value: tuple[bytes, str]) -> None:
        b = self.budget
        if b.used < b.max_entries:
            self.entries[key] = value
            b.used += 1
        else:
            b.refused += 1

    def clear(self) -> None:
        self.budget.used -= len(self.entries) + (len(self._old) if self._old else 0)
        self.entries, self._old = {}, None


def _entry(series: str, cache: SeriesCache, limits: Limits) -> tuple[bytes, str] | None:
    entry = cache.recall(series)
    if entry is None:
        frag = render_series(series, limits)
        if frag is None:
            return None
        brace = series.find("{")
        entry = (frag, series if brace < 0 else series[:brace])
        cache.store(series, entry)
    return entry


def parse_text(text: str, limits: Limits, cache: SeriesCache | None = None) -> Samples:
    """Parse a text-format body. Raises Fallback (reference path needed) or ScrapeError (limits)."""
    if cache is None:
        cache = SeriesCache()
    if text and text[-1] != "\n":
        raise Fallback("no line break at the end")
    cache.begin()
    check_limit = text.count("\n") > limits.sample_limit
    entries: list[tuple[bytes, str]] = []  # per sample: (fragment, metric name), from the series cache
    values: list[str] = []
    stamps: dict[int, int] = {}
    add_entry, add_value = entries.append, values.append
    metas: list[tuple[tuple, int]] = []  # HELP/TYPE lines: (what it says, samples before it)
    add_meta = metas.append
    get = cache.entries.get
    try:
        for line in text.split("\n") if len(text) <= _PIECE else _lines(text):
            if not line:
                continue
            if line[0] == "#":
                info = _COMMENTS.get(line, False)
                if info is False:
                    info = comment_info(line)
                    if len(_COMMENTS) < _COMMENTS_MAX:
                        _COMMENTS[line] = info
                if info is not None:
                    add_meta((info, len(values)))
                continue
            sp = line.rfind(" ")
            if sp <= 0:
                raise Fallback("sample line without a single-space separator")
            series = line[:sp]
            entry = get(series)
            if entry is None:
                entry = _entry(series, cache, limits)
                if entry is None:
                    # "series value timestamp"?
                    sp2 = series.rfind(" ")
                    ts = line[sp + 1 :]
                    if sp2 <= 0 or _TIMESTAMP.fullmatch(ts) is None:
                        raise Fallback("sample line the fast path does not model")
                    key = series[:sp2]
                    entry = get(key) or _entry(key, cache, limits)
                    if entry is None:
                        raise Fallback("sample line the fast path does not model")
                    stamps[len(values)] = int(ts)
                    add_entry(entry)
                    add_value(series[sp2 + 1 :])
                    if check_limit and len(values) > limits.sample_limit:
                        raise ScrapeError(errors.SAMPLE_LIMIT, f"more than {limits.sample_limit} samples")
                    continue
            add_entry(entry)
            add_value(line[sp + 1 :])
            if check_limit and len(values) > limits.sample_limit:
                raise ScrapeError(errors.SAMPLE_LIMIT, f"more than {limits.sample_limit} samples")
    finally:
        cache.end(len(values))
    joined = "\n".join(values) + "\n"
    if values and _VALUES.fullmatch(joined) is None:
        raise Fallback("a value spelling the fast path does not model")
    if metas:
        _family_rules(metas, entries)
    samples = Samples(list(map(_FRAGMENT, entries)), values, stamps)  # type: ignore[arg-type]
    if "a" in joined or "A" in joined:  # a NaN spelling: Prometheus stores its canonical NaN bits
        samples.values = [NORMAL_NAN if v[-1] in "nN" and v[-2:].lower() == "an" else v for v in values]  # type: ignore[assignment]
    return samples


_FRAGMENT = itemgetter(0)
_NAME_OF = itemgetter(1)


def _family_rules(metas: list[tuple[tuple, int]], entries: list[tuple[bytes, str]]) -> None:
    """expfmt's HELP/TYPE rules for the plain cases, once per body after the loop (the loop spends nothing per
    sample on them): a second HELP or TYPE, a TYPE after a sample of its family, a HELP/TYPE joining a summary or
    histogram family. Anything of that kind goes to the reference path, which says what is wrong."""
    typed: dict[str, str] = {}
    helped: set[str] = set()
    seen: set[str] = set()  # sample names before the current line, gathered in C a slice at a time
    done = 0
    for info, before in metas:
        for base, types in info[3]:
            if typed.get(base) in types:
                raise Fallback("HELP/TYPE of a summary or histogram member")
        name = info[1]
        if info[0] == "T":
            if before > done:
                seen.update(map(_NAME_OF, entries[done:before]))
                done = before
            if name in typed or name in seen:
                raise Fallback("a second TYPE, or a TYPE after its samples")
            typed[name] = info[2]
        elif info[2]:
            if name in helped:
                raise Fallback("a second HELP")
            helped.add(name)


_PIECE = 1 << 20


def _lines(text: str) -> Iterator[str]:
    """The body's lines, split a megabyte at a time: a huge body (a million series) never becomes a list of
    millions of strings at once; the scrape fails at the sample limit long before the end."""
    n = len(text)
    pos = 0
    while pos < n:
        end = text.find("\n", pos + _PIECE)
        if end < 0:
            end = n
        yield from text[pos:end].split("\n")
        pos = end + 1


__all__ = ["CacheBudget", "Fallback", "SeriesCache", "canonical_fragment", "parse_text", "LABEL_NAME"]
