"""GetOrchestrator: what an orchestrator offers for live video-to-video, asked the way a gateway asks.

Facts (go-livepeer, read at commit 176aa415):
- gRPC method `/net.Orchestrator/GetOrchestrator` (net/lp_rpc.proto), served over TLS with a self-signed
  certificate on the service port (server/rpc.go, server/cert.go); gateway deadlines 3 s to connect, 8 s per call
  (rpc.go GRPCConnectTimeout, GRPCTimeout).
- The request leaves `capabilities` unset: `getOrchestrator` then answers through `orchestratorInfo`, which
  includes `hardware` and `capabilities_prices` and performs no live-video capacity refusal, while
  `setLiveAICapacity` still fills each model's capacity (server/rpc.go getOrchestrator,
  orchestratorInfoWithCaps, setLiveAICapacity).
- Capability 35 is live-video-to-video (core/capabilities.go `Capability_LiveVideoToVideo`); bit n of the
  capability set is `bitstring[n/64] >> (n%64) & 1` (addCapability).
- Per model, `capabilities.constraints.PerCapability[35].models[<model id>]`: `capacity` = idle containers,
  `capacityInUse` = busy ones, `warm`, `runnerVersion` (rpc.go setLiveAICapacity).
- Prices: `capabilities_prices` entries with `capability` 35 and `constraint` = model id (wei per
  `pixelsPerUnit` pixels); `price_info` is the base price. Both are absent off-chain (core/orchestrator.go).
- `auth_token` is opaque; it goes back verbatim in the start call's SegData.
- `sig` is EIP-191 over keccak256 of the checksummed address (starter.go, broadcaster.go); an orchestrator
  without an Ethereum client accepts any (core/orchestrator.go VerifySig).
- Errors: `Invalid orchestrator request: OrchestratorCapped` (gRPC Unknown) when the orchestrator is full.

Failures are ProbeFailure with a class from prober/errors.py.
"""

from __future__ import annotations

import asyncio
import os
import ssl
from dataclasses import dataclass, field
from typing import Mapping

# gRPC's C core logs informational lines (e.g. a GOAWAY from a peer that stopped) to stderr unless told otherwise;
# only its errors belong in naap's output. An operator's own GRPC_VERBOSITY wins. Set before grpc is imported.
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")

import grpc  # noqa: E402

from prober import errors
from prober.errors import ProbeFailure
from prober.netguard import resolve_checked
from prober.proto import lp_rpc_pb2 as pb
from prober.tlspin import PinStore, certificate_names, fetch_certificate

METHOD = "/net.Orchestrator/GetOrchestrator"
CAP_LIVE_VIDEO_TO_VIDEO = 35
PIPELINE = "live-video-to-video"
MAX_MESSAGE_BYTES = 4 << 20
MAX_MODELS = 256
MAX_GPUS = 256
TEXT_MAX = 128


@dataclass(frozen=True)
class ModelOffer:
    """One advertised live-video-to-video model: idle and busy runners (containers), warm flag, runner version,
    and its price (wei per `pixels_per_unit` pixels; None when not advertised)."""

    model_id: str
    idle: int
    in_use: int
    warm: bool
    runner_version: str = ""
    price_per_unit: int | None = None
    pixels_per_unit: int | None = None


@dataclass(frozen=True)
class Gpu:
    """One GPU from `hardware[].gpu_info`: memory in bytes, compute capability major.minor."""

    id: str
    name: str
    major: int
    minor: int
    memory_free: int
    memory_total: int
    pipeline: str
    model_id: str


