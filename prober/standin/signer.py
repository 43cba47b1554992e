"""A loopback stand-in for go-livepeer's remote signer (server/remote_signer.go), enough to exercise the
prober's RemoteSigner: the same two routes and JSON shapes, but no Ethereum key — signatures are 65 bytes of
HMAC output, which the stand-in orchestrator (like an off-chain go-livepeer) does not check.

  POST /sign-orchestrator-info → {"address": "0x…", "signature": "0x…"}
  POST /generate-live-payment  {"orchestrator": b64 OrchestratorInfo, "ManifestID", "inPixels", "type", "state"?}
                               → {"payment": b64 Payment, "segCreds": b64 SegData, "state": {"State", "Sig"}}
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets

from aiohttp import web

from exporter.common.net import free_port
from prober.payment import KECCAK_EMPTY
from prober.proto import lp_rpc_pb2 as pb


class StandInSigner:
    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = 0
        self.address = "0x" + secrets.token_hex(20)
        self._secret = secrets.token_bytes(32)
        self._runner: web.AppRunner | None = None
        self.payments = 0

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _sig(self, data: bytes) -> bytes:
        mac = hmac.new(self._secret, data, hashlib.sha512).digest()
        return mac[:64] + b"\x1b"

    async def start(self) -> None:
        app = web.Application(client_max_size=1 << 20)
        app.router.add_post("/sign-orchestrator-info", self._identity)
        app.router.add_post("/generate-live-payment", self._payment)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        self.port = self.port or free_port(self.host)
        await web.TCPSite(self._runner, self.host, self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _identity(self, _request: web.Request) -> web.Response:
        return web.json_response({"address": self.address, "signature": "0x" + self._sig(self.address.encode()).hex()})

    async def _payment(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
            info = pb.OrchestratorInfo.FromString(base64.b64decode(body["orchestrator"], validate=True))
            mid = str(body.get("ManifestID", ""))
        except Exception as e:  # any malformed request: 400 with the reason, as a signer would
            return web.Response(status=400, text=f"bad request: {e}\n")
        nonce = 0
        if isinstance(body.get("state"), dict):
            try:
                nonce = json.loads(base64.b64decode(body["state"]["State"]))["nonce"]
            except Exception:
                return web.Response(status=400, text="bad state\n")
        nonce += 1
        sender = bytes.fromhex(self.address[2:])
        payment = pb.Payment(
            ticket_params=info.ticket_params, sender=sender, expected_price=info.price_info,
            ticket_sender_params=[pb.TicketSenderParams(sender_nonce=nonce, sig=self._sig(f"{mid}|{nonce}".encode()))],
        )  # fmt: skip
        seg = pb.SegData(manifestId=mid.encode(), seq=0, hash=KECCAK_EMPTY, profiles=b"invalid", auth_token=info.auth_token,
                         sig=self._sig(mid.encode()))  # fmt: skip
        state = base64.b64encode(json.dumps({"nonce": nonce}).encode()).decode()
        self.payments += 1
        return web.json_response({
            "payment": base64.b64encode(payment.SerializeToString()).decode(),
            "segCreds": base64.b64encode(seg.SerializeToString()).decode(),
            "state": {"State": state, "Sig": base64.b64encode(self._sig(state.encode())).decode()},
        })  # fmt: skip
