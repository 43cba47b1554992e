"""Synthetic media and the measurements made from it: frames carry their identity through a real H.264
encode/decode (PTS and the visible stamp), and the pure measurement functions give the documented numbers on
hand-built inputs. Also the runner event parser and the settings' own checks."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from prober.config import ProberSettings
from prober.events import params_hash, parse_event, restart_event, status_event
from prober.measure import OutputFrame, cv, jitter, latencies, output_fps, per_second, prompt_change_frame, quantile
from prober.media import MediaError, TICKS, decode_segment, encode_segments, frame_difference, pts_of, read_stamp, thumbnail
from prober.standin.runner import PALETTE, process, tint_for
from prober.media import decode_yuv_frames


def test_frames_keep_pts_and_stamp_through_h264() -> None:
    segs = encode_segments(3, 8, 8, 256, 144)
    assert [s.pts for s in segs][1] == tuple(pts_of(i, 8) for i in range(8, 16)) == tuple(range(90_000, 180_000, 11_250))
    frames = decode_segment(segs[2].data)
    assert [f.pts for f in frames] == list(segs[2].pts)
    assert [read_stamp(f.luma) for f in frames] == list(range(16, 24))
    # the stand-in's processing keeps PTS and stamp, and a new tint is a visible change
    yuv = decode_yuv_frames(segs[1].data)
    a, b = decode_segment(process(yuv, 0)), decode_segment(process(yuv, 4))
    assert [f.pts for f in a] == list(segs[1].pts) and [read_stamp(f.luma) for f in a] == list(range(8, 16))
    assert frame_difference(thumbnail(a[0].luma), thumbnail(b[0].luma)) > 40
    assert frame_difference(thumbnail(a[0].luma), thumbnail(a[1].luma)) < 5
    assert tint_for("00000000", None) == 0 and tint_for("00000000", 0) == len(PALETTE) // 2
    with pytest.raises(MediaError):
        decode_segment(b"\x47" + b"\x00" * 400)


def _frame(pts: int | None, received: float, level: float = 100.0, seg: int = 0) -> OutputFrame:
    return OutputFrame(pts, received, seg, 1000.0, np.full((8, 16), level, np.float32), None)


def test_measurements_on_known_inputs() -> None:
    step = TICKS // 10
    sent = {i * step: i * 0.1 for i in range(30)}
    # every frame back 0.5 s after it was sent, except one that is 1.5 s late and one dropped (pts 12)
    frames = [_frame(i * step, i * 0.1 + (1.5 if i == 20 else 0.5)) for i in range(30) if i != 12]
    lat = latencies(sent, frames + [frames[0]])  # a repeated PTS counts once
    assert len(lat) == 29 and quantile(lat, 0.5) == pytest.approx(0.5) and quantile(lat, 1.0) == pytest.approx(1.5)
    assert quantile([], 0.5) is None and quantile([3.0, 1.0, 2.0], 0.95) == 3.0
    assert output_fps(frames) == pytest.approx(28 / 2.9)
    samples = per_second(frames, sent, 0)
    assert [(s.second, s.frames) for s in samples] == [(0, 10), (1, 9), (2, 10)]
    assert samples[1].e2e_p50_ms == pytest.approx(500) and samples[1].bytes == 9000
    assert jitter(samples) is None  # one whole second only
    assert cv([10, 10, 10]) == 0.0 and cv([8, 12]) == pytest.approx(0.2)


def test_prompt_change_is_the_first_visibly_different_frame() -> None:
    before = [_frame(i, i * 0.1, 100 + (i % 2)) for i in range(10)]  # baseline with a little flicker
    after = [_frame(10 + i, 1.0 + i * 0.1, 101 if i < 4 else 160) for i in range(6)]
    hit = prompt_change_frame(before + after, changed_at=0.95)
    assert hit is not None and hit.pts == 14
    assert prompt_change_frame(before, changed_at=0.95) is None and prompt_change_frame(after, changed_at=0.5) is None


def test_runner_events_parse_in_ai_runners_shapes() -> None:
    params = {"prompt": "x", "seed": 1}
    status = status_event(pipeline="streamdiffusion", state="ONLINE", start_ms=1, now_ms=2, state_ms=1, input_fps=24, output_fps=23.5,
                          last_input_ms=2, last_output_ms=2, params=params, params_hash_=params_hash(params), params_ms=1,
                          last_error=None, last_error_ms=None, restart_count=0, restart_ms=None)  # fmt: skip
    ev = parse_event(status)
    assert ev is not None and (ev.type, ev.state, ev.output_fps, ev.restart_count) == ("status", "ONLINE", 23.5, 0)
    assert ev.params_hash == params_hash({"seed": 1, "prompt": "x"})  # key order does not matter
    restart = parse_event(restart_event(pipeline="p", restart_count=2, now_ms=5, logs=[]))
    assert restart is not None and (restart.type, restart.restart_count) == ("restart", 2)
    assert parse_event(b'{"type": "error", "message": "boom"}') == parse_event(b'{"event": {"type": "error", "message": "boom"}}')
    assert parse_event(b"[1]") is None and parse_event(b"\xff") is None and parse_event(b'{"type": 3}') is None


def test_settings_defaults_and_checks() -> None:
    s = ProberSettings()
    assert (s.interval_s, s.start_timeout_s, s.no_output_timeout_s, s.max_read_errors, s.fps) == (600, 5, 30, 5, 24)
    assert s.segments == 20 and s.frames_per_segment == 24 and s.probe_deadline_s() > s.duration_s
    with pytest.raises(ValidationError, match="prompt_change_at_s"):
        ProberSettings(duration_s=5, prompt_change_at_s=6)
    with pytest.raises(ValidationError):
        ProberSettings(width=250)
    with pytest.raises(ValidationError, match="<workflow>/<id>@<version>"):
        ProberSettings(datasets=["streamdiffusion-good"])
    with pytest.raises(ValidationError, match="http"):
        ProberSettings(signer_url="ftp://signer")
    with pytest.raises(ValidationError):
        ProberSettings(unknown_field=1)  # type: ignore[call-arg]
