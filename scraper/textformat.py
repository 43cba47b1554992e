"""The fast path for the Prometheus text format (0.0.4): a body in, RowBinary sample rows out.

Exactness contract: for every body this path accepts, the samples are the ones prometheus-client's
`text_string_to_metric_families` gives (names, labels, values to the bit, timestamps); for anything it is not
certain about it raises :class:`Fallback` and the reference parser (scraper/parse.py) takes the whole body.
tests/test_parse_differential.py checks the contract on a corpus and on mutations of it.

Why it is fast: a target's series repeat on every scrape, so each distinct series text (`name{labels}`) is
validated and rendered once into its row fragment (`metric, labels` as RowBinary bytes) and kept in the
target's :class:`SeriesCache`. A sample then costs one split, one dictionary lookup and two appends; values are
checked with one regular expression over all of them and converted with `float()`, exactly as the reference
parser converts them. Comment lines are cached the same way.

What makes it fall back (all rare in practice, all exact through the reference parser): CR/VT/FF characters,
lines with leading or doubled whitespace, label escapes other than \\\\ \\" \\n, quoted (UTF-8) names,
label names with ':' or a reserved '__' prefix, duplicate label names, value spellings outside
[+-]digits[.digits][e±digits] / NaN / ±Inf (and '-0', which prometheus-client reads as an integer, +0.0),
timestamps that are not integers of at most 14 digits, and malformed lines of any kind (so that the
reference parser produces the error).

One prometheus-client quirk is reproduced rather than avoided, because go-livepeer's counters trigger it:
a `# TYPE x counter` family whose name does not end in `_total` has its samples named `x_total`.
"""

from __future__ import annotations

import re
from typing import Iterable, Iterator

from scraper import errors
from scraper.errors import ScrapeError
from scraper.limits import Limits
from scraper.rows import Samples, fragment_name, rename_fragment, series_fragment

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_LNAME = r"(?!__)[a-zA-Z_][a-zA-Z0-9_]*"
_LVALUE = r'(?:[^"\\\n]|\\[\\"n])*'  # the only escapes prometheus-client turns into characters
_SERIES = re.compile(rf'({_NAME})(?:\{{((?:{_LNAME}="{_LVALUE}",)*(?:{_LNAME}="{_LVALUE}")?)\}})?')
_LABEL = re.compile(rf'({_LNAME})="({_LVALUE})",?')
# The same grammar without escapes: a plain character class instead of an alternation per character.
_PLAIN_SERIES = re.compile(rf'({_NAME})(?:\{{((?:{_LNAME}="[^"\\\n]*",)*(?:{_LNAME}="[^"\\\n]*")?)\}})?')
_PLAIN_LABEL = re.compile(rf'({_LNAME})="([^"\\\n]*)"')
_UNESCAPE = re.compile(r'\\([\\"n])')
_UNESCAPED = {"\\": "\\", '"': '"', "n": "\n"}

# Every value token, each followed by "\n". '-0…' is excluded: prometheus-client parses it with int() (+0.0)
# where float() gives -0.0. Tokens are at most 40 characters so int() never meets a huge literal.
_VALUES = re.compile(
    r"(?:(?=[^\n]{1,40}\n)(?!-0+\n)"
    r"(?:[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[+-]?(?:NaN|nan|Inf|inf))\n)*"
)
_TIMESTAMP = re.compile(r"-?[0-9]{1,14}")

_HELP = re.compile(rf"#[ \t]+HELP[ \t]+({_NAME})(?:[ \t][^\n]*)?")
_TYPE = re.compile(rf"#[ \t]+TYPE[ \t]+({_NAME})[ \t]+([a-zA-Z_]+)[ \t]*")
_OTHER_COMMENT = re.compile(r"#(?:[ \t]++(?!(?:HELP|TYPE)(?:[ \t]|$))[^\n]*)?")

# Comment line info kept in the cache: (kind, family name, type, counter quirk?)
_OTHER: tuple = ("#", "", "", False)
_VALID_TYPES = frozenset(("counter", "gauge", "summary", "histogram", "gaugehistogram", "unknown", "info", "stateset", "untyped"))
_FAMILY_SUFFIXES = {
    "counter": ("",),
    "gauge": ("",),
    "summary": ("_count", "_sum", ""),
    "histogram": ("_count", "_sum", "_bucket"),
}


