"""The fast parser against prometheus-client's, on the same inputs: identical samples or both reject.

The corpus (tests/data/expositions/, see its README) holds real-world-shaped bodies: this project's exporter
(text and OpenMetrics), go-livepeer, dcgm-exporter, node_exporter, a Python client, and files that exercise
escapes, special values, timestamps, odd comments and whitespace, and OpenMetrics syntax (exemplars, # EOF,
# UNIT). Mutations of it probe the edges. Then the stored rows themselves are compared in chDB: the fast
path's RowBinary rows against the reference samples inserted through clickhouse-connect's native path.
"""

from __future__ import annotations

import math
import random
import struct
from pathlib import Path

import pytest

from warehouse.client import Warehouse
from scraper import errors
from scraper.errors import ScrapeError
from scraper.limits import Limits
from scraper.parse import parse_body, parse_exposition
from scraper.rows import INSERT_SETTINGS, ROW_COLUMNS, ROW_FORMAT, SAMPLE_COLUMNS, decode_rows, parse_fragment
from scraper.scrape import TimestampPolicy
from scraper.textformat import CacheBudget, SeriesCache

CORPUS = Path(__file__).parent / "data" / "expositions"
TEXT = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"

# Files the fast path must decide itself (the point of the test is the fast path, not the fallback).
FAST = {
    "naap-exporter-4gpu-50streams.prom", "go-livepeer.prom", "dcgm-exporter.prom", "node-exporter.prom",
    "python-client.prom", "escaping.prom", "special-values.prom", "timestamps.prom", "comments.prom",
}  # fmt: skip


def bits(v: float) -> int:
    return struct.unpack("<Q", struct.pack("<d", v))[0]


def content_type(path: Path) -> str:
    return OPENMETRICS if path.suffix == ".om" else TEXT


def reference(body: bytes, ctype: str) -> list[tuple] | str:
    """prometheus-client's samples as (name, labels, value bits, timestamp ms), or the error class."""
    try:
        p = parse_exposition(body, ctype, Limits())
    except ScrapeError as e:
        return e.error_class
    return [(n, lb, bits(v), ts) for n, lb, v, ts in p.decoded()]


def ours(body: bytes, ctype: str, cache: SeriesCache | None = None) -> tuple[list[tuple] | str, str]:
    """What the scraper's parse path gives, decoded back to the same shape, and which path ran."""
    try:
        outcome = parse_body(body, ctype, Limits(), cache)
    except ScrapeError as e:
        return e.error_class, "error"
    return [(n, lb, bits(v), ts) for n, lb, v, ts in outcome.samples.decoded()], outcome.path


def corpus_files() -> list[Path]:
    files = sorted(p for p in CORPUS.iterdir() if p.suffix in (".prom", ".om"))
    assert len(files) >= 15
    return files


@pytest.mark.parametrize("path", corpus_files(), ids=lambda p: p.name)
def test_corpus_file_gives_identical_samples(path: Path) -> None:
    body = path.read_bytes()
    ref = reference(body, content_type(path))
    assert isinstance(ref, list) and ref, f"{path.name}: the reference parser must accept every corpus file"
    cache = SeriesCache()
    first, route = ours(body, content_type(path), cache)
    again, _ = ours(body, content_type(path), cache)  # second scrape: everything from the cache
    assert first == ref
    assert again == ref
    if path.name in FAST:
        assert route == "fast", f"{path.name} fell back to the reference parser"


def test_the_counter_quirk_is_reproduced() -> None:
    # prometheus-client names the samples of `# TYPE x counter` families without `_total` `x_total`;
    # go-livepeer emits such counters, so the fast path must do the same rather than fall back.
    got, route = ours((CORPUS / "go-livepeer.prom").read_bytes(), TEXT)
    names = {s[0] for s in got}
    assert route == "fast"
    assert {"livepeer_orchestrator_swaps_total", "livepeer_mixed_total", "livepeer_mixed_created"} <= names
    assert "livepeer_orchestrator_swaps" not in names


def test_openmetrics_features_reach_the_reference_parser_unharmed() -> None:
    body = (CORPUS / "openmetrics-features.om").read_bytes()
    got, route = ours(body, OPENMETRICS)
    assert route == "reference"
    names = {s[0] for s in got}
    assert {"request_seconds_bucket", "request_seconds_count", "build_info", "jobs_total", "jobs_created"} <= names
    # a body past "# EOF" is malformed OpenMetrics
    assert ours(body + b"late 1\n", OPENMETRICS)[0] == errors.PARSE


