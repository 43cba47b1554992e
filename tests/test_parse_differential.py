"""The fast path against the reference path, on the same inputs: identical samples, or the fast path hands the
body over (Fallback). The reference path itself is checked against Prometheus in test_prometheus_conformance.py.

Then the stored rows themselves: values reach chDB bit for bit, and the fast path's RowBinary rows equal the
reference samples inserted through clickhouse-connect's native path.
"""

from __future__ import annotations

import math
import random
import struct

import pytest

from conformance_corpus import OPENMETRICS, TEXT, corpus_files, mutate, text_bodies
from scraper import errors
from scraper.errors import ScrapeError
from scraper.limits import Limits
from scraper.parse import parse_body, parse_exposition
from scraper.rows import INSERT_SETTINGS, ROW_COLUMNS, ROW_FORMAT, SAMPLE_COLUMNS, decode_rows
from scraper.textformat import NORMAL_NAN, CacheBudget, Fallback, SeriesCache, parse_text
from warehouse.client import Warehouse

# Real-world files the fast path must decide itself (the point of the fast path). special-values.prom is not one:
# its 3-digit exponents (subnormals, the largest double) go to the reference path on purpose.
FAST = {"naap-exporter-4gpu-50streams.prom", "go-livepeer.prom", "dcgm-exporter.prom", "node-exporter.prom",
        "python-client.prom", "escaping.prom", "special-values-words.prom", "timestamps.prom"}  # fmt: skip


def bits(v: float) -> int:
    return struct.unpack("<Q", struct.pack("<d", v))[0]


def content_type(name: str) -> str:
    return OPENMETRICS if name.endswith(".om") else TEXT


def reference(body: bytes, ctype: str) -> list[tuple] | str:
    """The reference path's samples as (name, labels, value bits, timestamp ms), or the error class."""
    try:
        p = parse_exposition(body, ctype, Limits())
    except ScrapeError as e:
        return e.error_class
    return [(n, lb, bits(v), ts) for n, lb, v, ts in p.decoded()]


def ours(body: bytes, ctype: str, cache: SeriesCache | None = None) -> tuple[list[tuple] | str, str]:
    """What the scraper's parse gives, decoded back to the same shape, and which path ran."""
    try:
        outcome = parse_body(body, ctype, Limits(), cache)
    except ScrapeError as e:
        return e.error_class, "error"
    return [(n, lb, bits(v), ts) for n, lb, v, ts in outcome.samples.decoded()], outcome.path


@pytest.mark.parametrize("path", corpus_files(), ids=lambda p: p.name)
def test_corpus_file_gives_identical_samples(path) -> None:  # noqa: ANN001
    body, ctype = path.read_bytes(), content_type(path.name)
    ref = reference(body, ctype)
    if path.name.startswith("reject-"):
        assert ref == errors.PARSE, ref
        assert ours(body, ctype)[0] == errors.PARSE
        return
    assert isinstance(ref, list) and ref, f"{path.name}: the reference path must accept every real-world file"
    cache = SeriesCache()
    first, route = ours(body, ctype, cache)
    again, _ = ours(body, ctype, cache)  # second scrape: everything from the cache
    assert first == ref
    assert again == ref
    if path.name in FAST:
        assert route == "fast", f"{path.name} went to the reference path"


def test_mutations_of_the_corpus_agree() -> None:
    """Random edits around every construct: the fast path gives the reference path's samples or falls back."""
    bodies = text_bodies()
    rnd = random.Random(20240517)
    routes = {"fast": 0, "fallback": 0}
    mismatches = []
    for _ in range(3000):
        body = mutate(rnd, rnd.choice(bodies))
        ref = reference(body.encode(), TEXT)
        try:
            fast = parse_text(body, Limits(), None)
        except Fallback:
            routes["fallback"] += 1
            continue
        except ScrapeError as e:
            if ref != e.error_class:
                mismatches.append((body, ref, e.error_class))
            continue
        routes["fast"] += 1
        got = [(n, lb, bits(v), ts) for n, lb, v, ts in fast.decoded()]
        if got != ref:
            mismatches.append((body, ref, got))
    assert not mismatches, f"{len(mismatches)} bodies differ, first: {mismatches[0]!r}"
    assert routes["fast"] > 500, routes  # the fast path really decided a good share of them


def test_nan_is_stored_as_prometheus_canonical_nan() -> None:
    for body in (b"v NaN\n", b"v nan\n", b"v NAN\n"):
        got, _ = ours(body, TEXT)
        assert got[0][2] == bits(NORMAL_NAN) == 0x7FF8000000000001  # type: ignore[index]
    assert reference(b"v\tNaN\n", TEXT)[0][2] == 0x7FF8000000000001  # type: ignore[index]


