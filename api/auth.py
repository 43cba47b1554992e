"""Private API access: Sign-In with Ethereum (EIP-4361), then a short-lived JWT (RFC 7519). No Litestar here.

The flow, for an orchestrator proving it holds the key of its on-chain address:

1. the server issues a nonce (`AuthState.issue_nonce`): 128 random bits as 32 hex digits, single use, valid
   `nonce_ttl_s` seconds, kept in a bounded, thread-safe `NonceStore`;
2. the orchestrator signs an EIP-4361 message carrying that nonce with `personal_sign` (EIP-191 version 0x45);
3. the server verifies it (`AuthState.verify_login`): the message grammar (EIP-4361 "ABNF Message Format"),
   the nonce (consumed atomically at the first attempt, even a failing one: a replay never works), the domain,
   the URI's origin, the chain id, the times, then the signature, recovered with eth-account
   (`encode_defunct` + `Account.recover_message`) and compared with the message's address
   (EIP-4361 "Relying Party Implementer Steps › Verifying a signed Message");
4. the server issues an HS256 JWT bound to the lowercase address (`sub`), valid `token_ttl_s` seconds
   (`AuthState.issue_token`); private routes check it (`AuthState.verify_bearer`).

Every refusal is an `AuthError(status, reason, message)`:

| status | reason | when |
|---|---|---|
| 400 | `malformed_message` | the message does not follow the EIP-4361 ABNF (the message says which line and why) |
| 400 | `malformed_signature` | not `0x` + 130 hex digits, v not 27/28 (or 0/1), r or s out of range, high s (EIP-2) |
| 400 | `malformed_request` | a request field of the wrong type or shape (raised by the routes) |
| 401 | `nonce_unknown` | the nonce was never issued here, was evicted, or expired long ago |
| 401 | `nonce_used` | the nonce was already presented once (a replay, after a success or a failure) |
| 401 | `nonce_expired` | the nonce is older than `nonce_ttl_s` |
| 401 | `domain_mismatch` | the message's domain (or scheme) is not this server's |
| 401 | `uri_mismatch` | the message's URI is not on this server's origin |
| 401 | `chain_not_allowed` | the Chain ID is not in `chain_ids` |
| 401 | `issued_in_future` | Issued At is later than now + `clock_skew_s` |
| 401 | `message_too_old` | Issued At is earlier than now − `message_max_age_s` − `clock_skew_s` |
| 401 | `message_expired` | Expiration Time + `clock_skew_s` has passed |
| 401 | `message_not_yet_valid` | Not Before is later than now + `clock_skew_s` |
| 401 | `bad_signature` | the signature recovers to another address (or to none) |
| 401 | `missing_token` | no `Authorization` header |
| 401 | `invalid_token` | not `Bearer <JWT>`, bad signature, another algorithm (`none`, HS512, RS256…), another |
|     |                 | issuer or audience, missing or ill-typed claims, not valid yet |
| 401 | `token_expired` | `exp` + `token_leeway_s` has passed |
| 403 | `wrong_address` | a valid token for another address than the one the route serves |

Times are integer milliseconds since the Unix epoch from an injectable `Clock` (`exporter.common.clock`);
JWT claims are NumericDate seconds (RFC 7519 §2).
"""

from __future__ import annotations

import ipaddress
import re
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import jwt
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils import to_checksum_address  # eth-account's own dependency (its EIP-55 implementation)

from exporter.common.clock import Clock, now_ms

# ---------------------------------------------------------------------------------------------------- errors

MALFORMED_MESSAGE = "malformed_message"
MALFORMED_SIGNATURE = "malformed_signature"
MALFORMED_REQUEST = "malformed_request"
NONCE_UNKNOWN = "nonce_unknown"
NONCE_USED = "nonce_used"
NONCE_EXPIRED = "nonce_expired"
DOMAIN_MISMATCH = "domain_mismatch"
URI_MISMATCH = "uri_mismatch"
CHAIN_NOT_ALLOWED = "chain_not_allowed"
ISSUED_IN_FUTURE = "issued_in_future"
MESSAGE_TOO_OLD = "message_too_old"
MESSAGE_EXPIRED = "message_expired"
MESSAGE_NOT_YET_VALID = "message_not_yet_valid"
BAD_SIGNATURE = "bad_signature"
MISSING_TOKEN = "missing_token"
INVALID_TOKEN = "invalid_token"
TOKEN_EXPIRED = "token_expired"
WRONG_ADDRESS = "wrong_address"

REASONS: dict[str, int] = {
    MALFORMED_MESSAGE: 400,
    MALFORMED_SIGNATURE: 400,
    MALFORMED_REQUEST: 400,
    NONCE_UNKNOWN: 401,
    NONCE_USED: 401,
    NONCE_EXPIRED: 401,
    DOMAIN_MISMATCH: 401,
    URI_MISMATCH: 401,
    CHAIN_NOT_ALLOWED: 401,
    ISSUED_IN_FUTURE: 401,
    MESSAGE_TOO_OLD: 401,
    MESSAGE_EXPIRED: 401,
    MESSAGE_NOT_YET_VALID: 401,
    BAD_SIGNATURE: 401,
    MISSING_TOKEN: 401,
    INVALID_TOKEN: 401,
    TOKEN_EXPIRED: 401,
    WRONG_ADDRESS: 403,
}
"""reason → HTTP status: the error table of the module docstring, as data."""


