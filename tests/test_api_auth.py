"""Sign-In with Ethereum (EIP-4361), then a short-lived JWT: the private API's door, over HTTP.

Real parts: messages signed with real secp256k1 keys by eth-account (`Account.sign_message(encode_defunct(...))`),
tokens made and checked by PyJWT, the routes in a Litestar app with the project's exception handlers, driven by
Litestar's TestClient, and once by the documented example over a uvicorn server on loopback. Time is an injected
clock (epoch milliseconds) that the tests move by hand: nothing here sleeps on or measures time. Every refusal
must be JSON `{"status", "message", "reason"}` with 400, 401 or 403, never a 500.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import json
import random
import re
import socket
import sys
import threading
from pathlib import Path
from typing import Annotated, Any, Iterator

import aiohttp
import jwt
import pytest
import uvicorn
from eth_account import Account
from eth_account.messages import encode_defunct
from litestar import Litestar, Request, get
from litestar.datastructures import State
from litestar.openapi import OpenAPIConfig
from litestar.params import Parameter
from litestar.testing import TestClient

from api.auth import (
    REASONS,
    SECP256K1_N,
    AuthConfig,
    AuthError,
    AuthState,
    NonceStore,
    SiweMessage,
    is_checksum_address,
    parse_message,
    parse_rfc3339_ms,
    rfc3339,
)
from api.errors import EXCEPTION_HANDLERS
from api.routes.auth import (
    AUTH_EXCEPTION_HANDLERS,
    AUTH_ROUTES,
    BEARER_COMPONENTS,
    BEARER_SECURITY,
    ORCHESTRATOR_DEPENDENCY,
    PRIVATE_ROUTE_RESPONSES,
    require_address,
    token_guard,
)

try:  # Litestar ≥ 2.23 wants named dependencies marked; older ones infer them
    from litestar.di import NamedDependency

    Orchestrator = NamedDependency[str]
except ImportError:  # pragma: no cover
    Orchestrator = str  # type: ignore[misc]

KEY_A = "0x" + "a1" * 32  # fixed test keys: the orchestrator, and someone else
KEY_B = "0x" + "b2" * 32
A = Account.from_key(KEY_A).address  # EIP-55 checksummed
B = Account.from_key(KEY_B).address
SECRET = "test-secret-" + "x" * 40
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
DOMAIN = "127.0.0.1:8000"


class Clock:
    """Epoch milliseconds that move only when a test says so."""

    def __init__(self, ms: int = T0) -> None:
        self.ms = ms

    def __call__(self) -> int:
        return self.ms

    def advance(self, seconds: float) -> None:
        self.ms += int(seconds * 1000)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def state(clock: Clock) -> AuthState:
    return AuthState(AuthConfig(jwt_secret=SECRET), clock=clock)


@get("/private/me", dependencies=ORCHESTRATOR_DEPENDENCY, sync_to_thread=False, security=BEARER_SECURITY,
     responses=PRIVATE_ROUTE_RESPONSES)  # fmt: skip
def private_me(orchestrator: Orchestrator) -> dict[str, str]:
    return {"address": orchestrator}


@get("/private/{address:str}/detail", sync_to_thread=False, security=BEARER_SECURITY, responses=PRIVATE_ROUTE_RESPONSES)
def private_detail(request: Request, address: Annotated[str, Parameter(description="An address.")]) -> dict[str, str]:
    return {"address": require_address(request, address), "detail": "per-GPU rows"}


@get("/private/guarded", guards=[token_guard], sync_to_thread=False)
def private_guarded() -> dict[str, bool]:
    return {"ok": True}


def make_app(state: AuthState | None, handlers: dict | None = None) -> Litestar:
    """The auth routes and three private test routes, with the project's handlers (+ the auth ones by default)."""
    return Litestar(
        route_handlers=[*AUTH_ROUTES, private_me, private_detail, private_guarded],
        state=State({"auth": state} if state is not None else {}),
        exception_handlers=handlers if handlers is not None else {**EXCEPTION_HANDLERS, **AUTH_EXCEPTION_HANDLERS},
        openapi_config=OpenAPIConfig(title="t", version="0", components=BEARER_COMPONENTS),
        debug=False,
        logging_config=None,
    )


@pytest.fixture
def client(state: AuthState) -> Iterator[TestClient]:
    with TestClient(make_app(state)) as c:
        yield c


# ----------------------------------------------------------------------------------------------------- helpers


def sign(message: str, key: str = KEY_A) -> str:
    return Account.sign_message(encode_defunct(text=message), key).signature.to_0x_hex()


def fresh(client: TestClient, who: str = A, **changes: Any) -> str:
    """A ready message from a fresh server nonce for `who`, with `changes` to its fields."""
    r = client.get("/v1/auth/nonce", params={"address": who})
    assert r.status_code == 200, r.text
    m = parse_message(r.json()["message"])
    return dataclasses.replace(m, **changes).to_text()


def login(client: TestClient, message: str, signature: str) -> Any:
    return client.post("/v1/auth/login", json={"message": message, "signature": signature})


