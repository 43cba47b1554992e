"""Bodies for the conformance test against Prometheus itself: the exposition corpus (tests/data/expositions/),
the cases that real exporters' output showed the scraper got wrong, grammar edges of both of Prometheus'
parsers, timestamps around the bounds, and seeded random mutations of the corpus."""

from __future__ import annotations

import random
from pathlib import Path

CORPUS = Path(__file__).parent / "data" / "expositions"
TEXT = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"


def corpus_files() -> list[Path]:
    return sorted(p for p in CORPUS.iterdir() if p.suffix in (".prom", ".om"))


# Found with real exporters' output: each was stored differently from Prometheus before.
ISSUE_CASES = [
    b"# TYPE x counter\nx 1\n",  # counters are stored as exposed, never renamed x_total
    b'd{a="1"} 10\nd{a="1"} 250\n',  # one sample per series per scrape: the first
    b'm{a=""} 1\n',  # an empty label value means absent
    b'c{a="x"} 11 1721735308.101\n',  # timestamps are integer milliseconds
    b"foo 1 2 3\n",  # extra tokens
    "v 1\u0661\n".encode(),  # non-ASCII digits
    b'# TYPE h histogram\nh_bucket{le="abc"} 1\nh_count 1\nh_sum 1\n',  # le must be a float in a histogram
    b'# TYPE s summary\ns{quantile="x"} 1\n',  # quantile must be a float in a summary
    b'm{a="x\\qy"} 1\n',  # an escape the format does not define
    b"m 1\n# TYPE m gauge\n",  # TYPE after its samples
    b"NaN\n",  # a bare NaN line
]

# Both parsers' edges: whitespace, escapes, names, values, timestamps, comments, families.
EDGES = [
    b"", b"\n", b"   \n", b"v 1", b"# c", b"v 1\n  ", b"v 1 \n", b"v 1 5 \n", b"  v 1\n", b"\tv 1\n", b"v  1\n",
    b"v\t1\n", b"v 1\t5\n", b"v{} 1\n", b"v{ } 1\n", b'v{a="b",} 1\n', b'v{a="b" , } 1\n', b'v{ a = "b" } 1\n',
    b'v {a="b"} 1\n', b'v{a="b"}1\n', b'v{a="1" b="2"} 1\n', b'v{,} 1\n', b'v{a="1",,b="2"} 1\n',
    b'v{a="1",a="2"} 1\n', b'v{__name__="x"} 1\n', b'v{__a="1"} 1\n', b'v{_a="1"} 1\n', b'v{a:b="1"} 1\n',
    b'v{1a="1"} 1\n', b'v{a="x\\"y\\\\z\\n"} 1\n', b'v{a="x\\ty"} 1\n', b'v{a="x\ty"} 1\n', b'v{a="x y"} 1\n',
    b'v{a="}"} 1\n', b'v{a="{"} 1\n', b'v{a=","} 1\n', b'v{a="#"} 1\n', b'v{a="\xc3\xbc"} 1\n', b'v{a="\xff"} 1\n',
    b'v{a="x\x00y"} 1\n', b'v{a="x\ry"} 1\n', b'v{a="multi\nline"} 1\n', b'v{a=b} 1\n', b"v{a} 1\n",
    b'{__name__="v"} 1\n', b"1v 1\n", b":v 1\n", b"v:w 1\n", b"_v 1\n", b"v-w 1\n", b"x1.5 2\n", b"v 1{\n",
    b"v +1\n", b"v -1\n", b"v .5\n", b"v 5.\n", b"v 1e5\n", b"v 1E+5\n", b"v 1e-5\n", b"v 1e400\n", b"v -1e400\n",
    b"v 1e-400\n", b"v 0x10\n", b"v 0x1p4\n", b"v 1_000\n", b"v 01\n", b"v -0\n", b"v +0\n", b"v Inf\n", b"v +Inf\n",
    b"v -Inf\n", b"v inf\n", b"v INF\n", b"v Infinity\n", b"v -infinity\n", b"v infin\n", b"v NaN\n", b"v nan\n",
    b"v NAN\n", b"v +NaN\n", b"v -nan\n", b"v 1.5e308\n", b"v 1.8e308\n", b"v 4.9e-324\n", b"v 9007199254740993\n",
    b"v 1.\n", b"v .\n", b"v e5\n", b"v 1e\n", b"v 1 05\n", b"v 1 -5\n", b"v 1 +5\n", b"v 1 9223372036854775807\n",
    b"v 1 9223372036854775808\n", b"v 1 1.5\n", b"v 1 1e3\n", b"v 1\x00\n", b"v 1\r\n", b"\r\n", b"v 1\nw 2\r\n",
    b"#\n", b"#c\n", b"# c\n", b"#\tc\n", b"# \xff\nv 1\n", b"# HELP\n", b"# HELP \n", b"# HELP x\n", b"# HELP x \n",
    b"# HELP x y\nx 1\n", b"# HELP x  two  spaces\nx 1\n", b"# HELP x a\\\\b\\nc\nx 1\n", b'# HELP x a\\"b\nx 1\n',
    b"# HELP x a\\tb\nx 1\n", b"# HELP x trailing\\\nx 1\n", b"# HELP x \xff\nx 1\n", b"#HELP x \xff\nx 1\n",
    b"# HELP x y\n# HELP x z\nx 1\n", b"# HELP x y\nx 1\n# HELP x z\n", b"# HELP 9x y\n", b"# HELP x-y z\n",
    b"#HELP x y\n#HELP x z\nx 1\n", b"# HELPER x y\n", b"# TYPE\n", b"# TYPE x\nx 1\n", b"# TYPE x \nx 1\n",
    b"# TYPE x gauge\nx 1\n", b"# TYPE x  gauge\nx 1\n", b"# TYPE x\tgauge\nx 1\n", b"# TYPE x gauge \nx 1\n",
    b"# TYPE x GAUGE\nx 1\n", b"#TYPE x GAUGE\nx 1\n", b"# TYPE x gaugehistogram\nx 1\n",
    b"#TYPE x gauge_histogram\nx 1\n", b"# TYPE x info\nx 1\n", b"# TYPE x stateset\nx 1\n",
    b"# TYPE x unknown\nx 1\n", b"# TYPE x untyped\nx 1\n", b"# TYPE x counter\n# TYPE x gauge\nx 1\n",
    b"# TYPE x counter\nx_total 1\n# TYPE x_total counter\n", b"#  TYPE x gauge\nx 1\n", b"#\tTYPE\tx\tgauge\nx 1\n",
    b"# TYPE s summary\ns 1\n", b'# TYPE s summary\ns{quantile="0.5"} 1\ns_sum 2\ns_count 3\n',
    b'# TYPE s summary\ns{quantile="0.5",quantile="0.9"} 1\n', b'# TYPE s summary\ns_count 1\n# TYPE s_count gauge\n',
    b"# TYPE s summary\n# HELP s_count x\ns_count 1\n", b'# TYPE h histogram\nh_bucket{le="+Inf"} 1\nh_count 1\n',
    b'# TYPE h histogram\nh_bucket{le="0x1p4"} 1\n', b'# TYPE h histogram\nh_bucket{le="1e400"} 1\n',
    b"# TYPE h histogram\nh_bucket 1\n", b'# TYPE h histogram\nh{le="x"} 1\n', b'h_bucket{le="x"} 1\n',
    b"x_count 1\n# TYPE x summary\nx 2\n", b"a 1\nb 1\na 2\n", b"a 1\nb 1\na 1\n", b"# EOF\nv 1\n", b"v 1\n# EOF\n",
    b'v 1 # {a="b"} 1\n', b"v{a=\"b\"} 1 1700000000000 extra\n",
]


