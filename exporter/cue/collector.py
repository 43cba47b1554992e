"""CUE per GPU: `naap_gpu_cue_ratio{gpu_id, method, confidence}` and the figures it is made of.

method="dcgm" (confidence high) when DCGM profiling is there for the GPU: achieved FLOP/s is each pipe's
activity times that pipe's peak — tensor x FP16-tensor peak + FP32 pipe x FP32 peak + FP64 pipe x FP64
peak + FP16 (non-tensor) pipe x FP32 peak (an under-estimate on GPUs with double-rate FP16, a small term for
diffusion models, which run on tensor cores) — over the FP16-tensor peak. When the GPU model is not in the
peak table the ratio falls back to tensor-pipe activity alone (confidence medium).

method="proxy" otherwise: achieved FLOP/s = sum over the GPU's live streams of last-window output FPS x
FLOPs per frame of the stream's model (model_flops.yaml or the operator's figure), over the FP16-tensor
peak. Confidence medium when every stream's model has a sourced estimate, low when any estimate is ours by
scaling or some stream's model has none (those streams are left out). No peak for the GPU model: no proxy.
"""

from __future__ import annotations

import logging
from typing import Iterator

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from exporter.cue.tables import CueTables
from exporter.gpu.collector import GpuCollector
from exporter.streams.sdk import StreamMetrics

log = logging.getLogger(__name__)


class CueCollector(Collector):
    def __init__(self, gpus: GpuCollector, streams: StreamMetrics, tables: CueTables) -> None:
        self.gpus = gpus
        self.streams = streams
        self.tables = tables
        self._warned: set[str] = set()

    def _once(self, key: str, msg: str, *args: object) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.info(msg, *args)

    def compute(self) -> list[tuple[str, str, str, float, float | None, float | None]]:
        """(gpu_id, method, confidence, cue, achieved FLOP/s or None, peak FLOP/s or None) per GPU."""
        out = []
        readings = self.gpus.poller.readings
        prof = self.gpus.profiling()
        by_gpu = self.streams.output_by_gpu() if readings else {}
        for r in readings:
            peak = self.tables.peak(r.name)
            if peak is None:
                self._once(r.name, "GPU model %r is not in the peak-FLOPS table: CUE is tensor-pipe activity only "
                           "with DCGM, absent without", r.name)  # fmt: skip
            p = prof.get(r.uuid)
            if p and "tensor_active" in p:
                if peak is None:
                    out.append((r.uuid, "dcgm", "medium", min(1.0, p["tensor_active"]), None, None))
                    continue
                achieved = (
                    p["tensor_active"] * peak.fp16_tensor
                    + p.get("fp32_active", 0.0) * peak.fp32
                    + p.get("fp64_active", 0.0) * peak.fp64
                    + p.get("fp16_active", 0.0) * peak.fp32
                )
                out.append((r.uuid, "dcgm", "high", min(1.0, achieved / peak.fp16_tensor), achieved, peak.fp16_tensor))
                continue
            if peak is None:
                continue
            achieved, confidence = 0.0, "medium"
            for _pipeline, model_id, fps in by_gpu.get(r.uuid, []) + by_gpu.get(str(r.index), []):
                entry = self.tables.flops_per_frame(model_id)
                if entry is None:
                    self._once(f"model:{model_id}", "no FLOPs-per-frame estimate for model %r: its streams are left "
                               "out of the proxy CUE (set cue.model_flops)", model_id)  # fmt: skip
                    confidence = "low"
                    continue
                if entry.confidence == "low":
                    confidence = "low"
                achieved += fps * entry.flops_per_frame
            out.append((r.uuid, "proxy", confidence, min(1.0, achieved / peak.fp16_tensor), achieved, peak.fp16_tensor))
        return out

    def collect(self) -> Iterator[Metric]:
        rows = self.compute()
        if not rows:
            return
        cue = GaugeMetricFamily(
            "naap_gpu_cue_ratio",
            "CUDA Utilization Efficiency: achieved / peak dense FP16-tensor FLOP/s. method=dcgm (pipe activity) "
            "or proxy (output FPS x model FLOPs per frame); confidence high|medium|low.",
            labels=["gpu_id", "method", "confidence"],
        )
        achieved = GaugeMetricFamily(
            "naap_gpu_achieved_flops", "Achieved FLOP/s behind the CUE figure, by method.", labels=["gpu_id", "method"]
        )
        peak = GaugeMetricFamily(
            "naap_gpu_peak_flops",
            "Peak dense FLOP/s of the GPU model from the shipped table (the CUE denominator), by precision.",
            labels=["gpu_id", "precision"],
        )
        for gpu_id, method, confidence, ratio, ach, pk in rows:
            cue.add_metric([gpu_id, method, confidence], ratio)
            if ach is not None:
                achieved.add_metric([gpu_id, method], ach)
            if pk is not None:
                peak.add_metric([gpu_id, "fp16_tensor"], pk)
        yield cue
        if achieved.samples:
            yield achieved
        if peak.samples:
            yield peak
