"""Sign-In with Ethereum (EIP-4361) for the private API: `GET /v1/auth/nonce`, `POST /v1/auth/login`, and the
token check private routes use (`orchestrator_from_token`, `require_address`, `token_guard`).

The logic is `api/auth.py`'s; this module is its Litestar skin. The app factory puts an `api.auth.AuthState` at
`app.state["auth"]`, registers `AUTH_ROUTES`, and merges `AUTH_EXCEPTION_HANDLERS` into its exception handlers
so that refusals from private routes carry their `reason`:

    Litestar(route_handlers=[..., *AUTH_ROUTES], state=State({..., "auth": AuthState(config)}),
             exception_handlers={**EXCEPTION_HANDLERS, **AUTH_EXCEPTION_HANDLERS})

A private route checks the address it serves, or asks whose token it is:

    @get("/v1/private/{address:str}/gpus", security=BEARER_SECURITY, responses=PRIVATE_ROUTE_RESPONSES)
    def gpus(request: Request, address: str) -> ...:
        address = require_address(request, address)   # 401 without a valid token, 403 for another address
        me = orchestrator_from_token(request)          # or: dependencies=ORCHESTRATOR_DEPENDENCY and a parameter
                                                       # `orchestrator: NamedDependency[str]` (Litestar ≥ 2.23)

`guards=[token_guard]` only requires a valid token. The OpenAPI bearer scheme is `BEARER_COMPONENTS`.

Every refusal is JSON `{"status": int, "message": str, "reason": str}` with status 400, 401 or 403 (the table
in `api/auth.py`); 401s carry `WWW-Authenticate: Bearer …` (RFC 6750 §3, RFC 9110 §11.6.1), 403s
`error="insufficient_scope"`. Nonce and token responses are `Cache-Control: no-store` (RFC 6749 §5.1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import msgspec
from litestar import MediaType, Request, Response, get, post
from litestar.connection import ASGIConnection
from litestar.datastructures import CacheControlHeader
from litestar.di import Provide
from litestar.enums import RequestEncodingType
from litestar.exceptions import HTTPException
from litestar.handlers import BaseRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Components, SecurityScheme
from litestar.params import Body, Parameter

from api.auth import (
    INVALID_TOKEN,
    MALFORMED_REQUEST,
    REASONS,
    TOKEN_EXPIRED,
    AuthError,
    AuthState,
    TokenClaims,
    check_address,
    rfc3339,
    to_checksum,
)
from api.errors import http_exception_handler
from exporter.common.eth import is_eth_address

MAX_LOGIN_BODY_BYTES = 8192
"""Largest accepted POST /v1/auth/login body: a 4096-character message, a 132-character signature, JSON."""

AUTH_UNAVAILABLE = "auth_unavailable"
_CLAIMS_KEY = "naap_auth_claims"


# ------------------------------------------------------------------------------------------------------ bodies


class LoginRequest(msgspec.Struct, forbid_unknown_fields=True):
    """POST /v1/auth/login body."""

    message: Annotated[str, msgspec.Meta(description="The EIP-4361 message, exactly as signed (LF line breaks).")]
    signature: Annotated[
        str, msgspec.Meta(description="personal_sign (EIP-191) signature: 0x + 130 hex digits (r‖s‖v, v 27 or 28).")
    ]


@dataclass
class NonceResponse:
    """GET /v1/auth/nonce: a fresh nonce and what the message to sign must say."""

    nonce: str
    """128 random bits as 32 hex digits; single use."""
    issued_at: str
    """RFC 3339, UTC."""
    expires_at: str
    """RFC 3339, UTC: the nonce is refused from then on."""
    domain: str
    uri: str
    chain_id: int
    """The EIP-155 chain id put in the template (the first accepted one)."""
    chain_ids: list[int]
    """Every accepted chain id."""
    version: str
    statement: str
    message_template: str
    """The message to sign with the EIP's `${address}` placeholder for the EIP-55 checksummed address."""
    message: str | None
    """The ready-to-sign message when `address` was given, else null."""


@dataclass
class LoginResponse:
    """POST /v1/auth/login: a bearer token for the signing address."""

    token: str
    """HS256 JWT: sub = address, iss = aud = domain, iat/nbf/exp, jti."""
    token_type: str
    """Always "Bearer" (RFC 6750)."""
    expires_at: str
    """RFC 3339, UTC."""
    expires_in: int
    """Seconds from now (RFC 6749 §5.1)."""
    address: str
    """The signing address, lowercase."""


@dataclass
class AuthErrorBody:
    """Every refusal: `status` (400, 401, 403), `message` (a sentence), `reason` (a stable word, see the table)."""

    status: int
    message: str
    reason: str


_ERRORS_400 = ResponseSpec(AuthErrorBody, description="Malformed input: reason malformed_message, malformed_signature "
                           "or malformed_request.", generate_examples=False)  # fmt: skip
_ERRORS_401 = ResponseSpec(
    AuthErrorBody,
    description="Refused credentials: " + ", ".join(r for r, s in REASONS.items() if s == 401) + ".",
    generate_examples=False,
)
_ERRORS_403 = ResponseSpec(AuthErrorBody, description="A valid token for another address: reason wrong_address.",
                           generate_examples=False)  # fmt: skip