def refused(r: Any, status: int, reason: str) -> dict:
    """`r` is a JSON refusal with this status and reason; returns its body."""
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert body["status"] == status and body["reason"] == reason, body
    assert isinstance(body["message"], str) and body["message"] and "Traceback" not in r.text
    if status == 401:
        assert r.headers["www-authenticate"].startswith("Bearer realm=")
    return body


def token_for(client: TestClient, key: str = KEY_A) -> str:
    address = Account.from_key(key).address
    r = login(client, msg := fresh(client, address), sign(msg, key))
    assert r.status_code == 200, r.text
    return r.json()["token"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def b64(obj: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def good_claims(now_ms: int = T0, address: str = A) -> dict[str, Any]:
    now = now_ms // 1000
    return {"iss": DOMAIN, "aud": DOMAIN, "sub": address.lower(), "iat": now, "nbf": now, "exp": now + 900, "jti": "j1"}


# --------------------------------------------------------------------------------------------- the good path


def test_a_signed_message_gives_a_token_that_private_routes_accept(client: TestClient, clock: Clock) -> None:
    r = client.get("/v1/auth/nonce", params={"address": A.lower()})
    nonce = r.json()
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    assert nonce["domain"] == DOMAIN and nonce["chain_id"] == 42161 and nonce["chain_ids"] == [42161]
    assert nonce["issued_at"] == "2026-01-01T00:00:00.000Z" and nonce["expires_at"] == "2026-01-01T00:05:00.000Z"
    assert len(nonce["nonce"]) == 32 and nonce["nonce"].isalnum()
    # the ready message is the template with the checksummed address
    assert nonce["message"] == nonce["message_template"].replace("${address}", A)
    msg = parse_message(nonce["message"])
    assert msg.nonce == nonce["nonce"] and msg.address == A and msg.uri == nonce["uri"]

    r = login(client, nonce["message"], sign(nonce["message"]))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "Bearer" and body["address"] == A.lower() and r.headers["cache-control"] == "no-store"
    assert body["expires_at"] == "2026-01-01T00:15:00.000Z" and body["expires_in"] == 900
    claims = jwt.decode(body["token"], options={"verify_signature": False})
    assert jwt.get_unverified_header(body["token"])["alg"] == "HS256"
    assert claims["sub"] == A.lower() and claims["iss"] == claims["aud"] == DOMAIN
    assert claims["exp"] - claims["iat"] == 900 and claims["nbf"] == claims["iat"] == T0 // 1000 and claims["jti"]

    clock.advance(60)
    assert client.get("/private/me", headers=bearer(body["token"])).json() == {"address": A.lower()}
    r = client.get(f"/private/{A}/detail", headers=bearer(body["token"]))  # any case of the same address
    assert r.status_code == 200 and r.json()["address"] == A.lower()
    assert client.get("/private/guarded", headers={"authorization": f"bearer {body['token']}"}).json() == {"ok": True}


def test_the_template_signed_as_is_works_too(client: TestClient) -> None:
    template = client.get("/v1/auth/nonce").json()
    assert template["message"] is None
    message = template["message_template"].replace("${address}", A)
    assert login(client, message, sign(message)).status_code == 200


def test_a_v_of_0_or_1_is_read_as_27_or_28(client: TestClient) -> None:
    msg = fresh(client)
    sig = sign(msg)
    low_v = sig[:-2] + f"{int(sig[-2:], 16) - 27:02x}"
    assert login(client, msg, low_v).status_code == 200


def test_a_message_on_another_path_of_this_origin_and_an_explicit_scheme_are_accepted(client: TestClient) -> None:
    for changes in ({"uri": "http://127.0.0.1:8000/somewhere/else?x=1"}, {"scheme": "http"},
                    {"uri": "HTTP://127.0.0.1:8000/"}, {"not_before": "2026-01-01T00:01:00Z"},  # within the skew
                    {"request_id": "abc-123", "resources": ("https://example.com/a",)}):  # fmt: skip
        msg = fresh(client, **changes)
        assert login(client, msg, sign(msg)).status_code == 200, changes


# ------------------------------------------------------------------------------------------ refused sign-ins


def test_a_signature_by_another_key_is_refused(client: TestClient) -> None:
    msg = fresh(client)  # says A
    refused(login(client, msg, sign(msg, KEY_B)), 401, "bad_signature")


def test_a_signature_over_another_message_is_refused(client: TestClient) -> None:
    signed = fresh(client)
    presented = fresh(client)
    refused(login(client, presented, sign(signed)), 401, "bad_signature")


def test_a_nonce_is_single_use_after_a_success(client: TestClient) -> None:
    msg = fresh(client)
    sig = sign(msg)
    assert login(client, msg, sig).status_code == 200
    refused(login(client, msg, sig), 401, "nonce_used")


def test_a_nonce_is_spent_by_a_failed_attempt(client: TestClient) -> None:
    msg = fresh(client)
    refused(login(client, msg, sign(msg, KEY_B)), 401, "bad_signature")
    refused(login(client, msg, sign(msg)), 401, "nonce_used")  # the right signature comes too late


def test_a_message_that_does_not_parse_spends_nothing(client: TestClient) -> None:
    msg = fresh(client)
    refused(login(client, msg + "\n", sign(msg + "\n")), 400, "malformed_message")
    assert login(client, msg, sign(msg)).status_code == 200


def test_an_unknown_nonce_is_refused(client: TestClient) -> None:
    msg = fresh(client, nonce="deadbeefcafe0123456789")
    refused(login(client, msg, sign(msg)), 401, "nonce_unknown")


def test_an_expired_nonce_is_refused(client: TestClient, clock: Clock) -> None:
    msg = fresh(client, expiration_time=None)
    clock.advance(300)  # the nonce lives 300 s: at 300 s it is gone
    refused(login(client, msg, sign(msg)), 401, "nonce_expired")
    refused(login(client, msg, sign(msg)), 401, "nonce_used")


def test_a_nonce_just_before_its_expiry_works(client: TestClient, clock: Clock) -> None:
    msg = fresh(client)
    clock.advance(299.999)
    assert login(client, msg, sign(msg)).status_code == 200


def test_an_expired_message_is_refused(client: TestClient, clock: Clock) -> None:
    msg = fresh(client, expiration_time="2026-01-01T00:00:10Z")
    clock.advance(10 + 60)  # Expiration Time + the 60 s skew
    refused(login(client, msg, sign(msg)), 401, "message_expired")
    ok = fresh(client, expiration_time="2026-01-01T00:00:10Z")
    clock.ms -= 1  # one millisecond before: still valid
    assert login(client, ok, sign(ok)).status_code == 200


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"not_before": "2026-01-01T00:01:00.001Z"}, "message_not_yet_valid"),  # skew is 60 s
        ({"not_before": "2026-01-02T00:00:00+00:00"}, "message_not_yet_valid"),
        ({"issued_at": "2026-01-01T00:01:00.001Z"}, "issued_in_future"),
        ({"issued_at": "2026-01-01T00:00:00-00:02"}, "issued_in_future"),  # 00:02Z
        ({"issued_at": "2025-12-31T23:48:59.999Z"}, "message_too_old"),  # older than 600 s + 60 s
        ({"issued_at": "2020-01-01T00:00:00Z"}, "message_too_old"),
        ({"domain": "evil.example"}, "domain_mismatch"),
        ({"domain": "127.0.0.1:8001"}, "domain_mismatch"),
        ({"domain": "127.0.0.1"}, "domain_mismatch"),  # no scheme: https on 443 (EIP-4361)
        ({"domain": "user@127.0.0.1:8000"}, "domain_mismatch"),
        ({"scheme": "https"}, "domain_mismatch"),
        ({"uri": "http://evil.example/v1/auth/login"}, "uri_mismatch"),
        ({"uri": "https://127.0.0.1:8000/v1/auth/login"}, "uri_mismatch"),
        ({"uri": "http://127.0.0.1:8001/v1/auth/login"}, "uri_mismatch"),
        ({"uri": "http://127.0.0.1/v1/auth/login"}, "uri_mismatch"),
        ({"uri": "urn:naap:login"}, "uri_mismatch"),
        ({"chain_id": 1}, "chain_not_allowed"),
        ({"chain_id": 421614}, "chain_not_allowed"),
    ],
)
def test_a_message_for_another_place_or_time_is_refused(client: TestClient, changes: dict, reason: str) -> None:
    msg = fresh(client, **changes)
    refused(login(client, msg, sign(msg)), 401, reason)


