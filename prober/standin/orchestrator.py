"""StandIn: a loopback orchestrator speaking go-livepeer's live-video-to-video protocol, for the prober's tests
and the demo fleet. The prober's code path against it is the real one: TLS gRPC GetOrchestrator, HTTPS start
call, trickle channels.

What it serves (facts from go-livepeer 176aa415 unless noted):
- gRPC `/net.Orchestrator/GetOrchestrator` over TLS with a self-signed certificate made like go-livepeer's
  (certs.py): capability 35 with per-model `capacity` (idle) / `capacityInUse` / `warm` / `runnerVersion`,
  `capabilities_prices` (capability 35, constraint = model) when a model has a price, `hardware` per model,
  a fresh `auth_token` per call (session id 8 hex, expiry now + 30 min, token = HMAC-SHA256(secret,
  session_id || big-endian expiry), core/orchestrator.go). A request with live-video constraints and no idle
  runner for any of its models is refused `Invalid orchestrator request: OrchestratorCapped` (rpc.go).
- HTTPS `POST /live-video-to-video` (server/ai_http.go): `Livepeer-Payment` undecodable → 402; SegData
  undecodable, auth token missing/invalid/expired → 403; bad JSON → 400; no idle runner → 503 `insufficient
  capacity`; a priced model without a payment carrying a sender and a ticket → 400 `Insufficient balance`;
  errors are text/plain with a trailing newline. Success: four channels `<mid>`, `<mid>-out`,
  `<mid>-control`, `<mid>-events` (mid = 8 hex) are created first, then the reply `{"manifest_id",
  "publish_url", "subscribe_url", "control_url", "events_url"}` under `<service>/ai/trickle/`.
- HTTPS `POST /payment` → `PaymentResult{info}` keeping the caller's auth token (segment_rpc.go).
- The trickle routes (trickle_server.py). gRPC and HTTPS listen on two ports here (go-livepeer serves both on
  one: grpcio cannot share a port with aiohttp); the service URI names the HTTPS one.
Several StandIns can run in one process, each on its own ports. Not a real orchestrator: no tickets are
redeemed, signatures are not checked (as off-chain go-livepeer), and the "runner" only tints frames.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import secrets
import ssl
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

# gRPC's C core logs informational lines (e.g. a GOAWAY from a peer that stopped) to stderr unless told otherwise;
# only its errors belong in naap's output. An operator's own GRPC_VERBOSITY wins. Set before grpc is imported.
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")

import grpc  # noqa: E402
from aiohttp import web

from exporter.common.net import free_port
from prober.info import CAP_LIVE_VIDEO_TO_VIDEO, PIPELINE, capability_bitstring
from prober.proto import lp_rpc_pb2 as pb
from prober.sdparams import validate_params
from prober.standin.certs import Certificate, self_signed
from prober.standin.profile import Profile, profile as get_profile
from prober.standin.runner import FakeRunner
from prober.standin.trickle_server import TrickleServer

AUTH_TOKEN_VALID_S = 30 * 60
TRICKLE_BASE = "/ai/trickle/"
MAX_START_BODY = 1 << 20


@dataclass(frozen=True)
class ModelSpec:
    """One model a stand-in serves: runner containers, warm flag, price (wei per `pixels_per_unit` pixels)."""

    capacity: int = 1
    warm: bool = True
    price_per_unit: int = 0
    pixels_per_unit: int = 1
    runner_version: str = "0.14.1"


@dataclass(frozen=True)
class GpuSpec:
    name: str = "NVIDIA GeForce RTX 4090"
    memory_total: int = 24 << 30
    major: int = 8
    minor: int = 9


@dataclass
class Session:
    mid: str
    model_id: str
    runner: FakeRunner
    task: asyncio.Task[None]


def _text(status: int, message: str) -> web.Response:
    return web.Response(status=status, text=message + "\n", content_type="text/plain")


class StandIn:
    """A stand-in orchestrator. `await start()` binds its gRPC and HTTPS ports on `host`; `await stop()` ends
    every session and closes both. `restart()` starts again on the same ports with a NEW certificate, as
    go-livepeer does on every start."""

    def __init__(
        self,
        name: str = "standin",
        *,
        profile: str | Profile = "steady",
        models: dict[str, ModelSpec | int] | None = None,
        host: str = "127.0.0.1",
        gpus: tuple[GpuSpec, ...] = (GpuSpec(),),
        version: str = "0.8.8",
        address: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        grpc_port: int = 0,
        http_port: int = 0,
    ) -> None:
        """`grpc_port`/`http_port`: where to listen (0: free ports chosen at start; kept across restarts)."""
        self.name = name
        self.profile = get_profile(profile)
        raw = models if models is not None else {"streamdiffusion": ModelSpec()}
        self.models = {m: (ModelSpec(capacity=s) if isinstance(s, int) else s) for m, s in raw.items()}
        self.host = host
        self.gpus = gpus
        self.version = version
        self.address = address or "0x" + hashlib.sha256(name.encode()).hexdigest()[:40]
        self.clock = clock
        self.cert: Certificate = self_signed(host)
        self.trickle = TrickleServer(TRICKLE_BASE, clock=clock)
        self.sessions: dict[str, Session] = {}
        self.runners: list[FakeRunner] = []  # the latest sessions' runners, ended ones included (at most 64)
        self.starts = 0
        self.refusals: dict[int, int] = {}
        self.info_calls = 0
        self._secret = secrets.token_bytes(32)
        self._grpc_port = grpc_port
        self._http_port = http_port
        self._grpc: grpc.aio.Server | None = None
        self._http: web.AppRunner | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    # -- addresses ---------------------------------------------------------------------------------------
    @property
    def grpc_target(self) -> str:
        return f"{self.host}:{self._grpc_port}"

    @property
    def service_uri(self) -> str:
        return f"https://{self.host}:{self._http_port}"

    @property
    def cert_sha256(self) -> str:
        return hashlib.sha256(self.cert.der).hexdigest()

    def in_use(self, model_id: str) -> int:
        return sum(1 for s in self.sessions.values() if s.model_id == model_id)

    def idle(self, model_id: str) -> int:
        spec = self.models.get(model_id)
        return max(0, spec.capacity - self.in_use(model_id)) if spec else 0

    # -- lifecycle ---------------------------------------------------------------------------------------
    async def start(self) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="naap-standin-")
        cert_file, key_file = Path(self._tmp.name) / "cert.pem", Path(self._tmp.name) / "key.pem"
        cert_file.write_bytes(self.cert.cert_pem)
        key_file.write_bytes(self.cert.key_pem)
        os.chmod(key_file, 0o600)
        self._grpc = grpc.aio.server()
        handler = grpc.method_handlers_generic_handler(
            "net.Orchestrator",
            {
                "GetOrchestrator": grpc.unary_unary_rpc_method_handler(
                    self._get_orchestrator,
                    request_deserializer=pb.OrchestratorRequest.FromString,
                    response_serializer=pb.OrchestratorInfo.SerializeToString,
                )
            },
        )
        self._grpc.add_generic_rpc_handlers((handler,))
        creds = grpc.ssl_server_credentials([(self.cert.key_pem, self.cert.cert_pem)])
        self._grpc_port = self._grpc.add_secure_port(f"{self.host}:{self._grpc_port}", creds)
        if not self._grpc_port:
            raise OSError(f"stand-in {self.name}: cannot bind its gRPC port on {self.host}")
        await self._grpc.start()
        app = web.Application(client_max_size=MAX_START_BODY)
        app.router.add_post("/live-video-to-video", self._start)
        app.router.add_post("/payment", self._payment)
        self.trickle.add_routes(app)
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(cert_file, key_file)
        self._http = web.AppRunner(app, handler_cancellation=True, access_log=None)
        await self._http.setup()
        self._http_port = self._http_port or free_port(self.host)
        await web.TCPSite(self._http, self.host, self._http_port, ssl_context=ctx).start()
        self.trickle.start()

    async def stop(self) -> None:
        for s in list(self.sessions.values()):
            s.task.cancel()
        await asyncio.gather(*(s.task for s in list(self.sessions.values())), return_exceptions=True)
        self.sessions.clear()
        await self.trickle.stop()
        if self._http is not None:
            await self._http.cleanup()
            self._http = None
        if self._grpc is not None:
            await self._grpc.stop(None)
            self._grpc = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    async def restart(self, new_certificate: bool = True) -> None:
        """Stop and start again on the same ports (a go-livepeer restart: a new self-signed certificate)."""
        await self.stop()
        if new_certificate:
            self.cert = self_signed(self.host)
        self.trickle = TrickleServer(TRICKLE_BASE, clock=self.clock)
        await self.start()

    async def __aenter__(self) -> "StandIn":
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- gRPC --------------------------------------------------------------------------------------------
    def _auth_token(self) -> pb.AuthToken:
        session_id = secrets.token_hex(4)
        expiration = int(time.time()) + AUTH_TOKEN_VALID_S
        return pb.AuthToken(token=self._token_mac(session_id, expiration), session_id=session_id, expiration=expiration)

    def _token_mac(self, session_id: str, expiration: int) -> bytes:
        exp = expiration.to_bytes((expiration.bit_length() + 7) // 8 or 1, "big")
        return hmac.new(self._secret, session_id.encode() + exp, hashlib.sha256).digest()

    def info(self, auth: pb.AuthToken | None = None) -> pb.OrchestratorInfo:
        """The OrchestratorInfo this stand-in answers (capacity as of now)."""
        info = pb.OrchestratorInfo(transcoder=self.service_uri, address=bytes.fromhex(self.address[2:]), auth_token=auth or self._auth_token())
        caps = info.capabilities
        caps.bitstring.extend(capability_bitstring([CAP_LIVE_VIDEO_TO_VIDEO]))
        caps.version = self.version
        caps.capacities[CAP_LIVE_VIDEO_TO_VIDEO] = sum(s.capacity for s in self.models.values())
        live = caps.constraints.PerCapability[CAP_LIVE_VIDEO_TO_VIDEO]
        for model_id, spec in sorted(self.models.items()):
            m = live.models[model_id]
            m.warm, m.capacity, m.capacityInUse, m.runnerVersion = spec.warm, self.idle(model_id), self.in_use(model_id), spec.runner_version
            if spec.price_per_unit > 0:
                info.capabilities_prices.add(
                    pricePerUnit=spec.price_per_unit, pixelsPerUnit=spec.pixels_per_unit, capability=CAP_LIVE_VIDEO_TO_VIDEO, constraint=model_id
                )
            hw = info.hardware.add(pipeline=PIPELINE, model_id=model_id)
            for i, g in enumerate(self.gpus):
                hw.gpu_info[str(i)].CopyFrom(
                    pb.GPUComputeInfo(id=f"GPU-{self.name}-{i}", name=g.name, major=g.major, minor=g.minor,
                                      memory_free=g.memory_total // 2, memory_total=g.memory_total)  # fmt: skip
                )
        priced = [s for s in self.models.values() if s.price_per_unit > 0]
        if priced:
            cheapest = min(priced, key=lambda s: s.price_per_unit / s.pixels_per_unit)
            info.price_info.CopyFrom(pb.PriceInfo(pricePerUnit=cheapest.price_per_unit, pixelsPerUnit=cheapest.pixels_per_unit))
            info.ticket_params.CopyFrom(pb.TicketParams(recipient=bytes.fromhex(self.address[2:]), face_value=(10**15).to_bytes(7, "big"),
                                                        win_prob=(2**200).to_bytes(32, "big"), seed=secrets.token_bytes(16)))  # fmt: skip
        return info

    async def _get_orchestrator(self, request: pb.OrchestratorRequest, context: grpc.aio.ServicerContext) -> pb.OrchestratorInfo:
        self.info_calls += 1
        if self.profile.offline:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "stand-in offline")
        caps = request.capabilities
        if request.HasField("capabilities") and not request.ignoreCapacityCheck:
            wanted = caps.constraints.PerCapability.get(CAP_LIVE_VIDEO_TO_VIDEO)
            if wanted is not None and wanted.models and not any(self.idle(m) > 0 for m in wanted.models):
                await context.abort(grpc.StatusCode.UNKNOWN, "Invalid orchestrator request: OrchestratorCapped")
        return self.info()

    # -- HTTPS -------------------------------------------------------------------------------------------
    def _refuse(self, status: int, message: str) -> web.Response:
        self.refusals[status] = self.refusals.get(status, 0) + 1
        return _text(status, message)

    def _credentials(self, request: web.Request) -> tuple[pb.Payment | None, pb.SegData | None, web.Response | None]:
        """Decode and check the two headers as go-livepeer's verifySegCreds does (signatures not checked)."""
        try:
            payment = pb.Payment.FromString(base64.b64decode(request.headers.get("Livepeer-Payment", ""), validate=True))
        except Exception as e:  # binascii.Error or a protobuf DecodeError: any undecodable header
            return None, None, self._refuse(402, f"base64 decode error: {e}")
        try:
            seg = pb.SegData.FromString(base64.b64decode(request.headers.get("Livepeer-Segment", ""), validate=True))
        except Exception:
            return None, None, self._refuse(403, "segment encoding error")
        if not seg.HasField("auth_token"):
            return None, None, self._refuse(403, "missing auth token")
        tok = seg.auth_token
        if not hmac.compare_digest(tok.token, self._token_mac(tok.session_id, tok.expiration)):
            return None, None, self._refuse(403, "invalid auth token")
        if tok.expiration < time.time():
            return None, None, self._refuse(403, "expired auth token")
        return payment, seg, None

    async def _start(self, request: web.Request) -> web.Response:
        p = self.profile
        if p.start_delay_s:
            await asyncio.sleep(p.start_delay_s)
        payment, _seg, refused = self._credentials(request)
        if refused is not None:
            return refused
        try:
            body = json.loads(await request.read())
        except (ValueError, web.HTTPException) as e:
            return self._refuse(400, f"invalid JSON: {e}")
        if not isinstance(body, dict) or not isinstance(body.get("model_id"), str):
            return self._refuse(400, "json: request must be an object with a model_id")
        if p.start_status is not None:
            reason = {503: "insufficient capacity", 500: "stand-in: runner start failed", 400: "stand-in: bad request"}
            return self._refuse(p.start_status, reason.get(p.start_status, "stand-in: refused"))
        if p.faults_every > 1 and (self.starts + 1) % p.faults_every:  # this session plays without the faults
            p = p.with_(stall_after_s=None, restart_after_s=None, error_after_s=None, close_after_s=None)
        model_id = body["model_id"]
        spec = self.models.get(model_id)
        if spec is None or self.idle(model_id) == 0:
            return self._refuse(503, "insufficient capacity")
        if spec.price_per_unit > 0 and (payment is None or not payment.sender or not payment.ticket_sender_params):
            return self._refuse(400, "Insufficient balance")
        params = body.get("params", {})
        if not isinstance(params, dict):
            return self._refuse(400, "json: cannot unmarshal params into Go struct field LiveVideoToVideoParams.params of type map[string]interface {}")
        problems = validate_params(params)
        if problems and p.bad_params == "http_400":
            return self._refuse(400, f"invalid params: {'; '.join(problems[:3])}")
        mid = secrets.token_hex(4)
        names = {"in": mid, "out": f"{mid}-out", "control": f"{mid}-control", "events": f"{mid}-events"}
        ch = {k: self.trickle.create(n, "application/json" if k in ("control", "events") else "video/MP2T") for k, n in names.items()}
        runner = FakeRunner(
            pipeline=model_id, profile=p, input=ch["in"], output=ch["out"], control=ch["control"], events=ch["events"],
            params=params if not problems else {}, params_error="; ".join(problems[:3]) if problems else None, clock=self.clock,
        )  # fmt: skip
        self.runners = [*self.runners[-63:], runner]
        task = asyncio.create_task(self._run(mid, runner, names))
        self.sessions[mid] = Session(mid, model_id, runner, task)
        self.starts += 1
        base = f"{self.service_uri}{TRICKLE_BASE}"
        if p.start_reply == "not_json":
            return web.Response(text="<html>welcome</html>", content_type="text/html")
        if p.start_reply == "foreign_origin":
            base = f"https://169.254.169.254{TRICKLE_BASE}"
        return web.json_response({
            "manifest_id": mid, "publish_url": base + names["in"], "subscribe_url": base + names["out"],
            "control_url": base + names["control"], "events_url": base + names["events"],
        })  # fmt: skip

    async def _run(self, mid: str, runner: FakeRunner, names: dict[str, str]) -> None:
        try:
            await runner.run()
        finally:
            self.sessions.pop(mid, None)
            for n in names.values():
                await self.trickle.delete(n)

    async def _payment(self, request: web.Request) -> web.Response:
        _payment, seg, refused = self._credentials(request)
        if refused is not None or seg is None:
            return refused or self._refuse(403, "missing auth token")
        result = pb.PaymentResult(info=self.info(auth=seg.auth_token))
        return web.Response(body=result.SerializeToString(), content_type="application/octet-stream")
