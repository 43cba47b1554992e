"""CUE per GPU: `naap_gpu_cue_ratio{gpu_id, gpu_instance, method, confidence}` and the figures it is made of.

method="dcgm" (confidence high) when DCGM profiling is there for the GPU: achieved FLOP/s is each pipe's
activity times that pipe's peak — tensor x FP16-tensor peak + FP32 pipe x FP32 peak + FP64 pipe x FP64
peak + FP16 (non-tensor) pipe x FP32 peak (an under-estimate on GPUs with double-rate FP16, a small term for
diffusion models, which run on tensor cores) — over the FP16-tensor peak. When the GPU model is not in the
peak table the ratio falls back to tensor-pipe activity alone (confidence medium).

method="proxy" otherwise: achieved FLOP/s = sum over the GPU's live streams of last-window output FPS x
FLOPs per frame of the stream's model (model_flops.yaml or the operator's figure), over the FP16-tensor
peak. Confidence medium when every stream's model has a sourced estimate, low when any estimate is ours by
scaling or some stream's model has none (those streams are left out). No peak for the GPU model: no proxy.

Streams name their GPU by `gpu_id`: the GPU's UUID, its NVML index, or a MIG device UUID ("MIG-…", also
CUDA's older "MIG-GPU-<uuid>/<gi>/<ci>"), which the GPU poller maps to the GPU and its GPU instance.

MIG: a GPU instance (gpu_instance != "") has its own CUE. Its peak is the GPU model's peak x the instance's
SMs / the model's SMs (`sms` in the peak table); the proxy needs that share and is left out without it. The
dcgm method's ratio needs no share (DCGM reports a GPU instance's pipe activity for that instance, and the
ratio is the same at any scale), but its achieved and peak FLOP/s are only given when the share is known.
The GPU itself, on a MIG-enabled GPU, gets the proxy of every stream on the GPU (its instances' included)
over the whole GPU's peak.
"""

from __future__ import annotations

import logging
from typing import Iterator

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from exporter.cue.tables import CueTables
from exporter.gpu.collector import GpuCollector
from exporter.gpu.source import GpuKey
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

    def compute(self) -> list[tuple[str, str, str, str, float, float | None, float | None]]:
        """(gpu_id, gpu_instance, method, confidence, cue, achieved FLOP/s or None, peak FLOP/s or None) per GPU
        and MIG GPU instance."""
        out: list[tuple[str, str, str, str, float, float | None, float | None]] = []
        poller = self.gpus.poller
        readings = poller.readings
        if not readings:
            return out
        prof = self.gpus.profiling()
        by_key: dict[GpuKey, list[tuple[str, str, float]]] = {}
        for gpu_id, rows in self.streams.output_by_gpu().items():
            key = poller.resolve(gpu_id)
            if key is not None:
                by_key.setdefault(key, []).extend(rows)
        for r in readings:
            peak = self.tables.peak(r.name)
            if peak is None:
                self._once(r.name, "GPU model %r is not in the peak-FLOPS table: CUE is tensor-pipe activity only "
                           "with DCGM, absent without", r.name)  # fmt: skip
            own = peak
            if r.gpu_instance and peak is not None:
                own = peak.share(r.multiprocessor_count)
                if own is None:
                    self._once(f"share:{r.name}", "MIG instances of %r: no SM count (peak table `sms`, or NVML's for the "
                               "instance): their proxy CUE is left out", r.name)  # fmt: skip
            p = prof.get(r.key)
            if p and "tensor_active" in p:
                if peak is None:
                    out.append((r.uuid, r.gpu_instance, "dcgm", "medium", min(1.0, p["tensor_active"]), None, None))
                    continue
                scale = own or peak  # the ratio is the same at any scale; FLOP/s only with the instance's share
                achieved = (
                    p["tensor_active"] * scale.fp16_tensor
                    + p.get("fp32_active", 0.0) * scale.fp32
                    + p.get("fp64_active", 0.0) * scale.fp64
                    + p.get("fp16_active", 0.0) * scale.fp32
                )
                ratio = min(1.0, achieved / scale.fp16_tensor)
                if own is None:
                    out.append((r.uuid, r.gpu_instance, "dcgm", "high", ratio, None, None))
                else:
                    out.append((r.uuid, r.gpu_instance, "dcgm", "high", ratio, achieved, own.fp16_tensor))
                continue
            if own is None:
                continue
            if r.mig_enabled:  # the whole GPU: its own streams and every instance's
                rows = [row for key, rs in by_key.items() if key[0] == r.uuid for row in rs]
            else:
                rows = by_key.get(r.key, [])
            achieved, confidence = 0.0, "medium"
            for _pipeline, model_id, fps in rows:
                entry = self.tables.flops_per_frame(model_id)
                if entry is None:
                    self._once(f"model:{model_id}", "no FLOPs-per-frame estimate for model %r: its streams are left "
                               "out of the proxy CUE (set cue.model_flops)", model_id)  # fmt: skip
                    confidence = "low"
                    continue
                if entry.confidence == "low":
                    confidence = "low"
                achieved += fps * entry.flops_per_frame
            out.append((r.uuid, r.gpu_instance, "proxy", confidence, min(1.0, achieved / own.fp16_tensor), achieved,
                        own.fp16_tensor))  # fmt: skip
        return out

    def collect(self) -> Iterator[Metric]:
        rows = self.compute()
        if not rows:
            return
        cue = GaugeMetricFamily(
            "naap_gpu_cue_ratio",
            "CUDA Utilization Efficiency: achieved / peak dense FP16-tensor FLOP/s. method=dcgm (pipe activity) "
            "or proxy (output FPS x model FLOPs per frame); confidence high|medium|low.",
            labels=["gpu_id", "gpu_instance", "method", "confidence"],
        )
        achieved = GaugeMetricFamily(
            "naap_gpu_achieved_flops", "Achieved FLOP/s behind the CUE figure, by method.",
            labels=["gpu_id", "gpu_instance", "method"],
        )  # fmt: skip
        peak = GaugeMetricFamily(
            "naap_gpu_peak_flops",
            "Peak dense FLOP/s of the GPU model from the shipped table (the CUE denominator; a MIG instance's share "
            "of it), by precision.",
            labels=["gpu_id", "gpu_instance", "precision"],
        )
        for gpu_id, gi, method, confidence, ratio, ach, pk in rows:
            cue.add_metric([gpu_id, gi, method, confidence], ratio)
            if ach is not None:
                achieved.add_metric([gpu_id, gi, method], ach)
            if pk is not None:
                peak.add_metric([gpu_id, gi, "fp16_tensor"], pk)
        yield cue
        if achieved.samples:
            yield achieved
        if peak.samples:
            yield peak
