"""The go-livepeer relay against a real local HTTP server serving a go-livepeer-shaped exposition — including one
that is stopped under a running exporter (its series must go at once) and started again."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from exporter.config import ExporterConfig
from exporter.relay.livepeer import LivepeerRelay
from exporter.server import Exporter, ExporterServer
from exposition_helpers import scrape_when, serve_body, value

DATA = Path(__file__).parent / "data" / "exporter"
# Reads here must complete (a good body, a 503, a parse or size failure): limits far above any answer time, and
# scrape_when waits up to 400 x 50 ms for a source to get there (it returns as soon as the source has).


async def _serve_on(body: bytes, port: int) -> web.AppRunner:
    """A loopback go-livepeer stand-in serving `body` at /metrics on a given port (serve_body picks a free one)."""

    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="text/plain")

    app = web.Application()
    app.router.add_get("/metrics", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, reuse_address=True).start()
    return runner


async def test_capacity_and_live_pipeline_series_are_relayed_under_our_labels() -> None:
    runner, url = await serve_body((DATA / "go-livepeer.prom").read_bytes())
    cfg = ExporterConfig(host="127.0.0.1", port=0, nvml=False, push={"enabled": False},
                         livepeer={"url": url, "interval_s": 0.2})  # fmt: skip
    srv = ExporterServer(Exporter(cfg))
    await srv.start()
    try:
        got = await scrape_when(srv.url, lambda: srv.exporter.relay.up, tries=400)  # type: ignore[union-attr]
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
    relay = LivepeerRelay(url, interval_s=0.1, timeout_s=5.0)
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
    capped = LivepeerRelay(big_url, interval_s=0.1, timeout_s=5.0, max_bytes=64 * 1024)
    try:
        await capped.refresh_async()
    finally:
        await capped.close()
        await big.cleanup()
    assert not capped.up and capped.errors == 1 and capped.snapshot == {}


async def test_when_go_livepeer_goes_away_its_series_go_at_once_and_come_back_with_it() -> None:
    """A real go-livepeer-shaped server on loopback, stopped and started again under the exporter."""
    body = (DATA / "go-livepeer.prom").read_bytes()
    runner, url = await serve_body(body)
    port = int(url.split(":")[2].split("/")[0])
    cfg = ExporterConfig(host="127.0.0.1", port=0, nvml=False, push={"enabled": False},
                         livepeer={"url": url, "interval_s": 0.05, "timeout_s": 5.0})  # fmt: skip
    srv = ExporterServer(Exporter(cfg))
    await srv.start()
    relay = srv.exporter.relay
    assert isinstance(relay, LivepeerRelay)
    try:
        got = await scrape_when(srv.url, lambda: relay.up, tries=400)
        assert value(got, "livepeer_ai_current_live_pipelines", pipeline="live-video-to-video") == 5
        await runner.cleanup()  # go-livepeer stops
        got = await scrape_when(srv.url, lambda: not relay.up, tries=400)
        assert not relay.up
        # Nothing it said is shown any more: dropped at the first failed read, not three polls later.
        assert not [n for n in got if n.startswith("livepeer_")], sorted(got)
        assert value(got, "naap_exporter_source_up", source="livepeer") == 0
        assert value(got, "naap_exporter_source_errors_total", source="livepeer") >= 1
        assert value(got, "naap_exporter_source_last_success_timestamp_seconds", source="livepeer") > 0
        runner = await _serve_on(body, port)  # go-livepeer is back on its port
        got = await scrape_when(srv.url, lambda: relay.up, tries=400)
        assert value(got, "naap_exporter_source_up", source="livepeer") == 1
        assert value(got, "livepeer_ai_current_live_pipelines", pipeline="live-video-to-video") == 5
    finally:
        await srv.stop()
        await runner.cleanup()


async def test_a_go_livepeer_down_at_start_is_a_down_source_not_a_start_failure() -> None:
    runner, url = await serve_body(b"")
    await runner.cleanup()  # nothing listens there any more
    cfg = ExporterConfig(host="127.0.0.1", port=0, nvml=False, push={"enabled": False},
                         livepeer={"url": url, "interval_s": 0.05, "timeout_s": 5.0})  # fmt: skip
    srv = ExporterServer(Exporter(cfg))
    await srv.start()
    try:
        got = await scrape_when(srv.url, lambda: srv.exporter.relay.errors > 0, tries=400)  # type: ignore[union-attr]
    finally:
        await srv.stop()
    assert value(got, "naap_exporter_source_up", source="livepeer") == 0
    assert "connect" in (srv.exporter.relay.last_error or "")  # type: ignore[union-attr]


async def test_a_url_that_is_not_go_livepeer_is_not_a_healthy_relay() -> None:
    runner, url = await serve_body(b"# TYPE node_load1 gauge\nnode_load1 0.5\n")  # some other exporter
    relay = LivepeerRelay(url, interval_s=0.1, timeout_s=5.0)
    try:
        await relay.refresh_async()
    finally:
        await relay.close()
        await runner.cleanup()
    assert not relay.up and relay.errors == 1 and "no livepeer_* families" in (relay.last_error or "")
