"""The private routes wired into the real app: Sign-In with Ethereum with real secp256k1 keys (eth-account), a PyJWT
token, then an orchestrator's own raw samples and per-GPU detail from chDB; every refusal a 401/403 JSON.

The sign-in clock is injected (epoch ms moved by hand); the data windows are explicit intervals, so nothing depends
on the wall clock's speed."""

from __future__ import annotations

import base64
import json
import time
from typing import Any, Iterator

import jwt
import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from litestar.testing import TestClient

from api.app import create_app
from api.auth import AuthConfig, AuthState
from api.config import ApiSettings
from api.query import time_window
from scoring.history import SAMPLE_COLUMNS
from scoring.sla_config import load_config
from warehouse.client import Warehouse

KEY_A = "0x" + "a1" * 32
KEY_B = "0x" + "b2" * 32
ADDR_A = Account.from_key(KEY_A).address  # EIP-55
ADDR_B = Account.from_key(KEY_B).address
SECRET = "private-routes-secret-" + "z" * 20
GPU = "GPU-12345678-aaaa-bbbb-cccc-000000000001"
WF = ("live-video-to-video", "streamdiffusion-sdxl")


class Clock:
    def __init__(self, ms: int) -> None:
        self.ms = ms

    def __call__(self) -> int:
        return self.ms


def _rows(orch: str, t: int) -> list[tuple]:
    out = []
    for i, util in enumerate((0.5, 0.7, 0.9)):
        ts = t + i * 60_000
        for metric, labels, value in (
            ("naap_gpu_info", {"gpu_id": GPU, "gpu_index": "0", "name": "NVIDIA L40S", "vram_bytes": "48318382080",
                               "driver_version": "550.54", "cuda_version": "12.4"}, 1.0),
            ("naap_gpu_utilization_ratio", {"gpu_id": GPU}, util),
            ("naap_gpu_temperature_celsius", {"gpu_id": GPU}, 60.0),
            ("naap_stream_output_fps", {"gpu_id": GPU, "pipeline": WF[0], "model_id": WF[1], "stream_id": "s1"}, 20.0),
        ):  # fmt: skip
            out.append((ts, orch, "o:9935", metric, labels, value, ts + 100))
    return out


