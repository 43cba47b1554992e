"""The benchmark commands run end to end on a tiny fleet and print their figures. Nothing here checks a figure
(benchmarks measure; they never assert): a benchmark that crashes — as `naap bench api` once did when the current
SLA config started to need probe totals — fails here instead of in front of a user."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize(("args", "prints"), [
    (["catalog", "--orchestrators", "1", "--gpus", "1", "--hours", "1", "--interval", "60"],
     ["B/sample", "raw/rollup", "inputs", "5m"]),
    (["replay", "--orchestrators", "1", "--hours", "1", "--interval", "60"], ["identical", "projected 30 days"]),
    (["api", "--orchestrators", "1", "--gpus", "1", "--hours", "1", "--seconds", "0.1", "--concurrency", "1"],
     ["/v1/sla/compliance", "/api/top_ai_score", "mixed, every endpoint at once"]),
])  # fmt: skip
def test_a_benchmark_runs_and_prints_its_figures(args: list[str], prints: list[str]) -> None:
    proc = subprocess.run([sys.executable, "-m", "naap", "--log-level", "warning", "bench", *args],
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    for text in prints:
        assert text in proc.stdout, (text, proc.stdout[-3000:])
