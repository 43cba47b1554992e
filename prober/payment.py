"""Credentials for the start call and live payments: the `Livepeer-Segment` and `Livepeer-Payment` headers.

Facts (go-livepeer, commit 176aa415):
- Both headers are `base64.StdEncoding(proto.Marshal(msg))` of a `SegData` and a `Payment`
  (server/segment_rpc.go). An empty `Livepeer-Payment` decodes to an empty Payment; off-chain orchestrators
  (no price) skip payments entirely (server/ai_live_video.go, core/orchestrator.go).
- For AI the gateway's SegData carries `manifestId`, `seq` 0, `hash` = keccak256(""), `profiles` "invalid",
  `duration` 0, the session's `capabilities`, the orchestrator's `auth_token` verbatim, and `sig`
  (segment_rpc.go genSegCreds). The orchestrator checks the signature only on chain, `capabilities` only when
  present, and always the auth token (present, HMAC, not expired) (segment_rpc.go verifySegCreds). Off-chain
  the prober builds SegData itself with the auth token and no capabilities (omitting them passes the check).
- On chain the prober holds no key: go-livepeer's remote signer (server/remote_signer.go) signs.
  `POST {signer}/sign-orchestrator-info` → `{"address","signature"}` (hex) for OrchestratorRequest;
  `POST {signer}/generate-live-payment` with JSON `{"orchestrator": base64(OrchestratorInfo), "ManifestID",
  "inPixels", "type": "lv2v", "state"}` (ManifestID capitalised: the Go field has no json tag) →
  `{"payment": base64(Payment), "segCreds": base64(SegData), "state": {"State","Sig"}}`; status 480 = refresh
  the session, 481 = price above the signer's maximum, 482 = no ticket needed yet.
- Pixels billed: 1280×720×30 per second (live_payment_processor.go); the first payment covers 60 s
  (ai_process.go initPixelsToPay).

A signer that cannot be reached or answers badly is the prober's fault: ProbeFailure(prober_error, prober).
"""

from __future__ import annotations

import asyncio
import base64
import json
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp

from prober import errors
from prober.errors import ProbeFailure
from prober.httpio import read_capped
from prober.proto import lp_rpc_pb2 as pb

PIXELS_PER_SECOND = 1280 * 720 * 30
INITIAL_PIXELS = 60 * PIXELS_PER_SECOND
KECCAK_EMPTY = bytes.fromhex("c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470")
ZERO_ADDRESS = b"\x00" * 20
STATUS_REFRESH, STATUS_PRICE_EXCEEDED, STATUS_NO_TICKETS = 480, 481, 482
MAX_REPLY_BYTES = 1 << 20


@dataclass(frozen=True)
class Credentials:
    """Header values for one call: `payment` ("" = none) and `seg_creds` (base64 SegData)."""

    payment: str
    seg_creds: str

    def headers(self) -> dict[str, str]:
        h = {"Livepeer-Segment": self.seg_creds}
        if self.payment:
            h["Livepeer-Payment"] = self.payment
        return h


def seg_creds(auth_token: bytes, manifest_id: str) -> str:
    """Off-chain SegData (base64): the orchestrator's serialized AuthToken copied verbatim, no signature."""
    seg = pb.SegData(
        manifestId=manifest_id.encode(), seq=0, hash=KECCAK_EMPTY, profiles=b"invalid", duration=0, auth_token=pb.AuthToken.FromString(auth_token)
    )
    return base64.b64encode(seg.SerializeToString()).decode()


class PaymentSigner(Protocol):
    """Who signs for the prober. `state` is opaque per-stream state returned by the previous call."""

    async def identity(self) -> tuple[bytes, bytes]:
        """(address 20 bytes, signature) for OrchestratorRequest; empty signature off-chain."""
        ...

    async def live_payment(
        self, info_raw: bytes, auth_token: bytes, manifest_id: str, in_pixels: int, state: Any
    ) -> tuple[Credentials, Any]:
        """Credentials paying for `in_pixels` pixels of `manifest_id`, and the state for the next call."""
        ...

    async def close(self) -> None: ...