class AuthError(Exception):
    """A refused sign-in or token. `status`: 400, 401 or 403 (see `REASONS`); `reason`: a stable machine-readable
    word; `message`: one human sentence saying what was wrong (it may quote up to 60 characters of the input)."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message

    def __repr__(self) -> str:
        return f"AuthError({self.status}, {self.reason!r}, {self.message!r})"


def _fail(reason: str, message: str) -> AuthError:
    return AuthError(REASONS[reason], reason, message)


def _shown(value: str, limit: int = 60) -> str:
    return repr(value[:limit] + ("…" if len(value) > limit else ""))


# ------------------------------------------------------------------------ RFC 3986 / RFC 3339 building blocks
# EIP-4361's ABNF borrows scheme, authority, URI, reserved, unreserved and pchar from RFC 3986 (§2.2, §2.3, §3)
# and date-time from RFC 3339 (§5.6). Character classes are ASCII only (Python's \d would accept other digits).

_UNRESERVED = r"A-Za-z0-9\-._~"
_SUB_DELIMS = r"!$&'()*+,;="
_GEN_DELIMS = r":/?#\[\]@"
_PCT = r"%[0-9A-Fa-f]{2}"
_PCHAR = rf"(?:[{_UNRESERVED}{_SUB_DELIMS}:@]|{_PCT})"
_SCHEME = r"[A-Za-z][A-Za-z0-9+\-.]*"
_USERINFO = rf"(?:[{_UNRESERVED}{_SUB_DELIMS}:]|{_PCT})*"
_REG_NAME = rf"(?:[{_UNRESERVED}{_SUB_DELIMS}]|{_PCT})*"  # IPv4address is a subset of reg-name, syntactically
_IP_LITERAL = rf"\[(?:[0-9A-Fa-f:.]+|v[0-9A-Fa-f]+\.[{_UNRESERVED}{_SUB_DELIMS}:]+)\]"
_AUTHORITY = rf"(?:{_USERINFO}@)?(?:{_IP_LITERAL}|{_REG_NAME})(?::[0-9]*)?"
_AUTHORITY_PARTS = re.compile(
    rf"(?:(?P<userinfo>{_USERINFO})@)?(?P<host>{_IP_LITERAL}|{_REG_NAME})(?::(?P<port>[0-9]*))?"
)
_SEGMENT = rf"{_PCHAR}*"
_SEGMENT_NZ = rf"{_PCHAR}+"
_HIER_PART = (
    rf"(?://(?P<authority>{_AUTHORITY})(?:/{_SEGMENT})*"  # "//" authority path-abempty
    rf"|/(?:{_SEGMENT_NZ}(?:/{_SEGMENT})*)?"  # path-absolute
    rf"|{_SEGMENT_NZ}(?:/{_SEGMENT})*"  # path-rootless
    r"|)"  # path-empty
)
_QUERY = rf"(?:{_PCHAR}|[/?])*"
_URI = re.compile(rf"(?P<scheme>{_SCHEME}):{_HIER_PART}(?:\?{_QUERY})?(?:#{_QUERY})?")

_HEADER = re.compile(
    rf"(?:(?P<scheme>{_SCHEME})://)?(?P<domain>{_AUTHORITY}) wants you to sign in with your Ethereum account:"
)
_ADDRESS = re.compile(r"0x[0-9A-Fa-f]{40}")
_STATEMENT = re.compile(rf"[{_UNRESERVED}{_GEN_DELIMS}{_SUB_DELIMS} ]*")
_CHAIN_ID = re.compile(r"[0-9]+")
_NONCE = re.compile(r"[A-Za-z0-9]{8,}")
_REQUEST_ID = re.compile(rf"{_PCHAR}*")
_DATE_TIME = re.compile(
    r"(?P<y>[0-9]{4})-(?P<mo>[0-9]{2})-(?P<d>[0-9]{2})[Tt](?P<h>[0-9]{2}):(?P<mi>[0-9]{2}):(?P<s>[0-9]{2})"
    r"(?:\.(?P<frac>[0-9]+))?(?P<tz>[Zz]|[+-][0-9]{2}:[0-9]{2})"
)
_DEFAULT_PORTS = {"http": 80, "https": 443}
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_UINT256_MAX = 2**256 - 1


def parse_rfc3339_ms(value: str) -> int:
    """An RFC 3339 §5.6 `date-time` → integer milliseconds since the epoch (fractions beyond 1 ms truncated).

    `T` and `Z` may be lower case (RFC 3339 §5.6 note; ABNF strings are case-insensitive). A leap second
    (`:60`) is read as the first instant of the next minute. ValueError with the reason when it is not one."""
    m = _DATE_TIME.fullmatch(value)
    if not m:
        raise ValueError(f"{_shown(value)} is not an RFC 3339 date-time such as 2025-01-31T12:00:00Z")
    second = int(m["s"])
    if second > 60:
        raise ValueError(f"{_shown(value)}: second {second} is out of range")
    leap = second == 60
    offset = timedelta(0)
    if m["tz"] not in ("Z", "z"):
        oh, om = int(m["tz"][1:3]), int(m["tz"][4:6])
        if oh > 23 or om > 59:
            raise ValueError(f"{_shown(value)}: time offset {m['tz']} is out of range")
        offset = timedelta(hours=oh, minutes=om) * (1 if m["tz"][0] == "+" else -1)
    try:
        moment = datetime(
            int(m["y"]), int(m["mo"]), int(m["d"]), int(m["h"]), int(m["mi"]), 59 if leap else second,
            int((m["frac"] or "0")[:6].ljust(6, "0")), tzinfo=timezone(offset),
        )  # fmt: skip
        if leap:
            moment += timedelta(seconds=1)
    except (ValueError, OverflowError) as exc:
        raise ValueError(f"{_shown(value)} is not a valid date-time: {exc}") from None
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def rfc3339(ms: int) -> str:
    """Integer milliseconds since the epoch → RFC 3339 in UTC with milliseconds: `2025-01-31T12:00:00.000Z`."""
    return (_EPOCH + timedelta(milliseconds=ms)).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class _Authority:
    userinfo: str | None
    host: str  # lower case
    port: int | None  # None: absent, empty, or not a valid port number

    @classmethod
    def parse(cls, text: str, scheme: str) -> "_Authority | None":
        """RFC 3986 §3.2 authority; a missing port becomes `scheme`'s default (EIP-4361 "Message Fields": domain)."""
        m = _AUTHORITY_PARTS.fullmatch(text)
        if not m:
            return None
        port_text = m["port"] or ""
        port: int | None = _DEFAULT_PORTS.get(scheme.lower())
        if port_text:
            port = int(port_text) if len(port_text) <= 5 and int(port_text) <= 65535 else None
        return cls(m["userinfo"], m["host"].lower(), port)


