"""Canonical JSON: the one byte form used for hashing and signing (dataset items, probe results, seeds).

`canonical_json(obj)` = UTF-8 of `json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
allow_nan=False)`. Keys sorted, no whitespace, no NaN/Infinity (ValueError), so equal values give equal bytes
on every run and platform. Floats are written by Python's shortest round-trip repr.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any


def canonical_json(obj: Any) -> bytes:
    """The canonical bytes of a JSON-compatible value; ValueError for NaN/Infinity, TypeError for non-JSON types."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def digest(obj: Any) -> str:
    """sha256 (hex) of the canonical JSON of `obj`."""
    return sha256_hex(canonical_json(obj))