class OffchainSigner:
    """No payments: for orchestrators that charge nothing (`-network offchain`). Sends `address` (or the zero
    address) with no signature."""

    def __init__(self, address: str = "") -> None:
        self.address = bytes.fromhex(address[2:]) if address else ZERO_ADDRESS

    async def identity(self) -> tuple[bytes, bytes]:
        return self.address, b""

    async def live_payment(self, info_raw: bytes, auth_token: bytes, manifest_id: str, in_pixels: int, state: Any) -> tuple[Credentials, Any]:
        return Credentials("", seg_creds(auth_token, manifest_id)), state

    async def close(self) -> None:
        return None


class RemoteSigner:
    """go-livepeer's remote signer over HTTP (`-remoteSigner`; server/remote_signer.go). One instance may serve
    many probes; per-stream state travels through `live_payment`'s `state`."""

    def __init__(self, url: str, timeout_s: float = 3.0) -> None:
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout_s))
        return self._session

    async def _post(self, path: str, body: dict[str, Any] | None) -> tuple[int, dict[str, Any]]:
        url = f"{self.url}{path}"
        try:
            async with asyncio.timeout(self.timeout_s):
                async with self._http().post(url, json=body) as resp:
                    raw = await read_capped(resp, MAX_REPLY_BYTES)
                    status = resp.status
        except TimeoutError:
            raise ProbeFailure(errors.PROBER_ERROR, errors.PROBER, f"remote signer {url} took over {self.timeout_s} s") from None
        except (aiohttp.ClientError, OSError) as e:
            raise ProbeFailure(errors.PROBER_ERROR, errors.PROBER, f"remote signer {url} unreachable: {e}") from None
        if status in (STATUS_REFRESH, STATUS_PRICE_EXCEEDED, STATUS_NO_TICKETS):
            return status, {}
        if status != 200 or len(raw) > MAX_REPLY_BYTES:
            raise ProbeFailure(errors.PROBER_ERROR, errors.PROBER, f"remote signer {url} answered {status} {raw[:200]!r}")
        try:
            data = json.loads(raw)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise ProbeFailure(errors.PROBER_ERROR, errors.PROBER, f"remote signer {url} answered non-object JSON")
        return status, data

    async def identity(self) -> tuple[bytes, bytes]:
        _, data = await self._post("/sign-orchestrator-info", None)
        try:
            address = bytes.fromhex(str(data["address"]).removeprefix("0x"))
            sig = bytes.fromhex(str(data["signature"]).removeprefix("0x"))
        except (KeyError, ValueError):
            raise ProbeFailure(errors.PROBER_ERROR, errors.PROBER, "remote signer identity reply lacks address/signature") from None
        if len(address) != 20:
            raise ProbeFailure(errors.PROBER_ERROR, errors.PROBER, "remote signer address is not 20 bytes")
        return address, sig

    async def live_payment(self, info_raw: bytes, auth_token: bytes, manifest_id: str, in_pixels: int, state: Any) -> tuple[Credentials, Any]:
        body: dict[str, Any] = {
            "orchestrator": base64.b64encode(info_raw).decode(),
            "ManifestID": manifest_id,
            "inPixels": in_pixels,
            "type": "lv2v",
        }
        if state:
            body["state"] = state
        status, data = await self._post("/generate-live-payment", body)
        if status == STATUS_NO_TICKETS:
            return Credentials("", seg_creds(auth_token, manifest_id)), state
        if status == STATUS_PRICE_EXCEEDED:
            raise ProbeFailure(errors.PROBER_ERROR, errors.PROBER, "remote signer: orchestrator price above the signer's maximum")
        if status == STATUS_REFRESH:
            raise ProbeFailure(errors.PROBER_ERROR, errors.PROBER, "remote signer asks for a session refresh (480)")
        payment, creds = data.get("payment"), data.get("segCreds")
        if not isinstance(payment, str) or not isinstance(creds, str):
            raise ProbeFailure(errors.PROBER_ERROR, errors.PROBER, "remote signer payment reply lacks payment/segCreds")
        return Credentials(payment, creds), data.get("state", state)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
