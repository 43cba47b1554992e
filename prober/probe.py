"""One probe: one orchestrator × one advertised model × one dataset item, bounded in time, always ending in a
ProbeResult (prober/result.py) — never a traceback.

The steps, as a gateway does them (facts and sources in prober/README.md):
1. the signer's identity (off-chain: none); `GetOrchestrator` over TLS with the certificate pinned (info.py);
2. the capacity gate: the model must be advertised with an idle runner (`capacity` > 0), else `no_capacity`
   (excluded: go-livepeer#2960 — testers that scored capacity refusals as failures hurt honest orchestrators);
   a priced orchestrator without a remote signer is skipped as the prober's own limitation;
3. `POST {service}/live-video-to-video` with JSON `{model_id, params, gateway_request_id, stream_id,
   publish_url: "", subscribe_url: ""}` and the `Livepeer-Segment` / `Livepeer-Payment` headers, within the
   gateway's 5 s; the reply names four trickle channels on the service's origin;
4. concurrently: publish the synthetic input (one MPEG-TS segment per `segment_s`, paced in real time), read
   the output and events channels, write the params and ONE scheduled params change to the control channel
   (plus keepalives), pay every `payment_interval_s` when priced, and watch for what a production gateway
   would swap on;
5. tear down (DELETE the channels it publishes), then compute the measurements (measure.py).

Output and events are read from seq 0, not -1 as go-livepeer's subscriber starts: right after the start reply
seq 0 is still in the 5-segment ring, so the first output byte (startup) and events written before the probe
subscribed (an immediate `error` for refused params) are not missed; a later start jumps to Latest on 470.

Clocks: every duration is measured on `clock` (monotonic seconds); wall time (`wall`, ms) only stamps the result.
Faults: the prober's own trouble — its event loop stalled past `max_loop_lag_s`, its signer down, its bug — makes
the result fault `prober`, whatever else happened. Items of kind `bad` never count against the orchestrator.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

import aiohttp

from exporter.common.clock import now_ms
from exporter.common.meta import version as naap_version
from discovery.safety import RefusedAddress
from prober import errors
from prober.config import ProberSettings
from prober.datasets import DatasetItem
from prober.errors import ProbeFailure
from prober.events import KEEPALIVE, params_hash, parse_event
from prober.httpio import read_capped
from prober.info import OrchestratorView, get_orchestrator_info
from prober.looplag import LoopLag
from prober.measure import OutputFrame, interval_cv, jitter, latencies, output_fps, per_second, prompt_change_frame, quantile
from prober.media import MediaError, decode_segment, encode_segments, read_stamp, thumbnail
from prober.netguard import GuardedResolver, check_same_origin, check_url, resolve_checked
from prober.payment import INITIAL_PIXELS, PIXELS_PER_SECOND, OffchainSigner, PaymentSigner
from prober.result import ProbeResult
from prober.tlspin import PinStore, fetch_certificate
from prober.trickle import TrickleError, TricklePublisher, TrickleSubscriber

MAX_REPLY_BYTES = 64 << 10
CHANNEL_KEYS = ("publish_url", "subscribe_url", "control_url", "events_url")


@dataclass(frozen=True)
class ProbeTarget:
    """Whom to probe: the orchestrator's service address for gRPC (`host:port`, as discovery found it), its
    address from discovery (lowercase, "" unknown) and the model to probe."""

    target: str
    model_id: str
    orchestrator: str = ""


@dataclass
class _Stream:
    """What the streaming phase records (all times on the probe's clock, seconds)."""

    sent: dict[int, float] = field(default_factory=dict)
    frames: list[OutputFrame] = field(default_factory=list)
    first_pts: int | None = None
    last_pts: int | None = None
    tail_pts: int | None = None  # first PTS of the last input segment
    first_byte_at: float | None = None
    first_frame_at: float | None = None
    playable_at: float | None = None
    last_output_at: float | None = None
    last_event_at: float | None = None
    segments_in: int = 0
    segments_out: int = 0
    decode_errors: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    input_done: bool = False
    change_at: float | None = None
    change_hash: str | None = None
    confirm_at: float | None = None
    refused: bool = False  # a bad item's expected refusal was seen (an error event)


class _Probe:
    def __init__(self, target: ProbeTarget, item: DatasetItem, dataset: str, s: ProberSettings, pins: PinStore,
                 signer: PaymentSigner, clock: Callable[[], float], wall: Callable[[], int]) -> None:  # fmt: skip
        self.t, self.item, self.s, self.pins, self.signer, self.clock, self.wall = target, item, s, pins, signer, clock, wall
        self.r = ProbeResult(
            probe_id=uuid.uuid4().hex, started_at_ms=wall(), orchestrator=target.orchestrator, target=target.target,
            region=s.region, workflow=item.workflow, model_id=target.model_id, dataset=dataset, item_id=item.id,
            item_kind=item.kind, prober_version=naap_version(),
        )  # fmt: skip
        self.bad = item.kind == "bad"
        self.st = _Stream()
        self.t_start: float | None = None
        self.stop = asyncio.Event()
        self.failure: ProbeFailure | None = None
        self.trigger: str | None = None
        self.http: aiohttp.ClientSession | None = None
        self.publishers: list[TricklePublisher] = []
        self.subs: list[TrickleSubscriber] = []

    # -- verdicts ------------------------------------------------------------------------------------------
    def _end(self, failure: ProbeFailure | None = None, trigger: str | None = None) -> None:
        if self.failure is None and failure is not None:
            self.failure = failure
            self.trigger = trigger
        self.stop.set()

    # -- the probe -----------------------------------------------------------------------------------------
    async def run(self) -> ProbeResult:
        t0 = self.clock()
        async with LoopLag(clock=self.clock) as lag:
            try:
                async with asyncio.timeout(self.s.probe_deadline_s()):
                    await self._run()
            except ProbeFailure as f:
                self._end(f)
            except TimeoutError:
                self._end(ProbeFailure(errors.TIMEOUT, errors.ORCHESTRATOR, f"probe past its deadline of {self.s.probe_deadline_s():.0f} s"))
            except Exception as e:  # our own bug: the prober's fault, never a traceback out of a probe
                self._end(ProbeFailure(errors.PROBER_ERROR, errors.PROBER, f"internal error: {type(e).__name__}: {e}"))
            finally:
                await self._teardown()
        self.r.loop_lag_max_ms = lag.max_s * 1000
        self.r.duration_ms = (self.clock() - t0) * 1000
        self._measure()
        self._verdict(lag.max_s)
        self.r.ended_at_ms = self.wall()
        return self.r

    async def _run(self) -> None:
        s, item = self.s, self.item
        address, sig = await self.signer.identity()
        info = await get_orchestrator_info(
            self.t.target, pins=self.pins, address=address, sig=sig, connect_timeout_s=s.connect_timeout_s,
            timeout_s=s.info_timeout_s, allow_loopback=s.allow_loopback,
        )  # fmt: skip
        self._record_offer(info)
        offer = info.models.get(self.t.model_id)
        if not info.live or offer is None:
            raise ProbeFailure(errors.NO_CAPACITY, errors.EXCLUDED, f"{self.t.model_id} is not advertised for live-video-to-video")
        if offer.idle <= 0:
            raise ProbeFailure(errors.NO_CAPACITY, errors.EXCLUDED, f"no idle runner for {self.t.model_id} ({offer.in_use} in use)")
        price, _ = info.price_for(self.t.model_id)
        if price > 0 and isinstance(self.signer, OffchainSigner):
            raise ProbeFailure(errors.PROBER_ERROR, errors.PROBER, f"orchestrator charges {price} wei/unit and no remote signer is configured")
        scheme, host, port = check_url(info.transcoder, s.allow_loopback)
        self.r.service_uri = info.transcoder
        ssl_opt: Any = False
        if scheme == "https":
            der = await fetch_certificate(await resolve_checked(host, port, s.allow_loopback), port, s.connect_timeout_s)
            fp, _ = self.pins.check(f"{host}:{port}", der)
            ssl_opt = aiohttp.Fingerprint(bytes.fromhex(fp))
        connector = aiohttp.TCPConnector(resolver=GuardedResolver(s.allow_loopback), ssl=ssl_opt, limit=16)
        self.http = aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=None, sock_connect=s.connect_timeout_s))
        segments = await asyncio.to_thread(encode_segments, s.segments, s.frames_per_segment, s.fps, s.width, s.height)
        stream_id = uuid.uuid4().hex[:16]
        creds, pay_state = await self.signer.live_payment(info.raw, info.auth_token, stream_id, INITIAL_PIXELS, None)
        reply = await self._start_call(info, creds.headers(), stream_id)
        await self._stream(info, reply, segments, pay_state)

    def _record_offer(self, info: OrchestratorView) -> None:
        r = self.r
        r.reported_address, r.cert_sha256, r.service_uri = info.address, info.cert_sha256, info.transcoder
        offer = info.models.get(self.t.model_id)
        if offer is not None:
            r.capacity_idle, r.capacity_in_use, r.warm, r.runner_version = offer.idle, offer.in_use, offer.warm, offer.runner_version
        price, pixels = info.price_for(self.t.model_id)
        r.price_per_unit, r.pixels_per_unit = price, pixels
        mine = [g for g in info.gpus if g.model_id == self.t.model_id] or list(info.gpus)
        r.gpus = [{"name": g.name, "memory_total": g.memory_total} for g in mine[:16]]

    async def _start_call(self, info: OrchestratorView, headers: dict[str, str], stream_id: str) -> dict[str, str]:
        assert self.http is not None
        body = {"model_id": self.t.model_id, "params": self.item.params, "gateway_request_id": uuid.uuid4().hex,
                "stream_id": stream_id, "publish_url": "", "subscribe_url": ""}  # fmt: skip
        url = info.transcoder.rstrip("/") + "/live-video-to-video"
        self.t_start = self.clock()
        try:
            async with asyncio.timeout(self.s.start_timeout_s):
                async with self.http.post(url, json=body, headers=headers) as resp:
                    raw = await read_capped(resp, MAX_REPLY_BYTES)
                    status = resp.status
        except TimeoutError:
            raise ProbeFailure(errors.TIMEOUT, errors.ORCHESTRATOR, f"start call took over {self.s.start_timeout_s} s") from None
        except aiohttp.ServerFingerprintMismatch:
            raise ProbeFailure(errors.TLS_PIN_MISMATCH, errors.EXCLUDED, "service certificate changed during the probe") from None
        except aiohttp.ClientConnectorError as e:
            if isinstance(e.os_error, RefusedAddress):  # raised by our resolver: aiohttp wraps it as a DNS error
                raise ProbeFailure(errors.REFUSED_ADDRESS, errors.EXCLUDED, str(e.os_error)) from None
            if isinstance(e, aiohttp.ClientConnectorDNSError):
                raise errors.dns_failure(e.host, e.os_error) from None
            raise ProbeFailure(errors.CONNECT, errors.ORCHESTRATOR, f"start call: cannot connect: {e}") from None
        except (aiohttp.ClientError, OSError) as e:
            raise ProbeFailure(errors.ORCHESTRATOR_RESET, errors.ORCHESTRATOR, f"start call failed: {e}") from None
        text = raw[:200].decode("utf-8", "replace").strip()
        if status == 503:
            raise ProbeFailure(errors.CAPACITY, errors.EXCLUDED, f"start refused 503: {text}")
        if 400 <= status < 500:
            if self.bad:
                self.r.expectation_met = True
                raise ProbeFailure(errors.BAD_REQUEST, errors.EXCLUDED, f"bad item refused {status}: {text}")
            raise ProbeFailure(errors.BAD_REQUEST, errors.PROBER, f"start refused {status}: {text}")
        if status >= 500:
            raise ProbeFailure(errors.MODEL_ERROR, errors.ORCHESTRATOR, f"start failed {status}: {text}")
        if status != 200 or len(raw) > MAX_REPLY_BYTES:
            raise ProbeFailure(errors.UNKNOWN, errors.ORCHESTRATOR, f"start answered {status} ({len(raw)} bytes)")
        try:
            reply = json.loads(raw)
        except ValueError:
            reply = None
        if not isinstance(reply, dict) or not all(isinstance(reply.get(k), str) and reply[k] for k in CHANNEL_KEYS):
            raise ProbeFailure(errors.UNKNOWN, errors.ORCHESTRATOR, f"start reply lacks the channel URLs: {text}")
        for k in CHANNEL_KEYS:
            check_same_origin(reply[k], info.transcoder)
        self.r.manifest_id = str(reply.get("manifest_id", ""))[:64]
        return reply

    # -- streaming -----------------------------------------------------------------------------------------
    async def _stream(self, info: OrchestratorView, reply: dict[str, str], segments: tuple[Any, ...], pay_state: Any) -> None:
        assert self.http is not None and self.t_start is not None
        s, http = self.s, self.http
        pub_in = TricklePublisher(http, reply["publish_url"], "video/MP2T", timeout_s=max(s.segment_s * 4, 5.0), clock=self.clock)
        pub_ctl = TricklePublisher(http, reply["control_url"], "application/json", timeout_s=5.0, clock=self.clock)
        wait = min(20.0, s.no_output_timeout_s)
        sub_out = TrickleSubscriber(http, reply["subscribe_url"], 0, max_bytes=s.max_segment_bytes, wait_s=wait,
                                    read_timeout_s=s.no_output_timeout_s, max_errors=s.max_read_errors, clock=self.clock)  # fmt: skip
        sub_ev = TrickleSubscriber(http, reply["events_url"], 0, max_bytes=s.max_event_bytes, wait_s=wait,
                                   read_timeout_s=s.no_events_timeout_s, max_errors=s.max_read_errors, clock=self.clock)  # fmt: skip
        self.publishers, self.subs = [pub_in, pub_ctl], [sub_out, sub_ev]
        started = self.clock()
        self.st.last_event_at = started
        tasks = [
            self._guard(self._publish(pub_in, segments, started)),
            self._guard(self._read_output(sub_out)),
            self._guard(self._read_events(sub_ev)),
            self._guard(self._control(pub_ctl, started)),
            self._guard(self._watch(started)),
        ]
        if info.price_for(self.t.model_id)[0] > 0:
            tasks.append(self._guard(self._pay(info, reply, pay_state)))
        running = [asyncio.create_task(t) for t in tasks]
        try:
            await self.stop.wait()
        finally:
            for t in running:
                t.cancel()
            # bounded: a task that ignored its cancellation must not hold the probe past its teardown time
            await asyncio.wait(running, timeout=self.s.teardown_timeout_s)
        if self.failure is not None:
            raise self.failure

    async def _guard(self, coro: Any) -> None:
        try:
            await coro
        except ProbeFailure as f:
            self._end(f)
        except TrickleError as e:
            self._end(ProbeFailure(errors.ORCHESTRATOR_RESET, errors.ORCHESTRATOR, str(e)), errors.SWAP_READ_ERRORS)
        except asyncio.CancelledError:
            raise
        except Exception as e:
            self._end(ProbeFailure(errors.PROBER_ERROR, errors.PROBER, f"internal error: {type(e).__name__}: {e}"))

    async def _publish(self, pub: TricklePublisher, segments: tuple[Any, ...], started: float) -> None:
        st = self.st
        st.first_pts = segments[0].pts[0]
        st.last_pts = segments[-1].pts[-1]
        st.tail_pts = segments[-1].pts[0]
        for k, seg in enumerate(segments):
            await asyncio.sleep(max(0.0, started + k * self.s.segment_s - self.clock()))
            t = self.clock()
            try:
                await pub.write(seg.data)
            except TrickleError as e:
                if e.kind == "gone":
                    raise ProbeFailure(errors.RUNNER_DISCONNECT, errors.ORCHESTRATOR, f"input channel gone: {e}") from None
                raise
            for p in seg.pts:
                st.sent[p] = t
            st.segments_in += 1
            st.bytes_in += len(seg.data)
        st.input_done = True
        if self._drained():
            self._end()
            return
        await asyncio.sleep(self.s.drain_timeout_s)
        self._end()  # drained by time: whatever arrived is what there is

    async def _read_output(self, sub: TrickleSubscriber) -> None:
        st = self.st
        while True:
            seg = await sub.next()
            if seg is None:
                if not self._drained():
                    how = "closed" if sub.closed else "gone (404)"
                    self._end(ProbeFailure(errors.RUNNER_DISCONNECT, errors.ORCHESTRATOR, f"output channel {how} mid-stream"), errors.SWAP_CHANNEL_CLOSED)
                else:
                    self._end()
                return
            st.segments_out += 1
            st.bytes_out += len(seg.data)
            st.last_output_at = seg.done_at
            if st.first_byte_at is None:
                st.first_byte_at = seg.first_byte_at
            if st.segments_out == 3:
                st.playable_at = seg.done_at
            try:
                decoded = await asyncio.to_thread(decode_segment, seg.data, 10 * self.s.frames_per_segment + 100)
            except MediaError:
                st.decode_errors += 1
                continue
            share = len(seg.data) / max(1, len(decoded))
            if len(st.frames) + len(decoded) > 20 * self.s.segments * self.s.frames_per_segment:
                raise ProbeFailure(errors.UNKNOWN, errors.ORCHESTRATOR, "far more output frames than input frames")
            for f in decoded:
                st.frames.append(OutputFrame(f.pts, seg.done_at, seg.seq, share, thumbnail(f.luma), read_stamp(f.luma)))
            if decoded and st.first_frame_at is None:
                st.first_frame_at = seg.done_at
            if self._drained():
                self._end()
                return

    def _drained(self) -> bool:
        """Output of the last input segment has arrived (some of its frames: a runner may drop the last one)."""
        st = self.st
        return st.input_done and st.tail_pts is not None and any(f.pts is not None and f.pts >= st.tail_pts for f in st.frames[-50:])

    async def _read_events(self, sub: TrickleSubscriber) -> None:
        st, r = self.st, self.r
        while True:
            seg = await sub.next()
            if seg is None:
                return  # the events channel ending is not itself a swap trigger; output is watched
            st.bytes_out += len(seg.data)
            st.last_event_at = seg.done_at
            ev = parse_event(seg.data)
            if ev is None:
                continue
            if ev.type == "status":
                r.status_events += 1
                r.last_state = ev.state
                if st.change_hash is not None and ev.params_hash == st.change_hash and st.confirm_at is None:
                    st.confirm_at = seg.done_at
                if ev.state == "ERROR" and not self.bad:
                    self._end(ProbeFailure(errors.MODEL_ERROR, errors.ORCHESTRATOR, f"runner state ERROR: {ev.last_error or ''}"), errors.SWAP_ERROR_STATE)
            elif ev.type == "restart":
                r.restart_events += 1
                if not self.bad:
                    self._end(ProbeFailure(errors.RUNNER_DISCONNECT, errors.ORCHESTRATOR, f"runner restarted (count {ev.restart_count})"), errors.SWAP_RESTART)
            elif ev.type == "error":
                r.error_events += 1
                if len(r.runner_errors) < 3:
                    r.runner_errors.append(ev.message or "")
                if self.bad:
                    st.refused = True
                    self._end()

    async def _control(self, pub: TricklePublisher, started: float) -> None:
        st, s, item = self.st, self.s, self.item
        if not self.bad:
            body = json.dumps(item.params).encode()
            await pub.write(body)
            st.bytes_in += len(body)
        change = item.schedule[0]["set"] if item.schedule else None
        at = s.prompt_change_at_s if s.prompt_change_at_s is not None else (item.schedule[0]["at_s"] if item.schedule else s.duration_s / 2)
        at = min(at, max(0.0, s.duration_s - s.segment_s))
        next_keepalive = started + s.keepalive_s
        if not self.bad:
            if change is None and isinstance(item.params, dict):
                change = {"prompt": f"{item.params.get('prompt', '')} (probe switch)"}
            while self.clock() < started + at:
                await asyncio.sleep(max(0.0, min(started + at, next_keepalive) - self.clock()))
                if self.clock() >= next_keepalive and self.clock() < started + at:
                    await pub.write(json.dumps(KEEPALIVE).encode())
                    next_keepalive += s.keepalive_s
            params = item.params_after(change or {})
            body = json.dumps(params).encode()
            st.change_hash = params_hash(json.loads(body))
            st.change_at = self.clock()
            await pub.write(body)
            st.bytes_in += len(body)
        while True:
            await asyncio.sleep(max(0.0, next_keepalive - self.clock()))
            await pub.write(json.dumps(KEEPALIVE).encode())
            next_keepalive += s.keepalive_s

    async def _pay(self, info: OrchestratorView, reply: dict[str, str], state: Any) -> None:
        assert self.http is not None
        url = info.transcoder.rstrip("/") + "/payment"
        mid = str(reply.get("manifest_id", ""))
        while True:
            await asyncio.sleep(self.s.payment_interval_s)
            creds, state = await self.signer.live_payment(info.raw, info.auth_token, mid, int(PIXELS_PER_SECOND * self.s.payment_interval_s), state)
            try:
                async with asyncio.timeout(self.s.start_timeout_s):
                    async with self.http.post(url, headers=creds.headers()) as resp:
                        await read_capped(resp, MAX_REPLY_BYTES)
            except (TimeoutError, aiohttp.ClientError, OSError):
                pass  # a refused payment shows as the orchestrator stopping the stream, which is watched

    async def _watch(self, started: float) -> None:
        st, s = self.st, self.s
        tick = max(0.02, min(0.25, s.no_output_timeout_s / 8, s.no_events_timeout_s / 8, s.first_output_timeout_s / 8))
        while True:
            await asyncio.sleep(tick)
            now = self.clock()
            if st.last_output_at is None:
                if now - started > s.first_output_timeout_s:
                    self._end(ProbeFailure(errors.TIMEOUT, errors.ORCHESTRATOR, f"no output within {s.first_output_timeout_s} s"), errors.SWAP_NO_OUTPUT)
            elif now - st.last_output_at > s.no_output_timeout_s and not st.input_done:  # after the input: the drain timer
                self._end(ProbeFailure(errors.TIMEOUT, errors.ORCHESTRATOR, f"output stalled for {s.no_output_timeout_s} s"), errors.SWAP_NO_OUTPUT)
            if st.last_event_at is not None and now - st.last_event_at > s.no_events_timeout_s and not self.bad:
                self._end(ProbeFailure(errors.TIMEOUT, errors.ORCHESTRATOR, f"no event for {s.no_events_timeout_s} s"), errors.SWAP_NO_EVENTS)

    async def _teardown(self) -> None:
        try:
            async with asyncio.timeout(self.s.teardown_timeout_s):
                await asyncio.gather(*(p.close() for p in self.publishers), return_exceptions=True)
        except TimeoutError:
            pass
        if self.http is not None:
            await self.http.close()

    # -- results -------------------------------------------------------------------------------------------
    def _measure(self) -> None:
        st, r = self.st, self.r
        ms = lambda t: None if t is None or self.t_start is None else (t - self.t_start) * 1000  # noqa: E731
        r.startup_ms, r.first_frame_ms, r.playable_ms = ms(st.first_byte_at), ms(st.first_frame_at), ms(st.playable_at)
        r.segments_in, r.segments_out = st.segments_in, st.segments_out
        r.bytes_in = st.bytes_in
        r.bytes_out = st.bytes_out
        r.frames_in = len(st.sent)
        r.frames_out = len(st.frames)
        r.trickle_jumps = sum(x.jumps for x in self.subs)
        r.read_errors = sum(x.errors_total for x in self.subs)
        lat = latencies(st.sent, st.frames)
        r.e2e_samples = r.frames_matched = len(lat)
        r.e2e_p50_ms = None if not lat else quantile(lat, 0.5) * 1000
        r.e2e_p95_ms = None if not lat else quantile(lat, 0.95) * 1000
        r.output_fps = output_fps(st.frames)
        r.input_fps = float(self.s.fps) if st.sent else None
        r.frame_interval_cv = interval_cv(st.frames)
        if st.first_pts is not None:
            r.samples = per_second(st.frames, st.sent, st.first_pts)
            r.jitter = jitter(r.samples)
        if st.change_at is not None:
            changed = prompt_change_frame(st.frames, st.change_at)
            r.p2ff_ms = None if changed is None else (changed.received - st.change_at) * 1000
            r.p2ff_confirmed = st.confirm_at is not None
            r.params_confirm_ms = None if st.confirm_at is None else (st.confirm_at - st.change_at) * 1000

    def _verdict(self, lag_s: float) -> None:
        r, st, f = self.r, self.st, self.failure
        r.swap_trigger = self.trigger
        if self.bad:  # a bad item never counts against the orchestrator: refused is the expected outcome
            refused = st.refused or bool(r.expectation_met)
            r.expectation_met = refused
            if f is not None and f.fault == errors.PROBER:
                r.outcome, r.error_class, r.fault, r.message = "failed", f.error_class, f.fault, f.message
            else:
                r.fault = errors.EXCLUDED
                r.outcome = "ok" if refused else "failed"
                r.error_class = errors.BAD_REQUEST if refused else (f.error_class if f else None)
                r.message = f.message if f else ("bad item refused (runner error event)" if refused else "bad item accepted without an error")
            return
        if f is None:
            if st.decode_errors and not st.frames:
                f = ProbeFailure(errors.MODEL_ERROR, errors.ORCHESTRATOR, f"{st.decode_errors} output segments undecodable")
            elif not st.frames:
                f = ProbeFailure(errors.TIMEOUT, errors.ORCHESTRATOR, "no output frames")
            elif r.error_events:
                f = ProbeFailure(errors.MODEL_ERROR, errors.ORCHESTRATOR, f"runner error: {r.runner_errors[0] if r.runner_errors else ''}")
        if f is None:
            r.outcome, r.error_class, r.fault = "ok", None, errors.FAULT_NONE
        else:
            r.error_class, r.fault, r.message = f.error_class, f.fault, f.message
            r.outcome = "skipped" if f.error_class in (errors.NO_CAPACITY, errors.CAPACITY) else "failed"
        if lag_s > self.s.max_loop_lag_s and r.fault in (errors.FAULT_NONE, errors.ORCHESTRATOR):
            was = f"; was: {r.error_class} ({r.message})" if r.error_class else ""
            r.outcome, r.error_class, r.fault = "failed", errors.PROBER_ERROR, errors.PROBER
            r.message = f"prober event loop stalled {lag_s * 1000:.0f} ms (limit {self.s.max_loop_lag_s * 1000:.0f} ms){was}"[:500]


async def run_probe(
    target: ProbeTarget,
    item: DatasetItem,
    settings: ProberSettings,
    *,
    dataset: str = "",
    pins: PinStore | None = None,
    signer: PaymentSigner | None = None,
    clock: Callable[[], float] = time.monotonic,
    wall: Callable[[], int] = now_ms,
) -> ProbeResult:
    """Run one probe and return its result. Never raises (cancellation aside): every failure is classified in
    the result. `dataset` is "<id>@<version>" of the item's dataset; `pins` defaults to an in-memory store;
    `signer` to off-chain (no payments). Takes at most `settings.probe_deadline_s()` seconds."""
    probe = _Probe(target, item, dataset, settings, pins or PinStore(None), signer or OffchainSigner(settings.eth_address), clock, wall)
    return await probe.run()