@dataclass(frozen=True)
class OrchestratorView:
    """An orchestrator's answer, parsed. `raw` is the serialized OrchestratorInfo (for a remote signer),
    `auth_token` the serialized AuthToken (for SegData); `cert_sha256` the pinned certificate, `newly_pinned`
    True when this call pinned it."""

    target: str
    transcoder: str
    address: str
    version: str
    live: bool
    models: Mapping[str, ModelOffer]
    price_per_unit: int | None
    pixels_per_unit: int | None
    gpus: tuple[Gpu, ...]
    auth_token: bytes
    raw: bytes = b""
    cert_sha256: str = ""
    newly_pinned: bool = False
    nodes: tuple[str, ...] = field(default_factory=tuple)

    def price_for(self, model_id: str) -> tuple[int, int]:
        """(wei per unit, pixels per unit) for a model: its own price, else the base price, else (0, 1)."""
        offer = self.models.get(model_id)
        if offer is not None and offer.price_per_unit is not None:
            return offer.price_per_unit, max(1, offer.pixels_per_unit or 1)
        if self.price_per_unit is not None:
            return self.price_per_unit, max(1, self.pixels_per_unit or 1)
        return 0, 1


def has_capability(bitstring: list[int], cap: int) -> bool:
    word = cap // 64
    return word < len(bitstring) and bool((bitstring[word] >> (cap % 64)) & 1)


