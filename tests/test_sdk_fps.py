"""The stream SDK turns frame calls into per-stream FPS over windows and a jitter coefficient."""

from __future__ import annotations

import statistics

from exporter.streams.sdk import StreamMetrics
from exposition_helpers import Clock
from exposition_helpers import collector_samples as samples


def test_fps_per_window_and_jitter() -> None:
    clock = Clock()
    sdk = StreamMetrics(window_s=5.0, jitter_window_s=60.0, clock=clock)
    s = sdk.start_stream("st-1", "live-video-to-video", "streamdiffusion-sdxl", "GPU-x")
    per_window = [100, 100, 50, 150]  # frames per 5 s window → 20, 20, 10, 30 fps
    for frames in per_window:
        for _ in range(frames):
            s.frame_out()
        clock.t += 5.0
        sdk.tick()
    fps = [f / 5.0 for f in per_window]
    assert s.fps_out == 30.0
    expected = statistics.pstdev(fps) / statistics.fmean(fps)
    assert abs(s.jitter() - expected) < 1e-12
    got = samples(sdk)
    [(labels, value)] = got["naap_stream_output_fps"]
    assert labels == {"stream_id": "st-1", "pipeline": "live-video-to-video", "model_id": "streamdiffusion-sdxl", "gpu_id": "GPU-x"}
    assert value == 30.0
    assert got["naap_stream_jitter_ratio"][0][1] == expected
    assert got["naap_frames_out_total"][0][1] == 400


def test_jitter_uses_only_the_trailing_minute() -> None:
    clock = Clock()
    sdk = StreamMetrics(window_s=5.0, jitter_window_s=60.0, clock=clock)
    s = sdk.start_stream("st", "p", "m")
    for frames in [10] + [100] * 12:  # one slow window, then a steady minute
        for _ in range(frames):
            s.frame_out()
        clock.t += 5.0
        sdk.tick()
    assert s.jitter() == 0.0


def test_ended_streams_disappear_but_totals_remain() -> None:
    clock = Clock()
    sdk = StreamMetrics(clock=clock)
    a = sdk.start_stream("a", "p", "m", "g")
    for _ in range(7):
        a.frame_out()
    a.bytes_out(1000)
    a.error("timeout")
    a.error("not-a-class")
    clock.t += 5
    sdk.tick()
    sdk.end_stream("a")
    got = samples(sdk)
    assert "naap_stream_output_fps" not in got
    assert got["naap_frames_out_total"][0][1] == 7
    assert got["naap_stream_transmit_bytes_total"][0][1] == 1000
    assert {lab["error_class"]: v for lab, v in got["naap_stream_errors_total"]} == {"timeout": 1, "unknown": 1}
    assert got["naap_streams_active"][0][1] == 0


def test_a_window_too_short_is_folded_into_the_next() -> None:
    clock = Clock()
    sdk = StreamMetrics(window_s=5.0, clock=clock)
    s = sdk.start_stream("a", "p", "m")
    s.frame_out(20)  # windows start with the first output frame
    clock.t += 1.0  # ... 1 s before the tick
    sdk.tick()
    assert s.fps_out is None
    clock.t += 5.0
    s.frame_out(100)
    sdk.tick()
    assert s.fps_out == 120 / 6.0


def test_no_windows_before_the_first_output_frame() -> None:
    # A stream loading its model has no FPS yet: startup is measured on its own, not as zero-FPS windows.
    clock = Clock()
    sdk = StreamMetrics(window_s=5.0, clock=clock)
    s = sdk.start_stream("a", "p", "m", warm=False)
    for _ in range(3):
        s.frame_in(50)
        clock.t += 5.0
        sdk.tick()
    assert s.fps_out is None and s.window_seq == 0
    s.frame_out(100)
    clock.t += 5.0
    sdk.tick()
    assert s.fps_out == 20.0 and s.window_seq == 1
