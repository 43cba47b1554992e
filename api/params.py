"""Parsing and validation of API query parameters (all untrusted)."""

from __future__ import annotations

import re

from api.errors import BadRequest
from exporter.common.eth import is_eth_address

_DURATION = re.compile(r"^(\d{1,6})([smhd])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_RANGE_S = 31 * 86400


def duration_s(value: str, name: str, max_s: int = MAX_RANGE_S) -> int:
    m = _DURATION.fullmatch(value)
    if not m:
        raise BadRequest(f"{name} must look like 90s, 15m, 1h or 7d; got {value[:40]!r}")
    secs = int(m.group(1)) * _UNIT_S[m.group(2)]
    if not 1 <= secs <= max_s:
        raise BadRequest(f"{name} must be between 1s and {max_s // 86400}d")
    return secs


def eth_address(value: str | None, name: str) -> str | None:
    """An address in any case, its prefix too (0x or 0X), served lowercase; None when absent. (An empty value never
    gets here on /v1 routes: api/middleware.py refuses it; the Explorer's routes read it as no filter.)"""
    if value is None or value == "":
        return None
    if value[:2] == "0X":
        value = "0x" + value[2:]
    if len(value) != 42 or not is_eth_address(value):  # 42: the regex's $ would let a trailing newline by
        raise BadRequest(f"{name} must be a 0x-prefixed 20-byte hex address; got {value[:60]!r}")
    return value.lower()


def short_text(value: str | None, name: str, max_len: int = 128) -> str | None:
    if value is None or value == "":
        return None
    if len(value) > max_len or any(ord(c) < 32 for c in value):
        raise BadRequest(f"{name} must be printable text of at most {max_len} characters")
    return value