def test_issued_at_with_an_offset_is_read_in_utc(client: TestClient) -> None:
    # 01:00:30+01:00 is 00:00:30Z: inside the skew, accepted; the same wall time in UTC would be an hour ahead
    msg = fresh(client, issued_at="2026-01-01T01:00:30+01:00")
    assert login(client, msg, sign(msg)).status_code == 200
    msg = fresh(client, issued_at="2026-01-01T01:00:30Z")
    refused(login(client, msg, sign(msg)), 401, "issued_in_future")


def test_another_allowed_chain_id_is_accepted_when_configured(clock: Clock) -> None:
    st = AuthState(AuthConfig(jwt_secret=SECRET, chain_ids=[42161, 1]), clock=clock)
    with TestClient(make_app(st)) as c:
        msg = fresh(c, chain_id=1)
        assert login(c, msg, sign(msg)).status_code == 200
        msg = fresh(c, chain_id=10)
        refused(login(c, msg, sign(msg)), 401, "chain_not_allowed")


def test_the_address_must_be_in_eip55_checksum_case(client: TestClient) -> None:
    lower = fresh(client, address=A.lower())
    body = refused(login(client, lower, sign(lower)), 400, "malformed_message")
    assert "EIP-55" in body["message"] and A in body["message"]
    i = next(i for i, c in enumerate(A) if c.isalpha() and i > 1)
    wrong = A[:i] + A[i].swapcase() + A[i + 1 :]
    msg = fresh(client, address=wrong)
    refused(login(client, msg, sign(msg)), 400, "malformed_message")
    assert is_checksum_address(A) and not is_checksum_address(A.lower()) and not is_checksum_address(wrong)
    assert is_checksum_address("0x" + "1" * 40)  # nothing to capitalize