def capability_bitstring(caps: list[int]) -> list[int]:
    """go-livepeer's bit layout (core/capabilities.go addCapability): bit c%64 of word c/64."""
    words = [0] * (max(caps) // 64 + 1 if caps else 0)
    for c in caps:
        words[c // 64] |= 1 << (c % 64)
    return words


def _text(s: str) -> str:
    return s[:TEXT_MAX]


def parse_info(info: pb.OrchestratorInfo, target: str, cert_sha256: str = "", newly_pinned: bool = False) -> OrchestratorView:
    """The typed view of an OrchestratorInfo (bounded: at most MAX_MODELS models and MAX_GPUS GPUs, text
    fields cut to 128 characters). Never raises on odd values: negative prices read as None."""
    prices: dict[str, tuple[int, int]] = {}
    for p in info.capabilities_prices:
        if p.capability == CAP_LIVE_VIDEO_TO_VIDEO and p.pricePerUnit >= 0:
            prices[p.constraint] = (p.pricePerUnit, p.pixelsPerUnit)
    models: dict[str, ModelOffer] = {}
    caps = info.capabilities
    live = caps.constraints.PerCapability.get(CAP_LIVE_VIDEO_TO_VIDEO)
    if live is not None:
        for model_id in sorted(live.models)[:MAX_MODELS]:
            m = live.models[model_id]
            price = prices.get(model_id)
            models[_text(model_id)] = ModelOffer(
                _text(model_id), m.capacity, m.capacityInUse, m.warm, _text(m.runnerVersion),
                price[0] if price else None, price[1] if price else None,
            )  # fmt: skip
    gpus: list[Gpu] = []
    for hw in info.hardware:
        for key in sorted(hw.gpu_info):
            if len(gpus) >= MAX_GPUS:
                break
            g = hw.gpu_info[key]
            gpus.append(Gpu(_text(g.id or key), _text(g.name), g.major, g.minor, g.memory_free, g.memory_total, _text(hw.pipeline), _text(hw.model_id)))
    base = info.price_info if info.HasField("price_info") and info.price_info.pricePerUnit >= 0 else None
    return OrchestratorView(
        target=target,
        transcoder=info.transcoder[:512],
        address="0x" + info.address.hex() if len(info.address) == 20 else "",
        version=_text(caps.version),
        live=has_capability(list(caps.bitstring), CAP_LIVE_VIDEO_TO_VIDEO),
        models=models,
        price_per_unit=base.pricePerUnit if base is not None else None,
        pixels_per_unit=base.pixelsPerUnit if base is not None else None,
        gpus=tuple(gpus),
        auth_token=info.auth_token.SerializeToString() if info.HasField("auth_token") else b"",
        raw=info.SerializeToString(),
        cert_sha256=cert_sha256,
        newly_pinned=newly_pinned,
        nodes=tuple(n[:512] for n in info.nodes[:64]),
    )


def split_target(target: str) -> tuple[str, int]:
    """(host, port) of "host:port", "[v6]:port" or "https://host:port"; ValueError when malformed."""
    t = target.split("://", 1)[-1].split("/", 1)[0]
    host, sep, port = t.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536 or not host:
        raise ValueError(f"orchestrator target must be host:port, got {target[:100]!r}")
    return host.strip("[]"), int(port)


def _classify_rpc(e: grpc.aio.AioRpcError, target: str) -> ProbeFailure:
    code, details = e.code(), (e.details() or "")[:300]
    if "OrchestratorCapped" in details:
        return ProbeFailure(errors.NO_CAPACITY, errors.EXCLUDED, f"{target}: orchestrator capped")
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return ProbeFailure(errors.TIMEOUT, errors.ORCHESTRATOR, f"{target}: GetOrchestrator past its deadline")
    if code == grpc.StatusCode.UNAVAILABLE:
        low = details.lower()
        if "handshake" in low or "ssl" in low or "tsi" in low or "certificate" in low:
            return ProbeFailure(errors.TLS, errors.ORCHESTRATOR, f"{target}: TLS failed against the pinned certificate: {details}")
        return ProbeFailure(errors.ORCHESTRATOR_RESET, errors.ORCHESTRATOR, f"{target}: unavailable: {details}")
    if "sig check failed" in details or "authentication failed" in details:
        return ProbeFailure(errors.BAD_REQUEST, errors.PROBER, f"{target}: refused the prober's identity: {details}")
    return ProbeFailure(errors.UNKNOWN, errors.ORCHESTRATOR, f"{target}: GetOrchestrator failed ({code.name}): {details}")


async def get_orchestrator_info(
    target: str,
    *,
    pins: PinStore,
    address: bytes = b"",
    sig: bytes = b"",
    connect_timeout_s: float = 3.0,
    timeout_s: float = 8.0,
    allow_loopback: bool = False,
) -> OrchestratorView:
    """Ask `target` ("host:port") for its OrchestratorInfo over TLS, pinning its certificate on first use.

    `address`/`sig`: the gateway identity sent in the request (20 bytes / 65 bytes; empty off-chain).
    Raises ProbeFailure: refused_address (excluded), dns, connect, timeout, orchestrator_reset, tls, tls_pin_mismatch, no_capacity,
    bad_request (our identity refused, fault prober), unknown.
    """
    try:
        host, port = split_target(target)
    except ValueError as e:
        raise ProbeFailure(errors.REFUSED_ADDRESS, errors.EXCLUDED, str(e)) from None
    ip = await resolve_checked(host, port, allow_loopback)
    der = await fetch_certificate(ip, port, connect_timeout_s)
    fp, newly = pins.check(f"{host}:{port}", der)
    names = certificate_names(der)
    override = names[0] if names else host
    creds = grpc.ssl_channel_credentials(root_certificates=_pem(der))
    addr = f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
    options = [
        ("grpc.ssl_target_name_override", override),
        ("grpc.default_authority", override),
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ("grpc.enable_retries", 0),
    ]
    request = pb.OrchestratorRequest(address=address, sig=sig)
    try:
        async with grpc.aio.secure_channel(addr, creds, options=options) as channel:
            call = channel.unary_unary(
                METHOD, request_serializer=pb.OrchestratorRequest.SerializeToString, response_deserializer=pb.OrchestratorInfo.FromString
            )
            async with asyncio.timeout(connect_timeout_s + timeout_s):
                info = await call(request, timeout=connect_timeout_s + timeout_s)
    except grpc.aio.AioRpcError as e:
        raise _classify_rpc(e, target) from None
    except TimeoutError:
        raise ProbeFailure(errors.TIMEOUT, errors.ORCHESTRATOR, f"{target}: GetOrchestrator past its deadline") from None
    return parse_info(info, target, fp, newly)


def _pem(der: bytes) -> bytes:
    return ssl.DER_cert_to_PEM_cert(der).encode()
