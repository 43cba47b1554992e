"""The stream table both SDK flavours share: live streams, their counters, 5 s windows and first-frame events.

No Prometheus here, so the push client (which a runner imports inside its own container) stays light. The
per-frame calls are an integer add plus one attribute test; everything that needs the clock happens only
on the rare paths (start, params update, restart, the first frame after one of those).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from typing import Callable

# The failure taxonomy of the design (seed 000 §4.2). Anything else is counted as "unknown".
FAILURE_CLASSES = (
    "timeout",
    "model_error",
    "runner_disconnect",
    "capacity",
    "gateway_reset",
    "orchestrator_reset",
    "unknown",
)
_FAILURES = frozenset(FAILURE_CLASSES)

# How a stream's first output frame came about: a start on a model that had to be loaded (cold), one on a
# model already in memory (warm), one whose runner did not say, or the recovery after a restart.
STARTUP_KINDS = ("cold", "warm", "unknown", "restart")

WorkflowKey = tuple[str, str, str]  # pipeline, model_id, gpu_id

# Event kinds a stream reports when its first frame after a trigger goes out.
EVENT_STARTUP = "startup"
EVENT_PARAMS = "params"


def failure_class(kind: str) -> str:
    return kind if kind in _FAILURES else "unknown"


class Stream:
    """One live stream. `frame_out`/`frame_in`/`bytes_*` sit on the runner's hot path."""

    __slots__ = (
        "stream_id",
        "pipeline",
        "model_id",
        "gpu_id",
        "frames_out",
        "frames_in",
        "rx_bytes",
        "tx_bytes",
        "errors",
        "restarts",
        "remote",
        "fps_out",
        "fps_in",
        "windows",
        "window_seq",
        "jitter_ratio",
        "_armed",
        "_startup_t0",
        "_startup_kind",
        "_params_t0",
        "_params_auto",
        "_win_start",
        "_win_frames_out",
        "_win_frames_in",
        "_table",
    )

    def __init__(
        self,
        table: StreamTable,
        stream_id: str,
        pipeline: str,
        model_id: str,
        gpu_id: str,
        now: float,
        history: int,
        remote: bool = False,
    ) -> None:
        self._table = table
        self.stream_id = stream_id
        self.pipeline = pipeline
        self.model_id = model_id
        self.gpu_id = gpu_id
        self.frames_out = 0
        self.frames_in = 0
        self.rx_bytes = 0
        self.tx_bytes = 0
        self.errors: dict[str, int] = {}
        self.restarts: dict[str, int] = {}
        self.remote = remote  # windows computed elsewhere (a pushing runner) and copied in
        self.fps_out: float | None = None
        self.fps_in: float | None = None
        self.windows: deque[float] = deque(maxlen=history)
        self.window_seq = 0  # windows closed so far; lets a receiver tell new windows from repeats
        self.jitter_ratio: float | None = None  # recomputed when a window closes, so scrapes only read it
        self._armed = False
        self._startup_t0: float | None = None
        self._startup_kind = "unknown"
        self._params_t0: float | None = None
        self._params_auto = True
        self._win_start = now
        self._win_frames_out = 0
        self._win_frames_in = 0

    @property
    def key(self) -> WorkflowKey:
        return (self.pipeline, self.model_id, self.gpu_id)

    # -- hot path ----------------------------------------------------------------------------
    def frame_out(self, n: int = 1) -> None:
        """A processed frame left the runner (n frames for a batch)."""
        self.frames_out += n
        if self._armed:
            self._first_frame(n)

    def frame_in(self, n: int = 1) -> None:
        """A frame arrived from the gateway."""
        self.frames_in += n

    def bytes_in(self, n: int) -> None:
        """Stream bytes received (download side)."""
        self.rx_bytes += n

    def bytes_out(self, n: int) -> None:
        """Stream bytes sent (upload side)."""
        self.tx_bytes += n

    # -- rarer events --------------------------------------------------------------------------
    def error(self, kind: str = "unknown") -> None:
        """A failed inference request, classified by the design's failure taxonomy."""
        kind = failure_class(kind)
        self.errors[kind] = self.errors.get(kind, 0) + 1

    def params_update(self, *, applied_on_next_frame: bool = True) -> None:
        """New parameters (e.g. a prompt) arrived. The next output frame closes the prompt-to-first-frame
        clock; a pipelined runner whose next frames still carry the old parameters passes
        `applied_on_next_frame=False` and calls `params_applied()` when the first frame with them goes out."""
        self._params_t0 = self._table._clock()
        self._params_auto = applied_on_next_frame
        if applied_on_next_frame:
            self._armed = True

    def params_applied(self) -> None:
        """The first frame produced with the latest parameters went out (see `params_update`)."""
        t0, self._params_t0 = self._params_t0, None
        if t0 is not None:
            self._table._event(self, EVENT_PARAMS, "", self._table._clock() - t0)

    def restart(self, reason: str = "unknown") -> None:
        """The runner restarted this stream's pipeline; the next output frame measures the recovery."""
        reason = failure_class(reason)
        self.restarts[reason] = self.restarts.get(reason, 0) + 1
        self._startup_t0 = self._table._clock()
        self._startup_kind = "restart"
        self._armed = True

    def _first_frame(self, n: int) -> None:
        # Runs once after start, restart or params update: the only frame_out that reads the clock.
        self._armed = False
        now = self._table._clock()
        if self._startup_t0 is not None:
            t0, self._startup_t0 = self._startup_t0, None
            if self._startup_kind != "restart":
                # FPS windows start with the first output frame: startup is measured on its own and must
                # not also show up as zero-FPS windows in the jitter of the stream's first minute.
                self._win_start, self._win_frames_out, self._win_frames_in = now, self.frames_out - n, self.frames_in
            self._table._event(self, EVENT_STARTUP, self._startup_kind, max(0.0, now - t0))
        if self._params_t0 is not None and self._params_auto:
            t0, self._params_t0 = self._params_t0, None
            self._table._event(self, EVENT_PARAMS, "", max(0.0, now - t0))

    # -- windows -------------------------------------------------------------------------------
    def close_window(self, now: float, min_window_s: float) -> None:
        if self.frames_out == 0 and not self.remote:
            self._win_start, self._win_frames_in = now, self.frames_in  # no output yet: no window
            return
        elapsed = now - self._win_start
        if elapsed < min_window_s:
            return  # too short to be a fair window (stream just started): fold into the next one
        out, inp = self.frames_out, self.frames_in
        self.fps_out = (out - self._win_frames_out) / elapsed
        self.fps_in = (inp - self._win_frames_in) / elapsed
        self.windows.append(self.fps_out)
        self.window_seq += 1
        self._win_start, self._win_frames_out, self._win_frames_in = now, out, inp
        self.update_jitter()

    def update_jitter(self) -> None:
        """σ(fps)/μ(fps) over the closed windows of the trailing minute (population σ); None until two
        windows have closed or while the mean is zero."""
        w = self.windows
        n = len(w)
        if n < 2:
            self.jitter_ratio = None
            return
        mean = math.fsum(w) / n
        if mean <= 0:
            self.jitter_ratio = None
            return
        self.jitter_ratio = math.sqrt(math.fsum((x - mean) ** 2 for x in w) / n) / mean

    def jitter(self) -> float | None:
        return self.jitter_ratio


