"""The stream-metrics SDK: what an AI runner, a pytrickle frame processor or a BYOC container calls.

    sdk = StreamMetrics()                       # in-process: the exporter serves it at /metrics
    s = sdk.start_stream("stream-1", "live-video-to-video", "streamdiffusion-sdxl", gpu_id=uuid, warm=True)
    s.frame_in(); s.frame_out(); s.bytes_in(n); s.bytes_out(n)     # hot path: an integer add each
    s.params_update()                           # prompt changed: next frame_out closes prompt-to-first-frame
    s.restart("model_error"); s.error("timeout")
    sdk.end_stream("stream-1")

A runner in its own container uses `exporter.streams.push.PushClient` instead: the same calls, pushed to the
local exporter over loopback. A ticker closes a window every `window_s` (5 s) and turns the counts into
per-stream FPS, and the jitter coefficient σ(fps)/μ(fps) over the windows of the trailing
`jitter_window_s` (60 s). Series of ended streams disappear (their counts fold into the per-workflow
totals), so cardinality follows the live streams.
"""

from __future__ import annotations

import bisect
import time
from typing import Callable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from exporter.streams.core import (
    EVENT_PARAMS,
    EVENT_STARTUP,
    FAILURE_CLASSES,
    STARTUP_KINDS,
    Stream,
    StreamTable,
    WorkflowKey,
    failure_class,
)

__all__ = ["FAILURE_CLASSES", "STARTUP_KINDS", "Stream", "StreamMetrics"]

STARTUP_BUCKETS = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0)
PARAMS_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)


class _Histogram:
    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # last slot: above every bound
        self.sum = 0.0

    def observe(self, v: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, v)] += 1
        self.sum += v

    def buckets(self) -> list[tuple[str, float]]:
        out, acc = [], 0
        for bound, n in zip(self.bounds, self.counts):
            acc += n
            out.append((_fmt(bound), float(acc)))
        out.append(("+Inf", float(acc + self.counts[-1])))
        return out


def _fmt(v: float) -> str:
    return repr(float(v))


class _Totals:
    __slots__ = ("frames_out", "frames_in", "rx_bytes", "tx_bytes", "started", "errors", "restarts")

    def __init__(self) -> None:
        self.frames_out = self.frames_in = self.rx_bytes = self.tx_bytes = self.started = 0
        self.errors: dict[str, int] = {}
        self.restarts: dict[str, int] = {}