MALFORMED: list[tuple[str, Any]] = [
    ("empty", lambda m: ""),
    ("trailing LF", lambda m: m + "\n"),
    ("CRLF", lambda m: m.replace("\n", "\r\n")),
    ("leading space", lambda m: " " + m),
    ("header wording", lambda m: m.replace("sign in with your Ethereum account:", "sign in with your account:")),
    ("header case", lambda m: m.replace("wants you", "Wants you")),
    ("no address", lambda m: m.replace(A + "\n", "")),
    ("short address", lambda m: m.replace(A, A[:-2])),
    ("address without 0x", lambda m: m.replace(A, A[2:])),
    ("no blank after address", lambda m: m.replace(A + "\n\n", A + "\n")),
    ("no blank before URI", lambda m: m.replace(".\n\nURI", ".\nURI")),
    ("two statement lines", lambda m: m.replace("orchestrator.\n", "orchestrator.\nsecond line\n")),
    ("non-ASCII statement", lambda m: m.replace("Sign in", "Sign in ✓")),
    ("statement with %", lambda m: m.replace("Sign in", "Sign in 100%")),
    ("statement with a quote", lambda m: m.replace("Sign in", 'Sign "in"')),
    ("tab", lambda m: m.replace("Sign in", "Sign\tin")),
    ("missing URI", lambda m: "\n".join(l for l in m.split("\n") if not l.startswith("URI: "))),
    ("URI with a space", lambda m: m.replace("URI: http://", "URI: http:// ")),
    ("URI not absolute", lambda m: m.replace("URI: http://127.0.0.1:8000", "URI: ")),
    ("lower-case label", lambda m: m.replace("URI: ", "uri: ")),
    ("label without space", lambda m: m.replace("Nonce: ", "Nonce:")),
    ("missing Version", lambda m: m.replace("Version: 1\n", "")),
    ("Version 2", lambda m: m.replace("Version: 1", "Version: 2")),
    ("Version 1.0", lambda m: m.replace("Version: 1", "Version: 1.0")),
    ("Chain ID hex", lambda m: m.replace("Chain ID: 42161", "Chain ID: 0xa4b1")),
    ("Chain ID empty", lambda m: m.replace("Chain ID: 42161", "Chain ID: ")),
    ("Chain ID > uint256", lambda m: m.replace("Chain ID: 42161", "Chain ID: " + str(2**256))),
    ("Chain ID Arabic digits", lambda m: m.replace("Chain ID: 42161", "Chain ID: ٤٢١٦١")),
    ("nonce of 7", lambda m: re.sub(r"Nonce: [0-9a-f]+", "Nonce: abcdefg", m)),
    ("nonce with a dash", lambda m: m.replace("Nonce: ", "Nonce: ab-")),
    ("missing Issued At", lambda m: "\n".join(l for l in m.split("\n") if not l.startswith("Issued At"))),
    ("Issued At with a space", lambda m: m.replace("Issued At: 2026-01-01T", "Issued At: 2026-01-01 ")),
    ("Issued At without zone", lambda m: m.replace("00:00:00.000Z", "00:00:00.000")),
    ("Issued At 30 February", lambda m: m.replace("Issued At: 2026-01-01", "Issued At: 2026-02-30")),
    ("Issued At hour 24", lambda m: m.replace("Issued At: 2026-01-01T00", "Issued At: 2026-01-01T24")),
    ("Issued At offset 24:00", lambda m: m.replace("00:00:00.000Z\nExp", "00:00:00.000+24:00\nExp")),
    ("Expiration Time not a date", lambda m: m.replace("Expiration Time: 2026", "Expiration Time: soon 2026")),
    ("fields out of order", lambda m: m.replace("Version: 1\nChain ID: 42161", "Chain ID: 42161\nVersion: 1")),
    ("unknown field", lambda m: m + "\nFoo: bar"),
    ("a field twice", lambda m: m + "\nExpiration Time: 2026-01-01T00:05:00Z"),
    ("Not Before before Expiration", lambda m: m.replace("Expiration Time: ", "Not Before: 2026-01-01T00:00:00Z\nExpiration Time: ")),
    ("Resources with text", lambda m: m + "\nResources: none"),
    ("a resource that is not a URI", lambda m: m + "\nResources:\n- not a uri"),
    ("a resource without dash", lambda m: m + "\nResources:\nhttps://example.com"),
    ("Request ID with a space", lambda m: m + "\nRequest ID: a b"),
    ("IPv6 literal that is not one", lambda m: m.replace("127.0.0.1:8000 wants", "[::zz]:8000 wants")),
]  # fmt: skip


@pytest.mark.parametrize(("name", "mutate"), MALFORMED, ids=[n for n, _ in MALFORMED])
def test_a_malformed_message_is_refused_with_its_reason(client: TestClient, name: str, mutate: Any) -> None:
    good = fresh(client)
    bad = mutate(good)
    assert bad != good, "the mutation must change the message"
    body = refused(login(client, bad, sign(bad)), 400, "malformed_message")
    assert len(body["message"]) < 400


def _rsv(sig: str) -> tuple[int, int, int]:
    raw = bytes.fromhex(sig[2:])
    return int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:64], "big"), raw[64]


def _sig(r: int, s: int, v: int) -> str:
    return "0x" + (r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([v])).hex()


