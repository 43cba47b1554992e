"""Catalog metrics of the hardware: CUE, the GPU gauges (NVML) and energy, the host (CPU, memory, disk, network).
Definitions, units and what an orchestrator must run for each: docs/metrics.md."""

from __future__ import annotations

from typing import Any

from scoring.catalog.counters import increases
from scoring.catalog.dims import GPU, ORCH
from scoring.catalog.gauges import GaugeSpec, gauge_rows
from scoring.catalog.result import Context, MetricResult, base, dims_of, grouped, ratio, step_seconds

CUE = "naap_gpu_cue_ratio"
ENERGY = "naap_gpu_energy_joules_total"
# field -> series; units in the names (ratio, bytes, watts, celsius, hertz).
GPU_GAUGES = {
    "utilization_ratio": "naap_gpu_utilization_ratio",
    "memory_utilization_ratio": "naap_gpu_memory_utilization_ratio",
    "memory_used_bytes": "naap_gpu_memory_used_bytes",
    "memory_total_bytes": "naap_gpu_memory_total_bytes",
    "power_watts": "naap_gpu_power_watts",
    "power_limit_watts": "naap_gpu_power_limit_watts",
    "temperature_celsius": "naap_gpu_temperature_celsius",
    "sm_clock_hertz": "naap_gpu_sm_clock_hertz",
    "memory_clock_hertz": "naap_gpu_memory_clock_hertz",
    "encoder_utilization_ratio": "naap_gpu_encoder_utilization_ratio",
    "decoder_utilization_ratio": "naap_gpu_decoder_utilization_ratio",
}
HOST_GAUGES = {
    "cpus": "naap_host_cpus",
    "load1": "naap_host_load1",
    "memory_total_bytes": "naap_host_memory_total_bytes",
    "memory_available_bytes": "naap_host_memory_available_bytes",
}
FILESYSTEM = {"size_bytes": "naap_host_filesystem_size_bytes", "avail_bytes": "naap_host_filesystem_avail_bytes"}
HOST_CPU = "naap_host_cpu_seconds_total"
HOST_RATES = {
    "disk_read_bytes_per_second": "naap_host_disk_read_bytes_total",
    "disk_written_bytes_per_second": "naap_host_disk_written_bytes_total",
    "network_receive_bytes_per_second": "naap_host_network_receive_bytes_total",
    "network_transmit_bytes_per_second": "naap_host_network_transmit_bytes_total",
}
# CPU modes that are not work: the node_exporter convention (busy = every other mode, steal included).
IDLE_MODES = ("idle", "iowait")


def _stats(g: dict[str, Any]) -> dict[str, Any]:
    return {"samples": g["n"], "avg": g["sum"] / g["n"], "min": g["min"], "max": g["max"]}


def _instance(ctx: Context) -> tuple[str, ...]:
    # GPU series are always split by MIG instance ("" = the whole GPU): a slice's memory is not the GPU's.
    return () if "gpu_instance" in ctx.q.by else ("gpu_instance",)


def cue(ctx: Context) -> MetricResult:
    """CUDA utilisation efficiency (naap_gpu_cue_ratio: achieved / peak FLOP/s), always split by ``method`` (dcgm |
    proxy) and ``confidence`` (high | medium | low) so that estimates of different quality are never averaged
    together: ``samples``, ``avg``, ``min``, ``max`` (a ratio)."""
    extra = (*_instance(ctx), "method", "confidence")
    res = MetricResult("cue", "ratio", ctx.src.name, (CUE,))
    for g in gauge_rows(ctx.wh, ctx.q, ctx.src, ctx.lk, GaugeSpec((CUE,), GPU, extra)):
        row = base(ctx, g["step"], dims_of(g, ctx, GPU, extra))
        row.update(_stats(g))
        res.rows.append(row)
    return res