_NOISE = [" ", "\t", '"', "\\", "{", "}", ",", "=", "#", "0", "9", "e", "-", "+", ".", "_", "\r", "\n", "\xa0",
          "N", "a", "I", ":", "\x0b", "'", "n", " # ", "__", "\\n", '\\"', "TYPE", "HELP", "counter", "ü"]  # fmt: skip
_TOKENS = ["1", "-0", "+Inf", "NaN", "nan", "1e5", "1_0", ".5", "5.", "0x10", "Infinity", "1 2", "1\t2", "٣",
           "1700000000000", "-1", "1.5e300", "9" * 30, "", '"', "}", "{a=\"b\"}"]  # fmt: skip


def _mutate(rnd: random.Random, body: str) -> str:
    lines = body.split("\n")
    i = rnd.randrange(len(lines))
    lines = lines[max(0, i - 6) : i + 6] or [""]
    for _ in range(rnd.randint(1, 3)):
        j = rnd.randrange(len(lines))
        line = lines[j]
        op = rnd.random()
        if op < 0.4 or not line:
            p = rnd.randrange(len(line) + 1)
            line = line[:p] + rnd.choice(_NOISE) + line[p:]
        elif op < 0.6:
            p = rnd.randrange(len(line))
            line = line[:p] + line[p + 1 :]
        elif op < 0.75:  # replace a token (value, timestamp, label value) with an odd one
            parts = line.split(" ")
            k = rnd.randrange(len(parts))
            parts[k] = rnd.choice(_TOKENS)
            line = " ".join(parts)
        elif op < 0.85:
            lines.insert(j, line)
        else:
            p, q = sorted((rnd.randrange(len(line)), rnd.randrange(len(line))))
            line = line[:p] + line[q:]
        lines[j] = line
    return "\n".join(lines)


def test_mutations_of_the_corpus_agree() -> None:
    """Random edits around every construct: both parsers accept with identical samples, or both reject."""
    bodies = [p.read_text() for p in corpus_files() if p.suffix == ".prom"]
    rnd = random.Random(20240517)
    routes = {"fast": 0, "reference": 0, "error": 0}
    mismatches = []
    for _ in range(3000):
        body = _mutate(rnd, rnd.choice(bodies)).encode()
        ref = reference(body, TEXT)
        got, route = ours(body, TEXT)
        routes[route] += 1
        if (ref if isinstance(ref, list) else "rejected") != (got if isinstance(got, list) else "rejected"):
            mismatches.append(body)
    assert not mismatches, f"{len(mismatches)} bodies differ, first: {mismatches[0]!r}"
    assert routes["fast"] > 500, routes  # the fast path really decided a good share of them


def test_values_reach_the_warehouse_bit_exact(warehouse: Warehouse) -> None:
    """Every value token reads back from the warehouse as the double Python's float() makes of it (what the
    reference parser computes), including 17-digit, subnormal and out-of-range spellings. (Through a text
    insert without `precise_float_parsing` a third of 17-digit tokens came back one ulp off: this test is
    what would notice a path that lets the engine re-parse values.)"""
    rnd = random.Random(7)
    tokens = ["0.1", "20.000243498965173", "1.3056e+07", "9007199254740993", "1e400", "-1e-400", "4.9406564584124654e-324"]
    while len(tokens) < 3000:
        x = struct.unpack("<d", struct.pack("<Q", rnd.getrandbits(64)))[0]
        if math.isfinite(x):
            tokens.append(rnd.choice([repr(x), "%.17g" % x, "%.15g" % x, "%.20e" % x]))
    body = "".join(f'v{{i="{i}"}} {t}\n' for i, t in enumerate(tokens)).encode()
    outcome = parse_body(body, TEXT, Limits(), None)
    assert outcome.path == "fast"
    rows, _ = outcome.samples.to_rows(1_700_000_000_000, "0xo", "h:1", lambda ts: True)
    warehouse.insert_raw("samples", ROW_COLUMNS, rows, fmt=ROW_FORMAT, settings=INSERT_SETTINGS)
    stored = dict(warehouse.query("SELECT toUInt32(labels['i']), reinterpretAsUInt64(value) FROM samples").rows)
    wrong = [(t, float(t)) for i, t in enumerate(tokens) if stored[i] != bits(float(t))]
    assert not wrong, wrong[:5]


