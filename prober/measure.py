"""Stream measurements from what a probe recorded — pure functions, no clock, no I/O.

Inputs: `sent` maps each input frame's PTS (90 kHz ticks) to when its segment was sent (seconds, the
prober's monotonic clock); output frames carry their PTS, when their segment was fully received, which
segment, a thumbnail (prober/media.py) and the stamp read from the picture (None when unreadable).

Definitions (documented in prober/README.md):
- E2E latency of a frame = received − sent for the output frame with the same PTS (segment granularity on both
  sides: sent = the input segment's POST issued, received = the output segment fully read). Quantiles are
  nearest-rank over the sorted values (exact, deterministic).
- Output FPS = (distinct output PTS − 1) / (their PTS span in seconds): the frame rate the runner delivered,
  independent of how segments were batched in transit.
- Per-second samples by media time (PTS − first input PTS, whole seconds); jitter = σ/μ (population σ) of the
  per-second frame counts over whole seconds (first and last, partial, seconds left out): the catalog's
  jitter coefficient (design §5) at 1 s windows. Also σ/μ of consecutive output PTS intervals.
- Prompt-to-first-frame: the first output frame received after the change whose thumbnail differs from the
  mean of the last `ref_frames` frames received before the change by more than max(floor, k × their own
  mean spread).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from prober.media import TICKS, frame_difference
from prober.result import ProbeSample


@dataclass(frozen=True)
class OutputFrame:
    """A decoded output frame: PTS (90 kHz ticks or None), when its segment arrived (s), its segment's seq and
    byte share, thumbnail, stamp."""

    pts: int | None
    received: float
    segment: int
    byte_share: float
    thumb: np.ndarray
    stamp: int | None


def quantile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank quantile (q in [0, 1]) of the values; None for none."""
    if not values:
        return None
    s = sorted(values)
    rank = max(1, math.ceil(q * len(s)))
    return s[min(rank, len(s)) - 1]


def latencies(sent: Mapping[int, float], frames: Sequence[OutputFrame]) -> list[float]:
    """Per matched output frame (first occurrence of each PTS), received − sent, in seconds."""
    seen: set[int] = set()
    out: list[float] = []
    for f in frames:
        if f.pts is None or f.pts in seen or f.pts not in sent:
            continue
        seen.add(f.pts)
        out.append(f.received - sent[f.pts])
    return out


def distinct_pts(frames: Sequence[OutputFrame]) -> list[int]:
    return sorted({f.pts for f in frames if f.pts is not None})


def output_fps(frames: Sequence[OutputFrame]) -> float | None:
    pts = distinct_pts(frames)
    if len(pts) < 2 or pts[-1] == pts[0]:
        return None
    return (len(pts) - 1) / ((pts[-1] - pts[0]) / TICKS)


def cv(values: Sequence[float]) -> float | None:
    """σ/μ (population σ); None for fewer than 2 values or μ = 0."""
    if len(values) < 2:
        return None
    mu = sum(values) / len(values)
    if mu == 0:
        return None
    return math.sqrt(sum((v - mu) ** 2 for v in values) / len(values)) / mu


def interval_cv(frames: Sequence[OutputFrame]) -> float | None:
    pts = distinct_pts(frames)
    return cv([b - a for a, b in zip(pts, pts[1:])])


def per_second(frames: Sequence[OutputFrame], sent: Mapping[int, float], first_pts: int) -> list[ProbeSample]:
    """ProbeSamples by media second (see module doc), ascending, seconds without frames included as zeros
    between the first and last second that had any."""
    buckets: dict[int, list[OutputFrame]] = {}
    seen: set[int] = set()
    for f in frames:
        if f.pts is None or f.pts in seen or f.pts < first_pts:
            continue
        seen.add(f.pts)
        buckets.setdefault((f.pts - first_pts) // TICKS, []).append(f)
    if not buckets:
        return []
    samples = []
    for sec in range(min(buckets), max(buckets) + 1):
        fs = buckets.get(sec, [])
        lat = [(f.received - sent[f.pts]) * 1000 for f in fs if f.pts in sent]
        samples.append(ProbeSample(sec, len(fs), float(len(fs)), round(sum(f.byte_share for f in fs)), quantile(lat, 0.5)))
    return samples


def jitter(samples: Sequence[ProbeSample]) -> float | None:
    """σ/μ of per-second fps over whole seconds (the first and last samples left out as partial)."""
    return cv([s.fps for s in samples[1:-1]])


def prompt_change_frame(
    frames: Sequence[OutputFrame], changed_at: float, *, ref_frames: int = 5, k: float = 4.0, floor: float = 12.0
) -> OutputFrame | None:
    """The first output frame received at or after `changed_at` that differs visibly from the frames before it
    (see module doc); None when there is no baseline or no such frame."""
    before = [f for f in frames if f.received < changed_at][-ref_frames:]
    if not before:
        return None
    reference = np.mean([f.thumb for f in before], axis=0)
    spread = float(np.mean([frame_difference(f.thumb, reference) for f in before]))
    threshold = max(floor, k * spread)
    for f in frames:
        if f.received >= changed_at and frame_difference(f.thumb, reference) > threshold:
            return f
    return None