# Comment line → its counter-quirk flag, for all targets; bounded, so hostile bodies full of distinct comments
# only cost a regex check each time.
_COMMENTS: dict[str, bool] = {}
_COMMENTS_MAX = 100_000


class Fallback(Exception):
    """The fast path cannot decide this body exactly; the reference parser must take it."""


def comment_info(line: str) -> tuple:
    """What a comment line means to prometheus-client's text parser, or Fallback."""
    m = _TYPE.fullmatch(line)
    if m is not None:
        name, typ = m.group(1), m.group(2)
        # prometheus-client's Metric() rejects other types, and a counter family named exactly "_total"
        # (its name minus the suffix is empty); a later TYPE line can still rescue the family, so the
        # reference parser decides.
        if typ not in _VALID_TYPES or name == "_total":
            raise Fallback("TYPE line the fast path does not model")
        return ("T", name, typ, typ == "counter" and not name.endswith("_total"))
    m = _HELP.fullmatch(line)
    if m is not None:
        return ("H", m.group(1), "", False)
    if _OTHER_COMMENT.fullmatch(line):
        return _OTHER
    raise Fallback("comment line the fast path does not model")


def render_series(series: str, limits: Limits) -> bytes | None:
    """The row fragment of a series text, None if it is not one the fast path decides, or a limit error."""
    m = _PLAIN_SERIES.fullmatch(series)
    if m is not None:  # the common case, ~4x cheaper: no escapes in any label value
        name, block = m.group(1), m.group(2)
        if not block:
            return series_fragment(name, ())
        pairs = _PLAIN_LABEL.findall(block)
        if len(block) > limits.label_name_max or len(block) > limits.label_value_max:
            for k, v in pairs:
                _check_lengths(k, v, limits)
        return _fragment(name, pairs, limits)
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
        _check_lengths(k, v, limits)
        pairs.append((k, v))
    return _fragment(name, pairs, limits)


def _check_lengths(k: str, v: str, limits: Limits) -> None:
    if len(k) > limits.label_name_max:
        raise ScrapeError(errors.LABEL_LIMIT, f"label name longer than {limits.label_name_max}")
    if len(v) > limits.label_value_max:
        raise ScrapeError(errors.LABEL_LIMIT, f"label {k} value longer than {limits.label_value_max}")


def _fragment(name: str, pairs: list[tuple[str, str]], limits: Limits) -> bytes:
    if len(pairs) > limits.labels_per_series_max:
        raise ScrapeError(errors.LABEL_LIMIT, f"{len(pairs)} labels on one series (max {limits.labels_per_series_max})")
    if len({k for k, _ in pairs}) != len(pairs):
        raise Fallback("duplicate label name")  # prometheus-client rejects the body; let it say so
    return series_fragment(name, pairs)


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
    """One target's series text → row fragment.

    Bounded: entries a scrape did not use are dropped at the next scrape once the cache holds more than twice
    what a scrape uses, so churning series (streams come and go) never accumulate."""

    __slots__ = ("entries", "_old", "budget", "_last_used")

    def __init__(self, budget: CacheBudget | None = None) -> None:
        self.entries: dict[str, object] = {}
        self._old: dict[str, object] | None = None
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

    def recall(self, key: str) -> object | None:
        """A key missed in the current generation: promote it from the previous one if it is there."""
        old = self._old
        if old is not None:
            v = old.pop(key, None)
            if v is not None:
                self.entries[key] = v
                return v
        return None

    def store(self, key: str, value: object) -> None:
        b = self.budget
        if b.used < b.max_entries:
            self.entries[key] = value
            b.used += 1
        else:
            b.refused += 1

    def clear(self) -> None:
        self.budget.used -= len(self.entries) + (len(self._old) if self._old else 0)
        self.entries, self._old = {}, None


