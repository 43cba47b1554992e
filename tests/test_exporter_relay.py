"""The go-livepeer relay against a real local HTTP server serving a go-livepeer-shaped exposition."""

from __future__ import annotations

from pathlib import Path

from exporter.config import ExporterConfig
from exporter.relay.livepeer import LivepeerRelay
from exporter.server import Exporter, ExporterServer
from exposition_helpers import scrape_when, serve_body

DATA = Path(__file__).parent / "data" / "exporter"


async def test_capacity_and_live_pipeline_series_are_relayed_under_our_labels() -> None:
    runner, url = await serve_body((DATA / "go-livepeer.prom").read_bytes())
    cfg = ExporterConfig(host="127.0.0.1", port=0, nvml=False, push={"enabled": False},
                         livepeer={"url": url, "interval_s": 0.2})  # fmt: skip
    srv = ExporterServer(Exporter(cfg))
    await srv.start()
    try:
        got = await scrape_when(srv.url, lambda: srv.exporter.relay.up)  # type: ignore[union-attr]
    finally:
        await srv.stop()
        await runner.cleanup()
    in_use = {(lab["pipeline"], lab["model_id"]): v for lab, v in got["livepeer_ai_container_in_use"]}
    # Two orchestrator_uri values for sdxl: summed once the node labels are dropped.
    assert in_use == {("live-video-to-video", "streamdiffusion"): 3, ("live-video-to-video", "streamdiffusion-sdxl"): 2}
    assert {lab["model_id"]: v for lab, v in got["livepeer_ai_container_idle"]} == {"streamdiffusion": 1, "streamdiffusion-sdxl": 0}
    assert got["livepeer_ai_current_live_pipelines"] == [({"pipeline": "live-video-to-video"}, 5)]
    assert got["livepeer_ai_gpus_idle"] == [({"pipeline": "", "model_id": ""}, 2)]
    assert got["livepeer_orchestrator_swaps_total"] == [({}, 3)]  # summed over manifest_id
    assert got["livepeer_ai_request_errors_total"] == [
        ({"error_code": "OK", "pipeline": "live-video-to-video", "model_id": "streamdiffusion"}, 5)
    ]
    assert got["livepeer_versions"] == [({"version": "0.8.5"}, 1)]
    # Families outside the relay list, and go-livepeer's own process metrics, are not re-exposed.
    assert not [n for n in got if n.startswith(("livepeer_segment", "livepeer_transcode"))]
    assert all(not any(k in lab for k in ("node_id", "manifest_id", "sender")) for n, rows in got.items() for lab, _ in rows)
    assert [v for lab, v in got["naap_exporter_source_up"] if lab["source"] == "livepeer"] == [1]


async def test_an_unreachable_or_broken_go_livepeer_is_counted_not_fatal() -> None:
    runner, url = await serve_body(b"oops", status=503)
    relay = LivepeerRelay(url, interval_s=0.1, timeout_s=1.0)
    try:
        await relay.refresh_async()
        assert not relay.up and relay.errors == 1
        relay.url = url.replace("/metrics", "/elsewhere")
        await relay.refresh_async()
        assert relay.errors == 2
    finally:
        await relay.close()
        await runner.cleanup()
    big, big_url = await serve_body(b"# TYPE livepeer_ai_container_in_use gauge\n" + b"x 1\n" * 100_000)
    capped = LivepeerRelay(big_url, interval_s=0.1, timeout_s=1.0, max_bytes=64 * 1024)
    try:
        await capped.refresh_async()
    finally:
        await capped.close()
        await big.cleanup()
    assert not capped.up and capped.errors == 1 and capped.snapshot == {}
