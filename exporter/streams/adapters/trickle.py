"""Adapter for a pytrickle frame processor (livepeer/pytrickle `FrameProcessor`).

    processor = MeteredFrameProcessor(MyProcessor(), sdk, pipeline="live-video-to-video",
                                      model_id="streamdiffusion-sdxl", gpu_id=uuid)
    app = StreamServer(frame_processor=processor, port=8000)

It wraps the processor rather than subclassing pytrickle's base class, so this package does not depend on
pytrickle: every hook pytrickle calls (load_model, on_stream_start, process_video_async,
process_audio_async, update_params, on_stream_stop) is forwarded to the wrapped processor with the SDK
calls around it; any other attribute falls through to it.
"""

from __future__ import annotations

import uuid
from typing import Any, Callable

from exporter.streams.adapters.ai_runner import classify_exception
from exporter.streams.core import Stream, StreamTable


class MeteredFrameProcessor:
    def __init__(
        self,
        inner: Any,
        sdk: StreamTable,
        *,
        pipeline: str,
        model_id: str,
        gpu_id: str = "",
        stream_id: Callable[[], str] | None = None,
    ) -> None:
        self._inner = inner
        self._sdk = sdk
        self._pipeline, self._model_id, self._gpu_id = pipeline, model_id, gpu_id
        self._stream_id = stream_id or (lambda: f"trickle-{uuid.uuid4().hex[:12]}")
        self._loaded = False  # the model was loaded before this stream: a warm start
        self.stream: Stream | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def load_model(self, **kwargs: Any) -> None:
        await self._inner.load_model(**kwargs)
        self._loaded = True

    async def on_stream_start(self) -> None:
        warm = self._loaded
        self.stream = self._sdk.start_stream(self._stream_id(), self._pipeline, self._model_id, self._gpu_id, warm=warm)
        await self._inner.on_stream_start()

    async def process_video_async(self, frame: Any) -> Any:
        s = self.stream
        if s is None:  # frames before on_stream_start: pass them through unmetered
            return await self._inner.process_video_async(frame)
        s.frame_in()
        try:
            out = await self._inner.process_video_async(frame)
        except Exception as e:
            s.error(classify_exception(e))
            raise
        if out is not None:
            s.frame_out()
        return out

    async def process_audio_async(self, frame: Any) -> Any:
        return await self._inner.process_audio_async(frame)

    async def update_params(self, params: dict[str, Any]) -> None:
        if self.stream is not None:
            self.stream.params_update()
        await self._inner.update_params(params)

    async def on_stream_stop(self) -> None:
        try:
            await self._inner.on_stream_stop()
        finally:
            if self.stream is not None:
                self._sdk.end_stream(self.stream.stream_id)
                self.stream = None