def test_values_reach_the_warehouse_bit_exact(warehouse: Warehouse) -> None:
    """Every value token reads back from the warehouse as the double Go's ParseFloat makes of it (Python's
    float() rounds the same way for these spellings), including 17-digit, subnormal and underflowing ones.
    (Through a text insert without `precise_float_parsing` a third of 17-digit tokens came back one ulp off:
    this test is what would notice a path that lets the engine re-parse values.)"""
    rnd = random.Random(7)
    tokens = ["0.1", "20.000243498965173", "1.3056e+07", "9007199254740993", "-1e-400", "4.9406564584124654e-324"]
    while len(tokens) < 3000:
        x = struct.unpack("<d", struct.pack("<Q", rnd.getrandbits(64)))[0]
        if math.isfinite(x):
            tokens.append(rnd.choice([repr(x), "%.17g" % x, "%.15g" % x, "%.20e" % x]))
    body = "".join(f'v{{i="{i}"}} {t}\n' for i, t in enumerate(tokens)).encode()
    outcome = parse_body(body, TEXT, Limits(), None)
    rows = outcome.samples.to_rows(1_700_000_000_000, "0xo", "h:1")
    warehouse.insert_raw("samples", ROW_COLUMNS, rows, fmt=ROW_FORMAT, settings=INSERT_SETTINGS)
    stored = dict(warehouse.query("SELECT toUInt32(labels['i']), reinterpretAsUInt64(value) FROM samples").rows)
    wrong = [(t, float(t)) for i, t in enumerate(tokens) if stored[i] != bits(float(t))]
    assert not wrong, wrong[:5]


def test_stored_rows_equal_the_reference_samples(warehouse: Warehouse) -> None:
    """Every accepted corpus file through the real path (parse → RowBinary → insert) against the reference
    samples inserted natively: the same rows, bit for bit."""
    warehouse.command("CREATE TABLE ref AS samples")
    scrape_ms = 1_700_000_000_000
    ref_cols: list[list] = [[] for _ in SAMPLE_COLUMNS]
    for n, path in enumerate(p for p in corpus_files() if not p.name.startswith("reject-")):
        body, ctype, orch = path.read_bytes(), content_type(path.name), f"0x{n:040x}"
        outcome = parse_body(body, ctype, Limits(), SeriesCache())
        rows = outcome.samples.to_rows(scrape_ms, orch, "h:1")
        warehouse.insert_raw("samples", ROW_COLUMNS, rows, fmt=ROW_FORMAT, settings=INSERT_SETTINGS)
        for name, labels, value, ts in parse_exposition(body, ctype, Limits()).decoded():
            for col, v in zip(ref_cols, (ts if ts is not None else scrape_ms, orch, "h:1", name, labels, value)):
                col.append(v)
    # clickhouse-connect's native insert takes DateTime64 as integer ms
    warehouse.insert_columns("ref", SAMPLE_COLUMNS, ref_cols)
    q = """SELECT orchestrator, metric, toString(labels), reinterpretAsUInt64(value), toUnixTimestamp64Milli(ts)
           FROM {t} ORDER BY orchestrator, metric, toString(labels), reinterpretAsUInt64(value), ts"""
    ours_rows = warehouse.query(q.format(t="samples")).rows
    ref_rows = warehouse.query(q.format(t="ref")).rows
    assert len(ref_rows) > 400
    assert ours_rows == ref_rows


def test_labels_are_stored_sorted_without_empty_values() -> None:
    got, route = ours(b'm{b="2",a="1",c=""} 1\n', TEXT)
    assert route == "fast"
    rows = parse_body(b'm{b="2",a="1",c=""} 1\n', TEXT, Limits()).samples.to_rows(1, "0xo", "h:1")
    assert decode_rows(rows)[0][3] == {"a": "1", "b": "2"}
    assert list(decode_rows(rows)[0][3]) == ["a", "b"]


def test_series_caches_follow_churn_and_respect_their_budget() -> None:
    budget = CacheBudget(10_000)
    cache = SeriesCache(budget)
    for scrape in range(50):  # every scrape replaces a tenth of the streams, as churning streams do
        streams = range(scrape * 10, scrape * 10 + 100)
        body = "".join(f'fps{{stream="s{s}"}} {s}\n' for s in streams).encode()
        parse_body(body, TEXT, Limits(), cache)
    assert len(cache) <= 2 * 100 + 64  # entries of ended streams do not pile up
    assert budget.used == len(cache)
    small = CacheBudget(50)
    capped = SeriesCache(small)
    body = "".join(f'g{{i="{i}"}} {i}\n' for i in range(200)).encode()
    got, route = ours(body, TEXT, capped)
    assert route == "fast" and len(got) == 200  # past the budget the series are rendered, not cached
    assert len(capped) == 50 and small.refused == 150


def test_limits_are_enforced_on_both_paths() -> None:
    long_value = ('m{a="' + "x" * 2000 + '"} 1\n').encode()
    long_name = ("m{" + "n" * 200 + '="v"} 1\n').encode()
    many = ("m{" + ",".join(f'l{i}="v"' for i in range(80)) + "} 1\n").encode()
    for body in (long_value, long_name, many):
        assert ours(body, TEXT)[0] == errors.LABEL_LIMIT
        assert reference(body, TEXT) == errors.LABEL_LIMIT
    lots = "".join(f"s{{i=\"{i}\"}} 1\n" for i in range(1000)).encode()
    for path in (lambda b: parse_body(b, TEXT, Limits(sample_limit=500), None),
                 lambda b: parse_exposition(b, TEXT, Limits(sample_limit=500))):  # fmt: skip
        with pytest.raises(ScrapeError) as info:
            path(lots)
        assert info.value.error_class == errors.SAMPLE_LIMIT
