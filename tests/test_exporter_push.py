"""The SDK as a client of a separate exporter: real pushes over loopback HTTP, and hostile pushes refused."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest

from exporter.config import ExporterConfig
from exporter.server import Exporter, ExporterServer
from exporter.streams.push import PushClient
from exposition_helpers import Clock, scrape
from exposition_helpers import value as _value


async def _server(**push: object) -> ExporterServer:
    cfg = ExporterConfig(host="127.0.0.1", port=0, nvml=False, push={"enabled": True, **push})
    srv = ExporterServer(Exporter(cfg))
    await srv.start()
    return srv


async def test_runner_pushes_streams_windows_and_events_over_loopback() -> None:
    srv = await _server()
    clock = Clock(100.0)
    client = PushClient(srv.push_url, runner="ai-runner-0", clock=clock)
    try:
        s = client.start_stream("st-1", "live-video-to-video", "streamdiffusion-sdxl", "GPU-x", warm=False)
        clock.t += 4.0
        for frames in (100, 120, 80):  # 20, 24, 16 fps windows, closed by the client next to the frames
            s.frame_in(frames)
            s.frame_out(frames)
            s.bytes_out(frames * 1000)
            clock.t += 5.0
            client.tick()
        s.error("timeout")
        assert await asyncio.to_thread(client.push)
        got = await scrape(srv.url)
        assert _value(got, "naap_stream_output_fps", stream_id="st-1") == 16.0
        fps = [20.0, 24.0, 16.0]
        mean = sum(fps) / 3
        jitter = (sum((x - mean) ** 2 for x in fps) / 3) ** 0.5 / mean
        assert _value(got, "naap_stream_jitter_ratio", stream_id="st-1") == pytest.approx(jitter)
        assert _value(got, "naap_frames_out_total", model_id="streamdiffusion-sdxl") == 300
        assert _value(got, "naap_stream_transmit_bytes_total", gpu_id="GPU-x") == 300_000
        assert _value(got, "naap_stream_errors_total", error_class="timeout") == 1
        assert _value(got, "naap_stream_startup_seconds_sum", startup="cold") == pytest.approx(4.0)

        # Pushing again (same state) changes nothing: counters are cumulative, events acknowledged.
        assert await asyncio.to_thread(client.push)
        got = await scrape(srv.url)
        assert _value(got, "naap_stream_startup_seconds_count", startup="cold") == 1
        assert _value(got, "naap_frames_out_total", model_id="streamdiffusion-sdxl") == 300

        # The stream ends on the runner: its series disappear from the exporter, the totals stay.
        s.frame_out(10)
        client.end_stream("st-1")
        assert await asyncio.to_thread(client.push)
        got = await scrape(srv.url)
        assert "naap_stream_output_fps" not in got
        assert _value(got, "naap_frames_out_total", model_id="streamdiffusion-sdxl") == 310
        assert _value(got, "naap_streams_active", model_id="streamdiffusion-sdxl") == 0
        assert _value(got, "naap_exporter_push_requests_total", result="ok") == 3
    finally:
        await srv.stop()


async def test_a_silent_runner_is_a_disconnect_and_a_restarted_runner_starts_over() -> None:
    # stale_s far above the test's own run time, so the server's own expiry loop never fires mid-test; expiry is
    # driven by an explicit clock below.
    srv = await _server(stale_s=60.0)
    try:
        a = PushClient(srv.push_url, runner="r1")
        a.start_stream("x", "p", "m", "g").frame_out(5)
        assert await asyncio.to_thread(a.push)
        b = PushClient(srv.push_url, runner="r1")  # same runner name, new session: it restarted
        b.start_stream("y", "p", "m", "g").frame_out(1)
        assert await asyncio.to_thread(b.push)
        got = await scrape(srv.url)
        assert _value(got, "naap_streams_active", model_id="m") == 1
        assert _value(got, "naap_frames_out_total", model_id="m") == 6
        ingest = srv.exporter.ingest
        assert ingest is not None
        assert ingest.expire(now=ingest._clock() + 30.0) == 0  # silent, but not for stale_s yet
        assert ingest.expire(now=ingest._clock() + 61.0) == 1
        got = await scrape(srv.url)
        assert _value(got, "naap_streams_active", model_id="m") == 0
        assert _value(got, "naap_stream_errors_total", error_class="runner_disconnect") == 1
    finally:
        await srv.stop()


def _push(streams: list[dict] | None = None, **over: object) -> dict:
    body = {"v": 1, "runner": "evil", "session": "s1", "streams": streams or [], "ended": [], "events": []}
    body.update(over)
    return body


def _stream(**over: object) -> dict:
    s = {"id": "st", "pipeline": "p", "model_id": "m", "gpu_id": "", "frames_in": 1, "frames_out": 1,
         "bytes_in": 0, "bytes_out": 0, "errors": {}, "restarts": {}, "fps_out": None, "fps_in": None,
         "window_seq": 0, "windows": []}  # fmt: skip
    s.update(over)
    return s


@pytest.mark.parametrize(
    ("body", "content_type", "status", "reason"),
    [
        (b"{not json", "application/json", 400, "bad_json"),
        (json.dumps(_push()).encode(), "text/plain", 415, "bad_content_type"),
        (json.dumps(_push(v=2)).encode(), "application/json", 400, "invalid"),
        (json.dumps(_push([_stream(id="has space")])).encode(), "application/json", 400, "invalid"),
        (json.dumps(_push([_stream(pipeline='quo"te')])).encode(), "application/json", 400, "invalid"),
        (json.dumps(_push([_stream(fps_out=float("nan"))])).encode(), "application/json", 400, "invalid"),
        (json.dumps(_push([_stream(frames_out=-1)])).encode(), "application/json", 400, "invalid"),
        (json.dumps(_push([_stream(frames_out="12")])).encode(), "application/json", 400, "invalid"),
        (json.dumps(_push([_stream(errors={"made_up": 1})])).encode(), "application/json", 400, "invalid"),
        (json.dumps(_push([_stream(id=f"s{i}") for i in range(1025)])).encode(), "application/json", 400, "invalid"),
        (json.dumps(_push(extra=1)).encode(), "application/json", 400, "invalid"),
        (b"[" + b"1," * 200_000 + b"1]", "application/json", 413, "too_large"),
    ],
)
async def test_bad_pushes_are_refused_with_a_json_message_and_counted(
    body: bytes, content_type: str, status: int, reason: str
) -> None:
    srv = await _server()
    try:
        async with aiohttp.ClientSession() as http:
            async with http.post(srv.push_url, data=body, headers={"Content-Type": content_type}) as r:
                assert r.status == status
                answer = await r.json()
            assert answer["status"] == status and answer["reason"] == reason and answer["message"]
            # The exporter is still fine and serves good pushes afterwards.
            good = json.dumps(_push([_stream(frames_out=3)])).encode()
            async with http.post(srv.push_url, data=good, headers={"Content-Type": "application/json"}) as r:
                assert r.status == 200
        got = await scrape(srv.url)
        assert _value(got, "naap_exporter_push_requests_total", result=reason) == 1
        assert _value(got, "naap_frames_out_total", model_id="m") == 3
    finally:
        await srv.stop()


async def test_counters_may_not_run_backwards_and_ids_belong_to_one_runner() -> None:
    srv = await _server(max_runners=2)
    headers = {"Content-Type": "application/json"}
    try:
        async with aiohttp.ClientSession() as http:

            async def post(body: dict) -> tuple[int, dict]:
                async with http.post(srv.push_url, data=json.dumps(body), headers=headers) as r:
                    return r.status, await r.json()

            assert (await post(_push([_stream(frames_out=10)])))[0] == 200
            status, answer = await post(_push([_stream(frames_out=9)]))
            assert (status, answer["reason"]) == (400, "backwards")
            status, answer = await post(_push([_stream(frames_out=5)], runner="other", session="t"))
            assert status == 200 and answer["conflicts"] == 1  # "st" is live under runner "evil"
            status, answer = await post(_push([], runner="third", session="u"))
            assert (status, answer["reason"]) == (429, "too_many_runners")
        got = await scrape(srv.url)
        assert _value(got, "naap_frames_out_total", model_id="m") == 10  # the refused pushes changed nothing
        assert _value(got, "naap_exporter_push_stream_conflicts_total") == 1
    finally:
        await srv.stop()


async def test_pushes_from_peers_outside_the_allow_list_are_refused() -> None:
    # Loopback is not in the allow list here, so our own (loopback) push is the outsider.
    srv = await _server(allow=["10.0.0.0/8"])
    try:
        client = PushClient(srv.push_url, runner="r")
        client.start_stream("x", "p", "m")
        assert not await asyncio.to_thread(client.push)
        assert client.last_error and "HTTP 403" in client.last_error
        got = await scrape(srv.url)
        assert _value(got, "naap_exporter_push_requests_total", result="forbidden_peer") == 1
        assert "naap_streams_active" not in got
    finally:
        await srv.stop()