@pytest.mark.parametrize(
    "make",
    [
        lambda s: "",
        lambda s: "0x",
        lambda s: s[2:],  # no 0x
        lambda s: s[:-2],  # 64 bytes
        lambda s: s + "00",  # 66 bytes
        lambda s: "0x" + "zz" * 65,
        lambda s: s[:-2] + "1d",  # v = 29
        lambda s: s[:-2] + "25",  # v = 37, an EIP-155 transaction v
        lambda s: _sig(0, _rsv(s)[1], 27),
        lambda s: _sig(_rsv(s)[0], 0, 27),
        lambda s: _sig(SECP256K1_N, _rsv(s)[1], 27),
        # the malleable twin (r, n − s, v ^ 1): eth-account recovers A from it, EIP-2 says no
        lambda s: _sig(_rsv(s)[0], SECP256K1_N - _rsv(s)[1], 55 - _rsv(s)[2]),
    ],
)
def test_a_malformed_signature_is_refused_cleanly(client: TestClient, make: Any) -> None:
    msg = fresh(client)
    refused(login(client, msg, make(sign(msg))), 400, "malformed_signature")


def test_the_high_s_twin_really_recovers_the_same_address() -> None:
    """The case above is meaningful: without the EIP-2 rule, the twin would pass."""
    msg = "hello"
    sig = sign(msg)
    r, s, v = _rsv(sig)
    twin = _sig(r, SECP256K1_N - s, 55 - v)
    assert Account.recover_message(encode_defunct(text=msg), signature=bytes.fromhex(twin[2:])) == A


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b"{}",
        b'{"message": 1, "signature": "0x"}',
        b'{"message": "m", "signature": null}',
        b'{"message": "m", "signature": "0x", "extra": 1}',
    ],
)
def test_a_malformed_login_body_is_a_400(client: TestClient, body: bytes) -> None:
    r = client.post("/v1/auth/login", content=body, headers={"content-type": "application/json"})
    refused(r, 400, "malformed_request")


def test_a_login_body_is_bounded(client: TestClient) -> None:
    big = json.dumps({"message": "x" * 100_000, "signature": "0x"}).encode()
    refused(client.post("/v1/auth/login", content=big, headers={"content-type": "application/json"}), 413, "body_too_large")
    msg = fresh(client, statement="x" * 4000)  # fits the body, not the 4096-character message limit
    body = refused(login(client, msg, sign(msg)), 400, "malformed_message")
    assert "4096" in body["message"]


def test_random_mutations_never_get_in_and_never_crash(client: TestClient) -> None:
    """Seeded byte-level mutations of a signed message: each one is refused with 400 or 401, never a 500."""
    rng = random.Random(4361)
    alphabet = "aZ09 :/.-\n\r\t%@#?é\x00"
    for _ in range(150):
        msg = fresh(client)
        sig = sign(msg)
        chars = list(msg)
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(len(chars))
            op = rng.random()
            if op < 0.4:
                chars[i] = rng.choice(alphabet)
            elif op < 0.7:
                del chars[i]
            else:
                chars.insert(i, rng.choice(alphabet))
        mutated = "".join(chars)
        if mutated == msg:
            continue
        r = login(client, mutated, sig)
        assert r.status_code in (400, 401), (mutated, r.text)
        assert r.json()["reason"] in REASONS


# ------------------------------------------------------------------------------------------------ the tokens


def test_a_token_for_another_address_is_forbidden_on_that_address(client: TestClient) -> None:
    token = token_for(client, KEY_A)
    r = client.get(f"/private/{B}/detail", headers=bearer(token))
    refused(r, 403, "wrong_address")
    assert 'error="insufficient_scope"' in r.headers["www-authenticate"]
    assert client.get(f"/private/{A.lower()}/detail", headers=bearer(token)).status_code == 200
    refused(client.get("/private/not-an-address/detail", headers=bearer(token)), 400, "malformed_request")


def test_a_token_with_alg_none_is_refused(client: TestClient) -> None:
    for alg in ("none", "None", "NONE"):
        token = f"{b64({'alg': alg, 'typ': 'JWT'})}.{b64(good_claims())}."
        r = client.get("/private/me", headers=bearer(token))
        refused(r, 401, "invalid_token")
        assert 'error="invalid_token"' in r.headers["www-authenticate"]


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_a_token_with_another_hmac_algorithm_is_refused(client: TestClient) -> None:
    for alg in ("HS384", "HS512"):
        token = jwt.encode(good_claims(), SECRET, algorithm=alg)  # the server's own secret: only the alg differs
        body = refused(client.get("/private/me", headers=bearer(token)), 401, "invalid_token")
        assert "alg" in body["message"]


def test_an_rs256_token_is_refused(client: TestClient) -> None:
    rsa = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.rsa")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode(good_claims(), key, algorithm="RS256")
    refused(client.get("/private/me", headers=bearer(token)), 401, "invalid_token")