class StreamTable:
    """Live streams by id, the window ticker, and the hook first-frame events go to."""

    def __init__(
        self,
        window_s: float = 5.0,
        jitter_window_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if window_s <= 0 or jitter_window_s < window_s:
            raise ValueError("need 0 < window_s <= jitter_window_s")
        self.window_s = window_s
        self.jitter_window_s = jitter_window_s
        self.history = max(2, round(jitter_window_s / window_s))
        self._clock = clock
        self._lock = threading.Lock()
        self._streams: dict[str, Stream] = {}
        self._ticker: threading.Thread | None = None
        self._stop = threading.Event()

    # -- stream lifecycle ------------------------------------------------------------------------
    def start_stream(
        self,
        stream_id: str,
        pipeline: str,
        model_id: str,
        gpu_id: str = "",
        *,
        warm: bool | None = None,
        requested_at: float | None = None,
    ) -> Stream:
        """A stream starts. `warm` says whether the model was already loaded (None: the runner can't tell);
        `requested_at` is when the request arrived, on this table's clock (time.monotonic by default) —
        the startup time runs from there to the first output frame."""
        now = self._clock()
        with self._lock:
            old = self._streams.pop(stream_id, None)
            if old is not None:
                self._retire(old)
            s = Stream(self, stream_id, pipeline, model_id, gpu_id, now, self.history)
            s._startup_t0 = now if requested_at is None else min(requested_at, now)
            s._startup_kind = "unknown" if warm is None else ("warm" if warm else "cold")
            s._armed = True
            self._streams[stream_id] = s
            self._started(s)
            return s

    def end_stream(self, stream_id: str) -> Stream | None:
        with self._lock:
            s = self._streams.pop(stream_id, None)
            if s is not None:
                self._retire(s)
            return s

    def stream(self, stream_id: str) -> Stream | None:
        return self._streams.get(stream_id)

    def streams(self) -> list[Stream]:
        with self._lock:
            return list(self._streams.values())

    # Hooks for the subclasses (exposition totals, push queues). `_started` and `_retire` run with the lock
    # held; `_event` runs on the caller's thread without it (it fires from frame_out).
    def _started(self, s: Stream) -> None:
        pass

    def _retire(self, s: Stream) -> None:
        pass

    def _event(self, s: Stream, kind: str, label: str, seconds: float) -> None:
        pass

    # -- windows ---------------------------------------------------------------------------------
    def tick(self, now: float | None = None) -> None:
        now = self._clock() if now is None else now
        for s in self.streams():
            if not s.remote:
                s.close_window(now, self.window_s / 2)
        self._after_tick(now)

    def _after_tick(self, now: float) -> None:
        pass

    def start_ticker(self) -> None:
        if self._ticker is not None:
            return
        self._stop.clear()

        def run() -> None:
            next_t = self._clock() + self.window_s
            while not self._stop.wait(max(0.0, next_t - self._clock())):
                self.tick()
                next_t += self.window_s

        self._ticker = threading.Thread(target=run, name="naap-stream-windows", daemon=True)
        self._ticker.start()

    def stop_ticker(self) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=2)
            self._ticker = None
