"""Adapter for an ai-runner-style live pipeline process: a loop that takes a request, loads (or reuses) a
model, reads input frames, runs the pipeline, writes output frames, takes params updates, and restarts the
pipeline when it fails.

    metrics = RunnerMetrics(connect(runner="ai-runner-0"), pipeline="live-video-to-video", gpu_id=uuid)
    s = metrics.on_request(request_id, model_id, warm=pipeline_already_loaded)
    for frame in inputs:                       # the streamer loop
        metrics.on_input(s, len(frame.bytes))
        out = pipeline(frame)
        metrics.on_output(s, len(out.bytes))
    metrics.on_params(s)                       # control channel: new prompt
    metrics.on_failure(s, exc, restarting=True)
    metrics.on_stop(s)
"""

from __future__ import annotations

import asyncio

from exporter.streams.core import Stream, StreamTable


def classify_exception(e: BaseException) -> str:
    """Map an exception to the design's failure taxonomy (seed 000 §4.2)."""
    if isinstance(e, (TimeoutError, asyncio.TimeoutError)):
        return "timeout"
    if isinstance(e, (ConnectionError, BrokenPipeError, EOFError)):
        return "runner_disconnect"
    if isinstance(e, MemoryError) or "out of memory" in str(e).lower():
        return "capacity"  # CUDA OOM: the GPU has no room for this stream
    return "model_error"


class RunnerMetrics:
    def __init__(self, sdk: StreamTable, *, pipeline: str, gpu_id: str = "") -> None:
        self.sdk = sdk
        self.pipeline = pipeline
        self.gpu_id = gpu_id

    def on_request(self, request_id: str, model_id: str, *, warm: bool | None = None,
                   requested_at: float | None = None) -> Stream:  # fmt: skip
        return self.sdk.start_stream(request_id, self.pipeline, model_id, self.gpu_id, warm=warm, requested_at=requested_at)

    @staticmethod
    def on_input(s: Stream, nbytes: int = 0) -> None:
        s.frame_in()
        if nbytes:
            s.bytes_in(nbytes)

    @staticmethod
    def on_output(s: Stream, nbytes: int = 0) -> None:
        s.frame_out()
        if nbytes:
            s.bytes_out(nbytes)

    @staticmethod
    def on_params(s: Stream) -> None:
        s.params_update()

    @staticmethod
    def on_failure(s: Stream, e: BaseException, *, restarting: bool = False) -> str:
        kind = classify_exception(e)
        s.error(kind)
        if restarting:
            s.restart(kind)
        return kind

    def on_stop(self, s: Stream) -> None:
        self.sdk.end_stream(s.stream_id)