_ERRORS_503 = ResponseSpec(AuthErrorBody, description="Sign-in is not configured: reason auth_unavailable.",
                           generate_examples=False)  # fmt: skip
PRIVATE_ROUTE_RESPONSES: dict[int, ResponseSpec] = {401: _ERRORS_401, 403: _ERRORS_403}
"""`responses=` for a private route's OpenAPI: its 401 and 403 bodies."""

BEARER_SCHEME_NAME = "SiweBearer"
BEARER_COMPONENTS = Components(
    security_schemes={
        BEARER_SCHEME_NAME: SecurityScheme(
            type="http",
            scheme="bearer",
            bearer_format="JWT",
            description="A token from POST /v1/auth/login (Sign-In with Ethereum, EIP-4361).",
        )
    }
)
"""For `OpenAPIConfig(components=...)`: the bearer scheme private routes name with `security=BEARER_SECURITY`."""
BEARER_SECURITY: list[dict[str, list[str]]] = [{BEARER_SCHEME_NAME: []}]


# ------------------------------------------------------------------------------------------------------ errors


class AuthHTTPException(HTTPException):
    """An `AuthError` as Litestar sees it: `status_code`, `detail` = the message, `extra` = {"reason": …}."""

    def __init__(self, status: int, reason: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail=message, status_code=status, headers=headers, extra={"reason": reason})
        self.reason = reason

    @classmethod
    def from_error(cls, err: AuthError, realm: str = "naap") -> "AuthHTTPException":
        """With the `WWW-Authenticate` header RFC 9110 §15.5.2 asks of a 401 (RFC 6750 §3 error codes)."""
        headers: dict[str, str] = {}
        if err.status == 401:
            code = ', error="invalid_token"' if err.reason in (INVALID_TOKEN, TOKEN_EXPIRED) else ""
            headers["WWW-Authenticate"] = f'Bearer realm="{realm}"{code}'
        elif err.status == 403:
            headers["WWW-Authenticate"] = f'Bearer realm="{realm}", error="insufficient_scope"'
        return cls(err.status, err.reason, err.message, headers)


_REASON_BY_STATUS = {400: MALFORMED_REQUEST, 405: "method_not_allowed", 413: "body_too_large",
                     415: "unsupported_media_type", 429: "rate_limited"}  # fmt: skip


def auth_exception_handler(request: Request, exc: HTTPException) -> Response:
    """JSON `{"status", "message", "reason"}`. An `AuthHTTPException` gives its own reason; any other
    HTTPException (a body too large, not JSON, of the wrong shape; a rate limit) is rendered by the project's
    handler (`api.errors`, which keeps e.g. Retry-After and validation `details`) plus a reason from its status."""
    if isinstance(exc, AuthHTTPException):
        body = {"status": exc.status_code, "message": exc.detail, "reason": exc.reason}
        return Response(body, status_code=exc.status_code, headers=dict(exc.headers or {}), media_type=MediaType.JSON)
    response = http_exception_handler(request, exc)
    if isinstance(response.content, dict):
        response.content["reason"] = _REASON_BY_STATUS.get(exc.status_code, "http_error")
    return response


AUTH_EXCEPTION_HANDLERS: dict[type[Exception], Any] = {AuthHTTPException: auth_exception_handler}
"""Merge into the app's exception handlers: refusals raised by private routes then carry their `reason` (without
it they still render as the project's `{"status", "message"}` JSON)."""

_ROUTE_EXCEPTION_HANDLERS: dict[type[Exception], Any] = {HTTPException: auth_exception_handler}


def _raise(err: AuthError, state: AuthState | None = None) -> AuthHTTPException:
    return AuthHTTPException.from_error(err, state.config.domain if state else "naap")


# -------------------------------------------------------------------------------------------------- the state


def auth_state(connection: ASGIConnection) -> AuthState:
    """`app.state["auth"]`; 503 `auth_unavailable` when the app was built without one."""
    state = connection.app.state.get("auth")
    if not isinstance(state, AuthState):
        raise AuthHTTPException(503, AUTH_UNAVAILABLE, "sign-in is not configured on this server")
    return state


def token_claims(connection: ASGIConnection) -> TokenClaims:
    """The verified claims of the request's `Authorization: Bearer <JWT>` (checked once per request, then kept).
    Raises `AuthHTTPException` 401 (`missing_token`, `invalid_token`, `token_expired`)."""
    scope_state = connection.scope.setdefault("state", {})  # type: ignore[typeddict-item]
    cached = scope_state.get(_CLAIMS_KEY)
    if isinstance(cached, TokenClaims):
        return cached
    state = auth_state(connection)
    try:
        claims = state.verify_bearer(connection.headers.get("Authorization"))
    except AuthError as err:
        raise _raise(err, state) from None
    scope_state[_CLAIMS_KEY] = claims
    return claims


def orchestrator_from_token(request: Request) -> str:
    """Dependency: the lowercase address the request's bearer token was issued to (see `ORCHESTRATOR_DEPENDENCY`).
    Raises `AuthHTTPException` 401."""
    return token_claims(request).address


