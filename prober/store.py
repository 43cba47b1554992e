"""Probe results in the warehouse (migration 0009): rows for `probe_runs` and `probe_samples` from signed
envelopes, written through the one writer, and the reads the schedule, the API and exports need.

A run row keeps the signed result's canonical JSON (`result_json`) beside its signature and the prober's public key,
so a stored result can be re-verified and exported as the envelope it was (`period_envelopes`), and a period's
results digest — the next period's seed (prober/schedule.py) — is recomputed from what is stored
(`previous_period`). Stored results are never edited: the columns beside `result_json` are copies for queries.
"""

from __future__ import annotations

import json
from typing import Any, Iterable, Protocol, Sequence

from prober.canonical import canonical_json
from prober.schedule import results_digest

RUNS = "probe_runs"
SAMPLES = "probe_samples"
RUN_COLUMNS = (
    "probe_id", "period_id", "period_seed", "started_at", "ended_at", "orchestrator", "target", "service_uri", "region",
    "workflow", "model_id", "dataset_id", "dataset_version", "item_id", "item_kind", "outcome", "error_class", "fault",
    "swap_trigger", "expectation_met", "message", "capacity_idle", "capacity_in_use", "warm", "price_per_unit",
    "startup_ms", "first_frame_ms", "playable_ms", "p2ff_ms", "p2ff_confirmed", "e2e_p50_ms", "e2e_p95_ms",
    "e2e_samples", "output_fps", "input_fps", "jitter", "frame_interval_cv", "frames_in", "frames_out", "bytes_in",
    "bytes_out", "restart_events", "error_events", "duration_ms", "loop_lag_max_ms", "prober_version", "result_json",
    "signature", "prober_key",
)  # fmt: skip
SAMPLE_COLUMNS = ("probe_id", "started_at", "orchestrator", "model_id", "second", "frames", "fps", "bytes", "e2e_p50_ms")
MAX_SAMPLES_PER_PROBE = 3600
_INT32 = (-(2**31), 2**31 - 1)
_UINT32 = 2**32 - 1
_UINT64 = 2**64 - 1


class RowSink(Protocol):
    def add(self, table: str, columns: Sequence[str], rows: Sequence[tuple]) -> None: ...


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _int(v: Any, lo: int, hi: int) -> int | None:
    return min(max(int(v), lo), hi) if isinstance(v, int) and not isinstance(v, bool) else None


def _count(v: Any, hi: int = _UINT32) -> int:
    return _int(v, 0, hi) or 0


def _flag(v: Any) -> int | None:
    return None if v is None else int(bool(v))


def _text(v: Any, limit: int = 512) -> str:
    return "" if v is None else str(v)[:limit]


def run_row(env: dict[str, Any], period_seed: str) -> tuple:
    """The probe_runs row of a signed envelope (RUN_COLUMNS order; times as epoch milliseconds)."""
    r = env["result"]
    ds, _, ver = _text(r.get("dataset"), 128).partition("@")
    started = _int(r.get("started_at_ms"), 0, 2**62) or 0
    ended = _int(r.get("ended_at_ms"), 0, 2**62) or started
    return (
        _text(r.get("probe_id"), 64), _text(r.get("period_id"), 128), period_seed, started, max(ended, started),
        _text(r.get("orchestrator"), 64), _text(r.get("target")), _text(r.get("service_uri")), _text(r.get("region"), 64),
        _text(r.get("workflow"), 64), _text(r.get("model_id"), 128), ds, ver, _text(r.get("item_id"), 64),
        _text(r.get("item_kind"), 16), _text(r.get("outcome"), 16), _text(r.get("error_class"), 32),
        _text(r.get("fault"), 16), _text(r.get("swap_trigger"), 32), _flag(r.get("expectation_met")),
        _text(r.get("message"), 500), _int(r.get("capacity_idle"), *_INT32), _int(r.get("capacity_in_use"), *_INT32),
        _flag(r.get("warm")), _num(r.get("price_per_unit")),
        _num(r.get("startup_ms")), _num(r.get("first_frame_ms")), _num(r.get("playable_ms")), _num(r.get("p2ff_ms")),
        _flag(r.get("p2ff_confirmed")), _num(r.get("e2e_p50_ms")), _num(r.get("e2e_p95_ms")), _count(r.get("e2e_samples")),
        _num(r.get("output_fps")), _num(r.get("input_fps")), _num(r.get("jitter")), _num(r.get("frame_interval_cv")),
        _count(r.get("frames_in")), _count(r.get("frames_out")), _count(r.get("bytes_in"), _UINT64),
        _count(r.get("bytes_out"), _UINT64), _count(r.get("restart_events")), _count(r.get("error_events")),
        _num(r.get("duration_ms")), _num(r.get("loop_lag_max_ms")), _text(r.get("prober_version"), 64),
        canonical_json(r).decode(), _text(env.get("signature"), 256), _text(env.get("public_key"), 128),
    )  # fmt: skip