def _valid_ip_literals(authority: str) -> bool:
    host = _AUTHORITY_PARTS.fullmatch(authority)
    if host is None:
        return False
    h = host["host"]
    if h.startswith("[") and not h[1:2].lower() == "v":
        try:
            ipaddress.IPv6Address(h[1:-1])
        except ValueError:
            return False
    return True


def _is_uri(value: str) -> bool:
    """RFC 3986 §3 `URI` (absolute, optional query and fragment), IPv6 literals checked with `ipaddress`."""
    m = _URI.fullmatch(value)
    return m is not None and (m["authority"] is None or _valid_ip_literals(m["authority"]))


def _origin_of(uri: str) -> tuple[str, _Authority] | None:
    """(scheme, authority) of an RFC 3986 URI with an authority component (RFC 6454 §4 origin), else None."""
    m = _URI.fullmatch(uri)
    if m is None or m["authority"] is None:
        return None
    scheme = m["scheme"].lower()
    authority = _Authority.parse(m["authority"], scheme)
    return None if authority is None else (scheme, authority)


def to_checksum(address: str) -> str:
    """`0x` + 40 hex digits in any case → its EIP-55 mixed-case checksum form. ValueError when not an address."""
    if not isinstance(address, str) or not _ADDRESS.fullmatch(address):
        raise ValueError("not a 0x-prefixed 20-byte hex address")
    return to_checksum_address(address)


def is_checksum_address(value: str) -> bool:
    """True when `value` is `0x` + 40 hex digits in the mixed-case checksum encoding of EIP-55 (§ Specification).
    An all-lowercase address with letters is not (EIP-4361's ABNF: the address "Must also conform to
    capitalization checksum encoding specified in EIP-55"); an address made only of digits trivially is."""
    return _ADDRESS.fullmatch(value) is not None and to_checksum_address(value) == value


# --------------------------------------------------------------------------------------------------- message


@dataclass(frozen=True)
class SiweMessage:
    """One EIP-4361 message, field by field (EIP-4361 "Message Fields"). Strings are as written in the message.

    `statement`: None when absent, "" when present and empty (the ABNF allows both: the empty one adds a line).
    `resources`: None when there is no `Resources:` line, () when the line has no entries. `chain_id` is the
    EIP-155 chain id (0 ≤ id < 2**256). Times are RFC 3339 strings; `*_ms` give them as epoch milliseconds.
    `to_text()` renders the exact text the ABNF prescribes, so `parse_message(m.to_text()) == m`.
    """

    domain: str
    address: str
    uri: str
    chain_id: int
    nonce: str
    issued_at: str
    scheme: str | None = None
    statement: str | None = None
    version: str = "1"
    expiration_time: str | None = None
    not_before: str | None = None
    request_id: str | None = None
    resources: tuple[str, ...] | None = None

    @property
    def issued_at_ms(self) -> int:
        return parse_rfc3339_ms(self.issued_at)

    @property
    def expiration_time_ms(self) -> int | None:
        return None if self.expiration_time is None else parse_rfc3339_ms(self.expiration_time)

    @property
    def not_before_ms(self) -> int | None:
        return None if self.not_before is None else parse_rfc3339_ms(self.not_before)

    def to_text(self) -> str:
        """The message as EIP-4361's ABNF lays it out: LF line breaks, no trailing LF."""
        prefix = f"{self.scheme}://" if self.scheme else ""
        lines = [f"{prefix}{self.domain} wants you to sign in with your Ethereum account:", self.address, ""]
        if self.statement is not None:
            lines.append(self.statement)
        lines += [
            "",
            f"URI: {self.uri}",
            f"Version: {self.version}",
            f"Chain ID: {self.chain_id}",
            f"Nonce: {self.nonce}",
            f"Issued At: {self.issued_at}",
        ]
        if self.expiration_time is not None:
            lines.append(f"Expiration Time: {self.expiration_time}")
        if self.not_before is not None:
            lines.append(f"Not Before: {self.not_before}")
        if self.request_id is not None:
            lines.append(f"Request ID: {self.request_id}")
        if self.resources is not None:
            lines.append("Resources:")
            lines += [f"- {r}" for r in self.resources]
        return "\n".join(lines)


MAX_MESSAGE_CHARS = 4096
_OPTIONAL_FIELDS = ("Expiration Time: ", "Not Before: ", "Request ID: ", "Resources:")


