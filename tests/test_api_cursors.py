"""Cursors are untrusted input: on every paginated route (found in the OpenAPI schema, private ones with a real token),
hand-made, altered and foreign-shaped cursors are a 400 JSON "cursor is not valid", never a 500; real ones still page.

A cursor is sealed with a per-process HMAC (api/query.py): the hostile keys are tried both unsealed (what a client can
make) and sealed with the process's key (what only a bug could make), so the key's shape check is tested on its own."""

from __future__ import annotations

import base64
import json
from typing import Any, Iterator

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar.testing import TestClient

from api.app import create_app
from api.config import ApiSettings
from api.query import seal_cursor
from api_fixtures import SDXL, load
from scoring.sla_config import load_config
from warehouse.client import Warehouse

KEY = "0x" + "d4" * 32
# Keys of the wrong length, element types, nesting or range for every route's sort key (the report's three first).
HOSTILE_KEYS: list[Any] = [[1, 2, 3], [[1]], [1e308], [], [None], ["x"] * 5, [True], [2**70], [{"a": 1}], {"a": 1}, "k",
                           [1.5], ["a", 1], [1, "a", "b", "c"], ["a", "b", "c", "d", "e", "f"]]  # fmt: skip


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _payload(cursor: str) -> dict[str, Any]:
    body = cursor.partition(".")[0]
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


@pytest.fixture
def client(warehouse: Warehouse) -> Iterator[tuple[TestClient, str, str]]:
    load(warehouse)
    app = create_app(warehouse.reader(), load_config(), ApiSettings(rate_limit_per_minute=10**6))
    with TestClient(app) as c:
        address = Account.from_key(KEY).address
        message = c.get("/v1/auth/nonce", params={"address": address}).json()["message"]
        sig = Account.sign_message(encode_defunct(text=message), KEY).signature.to_0x_hex()
        token = c.post("/v1/auth/login", json={"message": message, "signature": sig}).json()["token"]
        yield c, address.lower(), token


def _paginated(c: TestClient) -> list[str]:
    schema = c.get("/schema/openapi.json").json()
    return sorted(p for p, ops in schema["paths"].items()
                  if "get" in ops and "cursor" in {q["name"] for q in ops["get"].get("parameters", [])})  # fmt: skip


def test_hostile_cursors_are_a_400_on_every_paginated_route(client: tuple[TestClient, str, str]) -> None:
    c, address, token = client
    routes = _paginated(c)
    assert {"/v1/gpu/metrics", "/v1/network/demand", "/v1/network/capabilities", "/v1/regions", "/v1/datasets",
            "/v1/sla/compliance", "/v1/sla/history", "/v1/leaderboard", "/v1/select", "/v1/scrapes/failures",
            "/v1/orchestrators/{address}/samples", "/v1/orchestrators/{address}/gpus"} <= set(routes)  # fmt: skip
    real_cursors = 0
    for path in routes:
        url = path.replace("{address}", address)
        headers = {"Authorization": f"Bearer {token}"} if "{address}" in path else {}
        base = {"workflow": SDXL} if path == "/v1/select" else {}
        first = c.get(url, params={**base, "limit": "1"}, headers=headers)
        assert first.status_code == 200, (path, first.text)
        real = first.json().get("next_cursor")
        fp = _payload(real)["f"] if real else "0" * 16
        real_cursors += real is not None
        tries = []
        for k in HOSTILE_KEYS:
            raw = json.dumps({"k": k, "f": fp}).encode()
            tries += [_b64(raw), seal_cursor({"k": k, "f": fp})]  # as in the report (unsealed), and sealed by us
        tries += ["", ".", "not-a-cursor", "x" * 3000, seal_cursor({"k": ["a"]}), seal_cursor({"f": fp}),
                  _b64(b"\xff\xfe") + "." + _b64(b"\x00" * 16), _b64(b"[" * 1500)]  # fmt: skip
        if real:
            body, _, mac = real.partition(".")
            tries += [body, body + "." + mac[:-2] + ("AA" if mac[-2:] != "AA" else "BB"), real + "x"]
        for cur in tries:
            r = c.get(url, params={**base, "limit": "1", "cursor": cur}, headers=headers)
            if cur == "":  # an empty parameter on /v1 is a 400 of its own (leave it out for the first page)
                assert r.status_code == 400 and "'cursor' is empty" in r.json()["message"], (path, r.text)
                continue
            assert r.status_code == 400, (path, cur[:80], r.status_code, r.text[:300])
            # A sealed key that happens to fit this route's shape reaches the fingerprint check ("another query").
            assert r.json()["message"].startswith("cursor "), (path, r.text)
            if "." not in cur:
                assert r.json()["message"].startswith("cursor is not valid"), (path, r.text)
        if real:  # the real cursor still pages
            assert c.get(url, params={**base, "limit": "1", "cursor": real}, headers=headers).status_code == 200
    assert real_cursors >= 5  # the fixture gives most routes a second page, so the kept-fingerprint case is exercised


def test_a_cursor_of_another_query_or_process_is_refused(client: tuple[TestClient, str, str]) -> None:
    c, _, _ = client
    real = c.get("/v1/regions", params={"limit": "1"}).json()["next_cursor"]
    assert real
    r = c.get("/v1/regions", params={"limit": "1", "cursor": real, "time_range": "1h"})
    assert r.status_code == 400 and "another query" in r.json()["message"]
    # Same payload, sealed with another key (another process, or a forger): not ours.
    body, _, _ = real.partition(".")
    forged = body + "." + _b64(b"\x01" * 16)
    r = c.get("/v1/regions", params={"limit": "1", "cursor": forged})
    assert r.status_code == 400 and r.json()["message"].startswith("cursor is not valid")


_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
                     lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=4), kids, max_size=3),
                     max_leaves=12)  # fmt: skip


def test_any_sealed_key_of_another_shape_is_a_400(client: tuple[TestClient, str, str]) -> None:
    """Property (hypothesis): whatever JSON a cursor's key holds, sealed with our own key and the real fingerprint (so
    only the shape check stands between it and the sort), /v1/regions (sort key: one string) answers 200 when the key
    is one string and 400 "cursor is not valid" otherwise — never a 5xx."""
    c, _, _ = client
    fp = _payload(c.get("/v1/regions", params={"limit": "1"}).json()["next_cursor"])["f"]

    @settings(max_examples=60, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(key=_JSON)
    def check(key: Any) -> None:
        r = c.get("/v1/regions", params={"limit": "1", "cursor": seal_cursor({"k": key, "f": fp})})
        fits = isinstance(key, list) and len(key) == 1 and isinstance(key[0], str)
        assert r.status_code == (200 if fits else 400), (key, r.text)
        if not fits:
            assert r.json()["message"].startswith("cursor is not valid"), r.text

    check()
