"""`naap bench exporter`: what a scrape and a frame cost, beside prometheus-client's own in the same run.

Render: an Exporter in simulate mode with `gpus` GPUs and `streams` live streams whose 12 windows are full
(so FPS, jitter, CUE and every histogram are in the page), rendered `rounds` times; the baseline is
prometheus-client rendering the same samples from its own Gauge objects (same names, labels, values) —
what a bare prometheus-client exporter with this page would cost. SDK: one `Stream.frame_out()` beside one
`Counter.inc()` on a labelled child, both timed with timeit in this process. Machines are noisy: read the
ratios, and run it twice.
"""

from __future__ import annotations

import gzip
import platform
import statistics
import time
import timeit
from importlib.metadata import version

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.openmetrics.exposition import CONTENT_TYPE_LATEST as OPENMETRICS
from prometheus_client.parser import text_string_to_metric_families

from exporter.config import ExporterConfig
from exporter.server import Exporter
from exporter.simulate import SIMULATED_WORKFLOWS


class _Clock:
    def __init__(self) -> None:
        self.t = 1_000.0

    def __call__(self) -> float:
        return self.t


def build_exporter(gpus: int, streams: int) -> Exporter:
    cfg = ExporterConfig(simulate=True, gpus=gpus, streams=0, port=0, gpu_model="H100", seed=7)
    x = Exporter(cfg)
    clock = _Clock()
    x.streams._clock = clock
    uuids = x.gpu_poller.source.uuids  # type: ignore[union-attr]
    live = []
    for i in range(streams):
        pipeline, model_id, fps = SIMULATED_WORKFLOWS[i % len(SIMULATED_WORKFLOWS)]
        s = x.streams.start_stream(f"bench-{i:04d}", pipeline, model_id, uuids[i % len(uuids)], warm=i >= gpus)
        live.append((s, fps))
    for w in range(12):  # a full minute of windows: FPS, jitter and startup histograms all populated
        for j, (s, fps) in enumerate(live):
            n = int(fps * 5) + (w + j) % 7
            s.frame_in(n)
            s.frame_out(n)
            s.bytes_in(n * 24_000)
            s.bytes_out(n * 30_000)
            if w == 6 and j % 4 == 0:
                s.params_update()
        clock.t += 5.0
        x.streams.tick()
    x.refresh()
    return x


def bare_registry(text: str) -> CollectorRegistry:
    """The same samples held by prometheus-client's own Gauge objects."""
    reg = CollectorRegistry(auto_describe=False)
    gauges: dict[tuple[str, tuple[str, ...]], Gauge] = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            names = tuple(sorted(s.labels))
            g = gauges.get((s.name, names))
            if g is None:
                g = gauges[(s.name, names)] = Gauge(s.name, fam.documentation or "bare", names, registry=reg)
            (g.labels(**s.labels) if names else g).set(s.value)
    return reg


def _time_render(fn, rounds: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    fn()  # warm
    samples = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    samples.sort()
    return statistics.median(samples), samples[int(0.95 * (len(samples) - 1))]


def _per_call_ns(stmt, number: int) -> float:  # type: ignore[no-untyped-def]
    return min(timeit.repeat(stmt, number=number, repeat=5)) / number * 1e9


def run_benchmark(gpus: int = 8, streams: int = 64, rounds: int = 200) -> list[str]:
    x = build_exporter(gpus, streams)
    text, _ = x.render(None)
    om, _ = x.render(OPENMETRICS)
    bare = bare_registry(text.decode())
    n_samples = sum(len(f.samples) for f in text_string_to_metric_families(text.decode()))
    out = [
        f"naap bench exporter: {gpus} GPUs, {streams} active streams, {n_samples} samples, "
        f"{len(text)} bytes text / {len(gzip.compress(text, 1))} gzipped; Python {platform.python_version()}, "
        f"prometheus-client {version('prometheus-client')}",
    ]
    ours_med, ours_p95 = _time_render(lambda: x.render(None), rounds)
    base_med, base_p95 = _time_render(lambda: generate_latest(bare), rounds)
    out.append(
        f"render /metrics text        : median {ours_med * 1e3:.3f} ms  p95 {ours_p95 * 1e3:.3f} ms | "
        f"prometheus-client bare render of the same samples: median {base_med * 1e3:.3f} ms  p95 {base_p95 * 1e3:.3f} ms"
        f" | ratio {ours_med / base_med:.2f}x | goal <= 2 ms: {'met' if ours_med <= 0.002 else 'NOT met'}"
    )
    om_med, om_p95 = _time_render(lambda: x.render(OPENMETRICS), rounds)
    out.append(f"render /metrics OpenMetrics : median {om_med * 1e3:.3f} ms  p95 {om_p95 * 1e3:.3f} ms ({len(om)} bytes)")

    s = x.streams.streams()[0]
    c = Counter("bench_frames", "bare counter", ["stream_id"], registry=CollectorRegistry()).labels(stream_id="s")
    number = 1_000_000
    sdk_ns = _per_call_ns(s.frame_out, number)
    inc_ns = _per_call_ns(c.inc, number)
    out.append(
        f"SDK Stream.frame_out()      : {sdk_ns:.1f} ns/call | prometheus-client Counter.inc(): {inc_ns:.1f} ns/call"
        f" | ratio {sdk_ns / inc_ns:.2f}x | goal <= 1 µs: {'met' if sdk_ns <= 1000 else 'NOT met'}"
    )
    x.stop()
    return out
