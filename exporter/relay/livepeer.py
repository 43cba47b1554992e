"""The go-livepeer relay: scrape the local go-livepeer /metrics and re-expose its AI capacity and
live-pipeline series under the exporter's labels, so capacity rate and missing capacity can be derived
next to the exporter's own stream and GPU families.

Only what go-livepeer said in its last answer is shown: when a read fails (go-livepeer stopped, a timeout, a
bad body) every relayed series disappears at once and `naap_exporter_source_up{source="livepeer"}` is 0; a
go-livepeer that is down when the exporter starts is the same, not a start-up error.

Names are go-livepeer's (monitor/census.go, OpenCensus views under the `livepeer` namespace); counters gain
the `_total` suffix. Labels are rewritten to the exporter's: `model_name` becomes `model_id`, `pipeline` and
`error_code` stay, node and per-stream labels (`node_id`, `node_type`, `orchestrator_uri`, `manifest_id`,
...) are dropped and the values summed over them. Only the families below are relayed; each is capped in
series, label length and value range, because even a local body is input we did not write.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from exporter.sources import HttpPoller, Poller, SourceError


@dataclass(frozen=True)
class Relayed:
    name: str  # go-livepeer's family name (no _total)
    kind: str  # gauge | counter
    labels: tuple[str, ...]  # go-livepeer label names kept, in output order
    help: str


RELAYED: tuple[Relayed, ...] = (
    Relayed("livepeer_ai_container_in_use", "gauge", ("pipeline", "model_name"),
            "go-livepeer: AI runner containers currently in use, per pipeline and model."),
    Relayed("livepeer_ai_container_idle", "gauge", ("pipeline", "model_name"),
            "go-livepeer: AI runner containers available (idle), per pipeline and model."),
    Relayed("livepeer_ai_gpus_idle", "gauge", ("pipeline", "model_name"),
            "go-livepeer: GPUs with no container configured, per pipeline and model."),
    Relayed("livepeer_ai_current_live_pipelines", "gauge", ("pipeline",),
            "go-livepeer: live AI pipelines currently running, per pipeline."),
    Relayed("livepeer_orchestrator_swaps", "counter", (),
            "go-livepeer: orchestrator swaps mid-stream (summed over streams)."),
    Relayed("livepeer_ai_request_errors", "counter", ("error_code", "pipeline", "model_name"),
            "go-livepeer: errors while processing AI requests, per error code, pipeline and model."),
    Relayed("livepeer_versions", "gauge", ("livepeerversion",), "go-livepeer: the node's version (value 1)."),
)  # fmt: skip
_BY_NAME = {r.name: r for r in RELAYED}
RENAME = {"model_name": "model_id", "livepeerversion": "version"}
MAX_SERIES_PER_FAMILY = 256
MAX_LABEL_LEN = 128

Snapshot = dict[str, dict[tuple[str, ...], float]]


def parse_livepeer(text: str) -> tuple[Snapshot, int]:
    """The relayed families of a go-livepeer exposition, aggregated over dropped labels; and how many
    samples were refused (bad value, over-long label, over the series cap). SourceError when the text is not
    an exposition, or is one without a single `livepeer_*` family (the URL is not go-livepeer's -monitor
    /metrics: relaying nothing from it must not read as a healthy relay)."""
    snap: Snapshot = {}
    refused = 0
    try:
        families = list(text_string_to_metric_families(text))
    except ValueError as e:
        raise SourceError(f"not a Prometheus exposition ({e})") from None
    if not any(fam.name.startswith("livepeer_") for fam in families):
        raise SourceError("no livepeer_* families: is this go-livepeer's /metrics (started with -monitor)?")
    for fam in families:
        name = fam.name[:-6] if fam.name.endswith("_total") else fam.name
        spec = _BY_NAME.get(name)
        if spec is None:
            continue
        series = snap.setdefault(name, {})
        for s in fam.samples:
            if s.name not in (name, name + "_total"):
                continue  # _created and the like
            key = tuple(s.labels.get(k, "") for k in spec.labels)
            if not math.isfinite(s.value) or s.value < 0 or any(len(v) > MAX_LABEL_LEN for v in key):
                refused += 1
                continue
            if key not in series and len(series) >= MAX_SERIES_PER_FAMILY:
                refused += 1
                continue
            series[key] = series.get(key, 0.0) + s.value
    return snap, refused


class LivepeerRelay(HttpPoller):
    name = "livepeer"

    def __init__(self, url: str, interval_s: float = 15.0, timeout_s: float = 5.0, max_bytes: int = 16 << 20) -> None:
        super().__init__(url, interval_s, timeout_s, max_bytes)
        self.snapshot: Snapshot = {}
        self.refused_samples = 0

    async def poll_async(self) -> None:
        text = await self.fetch()
        try:
            snap, refused = parse_livepeer(text)
        except SourceError as e:
            raise SourceError(f"{self.url}: {e}") from None
        self.refused_samples += refused
        self.snapshot = snap

    def drop(self) -> None:
        self.snapshot = {}


class SimulatedLivepeer(Poller):
    """Capacity gauges as a go-livepeer beside the simulated runner would report them (simulate mode)."""

    name = "livepeer-simulated"

    def __init__(self, streams: object, gpus: int, interval_s: float = 5.0) -> None:
        super().__init__(interval_s)
        self._streams = streams
        self._slots = max(1, gpus) * 4  # containers the simulated orchestrator offers
        self.snapshot: Snapshot = {}
        self._swaps = 0.0

    def poll(self) -> None:
        in_use: dict[tuple[str, str], float] = {}
        for s in self._streams.streams():  # type: ignore[attr-defined]
            in_use[(s.pipeline, s.model_id)] = in_use.get((s.pipeline, s.model_id), 0.0) + 1
        total = sum(in_use.values())
        idle = max(0.0, self._slots - total)
        per_pipeline: dict[tuple[str], float] = {}
        for (pipeline, _), n in in_use.items():
            per_pipeline[(pipeline,)] = per_pipeline.get((pipeline,), 0.0) + n
        models = sorted(in_use) or [("live-video-to-video", "streamdiffusion")]
        self.snapshot = {
            "livepeer_ai_container_in_use": dict(in_use),
            "livepeer_ai_container_idle": {models[0]: idle},
            "livepeer_ai_current_live_pipelines": per_pipeline,
            "livepeer_orchestrator_swaps": {(): self._swaps},
            "livepeer_versions": {("0.8.0-simulated",): 1.0},
        }

    def drop(self) -> None:
        self.snapshot = {}


class RelayCollector(Collector):
    def __init__(self, source: LivepeerRelay | SimulatedLivepeer) -> None:
        self.source = source

    def collect(self) -> Iterator[Metric]:
        snap = self.source.snapshot
        for spec in RELAYED:
            series = snap.get(spec.name)
            if not series:
                continue
            labels = [RENAME.get(k, k) for k in spec.labels]
            fam = (CounterMetricFamily if spec.kind == "counter" else GaugeMetricFamily)(spec.name, spec.help, labels=labels)
            for key in sorted(series):
                fam.add_metric(list(key), series[key])
            yield fam
