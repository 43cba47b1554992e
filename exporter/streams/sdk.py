"""The stream-metrics SDK: what an AI runner, a pytrickle frame processor or a BYOC container calls.

    sdk = StreamMetrics()
    s = sdk.start_stream("stream-1", pipeline="live-video-to-video", model_id="streamdiffusion-sdxl", gpu_id=uuid)
    s.frame_in(); s.frame_out(); s.bytes_in(n); s.bytes_out(n); s.error("timeout")
    sdk.end_stream("stream-1")

The per-frame calls only add to an integer on the stream (they sit on the runner's hot path); a ticker
closes a window every `window_s` (5 s) and turns the counts into per-stream FPS, and the jitter coefficient
σ(fps)/μ(fps) over the windows of the trailing `jitter_window_s` (60 s). Series of ended streams disappear
(their counts fold into the per-workflow totals), so cardinality follows the live streams.
"""

from __future__ import annotations

import logging
import statistics
import threading
import time
from collections import deque
from typing import Callable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

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

WorkflowKey = tuple[str, str, str]  # pipeline, model_id, gpu_id


class Stream:
    """One live stream. The hot-path methods are a single integer add each."""

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
        "_win_start",
        "_win_frames_out",
        "_win_frames_in",
        "fps_out",
        "fps_in",
        "windows",
    )

    def __init__(self, stream_id: str, pipeline: str, model_id: str, gpu_id: str, now: float, history: int) -> None:
        self.stream_id = stream_id
        self.pipeline = pipeline
        self.model_id = model_id
        self.gpu_id = gpu_id
        self.frames_out = 0
        self.frames_in = 0
        self.rx_bytes = 0
        self.tx_bytes = 0
        self.errors: dict[str, int] = {}
        self._win_start = now
        self._win_frames_out = 0
        self._win_frames_in = 0
        self.fps_out: float | None = None
        self.fps_in: float | None = None
        self.windows: deque[float] = deque(maxlen=history)

    @property
    def key(self) -> WorkflowKey:
        return (self.pipeline, self.model_id, self.gpu_id)

    # -- hot path ----------------------------------------------------------------------------
    def frame_out(self, n: int = 1) -> None:
        self.frames_out += n

    def frame_in(self, n: int = 1) -> None:
        self.frames_in += n

    def bytes_in(self, n: int) -> None:
        self.rx_bytes += n

    def bytes_out(self, n: int) -> None:
        self.tx_bytes += n

    # -- rarer events --------------------------------------------------------------------------
    def error(self, kind: str = "unknown") -> None:
        if kind not in _FAILURES:
            kind = "unknown"
        self.errors[kind] = self.errors.get(kind, 0) + 1

    def close_window(self, now: float, min_window_s: float) -> None:
        elapsed = now - self._win_start
        if elapsed < min_window_s:
            return  # too short to be a fair window (stream just started): fold into the next one
        out, inp = self.frames_out, self.frames_in
        self.fps_out = (out - self._win_frames_out) / elapsed
        self.fps_in = (inp - self._win_frames_in) / elapsed
        self.windows.append(self.fps_out)
        self._win_start, self._win_frames_out, self._win_frames_in = now, out, inp

    def jitter(self) -> float | None:
        """σ(fps)/μ(fps) over the closed windows (population σ); None until two windows have closed."""
        if len(self.windows) < 2:
            return None
        mean = statistics.fmean(self.windows)
        if mean <= 0:
            return None
        return statistics.pstdev(self.windows, mean) / mean


class _Totals:
    __slots__ = ("frames_out", "frames_in", "rx_bytes", "tx_bytes", "started", "errors")

    def __init__(self) -> None:
        self.frames_out = self.frames_in = self.rx_bytes = self.tx_bytes = self.started = 0
        self.errors: dict[str, int] = {}