class StreamMetrics(StreamTable, Collector):
    """The in-process SDK and the exporter's stream collector in one: start streams, count frames, and let
    the exporter's registry collect the `naap_stream*` families from it."""

    def __init__(
        self,
        window_s: float = 5.0,
        jitter_window_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(window_s=window_s, jitter_window_s=jitter_window_s, clock=clock)
        self._totals: dict[WorkflowKey, _Totals] = {}
        self._startup: dict[tuple[WorkflowKey, str], _Histogram] = {}
        self._params: dict[WorkflowKey, _Histogram] = {}

    # -- totals and events -------------------------------------------------------------------------
    def _total(self, key: WorkflowKey) -> _Totals:
        t = self._totals.get(key)
        if t is None:
            t = self._totals[key] = _Totals()
        return t

    def _started(self, s: Stream) -> None:
        self._total(s.key).started += 1

    def _retire(self, s: Stream) -> None:
        t = self._total(s.key)
        t.frames_out += s.frames_out
        t.frames_in += s.frames_in
        t.rx_bytes += s.rx_bytes
        t.tx_bytes += s.tx_bytes
        for k, v in dict(s.errors).items():  # copied in C: the runner may add a key meanwhile
            t.errors[k] = t.errors.get(k, 0) + v
        for k, v in dict(s.restarts).items():
            t.restarts[k] = t.restarts.get(k, 0) + v

    def _event(self, s: Stream, kind: str, label: str, seconds: float) -> None:
        self.observe(s.key, kind, label, seconds)

    def observe(self, key: WorkflowKey, kind: str, label: str, seconds: float) -> None:
        """Record a first-frame event (startup or params) for a workflow; pushes from runners land here."""
        with self._lock:
            if kind == EVENT_STARTUP:
                label = label if label in STARTUP_KINDS else "unknown"
                h = self._startup.get((key, label))
                if h is None:
                    h = self._startup[(key, label)] = _Histogram(STARTUP_BUCKETS)
            elif kind == EVENT_PARAMS:
                h = self._params.get(key)
                if h is None:
                    h = self._params[key] = _Histogram(PARAMS_BUCKETS)
            else:
                return
            h.observe(seconds)

    def start_remote_stream(self, stream_id: str, pipeline: str, model_id: str, gpu_id: str) -> Stream:
        """A stream whose runner pushes its counts and windows (see exporter.streams.ingest)."""
        now = self._clock()
        with self._lock:
            old = self._streams.pop(stream_id, None)
            if old is not None:
                self._retire(old)
            s = Stream(self, stream_id, pipeline, model_id, gpu_id, now, self.history, remote=True)
            self._streams[stream_id] = s
            self._started(s)
            return s

    def error_count(self, key: WorkflowKey, kind: str, n: int = 1) -> None:
        """Count an error that belongs to no live stream any more (e.g. a runner that stopped pushing)."""
        with self._lock:
            t = self._total(key)
            kind = failure_class(kind)
            t.errors[kind] = t.errors.get(kind, 0) + n

    # -- exposition ------------------------------------------------------------------------------
    def collect(self) -> Iterator[Metric]:
        stream_labels = ["stream_id", "pipeline", "model_id", "gpu_id"]
        wf = ["pipeline", "model_id", "gpu_id"]
        out_fps = GaugeMetricFamily(
            "naap_stream_output_fps",
            "Frames produced per second by the stream over the last closed 5 s window.",
            labels=stream_labels,
        )
        in_fps = GaugeMetricFamily(
            "naap_stream_input_fps",
            "Frames received per second by the stream over the last closed 5 s window.",
            labels=stream_labels,
        )
        jitter = GaugeMetricFamily(
            "naap_stream_jitter_ratio",
            "Jitter coefficient: population σ(fps)/μ(fps) of the 5 s output-FPS windows of the trailing 60 s.",
            labels=stream_labels,
        )
        active = GaugeMetricFamily("naap_streams_active", "Live streams per GPU and workflow.", labels=wf)
        started = CounterMetricFamily("naap_streams_started", "Streams started.", labels=wf)
        frames_out = CounterMetricFamily("naap_frames_out", "Frames produced.", labels=wf)
        frames_in = CounterMetricFamily("naap_frames_in", "Frames received.", labels=wf)
        rx = CounterMetricFamily("naap_stream_receive_bytes", "Stream bytes received (download).", labels=wf)
        tx = CounterMetricFamily("naap_stream_transmit_bytes", "Stream bytes sent (upload).", labels=wf)
        errors = CounterMetricFamily(
            "naap_stream_errors", "Failed inference requests by failure class.", labels=wf + ["error_class"]
        )
        restarts = CounterMetricFamily(
            "naap_stream_restarts", "Pipeline restarts inside live streams, by reason.", labels=wf + ["reason"]
        )
        startup = HistogramMetricFamily(
            "naap_stream_startup_seconds",
            "Request (or restart) until the first output frame, as the runner sees it; startup=cold|warm|unknown|restart.",
            labels=wf + ["startup"],
        )
        params = HistogramMetricFamily(
            "naap_stream_prompt_to_first_frame_seconds",
            "Params update (e.g. a new prompt) until the first frame produced with it, as the runner sees it.",
            labels=wf,
        )

        with self._lock:
            live = list(self._streams.values())
            totals: dict[WorkflowKey, list] = {}
            for key, t in self._totals.items():
                totals[key] = [t.frames_out, t.frames_in, t.rx_bytes, t.tx_bytes, t.started, dict(t.errors), dict(t.restarts), 0]
            startup_h = [(k, lab, h.buckets(), h.sum) for (k, lab), h in sorted(self._startup.items())]
            params_h = [(k, h.buckets(), h.sum) for k, h in sorted(self._params.items())]
        for s in live:
            agg = totals.setdefault(s.key, [0, 0, 0, 0, 0, {}, {}, 0])
            agg[0] += s.frames_out
            agg[1] += s.frames_in
            agg[2] += s.rx_bytes
            agg[3] += s.tx_bytes
            for k, v in dict(s.errors).items():  # copied in C: the runner may add a key meanwhile
                agg[5][k] = agg[5].get(k, 0) + v
            for k, v in dict(s.restarts).items():
                agg[6][k] = agg[6].get(k, 0) + v
            agg[7] += 1
            lv = [s.stream_id, s.pipeline, s.model_id, s.gpu_id]
            fo = s.fps_out
            if fo is not None:
                out_fps.add_metric(lv, fo)
                in_fps.add_metric(lv, s.fps_in or 0.0)
            j = s.jitter_ratio
            if j is not None:
                jitter.add_metric(lv, j)
        for key in sorted(totals):
            fo, fi, rxb, txb, st, errs, rst, n_live = totals[key]
            lv = list(key)
            active.add_metric(lv, n_live)
            started.add_metric(lv, st)
            frames_out.add_metric(lv, fo)
            frames_in.add_metric(lv, fi)
            rx.add_metric(lv, rxb)
            tx.add_metric(lv, txb)
            for k in sorted(errs):
                errors.add_metric(lv + [k], errs[k])
            for k in sorted(rst):
                restarts.add_metric(lv + [k], rst[k])
        for key, lab, buckets, total in startup_h:
            startup.add_metric([*key, lab], buckets, total)
        for key, buckets, total in params_h:
            params.add_metric(list(key), buckets, total)
        yield from (out_fps, in_fps, jitter, active, started, frames_out, frames_in, rx, tx, errors, restarts,
                    startup, params)  # fmt: skip

    # -- helpers for other collectors ------------------------------------------------------------------
    def load_by_gpu(self, per_stream_load: float) -> Callable[[str], float]:
        """A load function for the simulated GPU source: live streams on the GPU × per-stream load."""

        def load(gpu_id: str) -> float:
            return per_stream_load * sum(1 for s in self.streams() if s.gpu_id == gpu_id)

        return load

    def output_by_gpu(self) -> dict[str, list[tuple[str, str, float]]]:
        """Live streams' last-window output FPS grouped by gpu_id: (pipeline, model_id, fps) each — the proxy
        CUE's input."""
        out: dict[str, list[tuple[str, str, float]]] = {}
        for s in self.streams():
            if s.fps_out is not None:
                out.setdefault(s.gpu_id, []).append((s.pipeline, s.model_id, s.fps_out))
        return out