def timestamp_cases(now_ms: int) -> list[bytes]:
    """Samples stamped around Prometheus' bounds: stored at their own time, or dropped; never re-dated."""
    return [
        f'ts{{k="10min_ago"}} 1 {now_ms - 600_000}\n'.encode(),
        f'ts{{k="2h_ago"}} 1 {now_ms - 7_200_000}\n'.encode(),
        f'ts{{k="5min_ahead"}} 1 {now_ms + 300_000}\n'.encode(),
        f'ts{{k="20min_ahead"}} 1 {now_ms + 1_200_000}\n'.encode(),
        f'ts{{k="mixed"}} 1 {now_ms - 60_000}\nts{{k="none"}} 2\nts{{k="old"}} 3 {now_ms - 7_200_000}\n'.encode(),
        f'ts{{k="dup"}} 1 {now_ms - 60_000}\nts{{k="dup"}} 2 {now_ms - 30_000}\n'.encode(),
        f'ts{{k="dup2"}} 1 {now_ms - 30_000}\nts{{k="dup2"}} 2 {now_ms - 60_000}\n'.encode(),
    ]


_NOISE = [" ", "\t", '"', "\\", "{", "}", ",", "=", "#", "0", "9", "e", "-", "+", ".", "_", "\r", "\n", "\xa0",
          "N", "a", "I", ":", "\x0b", "'", "n", " # ", "__", "\\n", '\\"', "TYPE", "HELP", "counter", "ü", "p"]  # fmt: skip
_TOKENS = ["1", "-0", "+Inf", "NaN", "nan", "1e5", "1_0", ".5", "5.", "0x10", "Infinity", "1 2", "1\t2", "٣",
           "1700000000000", "-1", "1.5e300", "9" * 30, "", '"', "}", "{a=\"b\"}", "1e400"]  # fmt: skip


def mutate(rnd: random.Random, body: str) -> str:
    """A few random edits around one spot of a body (a window of a dozen lines)."""
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
    return "\n".join(lines) + "\n"


def text_bodies() -> list[str]:
    return [p.read_text() for p in corpus_files() if p.suffix == ".prom"]


def conformance_bodies(now_ms: int, mutations: int = 200, seed: int = 20241129) -> list[tuple[bytes, str, str]]:
    """(body, content type, name) for every case."""
    out: list[tuple[bytes, str, str]] = []
    for p in corpus_files():
        out.append((p.read_bytes(), OPENMETRICS if p.suffix == ".om" else TEXT, p.name))
    out += [(b, TEXT, f"issue-{i}") for i, b in enumerate(ISSUE_CASES)]
    out += [(b, TEXT, f"edge-{i}") for i, b in enumerate(EDGES)]
    out += [(b, TEXT, f"timestamps-{i}") for i, b in enumerate(timestamp_cases(now_ms))]
    rnd = random.Random(seed)
    bodies = text_bodies()
    out += [(mutate(rnd, rnd.choice(bodies)).encode(), TEXT, f"mutation-{i}") for i in range(mutations)]
    return out