ORCHESTRATOR_DEPENDENCY = {"orchestrator": Provide(orchestrator_from_token, sync_to_thread=False)}
"""`dependencies=ORCHESTRATOR_DEPENDENCY` gives a handler an `orchestrator: str` parameter: the token's address."""


def require_address(request: Request, address: str) -> str:
    """`address` lowercased when the request's token was issued to it. Raises `AuthHTTPException` 401 (no or bad
    token), 403 `wrong_address` (a token for someone else), 400 `malformed_request` (`address` is not one)."""
    claims = token_claims(request)
    try:
        return check_address(claims, address)
    except AuthError as err:
        raise _raise(err, auth_state(request)) from None


def token_guard(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    """Litestar guard (`guards=[token_guard]`): the request must carry a valid token (401 otherwise)."""
    token_claims(connection)


# ------------------------------------------------------------------------------------------------------ routes


@get(
    "/v1/auth/nonce",
    sync_to_thread=False,
    summary="Get a sign-in nonce",
    description=(
        "Step 1 of Sign-In with Ethereum (EIP-4361). Returns a single-use nonce, valid until `expires_at`, and "
        "what the message must say: `domain`, `uri` (any path on its origin), one of `chain_ids`. "
        "`message_template` is a ready message with the EIP's `${address}` placeholder; pass `address` to get "
        "`message` filled in with its EIP-55 checksum form. Sign it with `personal_sign` (EIP-191) and send it "
        "to POST /v1/auth/login."
    ),
    tags=["auth"],
    cache_control=CacheControlHeader(no_store=True),
    responses={400: _ERRORS_400, 503: _ERRORS_503},
    exception_handlers=_ROUTE_EXCEPTION_HANDLERS,
)
def auth_nonce(
    request: Request,
    address: Annotated[
        str | None, Parameter(description="Optional: your orchestrator address (any case), to get `message` ready.")
    ] = None,
) -> NonceResponse:
    state = auth_state(request)
    checksummed: str | None = None
    if address:
        if not is_eth_address(address):
            raise AuthHTTPException(400, MALFORMED_REQUEST, f"address must be a 0x-prefixed 20-byte hex address; "
                                                            f"got {address[:60]!r}")  # fmt: skip
        checksummed = to_checksum(address)
    nonce = state.issue_nonce()
    cfg = state.config
    return NonceResponse(
        nonce=nonce.value,
        issued_at=rfc3339(nonce.issued_at_ms),
        expires_at=rfc3339(nonce.expires_at_ms),
        domain=cfg.domain,
        uri=cfg.uri,
        chain_id=cfg.chain_ids[0],
        chain_ids=list(cfg.chain_ids),
        version="1",
        statement=cfg.statement,
        message_template=state.message_for(nonce),
        message=state.message_for(nonce, checksummed) if checksummed else None,
    )


@post(
    "/v1/auth/login",
    status_code=200,
    sync_to_thread=True,  # signature recovery is CPU work
    summary="Sign in with an EIP-4361 message",
    description=(
        "Step 2 of Sign-In with Ethereum (EIP-4361): the message, exactly as signed, and its `personal_sign` "
        "(EIP-191) signature. The nonce is spent by this call whatever its outcome. On success: a Bearer JWT for "
        "the signing address, to send as `Authorization: Bearer <token>` to private routes until `expires_at`. "
        f"Body at most {MAX_LOGIN_BODY_BYTES} bytes."
    ),
    tags=["auth"],
    cache_control=CacheControlHeader(no_store=True),
    request_max_body_size=MAX_LOGIN_BODY_BYTES,
    responses={400: _ERRORS_400, 401: _ERRORS_401, 503: _ERRORS_503},
    exception_handlers=_ROUTE_EXCEPTION_HANDLERS,
)
def auth_login(
    request: Request, data: Annotated[LoginRequest, Body(media_type=RequestEncodingType.JSON)]
) -> LoginResponse:
    state = auth_state(request)
    try:
        issued = state.login(data.message, data.signature)
    except AuthError as err:
        raise _raise(err, state) from None
    return LoginResponse(
        token=issued.token,
        token_type="Bearer",
        expires_at=rfc3339(issued.expires_at_ms),
        expires_in=max(0, (issued.expires_at_ms - state.clock()) // 1000),
        address=issued.address,
    )


AUTH_ROUTES = [auth_nonce, auth_login]
"""The handlers the app factory registers."""

__all__ = [
    "AUTH_EXCEPTION_HANDLERS",
    "AUTH_ROUTES",
    "AUTH_UNAVAILABLE",
    "BEARER_COMPONENTS",
    "BEARER_SECURITY",
    "ORCHESTRATOR_DEPENDENCY",
    "PRIVATE_ROUTE_RESPONSES",
    "AuthErrorBody",
    "AuthHTTPException",
    "LoginRequest",
    "LoginResponse",
    "NonceResponse",
    "auth_exception_handler",
    "auth_login",
    "auth_nonce",
    "auth_state",
    "orchestrator_from_token",
    "require_address",
    "token_claims",
    "token_guard",
]
