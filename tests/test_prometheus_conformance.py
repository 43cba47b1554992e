"""Stored as Prometheus stores it: the scraper against the real oracles, on one corpus.

For every body (tests/conformance_corpus.py: the exposition corpus, the cases found with real exporters' output,
both parsers' grammar edges, timestamps around the bounds, 200 seeded mutations): a real Prometheus server
scrapes it over loopback and `promtool check metrics` parses it. A body is accepted when the server's scrape
succeeds and promtool parses it (the one place we differ from the server alone: where only expfmt, the format's
reference parser, rejects — an undefined escape, a TYPE after its samples, a non-float `le` in a histogram —
we reject too; docs/scraper.md). For accepted bodies the series we store, their values and their exposition
timestamps must be exactly the server's.
"""

from __future__ import annotations

import math
import time

import pytest

from conformance_corpus import ISSUE_CASES, TEXT, conformance_bodies
from prometheus_oracle import ServerOracle, Stored, promtool_verdicts
from scraper.append import TimestampBounds, scrape_loop_rules
from scraper.errors import ScrapeError
from scraper.limits import Limits
from scraper.parse import parse_body


def ours(body: bytes, ctype: str, now_ms: int) -> dict | str:
    """What the scraper stores from one body: series → [(value, exposition timestamp or None)], or the error."""
    try:
        outcome = parse_body(body, ctype, Limits(), None)
    except ScrapeError as e:
        return f"{e.error_class}: {e}"
    kept, _dropped = scrape_loop_rules(outcome.samples, now_ms, None, TimestampBounds())
    out: dict = {}
    for name, labels, value, ts in kept.decoded():
        out.setdefault((name, frozenset(labels.items())), []).append((value, ts))
    return out


def _same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


@pytest.fixture(scope="module")
def judged() -> list[tuple[str, bytes, str, bool, Stored, dict | str]]:
    now = int(time.time() * 1000)
    cases = conformance_bodies(now)
    text_bodies = [b for b, c, _ in cases if c == TEXT]
    tool = iter(promtool_verdicts(text_bodies))
    verdicts = [next(tool)[0] if c == TEXT else True for _, c, _ in cases]
    stored = ServerOracle([(b, c) for b, c, _ in cases]).run()
    return [(name, b, c, ok, st, ours(b, c, now)) for (b, c, name), ok, st in zip(cases, verdicts, stored)]


def test_the_corpus_is_large_and_mixed(judged: list) -> None:
    accepted = sum(1 for *_, ok, st, _o in judged if ok and st.up)
    assert len(judged) >= 390
    assert 100 < accepted < len(judged) - 100, accepted  # plenty of both outcomes


def test_accepts_and_rejects_exactly_what_prometheus_does(judged: list) -> None:
    wrong = []
    for name, body, _c, tool_ok, st, got in judged:
        expected = tool_ok and st.up
        if expected != isinstance(got, dict):
            wrong.append((name, body[:100], f"server up={st.up} promtool={tool_ok}", got if isinstance(got, str) else "accepted"))
    assert not wrong, f"{len(wrong)} of {len(judged)} bodies decided differently:\n" + "\n".join(map(repr, wrong[:20]))


def test_stores_exactly_what_prometheus_stores(judged: list) -> None:
    """Same series (names as exposed, empty labels dropped, the first of duplicates), same values (NaN, ±Inf
    included), same exposition timestamps; out-of-bounds samples absent from both."""
    wrong = []
    compared = 0
    for name, _body, _c, tool_ok, st, got in judged:
        if not (tool_ok and st.up and isinstance(got, dict)):
            continue
        compared += 1
        assert st.series is not None
        if set(got) != set(st.series):
            wrong.append((name, "series", sorted(set(st.series) - set(got))[:3], sorted(set(got) - set(st.series))[:3]))
            continue
        for key, samples in got.items():
            theirs = st.series[key]
            if samples[0][1] is None:  # at the scrape's time: the server has one per scrape, all the same value
                if len(samples) != 1 or not _same(samples[0][0], theirs[0][0]):
                    wrong.append((name, key, "value", samples, theirs[:2]))
            elif len(samples) != len(theirs) or not all(
                _same(v, sv) and ts == sts for (v, ts), (sv, sts) in zip(samples, theirs)
            ):
                wrong.append((name, key, "stamped samples", samples, theirs))
    assert compared > 100
    assert not wrong, "\n".join(map(repr, wrong[:20]))


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (ISSUE_CASES[0], {("x", frozenset()): 1.0}),  # stored as exposed, not x_total
        (ISSUE_CASES[1], {("d", frozenset({("a", "1")})): 10.0}),  # the first of two
        (ISSUE_CASES[2], {("m", frozenset()): 1.0}),  # empty label value = absent
        *[(b, "parse") for b in ISSUE_CASES[3:]],  # each of the rest fails the scrape
    ],
)
def test_the_cases_found_in_real_exporters_output(body: bytes, expected: dict | str) -> None:
    """The same right values, written down (they hold whether or not the oracles are installed)."""
    got = ours(body, TEXT, int(time.time() * 1000))
    if isinstance(expected, str):
        assert isinstance(got, str) and got.startswith(expected), got
    else:
        assert isinstance(got, dict) and {k: samples[0][0] for k, samples in got.items()} == expected


def test_exposition_timestamps_are_kept_or_dropped_never_redated() -> None:
    now = 1_800_000_000_000
    body = (
        f'm{{k="recent"}} 1 {now - 600_000}\n'  # ten minutes old: stored at its own time
        f'm{{k="old"}} 2 {now - 7_200_000}\n'  # two hours old: dropped, counted
        f'm{{k="ahead"}} 3 {now + 1_200_000}\n'  # twenty minutes ahead: dropped, counted
        f'm{{k="none"}} 4\n'
    ).encode()
    outcome = parse_body(body, TEXT, Limits(), None)
    kept, dropped = scrape_loop_rules(outcome.samples, now, None, TimestampBounds())
    stamps = {labels["k"]: ts for _n, labels, _v, ts in kept.decoded()}
    assert stamps == {"recent": now - 600_000, "none": None}
    assert dropped == {"out_of_bounds": 2}
