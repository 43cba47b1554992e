"""The stream SDK's event calls (startup, params, restart, errors) and the two runner adapters."""

from __future__ import annotations

import asyncio

import pytest

from exporter.streams.adapters.ai_runner import RunnerMetrics, classify_exception
from exporter.streams.adapters.trickle import MeteredFrameProcessor
from exporter.streams.sdk import StreamMetrics
from exposition_helpers import Clock
from exposition_helpers import collector_samples as samples


def by(got: dict[str, list], name: str, **match: str) -> float:
    hits = [v for labels, v in got.get(name, []) if all(labels.get(k) == x for k, x in match.items())]
    assert len(hits) == 1, (name, match, got.get(name))
    return hits[0]


def test_startup_is_measured_to_the_first_output_frame_cold_and_warm() -> None:
    clock = Clock(500.0)
    sdk = StreamMetrics(clock=clock)
    cold = sdk.start_stream("c", "live-video-to-video", "m", "g", warm=False, requested_at=clock.t - 1.5)
    clock.t += 7.0
    cold.frame_out()
    cold.frame_out()  # only the first frame counts
    warm = sdk.start_stream("w", "live-video-to-video", "m", "g", warm=True)
    clock.t += 0.4
    warm.frame_out()
    unknown = sdk.start_stream("u", "live-video-to-video", "m", "g")
    clock.t += 1.0
    unknown.frame_out()
    got = samples(sdk)
    assert by(got, "naap_stream_startup_seconds_sum", startup="cold") == pytest.approx(8.5)
    assert by(got, "naap_stream_startup_seconds_count", startup="cold") == 1
    assert by(got, "naap_stream_startup_seconds_sum", startup="warm") == pytest.approx(0.4)
    assert by(got, "naap_stream_startup_seconds_bucket", startup="warm", le="0.5") == 1
    assert by(got, "naap_stream_startup_seconds_bucket", startup="warm", le="0.25") == 0
    assert by(got, "naap_stream_startup_seconds_count", startup="unknown") == 1


def test_params_update_measures_prompt_to_first_frame() -> None:
    clock = Clock(500.0)
    sdk = StreamMetrics(clock=clock)
    s = sdk.start_stream("s", "p", "m", "g")
    s.frame_out()
    s.params_update()
    clock.t += 0.3
    s.params_update()  # a newer prompt restarts the clock: the first frame carries the latest params
    clock.t += 0.2
    s.frame_out()
    s.frame_out()
    # A pipelined runner closes the clock itself when the first frame *with* the new params leaves.
    s.params_update(applied_on_next_frame=False)
    clock.t += 0.1
    s.frame_out()  # still old params
    clock.t += 0.6
    s.params_applied()
    got = samples(sdk)
    assert by(got, "naap_stream_prompt_to_first_frame_seconds_count") == 2
    assert by(got, "naap_stream_prompt_to_first_frame_seconds_sum") == pytest.approx(0.2 + 0.7)


def test_restart_counts_and_measures_recovery_errors_fold_unknown() -> None:
    clock = Clock(500.0)
    sdk = StreamMetrics(clock=clock)
    s = sdk.start_stream("s", "p", "m", "g", warm=True)
    s.frame_out()
    s.restart("model_error")
    s.restart("not-in-taxonomy")
    clock.t += 3.0
    s.frame_out()
    for kind in ("timeout", "timeout", "capacity", "gateway_reset", "bogus"):
        s.error(kind)
    s.bytes_in(1000)
    s.bytes_out(2500)
    got = samples(sdk)
    assert by(got, "naap_stream_restarts_total", reason="model_error") == 1
    assert by(got, "naap_stream_restarts_total", reason="unknown") == 1
    assert by(got, "naap_stream_startup_seconds_sum", startup="restart") == pytest.approx(3.0)
    errors = {lab["error_class"]: v for lab, v in got["naap_stream_errors_total"]}
    assert errors == {"timeout": 2, "capacity": 1, "gateway_reset": 1, "unknown": 1}
    assert by(got, "naap_stream_receive_bytes_total") == 1000
    assert by(got, "naap_stream_transmit_bytes_total") == 2500