@pytest.fixture
def setup(warehouse: Warehouse) -> Iterator[tuple[TestClient, Clock, int]]:
    t = (int(time.time() * 1000) // 3_600_000 - 2) * 3_600_000
    rows = _rows(ADDR_A.lower(), t) + _rows(ADDR_B.lower(), t)
    warehouse.insert_columns("samples", SAMPLE_COLUMNS, [list(c) for c in zip(*rows)])
    settings = ApiSettings(rate_limit_per_minute=100_000, auth_jwt_secret=SECRET)
    app = create_app(warehouse.reader(), load_config(), settings)
    clock = Clock(int(time.time() * 1000))
    app.state["auth"] = AuthState(AuthConfig(**settings.auth_kwargs()), clock=clock)
    with TestClient(app) as client:
        yield client, clock, t


def sign(message: str, key: str) -> str:
    return Account.sign_message(encode_defunct(text=message), key).signature.to_0x_hex()


def challenge(client: TestClient, address: str) -> str:
    r = client.get("/v1/auth/nonce", params={"address": address})
    assert r.status_code == 200, r.text
    return r.json()["message"]


def token_for(client: TestClient, key: str) -> str:
    msg = challenge(client, Account.from_key(key).address)
    r = client.post("/v1/auth/login", json={"message": msg, "signature": sign(msg, key)})
    assert r.status_code == 200, r.text
    return r.json()["token"]


def refused(r: Any, status: int, reason: str) -> None:
    assert r.status_code == status, (r.status_code, r.text)
    body = r.json()
    assert body["status"] == status and body["reason"] == reason and "Traceback" not in r.text, body


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_an_orchestrator_reads_its_own_samples_after_signing_in(setup: tuple[TestClient, Clock, int]) -> None:
    client, _, t = setup
    token = token_for(client, KEY_A)
    tw = time_window(t, t + 600_000)
    r = client.get(f"/v1/orchestrators/{ADDR_A}/samples", params={"time_range": tw, "metric": "naap_gpu_utilization_ratio"},
                   headers=bearer(token))  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.headers["Cache-Control"] == "private, no-store"
    body = r.json()
    assert body["orchestrator"] == ADDR_A.lower() and body["count"] == 3
    assert [(s["ts"] - t, s["value"], s["labels"]) for s in body["samples"]] == [
        (0, 0.5, {"gpu_id": GPU}), (60_000, 0.7, {"gpu_id": GPU}), (120_000, 0.9, {"gpu_id": GPU})]
    every = client.get(f"/v1/orchestrators/{ADDR_A.lower()}/samples", params={"time_range": tw}, headers=bearer(token)).json()
    assert every["count"] == 12  # 4 series x 3 scrapes
    p1 = client.get(f"/v1/orchestrators/{ADDR_A}/samples", params={"time_range": tw, "limit": "5"}, headers=bearer(token)).json()
    p2 = client.get(f"/v1/orchestrators/{ADDR_A}/samples", params={"time_range": tw, "limit": "5", "cursor": p1["next_cursor"]},
                    headers=bearer(token)).json()  # fmt: skip
    p3 = client.get(f"/v1/orchestrators/{ADDR_A}/samples", params={"time_range": tw, "limit": "5", "cursor": p2["next_cursor"]},
                    headers=bearer(token)).json()  # fmt: skip
    assert p1["samples"] + p2["samples"] + p3["samples"] == every["samples"] and p3["next_cursor"] is None


def test_per_gpu_detail_of_ones_own_orchestrator(setup: tuple[TestClient, Clock, int]) -> None:
    client, _, t = setup
    token = token_for(client, KEY_A)
    r = client.get(f"/v1/orchestrators/{ADDR_A}/gpus", params={"time_range": time_window(t, t + 600_000)}, headers=bearer(token))
    assert r.status_code == 200, r.text
    [g] = r.json()["gpus"]
    assert (g["gpu_id"], g["gpu_instance"], g["gpu_model"], g["vram_bytes"], g["driver_version"]) == (
        GPU, "", "NVIDIA L40S", 48318382080, "550.54")
    util = g["gauges"]["utilization_ratio"]
    assert (util["min"], util["max"], util["samples"]) == (0.5, 0.9, 3) and abs(util["avg"] - 0.7) < 1e-12
    assert g["gauges"]["temperature_celsius"]["avg"] == 60.0 and g["workflows"] == ["/".join(WF)]


def test_no_token_a_bad_token_and_someone_elses_token_are_refused(setup: tuple[TestClient, Clock, int]) -> None:
    client, clock, t = setup
    path = f"/v1/orchestrators/{ADDR_A}/samples"
    refused(client.get(path), 401, "missing_token")
    refused(client.get(path, headers={"Authorization": "Bearer not.a.jwt"}), 401, "invalid_token")
    refused(client.get(f"/v1/orchestrators/{ADDR_A}/gpus"), 401, "missing_token")
    token_b = token_for(client, KEY_B)
    refused(client.get(path, headers=bearer(token_b)), 403, "wrong_address")
    refused(client.get(f"/v1/orchestrators/{ADDR_A}/gpus", headers=bearer(token_b)), 403, "wrong_address")
    assert client.get(f"/v1/orchestrators/{ADDR_B}/gpus", headers=bearer(token_b)).status_code == 200
    # alg=none with valid-looking claims
    now = clock.ms // 1000
    claims = {"iss": "127.0.0.1:8000", "aud": "127.0.0.1:8000", "sub": ADDR_A.lower(), "iat": now, "nbf": now,
              "exp": now + 900, "jti": "x"}  # fmt: skip
    b64 = lambda o: base64.urlsafe_b64encode(json.dumps(o).encode()).rstrip(b"=").decode()  # noqa: E731
    refused(client.get(path, headers=bearer(f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}.")), 401, "invalid_token")
    refused(client.get(path, headers=bearer(jwt.encode(claims, "another-secret-" + "q" * 30, algorithm="HS256"))), 401, "invalid_token")
    assert client.get(path, headers=bearer(jwt.encode(claims, SECRET, algorithm="HS256"))).status_code == 200  # control
    # a valid token expires
    token_a = token_for(client, KEY_A)
    clock.ms += (900 + 6) * 1000
    refused(client.get(path, headers=bearer(token_a)), 401, "token_expired")


def test_forged_signatures_and_replayed_nonces_get_no_token(setup: tuple[TestClient, Clock, int]) -> None:
    client, _, _ = setup
    msg = challenge(client, ADDR_A)
    r = client.post("/v1/auth/login", json={"message": msg, "signature": sign(msg, KEY_B)})  # B signs A's message
    refused(r, 401, "bad_signature")
    refused(client.post("/v1/auth/login", json={"message": msg, "signature": sign(msg, KEY_A)}), 401, "nonce_used")
    other = challenge(client, ADDR_A).replace("127.0.0.1:8000 wants", "evil.example:8000 wants")
    refused(client.post("/v1/auth/login", json={"message": other, "signature": sign(other, KEY_A)}), 401, "domain_mismatch")


def test_a_private_answer_is_never_served_from_the_cache(setup: tuple[TestClient, Clock, int]) -> None:
    client, _, t = setup
    params = {"time_range": time_window(t, t + 600_000)}
    token = token_for(client, KEY_A)
    ok = client.get(f"/v1/orchestrators/{ADDR_A}/gpus", params=params, headers=bearer(token))
    assert ok.status_code == 200
    refused(client.get(f"/v1/orchestrators/{ADDR_A}/gpus", params=params), 401, "missing_token")
    r = client.get(f"/v1/orchestrators/{ADDR_A}/gpus", params=params, headers={**bearer(token), "If-None-Match": ok.headers["ETag"]})
    assert r.status_code == 304