def gpu(ctx: Context) -> MetricResult:
    """Per GPU (and MIG instance): each NVML gauge of `GPU_GAUGES` as {samples, avg, min, max} in the unit its name
    says, and ``energy``: joules = increase(naap_gpu_energy_joules_total), avg_watts = joules / step seconds."""
    extra = _instance(ctx)
    by_name = {v: k for k, v in GPU_GAUGES.items()}
    rows: dict[tuple, dict[str, Any]] = {}
    for g in gauge_rows(ctx.wh, ctx.q, ctx.src, ctx.lk, GaugeSpec(tuple(GPU_GAUGES.values()), GPU, extra)):
        key = (g["step"], *dims_of(g, ctx, GPU, extra).values())
        row = rows.setdefault(key, base(ctx, g["step"], dims_of(g, ctx, GPU, extra)))
        row[by_name[g["metric"]]] = _stats(g)
    values, src = increases(ctx.wh, ctx.q, ctx.src, ctx.lk, (ENERGY,), GPU)
    for key, g in grouped(ctx, GPU, values, extra).items():
        row = rows.setdefault(key, base(ctx, g["step"], dims_of(g, ctx, GPU, extra)))
        joules = g["value"] if g["series"] > g["missing"] else None
        row["energy"] = {"joules": joules, "avg_watts": None if joules is None else joules / step_seconds(ctx, g["step"]),
                         "samples": g["n"]}  # fmt: skip
    source = ctx.src.name if src.name == ctx.src.name else f"{ctx.src.name} (energy: {src.name})"
    res = MetricResult("gpu", "see field names", source, (*GPU_GAUGES.values(), ENERGY))
    res.rows = [rows[k] for k in sorted(rows)]
    return res


def host(ctx: Context) -> MetricResult:
    """Per orchestrator (and instance's host, summed): `HOST_GAUGES` as {samples, avg, min, max}; ``filesystems``
    {mountpoint: {size_bytes, avail_bytes}}; ``cpu_busy_ratio`` = Σ increase(naap_host_cpu_seconds_total{mode not
    idle/iowait}) / Σ increase(all modes); `HOST_RATES` in bytes/s (increase / step seconds)."""
    rows: dict[tuple, dict[str, Any]] = {}

    def row_for(g: dict[str, Any]) -> dict[str, Any]:
        key = (g["step"], *dims_of(g, ctx, ORCH).values())
        return rows.setdefault(key, base(ctx, g["step"], dims_of(g, ctx, ORCH)))

    by_name = {v: k for k, v in HOST_GAUGES.items()}
    for g in gauge_rows(ctx.wh, ctx.q, ctx.src, ctx.lk, GaugeSpec(tuple(HOST_GAUGES.values()), ORCH)):
        row_for(g)[by_name[g["metric"]]] = _stats(g)
    fs_name = {v: k for k, v in FILESYSTEM.items()}
    for g in gauge_rows(ctx.wh, ctx.q, ctx.src, ctx.lk, GaugeSpec(tuple(FILESYSTEM.values()), ORCH, ("mountpoint",))):
        row_for(g).setdefault("filesystems", {}).setdefault(g["mountpoint"], {})[fs_name[g["metric"]]] = _stats(g)
    values, src = increases(ctx.wh, ctx.q, ctx.src, ctx.lk, (HOST_CPU, *HOST_RATES.values()), ORCH)
    cpu = grouped(ctx, ORCH, [v for v in values if v.metric == HOST_CPU], ("mode",))
    busy: dict[tuple, list[Any]] = {}
    for key, g in cpu.items():
        b = busy.setdefault(key[:-1], [0.0, 0.0, g])
        b[1] += g["value"] or 0.0
        if g["mode"] not in IDLE_MODES:
            b[0] += g["value"] or 0.0
    for work, total, g in busy.values():
        row_for(g)["cpu_busy_ratio"] = ratio(work, total)
    for field, metric in HOST_RATES.items():
        for key, g in grouped(ctx, ORCH, [v for v in values if v.metric == metric]).items():
            row_for(g)[field] = g["value"] / step_seconds(ctx, g["step"]) if g["series"] > g["missing"] else None
    source = ctx.src.name if src.name == ctx.src.name else f"{ctx.src.name} (counters: {src.name})"
    res = MetricResult("host", "see field names", source, (*HOST_GAUGES.values(), *FILESYSTEM.values(), HOST_CPU,
                                                            *HOST_RATES.values()))  # fmt: skip
    res.rows = [rows[k] for k in sorted(rows)]
    return res