def test_a_token_signed_with_another_secret_is_refused(client: TestClient) -> None:
    token = jwt.encode(good_claims(), "another-secret-" + "y" * 40, algorithm="HS256")
    body = refused(client.get("/private/me", headers=bearer(token)), 401, "invalid_token")
    assert "Signature" in body["message"]
    # the control: the same claims with the server's secret are accepted, so the refusal is the secret's
    assert client.get("/private/me", headers=bearer(jwt.encode(good_claims(), SECRET, algorithm="HS256"))).status_code == 200


def test_a_token_expires(client: TestClient, clock: Clock) -> None:
    token = token_for(client)
    clock.advance(900 + 4.999)  # 15 min + leeway (5 s), less a millisecond
    assert client.get("/private/me", headers=bearer(token)).status_code == 200
    clock.advance(0.001)
    refused(client.get("/private/me", headers=bearer(token)), 401, "token_expired")


@pytest.mark.parametrize(
    "changes",
    [
        {"aud": "evil.example"},
        {"iss": "evil.example"},
        {"aud": [DOMAIN, "evil.example"]},  # a list: strict audience
        {"sub": "alice"},
        {"sub": A},  # checksum case: tokens carry the lowercase address
        {"exp": str(T0 // 1000 + 900)},
        {"iat": 1.5},
        {"nbf": T0 // 1000 + 60},  # not valid yet
        {"iat": T0 // 1000 + 60},  # issued in the future
        {"exp": True},
    ],
)
def test_a_token_with_wrong_claims_is_refused(client: TestClient, changes: dict) -> None:
    token = jwt.encode({**good_claims(), **changes}, SECRET, algorithm="HS256")
    refused(client.get("/private/me", headers=bearer(token)), 401, "invalid_token")


@pytest.mark.parametrize("missing", ["iss", "aud", "sub", "iat", "nbf", "exp", "jti"])
def test_a_token_missing_a_claim_is_refused(client: TestClient, missing: str) -> None:
    claims = good_claims()
    del claims[missing]
    refused(client.get("/private/me", headers=bearer(jwt.encode(claims, SECRET, algorithm="HS256"))), 401, "invalid_token")


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "missing_token"),
        ("", "missing_token"),
        ("Bearer", "invalid_token"),
        ("Bearer ", "invalid_token"),
        ("Basic dXNlcjpwYXNz", "invalid_token"),
        ("Token abc.def.ghi", "invalid_token"),
        ("Bearer abc", "invalid_token"),
        ("Bearer abc.def.ghi", "invalid_token"),
        ("Bearer a b", "invalid_token"),
        ("Bearer " + "a" * 5000, "invalid_token"),
        ("Bearer \"quoted\"", "invalid_token"),
        (b"Bearer \xff\xfe", "invalid_token"),
    ],
)
def test_a_missing_or_garbled_authorization_is_a_401(client: TestClient, header: Any, reason: str) -> None:
    headers = {} if header is None else {"Authorization": header}
    for path in ("/private/me", "/private/guarded", f"/private/{A}/detail"):
        refused(client.get(path, headers=headers), 401, reason)


def test_tokens_do_not_survive_a_restart_without_a_configured_secret(clock: Clock) -> None:
    first, second = AuthState(clock=clock), AuthState(clock=clock)
    assert first.secret_is_ephemeral
    token = first.issue_token(A).token
    assert first.verify_token(token).address == A.lower()
    with pytest.raises(AuthError) as err:
        second.verify_token(token)
    assert (err.value.status, err.value.reason) == (401, "invalid_token")
    # with a configured secret they do
    shared = [AuthState(AuthConfig(jwt_secret=SECRET), clock=clock) for _ in range(2)]
    assert shared[1].verify_token(shared[0].issue_token(A).token).address == A.lower()


# ------------------------------------------------------------------------------------------------ the nonces


def test_the_nonce_store_stays_bounded_under_a_flood_of_requests(clock: Clock) -> None:
    st = AuthState(AuthConfig(jwt_secret=SECRET, max_nonces=50), clock=clock)
    with TestClient(make_app(st)) as c:
        first = fresh(c)
        for _ in range(499):
            assert c.get("/v1/auth/nonce").status_code == 200
        assert len(st.nonces) == 50 and st.nonces.evicted == 450
        refused(login(c, first, sign(first)), 401, "nonce_unknown")  # evicted: its holder asks again
        last = fresh(c)
        assert login(c, last, sign(last)).status_code == 200
        assert len(st.nonces) == 50


def test_the_nonce_store_forgets_and_bounds(clock: Clock) -> None:
    store = NonceStore(ttl_s=300, max_size=100, clock=clock)
    values = {store.issue().value for _ in range(20_000)}
    assert len(values) == 20_000 and len(store) == 100 and store.evicted == 19_900
    spent = store.issue()
    store.consume(spent.value)
    clock.advance(300)
    with pytest.raises(AuthError) as err:
        store.consume(spent.value)
    assert err.value.reason == "nonce_used"  # remembered one more TTL after expiry, so a replay is named
    clock.advance(300)
    store.issue()
    assert len(store) == 1  # everything older than two TTLs is forgotten
    with pytest.raises(AuthError) as err:
        store.consume(spent.value)
    assert err.value.reason == "nonce_unknown"


def test_a_nonce_is_consumed_once_under_concurrency(clock: Clock) -> None:
    store = NonceStore(ttl_s=300, max_size=1000, clock=clock)
    nonce = store.issue()
    threads, barrier = 32, threading.Barrier(32)
    outcomes: list[str] = []
    lock = threading.Lock()

    def attempt() -> None:
        barrier.wait()
        try:
            store.consume(nonce.value)
            result = "ok"
        except AuthError as err:
            result = err.reason
        with lock:
            outcomes.append(result)

    workers = [threading.Thread(target=attempt) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert sorted(outcomes) == ["nonce_used"] * 31 + ["ok"]


def test_concurrent_logins_with_one_nonce_let_exactly_one_in(state: AuthState) -> None:
    msg = state.message_for(state.issue_nonce(), A)
    sig = sign(msg)
    barrier = threading.Barrier(8)
    results: list[str] = []
    lock = threading.Lock()

    def attempt() -> None:
        barrier.wait()
        try:
            state.login(msg, sig)
            r = "ok"
        except AuthError as err:
            r = err.reason
        with lock:
            results.append(r)

    workers = [threading.Thread(target=attempt) for _ in range(8)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert sorted(results) == ["nonce_used"] * 7 + ["ok"]


def test_a_bad_address_for_a_ready_message_is_a_400(client: TestClient) -> None:
    refused(client.get("/v1/auth/nonce", params={"address": "0x1234"}), 400, "malformed_request")


# ------------------------------------------------------------------------------------------------ the wiring


def test_without_the_auth_handlers_refusals_are_still_json(state: AuthState) -> None:
    with TestClient(make_app(state, handlers=dict(EXCEPTION_HANDLERS))) as c:
        r = c.get("/private/me")
        assert r.status_code == 401 and r.json()["status"] == 401 and r.json()["message"]
        # the auth routes register their own handler: their refusals keep their reason
        refused(login(c, "nope", "0x"), 400, "malformed_message")


def test_without_an_auth_state_the_routes_answer_503(clock: Clock) -> None:
    with TestClient(make_app(None)) as c:
        refused(c.get("/v1/auth/nonce"), 503, "auth_unavailable")
        assert c.get("/private/me").status_code == 503


def test_the_openapi_schema_documents_bodies_and_refusals(client: TestClient) -> None:
    schema = client.get("/schema/openapi.json").json()
    login_op = schema["paths"]["/v1/auth/login"]["post"]
    nonce_op = schema["paths"]["/v1/auth/nonce"]["get"]
    assert login_op["summary"] and login_op["description"] and nonce_op["summary"]
    assert {"200", "400", "401"} <= set(login_op["responses"]) and "400" in nonce_op["responses"]
    ref = login_op["responses"]["401"]["content"]["application/json"]["schema"]["$ref"]
    assert ref.endswith("/AuthErrorBody")
    schemas = schema["components"]["schemas"]
    assert set(schemas["AuthErrorBody"]["properties"]) == {"status", "message", "reason"}
    assert {"token", "token_type", "expires_at", "address"} <= set(schemas["LoginResponse"]["properties"])
    assert {"nonce", "expires_at", "domain", "uri", "chain_id", "statement"} <= set(schemas["NonceResponse"]["properties"])
    assert set(schemas["LoginRequest"]["properties"]) == {"message", "signature"}
    me = schema["paths"]["/private/me"]["get"]
    assert me["security"] == BEARER_SECURITY and {"401", "403"} <= set(me["responses"])
    assert schema["components"]["securitySchemes"]["SiweBearer"]["scheme"] == "bearer"


# ------------------------------------------------------------------------------------------ the parser itself

EIP_EXAMPLE = """example.com wants you to sign in with your Ethereum account:
0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2

I accept the ExampleOrg Terms of Service: https://example.com/tos

URI: https://example.com/login
Version: 1
Chain ID: 1
Nonce: 32891756
Issued At: 2021-09-30T16:25:24Z
Resources:
- ipfs://bafybeiemxf5abjwjbikoz4mc3a3dla6ual3jsgpdr4cjr3oz3evfyavhwq/
- https://example.com/my-web2-claim.json"""


@pytest.mark.parametrize(
    "text",
    [
        EIP_EXAMPLE,  # EIP-4361 "Examples": implicit scheme
        EIP_EXAMPLE.replace("example.com wants", "example.com:3388 wants"),  # explicit port
        EIP_EXAMPLE.replace("example.com wants", "https://example.com wants"),  # explicit scheme
    ],
)
def test_the_eip_examples_parse_and_render_back_byte_for_byte(text: str) -> None:
    m = parse_message(text)
    assert m.address == "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2" and m.chain_id == 1 and m.nonce == "32891756"
    assert m.statement == "I accept the ExampleOrg Terms of Service: https://example.com/tos"
    assert m.resources == ("ipfs://bafybeiemxf5abjwjbikoz4mc3a3dla6ual3jsgpdr4cjr3oz3evfyavhwq/",
                           "https://example.com/my-web2-claim.json")  # fmt: skip
    assert m.to_text() == text


def test_the_optional_parts_of_the_grammar() -> None:
    base = SiweMessage(domain="[::1]:8000", address=A, uri="http://[::1]:8000/", chain_id=42161, nonce="abcdEFGH1234",
                       issued_at="2026-01-01t00:00:00.123456789z")  # fmt: skip
    no_statement = base.to_text()
    assert f"{A}\n\n\nURI: " in no_statement  # two empty lines when there is no statement
    assert parse_message(no_statement) == base
    empty_statement = dataclasses.replace(base, statement="")
    assert f"{A}\n\n\n\nURI: " in empty_statement.to_text() and parse_message(empty_statement.to_text()) == empty_statement
    full = dataclasses.replace(base, scheme="http", statement="Hi: ~!$&'()*+,;=/?#[]@ ok", expiration_time="2026-01-02T00:00:00Z",
                               not_before="2025-12-31T00:00:00-05:30", request_id="", resources=())  # fmt: skip
    assert full.to_text().endswith("Request ID: \nResources:")
    assert parse_message(full.to_text()) == full


def test_rfc3339_times() -> None:
    assert parse_rfc3339_ms("2026-01-01T00:00:00Z") == T0
    assert parse_rfc3339_ms("2026-01-01t00:00:00.0019z") == T0 + 1
    assert parse_rfc3339_ms("2026-01-01T05:30:00+05:30") == T0
    assert parse_rfc3339_ms("2025-12-31T23:59:60Z") == T0  # a leap second: the next minute's first instant
    assert rfc3339(T0 + 5) == "2026-01-01T00:00:00.005Z" and parse_rfc3339_ms(rfc3339(T0 + 5)) == T0 + 5
    for bad in ("2026-01-01", "2026-01-01T00:00:00", "2026-13-01T00:00:00Z", "2026-01-01T00:00:61Z",
                "9999-12-31T23:59:60Z", "0000-01-01T00:00:00Z", "2026-01-01T00:00:00+00:60"):  # fmt: skip
        with pytest.raises(ValueError):
            parse_rfc3339_ms(bad)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"jwt_secret": "short"},
        {"chain_ids": []},
        {"chain_ids": [True]},
        {"domain": "bad domain"},
        {"domain": "user@host:1"},
        {"domain": "localhost"},  # http without a port: EIP-4361 would read it as https on 443
        {"uri": "ftp://host/x"},
        {"uri": "not a uri"},
        {"statement": "line\nbreak"},
        {"nonce_ttl_s": 0},
        {"max_nonces": 0},
        {"clock_skew_s": -1},
    ],
)
def test_an_invalid_config_is_refused_at_start(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        AuthConfig(**kwargs)


def test_the_default_config() -> None:
    cfg = AuthConfig()
    assert cfg.chain_ids == (42161,) and cfg.token_ttl_s == 900 and cfg.origin == "http://127.0.0.1:8000"
    assert SECRET not in repr(AuthConfig(jwt_secret=SECRET)) and SECRET not in repr(AuthState(AuthConfig(jwt_secret=SECRET)))
    assert AuthConfig(domain="naap.example", uri="https://naap.example/v1/auth/login").origin == "https://naap.example"


# ------------------------------------------------------------------------------- over a real server on loopback


async def test_the_documented_python_example_signs_in_over_real_http(tmp_path: Path) -> None:
    """docs/api-auth.md's Python example, run as written (only its API URL changed) against a uvicorn server on
    loopback; then the token it would get opens a private route, over the same real HTTP."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    api = f"http://127.0.0.1:{port}"
    st = AuthState(AuthConfig(domain=f"127.0.0.1:{port}", uri=f"{api}/v1/auth/login", jwt_secret=SECRET))
    server = uvicorn.Server(uvicorn.Config(make_app(st), log_level="error", lifespan="on"))
    server.capture_signals = lambda: contextlib.nullcontext()  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()  # a server that could not start says why
            await asyncio.sleep(0.01)
        doc = (Path(__file__).resolve().parents[1] / "docs" / "api-auth.md").read_text(encoding="utf-8")
        example = doc.split("### In Python", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
        assert 'API = "http://127.0.0.1:8000"' in example
        (tmp_path / "example.py").write_text(example.replace("http://127.0.0.1:8000", api))
        (tmp_path / "orchestrator.key").write_text(KEY_B + "\n")
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "example.py", cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        out, err = await proc.communicate()
        assert proc.returncode == 0, err.decode()[-2000:]
        assert out.decode().startswith(f"{B.lower()} signed in until ")

        async with aiohttp.ClientSession(api) as http:
            async with http.get("/v1/auth/nonce", params={"address": B}) as r:
                message = (await r.json())["message"]
            async with http.post("/v1/auth/login", json={"message": message, "signature": sign(message, KEY_B)}) as r:
                token = (await r.json())["token"]
            async with http.get("/private/me", headers=bearer(token)) as r:
                assert r.status == 200 and (await r.json()) == {"address": B.lower()}
            async with http.get(f"/private/{A}/detail", headers=bearer(token)) as r:
                assert r.status == 403 and (await r.json())["reason"] == "wrong_address"
            async with http.post("/v1/auth/login", data=b"x" * 20_000, headers={"Content-Type": "application/json"}) as r:
                assert r.status == 413 and (await r.json())["reason"] == "body_too_large"
    finally:
        server.should_exit = True
        await task
