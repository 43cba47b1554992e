"""The stand-in's fake runner: what ai-runner's live pipeline does on the orchestrator's side of the four
channels, without a GPU.

- Reads input MPEG-TS segments from `<mid>`, decodes them (PyAV, in a worker thread), keeps each frame's PTS,
  "processes" the picture by tinting everything below the stamp rows with a level derived from the current
  params (a prompt change visibly changes it), re-encodes and publishes one output segment per input segment to
  `<mid>-out` exactly `delay_s` (+ seeded jitter) after the input segment arrived — the injected delay the
  prober's E2E measurement is checked against.
- Reads `<mid>-control`: `{"keep":"alive"}` ignored, invalid params → an `error` event ("Error updating
  params: …") keeping the old ones, valid params replace the current ones (after `control_delay_s`).
- Writes `<mid>-events`: `status` every `status_interval_s`, `restart` and `error` events, in ai-runner's
  shapes (prober/events.py).
- Profile behaviours: cold start, frame drops, stall, restart, error, channel close (prober/standin/profile.py).
Ends when the input channel closes (the gateway's DELETE) or no input arrives for `no_input_timeout_s`.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from typing import Any, Callable

import numpy as np

from exporter.common.clock import now_ms
from prober.events import KEEPALIVE, error_event, params_hash, restart_event, status_event
from prober.media import STAMP_ROWS, MediaError, decode_yuv_frames, encode_yuv_frames
from prober.sdparams import validate_params
from prober.standin.profile import Profile
from prober.standin.trickle_server import Channel, LocalSubscriber

PALETTE = (24, 56, 88, 120, 152, 184, 216, 240)  # luma levels of the tint, one per params "colour"
MAX_CONTROL_BYTES = 1 << 20


def tint_for(hash_hex: str, previous: int | None) -> int:
    """Palette index for a params hash; never the previous index, so every change is visible."""
    idx = int(hash_hex[:8], 16) % len(PALETTE)
    return (idx + len(PALETTE) // 2) % len(PALETTE) if idx == previous else idx


def process(frames: list[tuple[int | None, np.ndarray]], tint: int) -> bytes:
    """Tint every frame below its stamp rows (luma halfway to the palette level, chroma shifted), keep PTS, and
    encode them as one MPEG-TS segment."""
    if not frames:
        return b""
    h = frames[0][1].shape[0] * 2 // 3
    w = frames[0][1].shape[1]
    level = PALETTE[tint]
    out = []
    pts_list = [p for p, _ in frames if p is not None]
    fps = 24
    if len(pts_list) > 1 and pts_list[-1] > pts_list[0]:
        fps = max(1, round((len(pts_list) - 1) * 90_000 / (pts_list[-1] - pts_list[0])))
    for n, (pts, yuv) in enumerate(frames):
        y = yuv[:h].copy()
        body = y[STAMP_ROWS:]
        body[:] = ((body.astype(np.uint16) + level) // 2).astype(np.uint8)
        chroma = np.full((h // 2, w), 64 + tint * 16, np.uint8)
        out.append((pts if pts is not None else n, np.concatenate([y, chroma])))
    return encode_yuv_frames(out, fps, w, h)


class FakeRunner:
    """One stream's runner. `run()` returns when the stream ends; counters say what it did."""

    def __init__(
        self,
        *,
        pipeline: str,
        profile: Profile,
        input: Channel,
        output: Channel,
        control: Channel,
        events: Channel,
        params: dict[str, Any],
        params_error: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], int] = now_ms,
    ) -> None:
        self.pipeline = pipeline
        self.profile = profile
        self.input, self.output, self.control, self.events = input, output, control, events
        self.clock = clock
        self.wall = wall
        self.t0 = clock()
        self.start_ms = wall()
        self.params = params
        self.hash = params_hash(params)
        self.tint = tint_for(self.hash, None)
        self.params_ms: int | None = self.start_ms
        self.state = "LOADING" if profile.cold_start_s > 0 else "ONLINE"
        self.state_ms = self.start_ms
        self.restart_count = 0
        self.restart_ms: int | None = None
        self.restart_until = -1.0
        self.last_error: str | None = None
        self.last_error_ms: int | None = None
        self.errored = False
        self.frames_in = 0
        self.frames_out = 0
        self.segments_out = 0
        self.last_input_ms: int | None = None
        self.last_output_ms: int | None = None
        self._window_in = 0
        self._window_out = 0
        self._rng = random.Random(profile.seed)
        self._queue: asyncio.Queue[tuple[float, bytes, int, float, int]] = asyncio.Queue(maxsize=32)
        # Ground truth on the stand-in's clock, for the benchmark (naap bench probe): how long each output segment
        # was held (published − its input segment's arrival), and per params generation when its control message
        # arrived and when the first segment processed with it was published.
        self.generation = 0
        self.holds: list[float] = []
        self.change_arrived: dict[int, float] = {}
        self.first_published: dict[int, float] = {}
        self._published_generation = 0
        self._initial_error = params_error

    def _elapsed(self) -> float:
        return self.clock() - self.t0

    def _stalled(self, at: float | None = None) -> bool:
        s = self.profile.stall_after_s
        return s is not None and (self._elapsed() if at is None else at - self.t0) >= s

    async def _emit(self, body: bytes) -> None:
        await self.events.write_local(body)

    async def _error(self, message: str) -> None:
        self.last_error, self.last_error_ms = message[:300], self.wall()
        await self._emit(error_event(pipeline=self.pipeline, message=message, now_ms=self.wall()))

    async def run(self) -> None:
        tasks = [asyncio.create_task(t) for t in (self._outputs(), self._controls(), self._statuses(), self._script())]
        try:
            if self._initial_error:
                await self._error(f"Error loading pipeline: {self._initial_error}")
            await self._inputs()
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _inputs(self) -> None:
        sub = LocalSubscriber(self.input, 0)
        while True:
            try:
                async with asyncio.timeout(self.profile.no_input_timeout_s):
                    got = await sub.next()
            except TimeoutError:
                return
            if got is None:
                return
            _, data, arrived = got
            self.last_input_ms = self.wall()
            try:
                frames = await asyncio.to_thread(decode_yuv_frames, data, 2000)
            except MediaError as e:
                await self._error(f"Error decoding input: {e}")
                continue
            self.frames_in += len(frames)
            self._window_in += len(frames)
            if self.profile.drop_every > 0:
                n = self.profile.drop_every
                frames = [f for i, f in enumerate(frames, self.frames_in - len(frames)) if i % n != n - 1]
            if self._stalled() or not frames:
                continue
            generation, tint = self.generation, self.tint
            body = b"\x47garbage" * 100 if self.profile.garbage_output else await asyncio.to_thread(process, frames, tint)
            due = arrived + self.profile.delay_s + (self._rng.uniform(0, self.profile.jitter_s) if self.profile.jitter_s else 0.0)
            due = max(due, self.t0 + self.profile.cold_start_s)
            await self._queue.put((due, body, len(frames), arrived, generation))

    async def _outputs(self) -> None:
        while True:
            due, body, n, arrived, generation = await self._queue.get()
            await asyncio.sleep(max(0.0, due - self.clock()))
            if self._stalled(due) or self.output.closed or due < self.restart_until:
                continue
            if self.state == "LOADING" and not self.errored:
                self.state, self.state_ms = "ONLINE", self.wall()
            await self.output.write_local(body)
            published = self.clock()
            if len(self.holds) < 10_000:
                self.holds.append(published - arrived)
            if generation > self._published_generation:
                self._published_generation = generation
                self.first_published.setdefault(generation, published)
            self.frames_out += n
            self._window_out += n
            self.segments_out += 1
            self.last_output_ms = self.wall()

    async def _controls(self) -> None:
        sub = LocalSubscriber(self.control, 0)
        while (got := await sub.next()) is not None:
            _, data, arrived = got
            if len(data) > MAX_CONTROL_BYTES:
                await self._error("Error updating params: message too large")
                continue
            try:
                params = json.loads(data)
            except ValueError as e:
                await self._error(f"Error updating params: {e}")
                continue
            if params == KEEPALIVE:
                continue
            problems = validate_params(params)
            if problems:
                await self._error(f"Error updating params: {'; '.join(problems[:3])}")
                continue
            if params_hash(params) == self.hash:
                continue  # the same params again (a gateway repeats them at start): nothing changes in the picture
            if self.profile.control_delay_s:
                await asyncio.sleep(self.profile.control_delay_s)
            self.params, self.hash = params, params_hash(params)
            self.tint = tint_for(self.hash, self.tint)
            self.params_ms = self.wall()
            self.generation += 1
            self.change_arrived[self.generation] = arrived

    async def _statuses(self) -> None:
        interval = self.profile.status_interval_s
        while True:
            await asyncio.sleep(interval)
            fps_in, fps_out = self._window_in / interval, self._window_out / interval
            self._window_in = self._window_out = 0
            await self._emit(status_event(
                pipeline=self.pipeline, state=self.state, start_ms=self.start_ms, now_ms=self.wall(), state_ms=self.state_ms,
                input_fps=fps_in, output_fps=fps_out, last_input_ms=self.last_input_ms, last_output_ms=self.last_output_ms,
                params=self.params, params_hash_=self.hash, params_ms=self.params_ms, last_error=self.last_error,
                last_error_ms=self.last_error_ms, restart_count=self.restart_count, restart_ms=self.restart_ms,
            ))  # fmt: skip

    async def _script(self) -> None:
        p = self.profile
        plan = sorted(
            (at, what)
            for at, what in ((p.restart_after_s, "restart"), (p.error_after_s, "error"), (p.close_after_s, "close"))
            if at is not None
        )
        for at, what in plan:
            await asyncio.sleep(max(0.0, self.t0 + at - self.clock()))
            if what == "restart":
                self.restart_count += 1
                self.restart_ms = self.wall()
                self.restart_until = self.clock() + p.restart_gap_s
                self.state, self.state_ms = "LOADING", self.wall()
                await self._emit(restart_event(pipeline=self.pipeline, restart_count=self.restart_count, now_ms=self.wall(),
                                               logs=["stand-in: simulated restart"]))  # fmt: skip
            elif what == "error":
                if p.error_state:
                    self.errored = True
                    self.state, self.state_ms = "ERROR", self.wall()
                await self._error("Error processing output frame: stand-in simulated failure")
            elif what == "close":
                await self.output.close()