def sample_rows(env: dict[str, Any]) -> list[tuple]:
    """The probe_samples rows of a signed envelope (SAMPLE_COLUMNS order)."""
    r = env["result"]
    started = _int(r.get("started_at_ms"), 0, 2**62) or 0
    out = []
    for s in (r.get("samples") or [])[:MAX_SAMPLES_PER_PROBE]:
        if not isinstance(s, dict):
            continue
        out.append((
            _text(r.get("probe_id"), 64), started, _text(r.get("orchestrator"), 64), _text(r.get("model_id"), 128),
            _count(s.get("second")), _count(s.get("frames")), _num(s.get("fps")) or 0.0, _count(s.get("bytes"), _UINT64),
            _num(s.get("e2e_p50_ms")),
        ))  # fmt: skip
    return out


def add_results(sink: RowSink, envelopes: Iterable[dict[str, Any]], period_seed: str) -> int:
    """Queue a pass's signed results (runs and samples) on the writer; returns the number of runs."""
    envs = list(envelopes)
    samples = [row for env in envs for row in sample_rows(env)]
    sink.add(SAMPLES, SAMPLE_COLUMNS, samples)
    sink.add(RUNS, RUN_COLUMNS, [run_row(env, period_seed) for env in envs])
    return len(envs)


# -- reads -----------------------------------------------------------------------------------------------
def period_envelopes(wh: Any, period_id: str, limit: int = 10_000) -> list[dict[str, Any]]:
    """The signed envelopes of one period as stored, sorted by probe id (a retried insert counted once), each with
    `result_json`: the exact signed text of its result (a verifier in any language checks these bytes, prober/signing.py)."""
    rows = wh.query(
        f"SELECT probe_id, any(result_json), any(signature), any(prober_key) FROM {RUNS} "
        "WHERE period_id = {p:String} GROUP BY probe_id ORDER BY probe_id LIMIT {n:UInt32}",
        {"p": period_id, "n": limit},
    ).rows
    return [{"alg": "ed25519", "public_key": key, "result": json.loads(rj), "result_json": rj, "signature": sig}
            for _pid, rj, sig, key in rows]


def latest_periods(wh: Any, n: int = 2) -> list[dict[str, Any]]:
    """The `n` most recent periods stored (by their first probe's start): id, seed, probe count, time span, keys."""
    rows = wh.query(
        f"SELECT period_id, any(period_seed), uniqExact(probe_id), toUnixTimestamp64Milli(min(started_at)), "
        f"toUnixTimestamp64Milli(max(ended_at)), arraySort(groupUniqArray(prober_key)) FROM {RUNS} "
        "WHERE period_id != '' GROUP BY period_id ORDER BY min(started_at) DESC, period_id DESC LIMIT {n:UInt32}",
        {"n": n},
    ).rows
    return [
        {"period_id": p, "seed": seed, "probes": int(c), "first_started_ms": int(a), "last_ended_ms": int(b), "public_keys": list(keys)}
        for p, seed, c, a, b, keys in rows
    ]


def previous_period(wh: Any) -> tuple[str, str]:
    """(period id, results digest) of the latest stored period — what the next period's seed chains from;
    ("", "") when nothing is stored."""
    latest = latest_periods(wh, 1)
    if not latest:
        return "", ""
    pid = latest[0]["period_id"]
    return pid, results_digest(env["result"] for env in period_envelopes(wh, pid, 1_000_000))