def parse_message(text: str, max_chars: int = MAX_MESSAGE_CHARS) -> SiweMessage:
    """Parse an EIP-4361 message strictly by its ABNF (EIP-4361 "Message Format › ABNF Message Format").

    `text`: the exact string that was signed: printable ASCII, LF line breaks (no CR), no trailing LF, at most
    `max_chars` characters. Field labels are case-sensitive (`%s` in the ABNF), required fields come in the
    ABNF's order, optional ones (Expiration Time, Not Before, Request ID, Resources) in theirs. The address
    must be EIP-55 checksummed (see `is_checksum_address`). Nothing else is tolerated: a missing or extra line,
    a wrong label, `Version` other than 1, a nonce shorter than 8 alphanumerics, a date that is not RFC 3339.

    Returns the `SiweMessage`; raises `AuthError(400, "malformed_message", "<line n: what is wrong>")`.
    Checks against this server (domain, nonce, times…) are `AuthState.verify_login`'s.
    """
    if not isinstance(text, str):
        raise _fail(MALFORMED_MESSAGE, "the message must be a string")
    if len(text) > max_chars:
        raise _fail(MALFORMED_MESSAGE, f"the message is {len(text)} characters long; at most {max_chars} are accepted")
    for offset, ch in enumerate(text):
        if not (" " <= ch <= "~" or ch == "\n"):
            what = "a CR: lines must end with LF alone" if ch == "\r" else f"{ch!r}: only printable ASCII and LF"
            raise _fail(MALFORMED_MESSAGE, f"character {offset} of the message is {what} (EIP-4361 ABNF)")
    lines = text.split("\n")
    pos = 0

    def bad(message: str) -> AuthError:
        return _fail(MALFORMED_MESSAGE, f"line {pos + 1}: {message}")

    def take(label: str, what: str) -> str:
        nonlocal pos
        if pos >= len(lines):
            raise bad(f"the message ends here; expected {label!r} + {what}")
        line = lines[pos]
        if not line.startswith(label):
            raise bad(f"expected {label!r} + {what}; got {_shown(line)}")
        pos += 1
        return line[len(label) :]

    header = _HEADER.fullmatch(lines[0])
    if not header:
        raise bad("expected '[scheme://]<domain> wants you to sign in with your Ethereum account:'; "
                  f"got {_shown(lines[0])}")  # fmt: skip
    if not _valid_ip_literals(header["domain"]):
        raise bad(f"the domain {_shown(header['domain'])} has an invalid IPv6 literal")
    pos = 1
    if pos >= len(lines):
        raise bad("the message ends here; expected the address")
    address = lines[pos]
    if not _ADDRESS.fullmatch(address):
        raise bad(f"expected an address, 0x + 40 hex digits; got {_shown(address)}")
    if not is_checksum_address(address):
        raise bad(f"the address {address} is not in EIP-55 checksum case (EIP-4361 requires it); "
                  f"write it as {to_checksum_address(address)}")  # fmt: skip
    pos = 2
    if pos >= len(lines) or lines[pos] != "":
        raise bad("expected an empty line after the address")
    pos = 3
    statement: str | None = None
    if pos + 1 < len(lines) and lines[pos] == "" and lines[pos + 1].startswith("URI: "):
        pos += 1  # no statement
    else:
        if pos >= len(lines):
            raise bad("the message ends here; expected a statement or an empty line")
        statement = lines[pos]
        if not _STATEMENT.fullmatch(statement):
            raise bad("the statement may hold only RFC 3986 reserved and unreserved characters and spaces; "
                      f"got {_shown(statement)}")  # fmt: skip
        pos += 1
        if pos >= len(lines) or lines[pos] != "":
            raise bad("expected an empty line after the statement (without a statement, two empty lines "
                      "separate the address from URI)")  # fmt: skip
        pos += 1

    uri = take("URI: ", "an RFC 3986 URI")
    if not _is_uri(uri):
        pos -= 1
        raise bad(f"the URI {_shown(uri)} is not an RFC 3986 URI")
    version = take("Version: ", "1")
    if version != "1":
        pos -= 1
        raise bad(f"Version must be 1 (EIP-4361); got {_shown(version)}")
    chain = take("Chain ID: ", "an EIP-155 chain id (digits)")
    if not _CHAIN_ID.fullmatch(chain) or len(chain) > 78 or int(chain) > _UINT256_MAX:
        pos -= 1
        raise bad(f"Chain ID must be decimal digits of an EIP-155 chain id (at most 2**256-1); got {_shown(chain)}")
    nonce = take("Nonce: ", "at least 8 letters or digits")
    if not _NONCE.fullmatch(nonce):
        pos -= 1
        raise bad(f"Nonce must be at least 8 ASCII letters or digits; got {_shown(nonce)}")

    def date(label: str) -> str:
        nonlocal pos
        value = take(label, "an RFC 3339 date-time")
        try:
            parse_rfc3339_ms(value)
        except ValueError as exc:
            pos -= 1
            raise bad(f"{label.strip()} {exc}") from None
        return value

    issued_at = date("Issued At: ")
    optional: dict[str, str | None] = dict.fromkeys(_OPTIONAL_FIELDS)
    resources: list[str] | None = None
    for label in _OPTIONAL_FIELDS:
        if pos >= len(lines) or not lines[pos].startswith(label):
            continue
        if label in ("Expiration Time: ", "Not Before: "):
            optional[label] = date(label)
        elif label == "Request ID: ":
            optional[label] = take(label, "RFC 3986 pchar")
            if not _REQUEST_ID.fullmatch(optional[label] or ""):
                pos -= 1
                raise bad(f"Request ID may hold only RFC 3986 pchar characters; got {_shown(optional[label] or '')}")
        else:
            if lines[pos] != "Resources:":
                raise bad(f"expected 'Resources:' alone on its line; got {_shown(lines[pos])}")
            pos += 1
            resources = []
            while pos < len(lines) and lines[pos].startswith("- "):
                if not _is_uri(lines[pos][2:]):
                    raise bad(f"the resource {_shown(lines[pos][2:])} is not an RFC 3986 URI")
                resources.append(lines[pos][2:])
                pos += 1
    if pos < len(lines):
        raise bad(f"unexpected {_shown(lines[pos])}: after Issued At only Expiration Time, Not Before, Request ID "
                  "and Resources may follow, once each and in that order; no line break ends the message")  # fmt: skip
    return SiweMessage(
        domain=header["domain"],
        address=address,
        uri=uri,
        chain_id=int(chain),
        nonce=nonce,
        issued_at=issued_at,
        scheme=header["scheme"],
        statement=statement,
        version=version,
        expiration_time=optional["Expiration Time: "],
        not_before=optional["Not Before: "],
        request_id=optional["Request ID: "],
        resources=None if resources is None else tuple(resources),
    )