def test_stored_rows_equal_the_reference_samples(warehouse: Warehouse) -> None:
    """Every corpus file through the real path (parse → RowBinary → insert) against prometheus-client's
    samples inserted natively: the same rows, bit for bit."""
    warehouse.command("CREATE TABLE ref AS samples")
    scrape_ms = 1_700_000_000_000
    policy = TimestampPolicy(max_age_s=10**11, max_future_s=10**11)  # keep every exposition timestamp here
    ref_cols: list[list] = [[] for _ in SAMPLE_COLUMNS]
    for n, path in enumerate(corpus_files()):
        body, ctype, orch = path.read_bytes(), content_type(path), f"0x{n:040x}"
        outcome = parse_body(body, ctype, Limits(), SeriesCache())
        rows, _ = outcome.samples.to_rows(scrape_ms, orch, "h:1", policy.for_scrape(scrape_ms))
        warehouse.insert_raw("samples", ROW_COLUMNS, rows, fmt=ROW_FORMAT, settings=INSERT_SETTINGS)
        p = parse_exposition(body, ctype, Limits())
        for name, labels, value, ts in p.decoded():
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


def test_exposition_timestamps_are_honoured_only_within_the_bound() -> None:
    scrape = 1_700_000_000_000
    body = (
        f"m{{k=\"recent\"}} 1 {scrape - 60_000}\n"  # a minute old: kept
        f"m{{k=\"old\"}} 2 {scrape - 3_600_000}\n"  # an hour old: rewrites history, replaced
        f"m{{k=\"future\"}} 3 {scrape + 3_600_000}\n"  # an hour ahead: replaced
        f"m{{k=\"none\"}} 4\n"
    ).encode()
    policy = TimestampPolicy(max_age_s=300, max_future_s=60)
    for ctype in (TEXT,):
        outcome = parse_body(body, ctype, Limits(), None)
        rows, replaced = outcome.samples.to_rows(scrape, "0xo", "h:1", policy.for_scrape(scrape))
        stamps = {labels["k"]: ts for _o, _i, _m, labels, ts, _v in decode_rows(rows)}
        assert replaced == 2
        assert stamps == {"recent": scrape - 60_000, "old": scrape, "future": scrape, "none": scrape}


def test_series_caches_follow_churn_and_respect_their_budget() -> None:
    budget = CacheBudget(10_000)
    cache = SeriesCache(budget)
    for scrape in range(50):  # every scrape replaces a tenth of the streams, as churning streams do
        body = "".join(f'fps{{stream="s{(scrape // 10) * 100 + i}"}} 1\n' for i in range(100)).encode()
        parse_body(body, TEXT, Limits(), cache)
    assert len(cache) <= 2 * 100 + 64  # entries of ended streams do not pile up
    assert budget.used == len(cache)
    small = CacheBudget(50)
    capped = SeriesCache(small)
    body = "".join(f'g{{i="{i}"}} {i}\n' for i in range(200)).encode()
    got, route = ours(body, TEXT, capped)
    assert route == "fast" and len(got) == 200  # past the budget the series are rendered, not cached
    assert len(capped) == 50 and small.refused == 150


def test_limits_are_enforced_on_the_fast_path() -> None:
    long_value = ('m{a="' + "x" * 2000 + '"} 1\n').encode()
    long_name = ("m{" + "n" * 200 + '="v"} 1\n').encode()
    many = ("m{" + ",".join(f'l{i}="v"' for i in range(80)) + "} 1\n").encode()
    for body in (long_value, long_name, many):
        assert ours(body, TEXT)[0] == errors.LABEL_LIMIT
        assert reference(body, TEXT) == errors.LABEL_LIMIT
    lots = "".join(f"s{{i=\"{i}\"}} 1\n" for i in range(1000)).encode()
    limits = Limits(sample_limit=500)
    with pytest.raises(ScrapeError) as info:
        parse_body(lots, TEXT, limits, None)
    assert info.value.error_class == errors.SAMPLE_LIMIT
