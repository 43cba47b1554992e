"""Property-based fuzzing of the OpenAPI schema (schemathesis): for every operation the app documents, requests
generated from its schema — valid ones and, separately, invalid ones — against the real app on known rows
(tests/api_fixtures.py). Every answer must be no 5xx, a documented status with a documented content type, and match
the documented schema of that status (the real error body included). Private routes are fuzzed twice: without a
token (401 expected) and with a real token for a fixed address (their 200 bodies checked too).

Bounded: a fixed number of examples per operation and mode, no shrinking database, no deadline: it runs in seconds.
"""

from __future__ import annotations

from typing import Any

import schemathesis
import schemathesis.checks as checks
from eth_account import Account
from eth_account.messages import encode_defunct
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from litestar.testing import TestClient
from schemathesis import GenerationMode

from api.app import create_app
from api.config import ApiSettings
from api_fixtures import load
from discovery.service import Discovery
from scoring.sla_config import load_config
from warehouse.client import Warehouse

EXAMPLES = 25
CHECKS = [checks.not_a_server_error, checks.status_code_conformance, checks.content_type_conformance,
          checks.response_schema_conformance]  # fmt: skip
# The Prometheus exposition of /metrics is text, not part of the JSON API (its route documents no media type).
SKIP = {("GET", "/metrics")}
KEY = "0x" + "c3" * 32


def _token(app: Any) -> tuple[str, str]:
    address = Account.from_key(KEY).address
    with TestClient(app) as client:
        message = client.get("/v1/auth/nonce", params={"address": address}).json()["message"]
        sig = Account.sign_message(encode_defunct(text=message), KEY).signature.to_0x_hex()
        token = client.post("/v1/auth/login", json={"message": message, "signature": sig}).json()["token"]
    return address, token


def _fuzz(op: Any, mode: GenerationMode, **fixed: Any) -> list[str]:
    failures: list[str] = []

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(case=op.as_strategy(generation_mode=mode, **fixed))
    def run(case: Any) -> None:
        case.call_and_validate(checks=CHECKS)

    try:
        run()
    except Unsatisfiable:  # no parameter to make invalid (an operation without parameters, negative mode)
        assert mode is GenerationMode.NEGATIVE, op.path
    except BaseException as e:  # schemathesis raises a group of failures; report them all at the end
        failures.append(f"{op.method.upper()} {op.path} ({mode.value}{', token' if fixed else ''}): {e}"[:3000])
    return failures


def test_every_operation_answers_as_its_schema_says(warehouse: Warehouse) -> None:
    load(warehouse)
    settings_ = ApiSettings(rate_limit_per_minute=10**6, auth_jwt_secret="fuzz-secret-" + "f" * 32)
    app = create_app(warehouse.reader(), load_config(), settings_, discovery=Discovery([]))
    address, token = _token(app)
    schema = schemathesis.openapi.from_asgi("/schema/openapi.json", app)
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        op = result.ok()
        if (op.method.upper(), op.path) in SKIP:
            continue
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            failures += _fuzz(op, mode)
            if "{address}" in op.path:
                failures += _fuzz(op, mode, path_parameters={"address": address},
                                  headers={"Authorization": f"Bearer {token}"})  # fmt: skip
    assert operations >= 20
    assert not failures, "\n\n".join(failures)
