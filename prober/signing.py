"""Signed probe results: the prober's ed25519 key signs the canonical JSON of each result (prober/canonical.py),
so anyone holding the published public key can check that a stored or exported result is exactly what the
prober produced.

Envelope (one JSON object; one per line in an export):
  {"alg": "ed25519", "public_key": "<hex, 32 bytes>", "result": {…}, "signature": "<hex, 64 bytes>"}
where the signature is over `canonical_json(result)` (prober/canonical.py: Python's json.dumps with sorted keys, no
spaces, raw UTF-8, floats in Python's repr — so 24.0 is "24.0", not JavaScript's "24"). Re-serialising a parsed
result in another language therefore does not give the signed bytes in general; verify the exact text instead:
- an exported line is `canonical_json(envelope)`, in which the `result` member's text is exactly the signed bytes
  (`result_text`: the slice between `"result":` and `,"signature":`, the last key);
- `/v1/prober/results` serves each envelope with `result_json`, the exact signed text as a string.
`verify` checks those exact bytes when it is given them, and the canonical re-serialisation otherwise (or when they
do not verify), so a file re-written by another tool still verifies wherever Python's form is reproduced.

Keys are PEM PKCS#8 files, created with mode 0600 in a 0700 folder; an existing key readable by group or others is
refused (KeyFileError).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from prober.canonical import canonical_json

ALG = "ed25519"
MAX_LINE_BYTES = 1 << 20


class KeyFileError(ValueError):
    """The key file cannot be used; the message names the file and why."""


def load_or_create_key(path: Path) -> Ed25519PrivateKey:
    """The key in `path`, or a new one written there (0600) when the file does not exist."""
    path = Path(path)
    if path.exists():
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            raise KeyFileError(f"signing key {path} is readable by others (mode {mode:o}); chmod 600 it")
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (ValueError, TypeError, OSError) as e:
            raise KeyFileError(f"signing key {path} is unreadable: {e}") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise KeyFileError(f"signing key {path} is not an ed25519 key")
        return key
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    return key


def public_key_hex(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    pub = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()


def public_key_from_hex(hex_key: str) -> Ed25519PublicKey:
    """ValueError when not 32 bytes of hex."""
    raw = bytes.fromhex(hex_key)
    if len(raw) != 32:
        raise ValueError("an ed25519 public key is 32 bytes (64 hex characters)")
    return Ed25519PublicKey.from_public_bytes(raw)


def sign_result(result: dict[str, Any], key: Ed25519PrivateKey) -> dict[str, Any]:
    """The signed envelope of a result dict (e.g. ProbeResult.to_dict())."""
    return {"alg": ALG, "public_key": public_key_hex(key), "result": result, "signature": key.sign(canonical_json(result)).hex()}


def verify(envelope: Any, public_key: str | Ed25519PublicKey, result_text: bytes | None = None) -> str | None:
    """None when `envelope` is a valid signature by `public_key` over its result; otherwise why not.

    The signed bytes tried, in order: `result_text` (the exact text of the envelope's `result` member as it was
    read, from `result_text()`), the envelope's `result_json` string (what /v1/prober/results serves; it must
    parse to `result`), then `canonical_json(result)`. Any one verifying is enough: each is text that parses to
    the result shown."""
    if not isinstance(envelope, dict) or envelope.get("alg") != ALG or not isinstance(envelope.get("result"), dict):
        return "not an ed25519 result envelope"
    exact: list[bytes] = []
    if result_text is not None:
        exact.append(result_text)
    rj = envelope.get("result_json")
    if rj is not None:
        try:
            if not isinstance(rj, str) or json.loads(rj) != envelope["result"]:
                return "result_json does not match the result"
        except ValueError:
            return "result_json is not JSON"
        exact.append(rj.encode("utf-8"))
    try:
        pub = public_key_from_hex(public_key) if isinstance(public_key, str) else public_key
        if envelope.get("public_key") != public_key_hex(pub):
            return "signed by another key"
        sig = bytes.fromhex(str(envelope.get("signature", "")))
        for data in exact:
            try:
                pub.verify(sig, data)
                return None
            except InvalidSignature:
                continue
        pub.verify(sig, canonical_json(envelope["result"]))
    except InvalidSignature:
        return "signature does not match the result"
    except ValueError as e:
        return f"malformed: {e}"
    return None


_DECODER = json.JSONDecoder()
_WS = " \t\n\r"


def member_spans(text: str, pos: int = 0) -> dict[str, tuple[int, int]] | None:
    """The members of the JSON object starting at `text[pos]` (after whitespace): key → (start, end) of its
    value's text; None when it is not an object. The text is scanned, not re-serialised, so the spans are the exact
    characters that were read."""
    n = len(text)

    def skip(i: int) -> int:
        while i < n and text[i] in _WS:
            i += 1
        return i

    i = skip(pos)
    if i >= n or text[i] != "{":
        return None
    out: dict[str, tuple[int, int]] = {}
    i = skip(i + 1)
    if i < n and text[i] == "}":
        return out
    try:
        while True:
            if i >= n or text[i] != '"':
                return None
            key, i = _DECODER.raw_decode(text, i)
            i = skip(i)
            if i >= n or text[i] != ":":
                return None
            start = skip(i + 1)
            _value, end = _DECODER.raw_decode(text, start)
            out[key] = (start, end)
            i = skip(end)
            if i < n and text[i] == ",":
                i = skip(i + 1)
                continue
            return out if i < n and text[i] == "}" else None
    except ValueError:
        return None


def result_text(envelope_text: str) -> bytes | None:
    """The exact UTF-8 bytes of the `result` member of one envelope's JSON text (None when there is none). For a
    line `naap probe` printed these are the signed bytes."""
    spans = member_spans(envelope_text)
    if not spans or "result" not in spans:
        return None
    a, b = spans["result"]
    return envelope_text[a:b].encode("utf-8")


def export_jsonl(path: Path, envelopes: Iterable[dict[str, Any]]) -> int:
    """Write signed envelopes one per line (canonical JSON); returns how many."""
    n = 0
    with open(path, "wb") as f:
        for env in envelopes:
            f.write(canonical_json(env) + b"\n")
            n += 1
    return n


@dataclass
class ExportCheck:
    """verify_export's answer: valid line count and (line number, reason) per invalid line."""

    valid: int = 0
    invalid: list[tuple[int, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.invalid and self.valid > 0


def verify_export(jsonl_path: Path, public_key: str | Ed25519PublicKey) -> ExportCheck:
    """Check every line of an exported JSONL file against `public_key` (lines over 1 MiB are invalid)."""
    out = ExportCheck()
    with open(jsonl_path, "rb") as f:
        n = 0
        while line := f.readline(MAX_LINE_BYTES + 1):
            n += 1
            if len(line) > MAX_LINE_BYTES:
                out.invalid.append((n, "line too long"))
                while line and not line.endswith(b"\n"):  # skip the rest of it, boundedly
                    line = f.readline(MAX_LINE_BYTES + 1)
                continue
            if not line.strip():
                continue
            try:
                text = line.decode("utf-8")
                env = json.loads(text)
            except ValueError:
                out.invalid.append((n, "not JSON"))
                continue
            reason = verify(env, public_key, result_text(text))
            if reason is None:
                out.valid += 1
            else:
                out.invalid.append((n, reason))
    return out