class StreamMetrics(Collector):
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
        self._history = max(2, round(jitter_window_s / window_s))
        self._clock = clock
        self._lock = threading.Lock()
        self._streams: dict[str, Stream] = {}
        self._retired: dict[WorkflowKey, _Totals] = {}
        self._ticker: threading.Thread | None = None
        self._stop = threading.Event()

    # -- stream lifecycle ------------------------------------------------------------------------
    def start_stream(self, stream_id: str, pipeline: str, model_id: str, gpu_id: str = "") -> Stream:
        with self._lock:
            old = self._streams.pop(stream_id, None)
            if old is not None:
                self._retire(old)
            s = Stream(stream_id, pipeline, model_id, gpu_id, self._clock(), self._history)
            self._streams[stream_id] = s
            self._totals(s.key).started += 1
            return s

    def end_stream(self, stream_id: str) -> None:
        with self._lock:
            s = self._streams.pop(stream_id, None)
            if s is not None:
                self._retire(s)

    def stream(self, stream_id: str) -> Stream | None:
        return self._streams.get(stream_id)

    def streams(self) -> list[Stream]:
        with self._lock:
            return list(self._streams.values())

    def _totals(self, key: WorkflowKey) -> _Totals:
        t = self._retired.get(key)
        if t is None:
            t = self._retired[key] = _Totals()
        return t

    def _retire(self, s: Stream) -> None:
        t = self._totals(s.key)
        t.frames_out += s.frames_out
        t.frames_in += s.frames_in
        t.rx_bytes += s.rx_bytes
        t.tx_bytes += s.tx_bytes
        for k, v in s.errors.items():
            t.errors[k] = t.errors.get(k, 0) + v

    # -- windows ---------------------------------------------------------------------------------
    def tick(self, now: float | None = None) -> None:
        now = self._clock() if now is None else now
        for s in self.streams():
            s.close_window(now, self.window_s / 2)

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

    # -- exposition ------------------------------------------------------------------------------
    def collect(self) -> Iterator[Metric]:
        stream_labels = ["stream_id", "pipeline", "model_id", "gpu_id"]
        wf_labels = ["pipeline", "model_id", "gpu_id"]
        out_fps = GaugeMetricFamily(
            "naap_stream_output_fps", "Frames produced per second by the stream over the last closed 5 s window.", labels=stream_labels
        )
        in_fps = GaugeMetricFamily(
            "naap_stream_input_fps", "Frames received per second by the stream over the last closed 5 s window.", labels=stream_labels
        )
        jitter = GaugeMetricFamily(
            "naap_stream_jitter_ratio",
            "Jitter coefficient: population σ(fps)/μ(fps) of the 5 s output-FPS windows of the trailing 60 s.",
            labels=stream_labels,
        )
        active = GaugeMetricFamily("naap_streams_active", "Live streams.", labels=wf_labels)
        frames_out = CounterMetricFamily("naap_frames_out", "Frames produced.", labels=wf_labels)
        frames_in = CounterMetricFamily("naap_frames_in", "Frames received.", labels=wf_labels)
        rx = CounterMetricFamily("naap_stream_receive_bytes", "Stream bytes received (download).", labels=wf_labels)
        tx = CounterMetricFamily("naap_stream_transmit_bytes", "Stream bytes sent (upload).", labels=wf_labels)
        started = CounterMetricFamily("naap_streams_started", "Streams started.", labels=wf_labels)
        errors = CounterMetricFamily(
            "naap_stream_errors", "Stream errors by failure class.", labels=wf_labels + ["error_class"]
        )

        with self._lock:
            live = list(self._streams.values())
            totals: dict[WorkflowKey, list] = {}
            for key, t in self._retired.items():
                totals[key] = [t.frames_out, t.frames_in, t.rx_bytes, t.tx_bytes, t.started, dict(t.errors), 0]
        for s in live:
            agg = totals.setdefault(s.key, [0, 0, 0, 0, 0, {}, 0])
            agg[0] += s.frames_out
            agg[1] += s.frames_in
            agg[2] += s.rx_bytes
            agg[3] += s.tx_bytes
            for k, v in s.errors.items():
                agg[5][k] = agg[5].get(k, 0) + v
            agg[6] += 1
            lv = [s.stream_id, s.pipeline, s.model_id, s.gpu_id]
            if s.fps_out is not None:
                out_fps.add_metric(lv, s.fps_out)
                in_fps.add_metric(lv, s.fps_in or 0.0)
            j = s.jitter()
            if j is not None:
                jitter.add_metric(lv, j)
        for key in sorted(totals):
            fo, fi, rxb, txb, st, errs, n_live = totals[key]
            lv = list(key)
            active.add_metric(lv, n_live)
            frames_out.add_metric(lv, fo)
            frames_in.add_metric(lv, fi)
            rx.add_metric(lv, rxb)
            tx.add_metric(lv, txb)
            started.add_metric(lv, st)
            for k in sorted(errs):
                errors.add_metric(lv + [k], errs[k])
        yield from (out_fps, in_fps, jitter, active, frames_out, frames_in, rx, tx, started, errors)

    def load_by_gpu(self, per_stream_load: float) -> Callable[[str], float]:
        """A load function for the simulated GPU source: live streams on the GPU × per-stream load."""

        def load(gpu_id: str) -> float:
            return per_stream_load * sum(1 for s in self.streams() if s.gpu_id == gpu_id)

        return load