# ------------------------------------------------------------------------------------------------- signature

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_SIGNATURE = re.compile(r"0x[0-9A-Fa-f]{130}")


def parse_signature(signature: object) -> bytes:
    """A `personal_sign` signature (EIP-191) → its 65 bytes r‖s‖v with v as 27 or 28.

    Accepts `0x` + 130 hex digits with v in {27, 28} or {0, 1} (some hardware wallets); refuses r or s outside
    [1, n−1] and a high s (s > n/2, the malleable twin EIP-2 rules out; every standard signer produces low s).
    Raises `AuthError(400, "malformed_signature", …)`."""
    if not isinstance(signature, str) or not _SIGNATURE.fullmatch(signature):
        shown = _shown(signature) if isinstance(signature, str) else type(signature).__name__
        raise _fail(MALFORMED_SIGNATURE, f"the signature must be 0x + 130 hex digits (65 bytes r‖s‖v); got {shown}")
    raw = bytes.fromhex(signature[2:])
    r, s, v = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:64], "big"), raw[64]
    if v in (0, 1):
        v += 27
    if v not in (27, 28):
        raise _fail(MALFORMED_SIGNATURE, f"the signature's v must be 27 or 28 (or 0 or 1); got {raw[64]}")
    if not 1 <= r < SECP256K1_N:
        raise _fail(MALFORMED_SIGNATURE, "the signature's r is out of range")
    if not 1 <= s <= SECP256K1_N // 2:
        raise _fail(MALFORMED_SIGNATURE, "the signature's s must be in the lower half of the curve order (EIP-2)")
    return raw[:64] + bytes([v])


def recover_signer(message: str, signature: bytes) -> str:
    """The EIP-55 address that signed `message` with `personal_sign`: eth-account's `Account.recover_message` over
    `encode_defunct(text=message)`, i.e. keccak256("\\x19Ethereum Signed Message:\\n" + len + message) (EIP-191,
    version 0x45). `signature` as `parse_signature` returns it. Raises `AuthError(401, "bad_signature")` when
    no key recovers from it."""
    try:
        return Account.recover_message(encode_defunct(text=message), signature=signature)
    except Exception as exc:  # eth-keys' BadSignature and friends: the input is untrusted bytes
        raise _fail(BAD_SIGNATURE, "no public key recovers from this signature") from exc


# ------------------------------------------------------------------------------------------------ configuration

DEFAULT_STATEMENT = "Sign in to the NaaP SLA API to read the private metrics of your orchestrator."
ARBITRUM_ONE = 42161