def parse_text(text: str, limits: Limits, cache: SeriesCache | None = None) -> Samples:
    """Parse a text-format body. Raises Fallback (reference parser needed) or ScrapeError (limits)."""
    if "\r" in text or "\x0b" in text or "\x0c" in text:  # (three memchr scans: ~100x cheaper than a regex)
        raise Fallback("CR, VT or FF characters")
    if cache is None:
        cache = SeriesCache()
    cache.begin()
    n_lines = text.count("\n") + 1
    check_limit = n_lines > limits.sample_limit
    frags: list[bytes] = []
    values: list[str] = []
    stamps: dict[int, int] = {}
    add_frag, add_value = frags.append, values.append
    get = cache.entries.get
    quirk = False
    for line in text.split("\n") if len(text) <= _PIECE else _lines(text):
        if not line:
            continue
        if line[0] == "#":
            # Comment lines are the same on every target running the same exporter: one process-wide
            # cache of "does this line start a counter family without `_total`?" serves them all.
            flag = _COMMENTS.get(line)
            if flag is None:
                flag = comment_info(line)[3]
                if len(_COMMENTS) < _COMMENTS_MAX:
                    _COMMENTS[line] = flag
            if flag:
                quirk = True
            continue
        sp = line.rfind(" ")
        series = line[:sp]
        frag = get(series)
        if frag is None:
            frag = cache.recall(series) if sp > 0 else None
            if frag is None:
                if sp <= 0:
                    raise Fallback("sample line without a value")
                frag = render_series(series, limits)
                if frag is None:
                    # "series value timestamp"?
                    sp2 = series.rfind(" ")
                    ts = line[sp + 1 :]
                    if sp2 <= 0 or _TIMESTAMP.fullmatch(ts) is None:
                        raise Fallback("sample line the fast path does not model")
                    key = series[:sp2]
                    frag = get(key) or cache.recall(key)
                    if frag is None:
                        frag = render_series(key, limits)
                        if frag is None:
                            raise Fallback("sample line the fast path does not model")
                        cache.store(key, frag)
                    stamps[len(values)] = int(ts)
                    add_frag(frag)  # type: ignore[arg-type]
                    add_value(series[sp2 + 1 :])
                    if check_limit and len(values) > limits.sample_limit:
                        cache.end(len(values))
                        raise ScrapeError(errors.SAMPLE_LIMIT, f"more than {limits.sample_limit} samples")
                    continue
                cache.store(series, frag)
        add_frag(frag)  # type: ignore[arg-type]
        add_value(line[sp + 1 :])
        if check_limit and len(values) > limits.sample_limit:
            cache.end(len(values))
            raise ScrapeError(errors.SAMPLE_LIMIT, f"more than {limits.sample_limit} samples")
    cache.end(len(values))
    if values and _VALUES.fullmatch("\n".join(values) + "\n") is None:
        raise Fallback("a value spelling the fast path does not model")
    if quirk:
        _rename_untotalled_counters(_lines(text), frags, cache)
    return Samples(frags, values, stamps)


_PIECE = 1 << 20


def _lines(text: str) -> Iterator[str]:
    """The body's lines, split a megabyte at a time: a huge body (a million series) never becomes a list of
    millions of strings at once; the scrape fails at the sample limit long before the end."""
    n = len(text)
    if n <= _PIECE:
        yield from text.split("\n")
        return
    pos = 0
    while pos < n:
        end = text.find("\n", pos + _PIECE)
        if end < 0:
            end = n
        yield from text[pos:end].split("\n")
        pos = end + 1


def _rename_untotalled_counters(lines: Iterable[str], frags: list[bytes], cache: SeriesCache) -> None:
    """prometheus-client's text parser names the samples of a `counter` family whose name lacks `_total`
    `<name>_total`. Replay its family tracking (HELP/TYPE switch families; a sample whose name the current
    family does not allow ends it) and rename the same samples."""
    name, typ = "", "untyped"
    allowed: tuple[str, ...] = ()
    members: list[int] = []
    renamed: list[int] = []

    def close() -> None:
        if typ == "counter" and not name.endswith("_total"):
            renamed.extend(members)

    i = 0
    for line in lines:
        if not line:
            continue
        if line[0] == "#":
            kind, cname, ctyp, _ = comment_info(line)
            if kind == "H" and cname != name:
                if name:
                    close()
                name, typ, members, allowed = cname, "untyped", [], (cname,)
            elif kind == "T":
                if cname != name:
                    if name:
                        close()
                    name, members = cname, []
                typ = ctyp
                allowed = tuple(name + s for s in _FAMILY_SUFFIXES.get(ctyp, ("",)))
            continue
        metric = fragment_name(frags[i])[0]
        if metric in allowed:
            members.append(i)
        else:
            if name:
                close()
            name, typ, allowed, members = "", "untyped", (), []
        i += 1
    if name:
        close()
    for j in renamed:
        frags[j] = rename_fragment(frags[j], fragment_name(frags[j])[0] + "_total")