def test_active_streams_per_gpu_and_workflow_and_bounded_series() -> None:
    clock = Clock(500.0)
    sdk = StreamMetrics(clock=clock)
    for i in range(3):
        sdk.start_stream(f"a{i}", "p", "m1", "gpu-A").frame_out(10)
    sdk.start_stream("b", "p", "m2", "gpu-B").frame_out(10)
    clock.t += 5
    sdk.tick()
    got = samples(sdk)
    assert by(got, "naap_streams_active", gpu_id="gpu-A", model_id="m1") == 3
    assert by(got, "naap_streams_active", gpu_id="gpu-B", model_id="m2") == 1
    assert len(got["naap_stream_output_fps"]) == 4
    for i in range(3):
        sdk.end_stream(f"a{i}")
    got = samples(sdk)
    assert [lab["stream_id"] for lab, _ in got["naap_stream_output_fps"]] == ["b"]
    assert by(got, "naap_streams_active", gpu_id="gpu-A", model_id="m1") == 0
    assert by(got, "naap_frames_out_total", gpu_id="gpu-A") == 30  # totals survive the streams
    assert by(got, "naap_streams_started_total", gpu_id="gpu-A") == 3


class Processor:
    """Shaped like pytrickle's FrameProcessor (livepeer/pytrickle is not on PyPI, so it is not installed):
    the same async hooks pytrickle's StreamServer calls."""

    def __init__(self) -> None:
        self.params: dict = {}
        self.fail_next = False

    async def load_model(self, **kwargs: object) -> None:
        await asyncio.sleep(0)

    async def on_stream_start(self) -> None:
        pass

    async def process_video_async(self, frame: bytes) -> bytes | None:
        if self.fail_next:
            self.fail_next = False
            raise TimeoutError("inference took too long")
        return frame[::-1]

    async def process_audio_async(self, frame: bytes) -> list[bytes]:
        return [frame]

    async def update_params(self, params: dict) -> None:
        self.params = params

    async def on_stream_stop(self) -> None:
        pass

    def custom(self) -> str:
        return "passed through"


async def test_pytrickle_style_processor_adapter() -> None:
    sdk = StreamMetrics()
    inner = Processor()
    p = MeteredFrameProcessor(inner, sdk, pipeline="live-video-to-video", model_id="streamdiffusion",
                              gpu_id="GPU-x", stream_id=lambda: "req-1")  # fmt: skip
    await p.load_model()
    await p.on_stream_start()
    for _ in range(5):
        assert await p.process_video_async(b"ab") == b"ba"
    await p.update_params({"prompt": "a cat"})
    assert inner.params == {"prompt": "a cat"}
    inner.fail_next = True
    with pytest.raises(TimeoutError):
        await p.process_video_async(b"x")
    assert await p.process_video_async(b"cd") == b"dc"
    assert p.custom() == "passed through"
    s = sdk.stream("req-1")
    assert s is not None and (s.frames_in, s.frames_out) == (7, 6) and s.errors == {"timeout": 1}
    got = samples(sdk)
    assert by(got, "naap_stream_startup_seconds_count", startup="warm") == 1  # model loaded before the stream
    assert by(got, "naap_stream_prompt_to_first_frame_seconds_count") == 1
    await p.on_stream_stop()
    assert sdk.stream("req-1") is None


def test_ai_runner_style_adapter_and_failure_taxonomy() -> None:
    sdk = StreamMetrics()
    m = RunnerMetrics(sdk, pipeline="live-video-to-video", gpu_id="GPU-y")
    s = m.on_request("req-2", "streamdiffusion-sdxl", warm=False)
    for _ in range(4):
        m.on_input(s, 1000)
        m.on_output(s, 1200)
    m.on_params(s)
    assert m.on_failure(s, RuntimeError("CUDA out of memory. Tried to allocate"), restarting=True) == "capacity"
    assert m.on_failure(s, ConnectionResetError()) == "runner_disconnect"
    assert classify_exception(asyncio.TimeoutError()) == "timeout"
    assert classify_exception(ValueError("bad tensor")) == "model_error"
    assert (s.rx_bytes, s.tx_bytes, s.restarts) == (4000, 4800, {"capacity": 1})
    m.on_stop(s)
    got = samples(sdk)
    assert by(got, "naap_stream_errors_total", error_class="capacity") == 1
    assert by(got, "naap_stream_startup_seconds_count", startup="cold") == 1