@dataclass(frozen=True)
class AuthConfig:
    """The sign-in settings. Every duration is in seconds. Invalid values raise ValueError at construction.

    - `domain`: the RFC 3986 authority (host[:port]) a message must name (EIP-4361 `domain`); compared
      case-insensitively on the host, with the port defaulting to the scheme's (https when the message has none).
    - `uri`: the URI put into issued message templates; a signed message's URI must have the same origin
      (scheme, host, port: RFC 6454 §4); its path is free. If the message has a scheme, it must be this one's.
    - `chain_ids`: EIP-155 chain ids a message may name; default Arbitrum One (42161), where Livepeer's
      contracts live.
    - `statement`: the statement put into templates (not required of signed messages).
    - `nonce_ttl_s`: how long an issued nonce stays valid. `max_nonces`: at most this many are remembered, the
      oldest evicted first (its holder then gets `nonce_unknown` and asks again).
    - `message_max_age_s`: Issued At may be at most this old. `clock_skew_s`: tolerance on every message time.
    - `token_ttl_s`: JWT lifetime (default 15 min). `token_leeway_s`: tolerance on the JWT's times.
    - `jwt_secret`: the HS256 key, at least 32 bytes (RFC 7518 §3.2). None: 32 random bytes per process, so
      tokens do not survive a restart and several processes do not accept each other's tokens.
    - `max_message_chars`: longest message accepted.
    """

    domain: str = "127.0.0.1:8000"
    uri: str = "http://127.0.0.1:8000/v1/auth/login"
    chain_ids: tuple[int, ...] = (ARBITRUM_ONE,)
    statement: str = DEFAULT_STATEMENT
    nonce_ttl_s: int = 300
    max_nonces: int = 10_000
    message_max_age_s: int = 600
    clock_skew_s: int = 60
    token_ttl_s: int = 900
    token_leeway_s: int = 5
    jwt_secret: str | None = field(default=None, repr=False)
    max_message_chars: int = MAX_MESSAGE_CHARS

    def __post_init__(self) -> None:
        object.__setattr__(self, "chain_ids", tuple(self.chain_ids))
        origin = _origin_of(self.uri)
        if origin is None or origin[0] not in _DEFAULT_PORTS or origin[1].userinfo is not None or not origin[1].host:
            raise ValueError(f"auth uri must be an absolute http(s) URI with a host; got {self.uri!r}")
        if not _is_uri(self.uri):
            raise ValueError(f"auth uri is not an RFC 3986 URI: {self.uri!r}")
        domain = _Authority.parse(self.domain, origin[0]) if _valid_ip_literals(self.domain) else None
        if domain is None or not domain.host or domain.userinfo is not None or domain.port is None:
            raise ValueError(f"auth domain must be an RFC 3986 host[:port] without userinfo; got {self.domain!r}")
        if origin[0] != "https" and not re.search(r":[0-9]+$", self.domain):
            # EIP-4361 reads a domain without scheme and port as https on 443: say the port when it is not that.
            raise ValueError(f"auth domain must name its port when the uri is not https; got {self.domain!r}")
        if not _STATEMENT.fullmatch(self.statement):
            raise ValueError("auth statement may hold only RFC 3986 reserved and unreserved characters and spaces")
        if not self.chain_ids or any(
            isinstance(c, bool) or not isinstance(c, int) or not 0 <= c <= _UINT256_MAX for c in self.chain_ids
        ):
            raise ValueError(f"auth chain_ids must be a non-empty list of EIP-155 chain ids; got {self.chain_ids!r}")
        for name in ("nonce_ttl_s", "max_nonces", "message_max_age_s", "token_ttl_s", "max_message_chars"):
            if getattr(self, name) < 1:
                raise ValueError(f"auth {name} must be at least 1")
        for name in ("clock_skew_s", "token_leeway_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"auth {name} must not be negative")
        if self.jwt_secret is not None and len(self.jwt_secret.encode("utf-8")) < 32:
            raise ValueError("auth jwt_secret must be at least 32 bytes (RFC 7518 §3.2); unset, a random one is used")

    @property
    def origin(self) -> str:
        """`scheme://host[:port]` of `uri`."""
        m = _URI.fullmatch(self.uri)
        assert m is not None and m["authority"] is not None  # checked in __post_init__
        return f"{m['scheme'].lower()}://{m['authority']}"


# ---------------------------------------------------------------------------------------------------- nonces


@dataclass(frozen=True)
class IssuedNonce:
    """A server nonce: `value` (32 hex digits, 128 random bits), issued and expiring at epoch milliseconds."""

    value: str
    issued_at_ms: int
    expires_at_ms: int


@dataclass
class _NonceEntry:
    issued: IssuedNonce
    used: bool = False


class NonceStore:
    """Server-issued nonces: single use, expiring after `ttl_s`, at most `max_size` remembered, thread-safe.

    `issue()` makes one; `consume(value)` accepts it once. Consumption is atomic (one lock): of any number of
    concurrent attempts with one nonce, exactly one gets past it; the nonce is spent by that first attempt
    whatever happens next. Spent and expired nonces are remembered for one more TTL so that a replay or a late
    attempt is named precisely (`nonce_used`, `nonce_expired`), then forgotten (`nonce_unknown`).

    Memory is bounded under a flood: past `max_size` the oldest entries are evicted (counted in `evicted`); a
    client whose nonce was evicted gets `nonce_unknown` and asks again. Unknown values presented to `consume`
    are never stored. `clock` gives epoch milliseconds (injectable for tests).
    """

    def __init__(self, ttl_s: float = 300, max_size: int = 10_000, clock: Clock = now_ms) -> None:
        if ttl_s <= 0 or max_size < 1:
            raise ValueError("NonceStore needs ttl_s > 0 and max_size ≥ 1")
        self._ttl_ms = int(ttl_s * 1000)
        self._max = max_size
        self._clock = clock
        self._entries: OrderedDict[str, _NonceEntry] = OrderedDict()
        self._lock = threading.Lock()
        self._evicted = 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    @property
    def evicted(self) -> int:
        """How many entries were evicted to keep the store within `max_size` since it was made."""
        return self._evicted

    @property
    def max_size(self) -> int:
        return self._max

    def _forget_old(self, now: int) -> None:
        # Issue order is expiry order while the clock does not go back; when it does, `max_size` still bounds.
        while self._entries:
            first = next(iter(self._entries.values()))
            if now < first.issued.expires_at_ms + self._ttl_ms:
                break
            self._entries.popitem(last=False)

    def issue(self) -> IssuedNonce:
        """A fresh nonce, valid from now for `ttl_s`."""
        with self._lock:
            now = self._clock()
            self._forget_old(now)
            while len(self._entries) >= self._max:
                self._entries.popitem(last=False)
                self._evicted += 1
            value = secrets.token_hex(16)
            while value in self._entries:  # 2**-128: kept for the argument, not the odds
                value = secrets.token_hex(16)
            issued = IssuedNonce(value, now, now + self._ttl_ms)
            self._entries[value] = _NonceEntry(issued)
            return issued

    def consume(self, value: str) -> IssuedNonce:
        """Spend `value`. Raises `AuthError(401)`: `nonce_unknown` (never issued here, evicted or long expired),
        `nonce_used` (already presented), `nonce_expired` (presented for the first time, too late)."""
        with self._lock:
            now = self._clock()
            self._forget_old(now)
            entry = self._entries.get(value) if isinstance(value, str) else None
            if entry is None:
                raise _fail(NONCE_UNKNOWN, "unknown nonce: it was not issued by this server, or has been forgotten; "
                                           "get a new one from GET /v1/auth/nonce")  # fmt: skip
            if entry.used:
                raise _fail(NONCE_USED, "this nonce was already used (nonces are single use); get a new one")
            entry.used = True
            if now >= entry.issued.expires_at_ms:
                expired = rfc3339(entry.issued.expires_at_ms)
                raise _fail(NONCE_EXPIRED, f"this nonce expired at {expired}; get a new one")
            return entry.issued


# ----------------------------------------------------------------------------------------------------- tokens

JWT_ALGORITHM = "HS256"
MAX_TOKEN_CHARS = 4096
_REQUIRED_CLAIMS = ["iss", "aud", "sub", "iat", "nbf", "exp", "jti"]
_LOWER_ADDRESS = re.compile(r"0x[0-9a-f]{40}")
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")  # RFC 6750 §2.1 b64token


@dataclass(frozen=True)
class IssuedToken:
    """A JWT for `address` (lowercase), valid until `expires_at_ms` (epoch ms); `jti` its unique id."""

    token: str
    address: str
    expires_at_ms: int
    jti: str


@dataclass(frozen=True)
class TokenClaims:
    """A verified token: `address` (lowercase, the `sub` claim), times in epoch seconds, `jti`."""

    address: str
    issued_at_s: int
    not_before_s: int
    expires_at_s: int
    jti: str


# ------------------------------------------------------------------------------------------------------ state


class AuthState:
    """Everything the sign-in routes need: the config, the nonce store, the JWT secret, the clock.

    One per process, put by the app factory at `app.state["auth"]`. `clock` gives epoch milliseconds and is
    used for every time decision here, JWTs included (PyJWT reads only the system clock, so its own time
    checks are turned off and done here with the same rules: `exp`, `nbf`, `iat` with `token_leeway_s`).
    """

    def __init__(self, config: AuthConfig | None = None, clock: Clock = now_ms) -> None:
        self.config = config or AuthConfig()
        self.clock = clock
        self.nonces = NonceStore(self.config.nonce_ttl_s, self.config.max_nonces, clock)
        self.secret_is_ephemeral = self.config.jwt_secret is None
        self._secret = secrets.token_bytes(32) if self.config.jwt_secret is None else self.config.jwt_secret.encode()
        origin = _origin_of(self.config.uri)
        assert origin is not None  # AuthConfig checked it
        self._origin: tuple[str, _Authority] = origin
        self._domain = _Authority.parse(self.config.domain, origin[0])

    # -- sign-in

    def issue_nonce(self) -> IssuedNonce:
        return self.nonces.issue()

    def message_for(self, nonce: IssuedNonce, address: str = "${address}") -> str:
        """The ready-to-sign EIP-4361 message for `nonce`: this server's domain, URI, first chain id and statement,
        Issued At = the nonce's issue time, Expiration Time = its expiry. `address` is put in as given (checksum
        it first); the default leaves the EIP's `${address}` placeholder for a template."""
        return SiweMessage(
            domain=self.config.domain,
            address=address,
            uri=self.config.uri,
            chain_id=self.config.chain_ids[0],
            nonce=nonce.value,
            issued_at=rfc3339(nonce.issued_at_ms),
            statement=self.config.statement,
            expiration_time=rfc3339(nonce.expires_at_ms),
        ).to_text()

    def verify_login(self, message: str, signature: str) -> SiweMessage:
        """Verify a signed EIP-4361 message (EIP-4361 "Verifying a signed Message"); return it parsed.

        In order: the grammar (400 `malformed_message`); the nonce, spent here even if a later check fails
        (401 `nonce_unknown` / `nonce_used` / `nonce_expired`); the scheme and domain (401 `domain_mismatch`);
        the URI's origin (401 `uri_mismatch`); the chain id (401 `chain_not_allowed`); Issued At within
        [now − max age − skew, now + skew] (401 `message_too_old` / `issued_in_future`); Expiration Time + skew
        not reached (401 `message_expired`); Not Before − skew reached (401 `message_not_yet_valid`); the
        signature's form (400 `malformed_signature`) and its signer equal to the address (401 `bad_signature`).
        """
        cfg = self.config
        msg = parse_message(message, cfg.max_message_chars)
        self.nonces.consume(msg.nonce)
        scheme = self._origin[0]
        if msg.scheme is not None and msg.scheme.lower() != scheme:
            raise _fail(DOMAIN_MISMATCH, f"the message's scheme is {_shown(msg.scheme)}; this server's is {scheme}")
        if _Authority.parse(msg.domain, msg.scheme or "https") != self._domain:
            raise _fail(DOMAIN_MISMATCH, f"the message is for {_shown(msg.domain)}; this server is {cfg.domain}")
        if _origin_of(msg.uri) != self._origin:
            raise _fail(URI_MISMATCH, f"the message's URI {_shown(msg.uri)} is not on this server's origin, "
                                      f"{cfg.origin}")  # fmt: skip
        if msg.chain_id not in cfg.chain_ids:
            allowed = list(cfg.chain_ids)
            raise _fail(CHAIN_NOT_ALLOWED, f"Chain ID {msg.chain_id} is not accepted here; use one of {allowed}")
        now = self.clock()
        skew = cfg.clock_skew_s * 1000
        issued = msg.issued_at_ms
        if issued > now + skew:
            raise _fail(ISSUED_IN_FUTURE, f"Issued At {msg.issued_at} is in the future (now {rfc3339(now)})")
        if issued < now - cfg.message_max_age_s * 1000 - skew:
            raise _fail(MESSAGE_TOO_OLD, f"Issued At {msg.issued_at} is more than {cfg.message_max_age_s} s ago")
        expires = msg.expiration_time_ms
        if expires is not None and now >= expires + skew:
            raise _fail(MESSAGE_EXPIRED, f"the message expired at {msg.expiration_time} (now {rfc3339(now)})")
        not_before = msg.not_before_ms
        if not_before is not None and now < not_before - skew:
            raise _fail(MESSAGE_NOT_YET_VALID, f"the message is not valid before {msg.not_before} (now {rfc3339(now)})")
        signer = recover_signer(message, parse_signature(signature))
        if signer.lower() != msg.address.lower():
            raise _fail(BAD_SIGNATURE, f"the signature is not {msg.address}'s over this message")
        return msg

    def login(self, message: str, signature: str) -> IssuedToken:
        """`verify_login`, then a token for the message's address."""
        return self.issue_token(self.verify_login(message, signature).address)

    # -- tokens

    def issue_token(self, address: str) -> IssuedToken:
        """An HS256 JWT (RFC 7519; RFC 8725 §3.1) for `address`: `sub` = the lowercase address, `iss` = `aud` = the
        domain, `iat` = `nbf` = now, `exp` = now + `token_ttl_s` (NumericDate seconds), `jti` = 128 random bits."""
        if not _ADDRESS.fullmatch(address):
            raise ValueError(f"not an address: {address!r}")
        now_s = self.clock() // 1000
        jti = secrets.token_hex(16)
        claims = {
            "iss": self.config.domain,
            "aud": self.config.domain,
            "sub": address.lower(),
            "iat": now_s,
            "nbf": now_s,
            "exp": now_s + self.config.token_ttl_s,
            "jti": jti,
        }
        token = jwt.encode(claims, self._secret, algorithm=JWT_ALGORITHM, headers={"typ": "JWT"})
        return IssuedToken(token, address.lower(), (now_s + self.config.token_ttl_s) * 1000, jti)

    def verify_token(self, token: str) -> TokenClaims:
        """Check a JWT: signature with the one algorithm HS256 (`algorithms=["HS256"]`, so `alg: none`, HS384/512 and
        RS/ES tokens are refused: RFC 8725 §2.1, §3.1), every claim of `issue_token` present, `iss` and `aud` equal
        to the domain (`aud` a single string), `sub` a lowercase address, `iat`/`nbf`/`exp` integers with
        `iat` ≤ now + leeway, `nbf` ≤ now + leeway, now < `exp` + leeway.

        Raises `AuthError(401)`: `token_expired`, or `invalid_token` with what was wrong."""
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_CHARS:
            raise _fail(INVALID_TOKEN, f"the token must be a JWT of at most {MAX_TOKEN_CHARS} characters")
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[JWT_ALGORITHM],
                audience=self.config.domain,
                issuer=self.config.domain,
                options={
                    "require": _REQUIRED_CLAIMS,
                    "verify_signature": True,
                    "verify_aud": True,
                    "verify_iss": True,
                    "strict_aud": True,
                    "verify_exp": False,  # checked below with the injectable clock
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
        except jwt.PyJWTError as exc:
            raise _fail(INVALID_TOKEN, f"invalid token: {str(exc)[:120]}") from None
        times: dict[str, int] = {}
        for name in ("iat", "nbf", "exp"):
            value = claims.get(name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise _fail(INVALID_TOKEN, f"invalid token: {name} must be an integer NumericDate")
            times[name] = value
        sub, jti = claims.get("sub"), claims.get("jti")
        if not isinstance(sub, str) or not _LOWER_ADDRESS.fullmatch(sub) or not isinstance(jti, str):
            raise _fail(INVALID_TOKEN, "invalid token: sub must be a lowercase address and jti a string")
        now = self.clock()
        leeway = self.config.token_leeway_s * 1000
        if now >= times["exp"] * 1000 + leeway:
            raise _fail(TOKEN_EXPIRED, f"the token expired at {rfc3339(times['exp'] * 1000)}; sign in again")
        if times["nbf"] * 1000 > now + leeway or times["iat"] * 1000 > now + leeway:
            raise _fail(INVALID_TOKEN, "invalid token: it is not valid yet")
        return TokenClaims(sub, times["iat"], times["nbf"], times["exp"], jti)

    def verify_bearer(self, authorization: str | None) -> TokenClaims:
        """An `Authorization` header value → the verified claims. The scheme `Bearer` is case-insensitive
        (RFC 6750 §2.1, RFC 9110 §11.1); the token must be a b64token. Raises `AuthError(401)`:
        `missing_token`, `invalid_token`, `token_expired`."""
        if authorization is None or not authorization.strip():
            raise _fail(MISSING_TOKEN, "this route needs 'Authorization: Bearer <token>'; get a token from "
                                       "POST /v1/auth/login")  # fmt: skip
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not _B64TOKEN.fullmatch(token):
            raise _fail(INVALID_TOKEN, "the Authorization header must be 'Bearer <token>'")
        return self.verify_token(token)


def check_address(claims: TokenClaims, address: str) -> str:
    """`address` (any case) lowercased when the token is for it. Raises `AuthError(400, "malformed_request")` when
    `address` is not one, `AuthError(403, "wrong_address")` when the token is for another address."""
    if not isinstance(address, str) or not _ADDRESS.fullmatch(address):
        raise _fail(MALFORMED_REQUEST, f"{_shown(str(address))} is not a 0x-prefixed 20-byte hex address")
    if claims.address != address.lower():
        raise _fail(WRONG_ADDRESS, f"this token is for {claims.address}, not {address.lower()}")
    return address.lower()
