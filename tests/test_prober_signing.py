"""Signed results: ed25519 over the canonical JSON of a ProbeResult; tampering, another key or a broken line in
an export are all caught."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from prober.result import ProbeResult, ProbeSample
from prober.signing import KeyFileError, export_jsonl, load_or_create_key, public_key_hex, sign_result, verify, verify_export


def result(n: int = 1) -> dict:
    r = ProbeResult(probe_id=f"p{n}", started_at_ms=1_700_000_000_000 + n, orchestrator="0x" + "ab" * 20, model_id="streamdiffusion",
                    outcome="ok", fault="none", e2e_p50_ms=312.34567, output_fps=23.976, samples=[ProbeSample(0, 24, 24.0, 9000, 301.5)])  # fmt: skip
    return r.to_dict()


def test_key_file_is_created_private_and_reloaded(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "prober.pem"
    key = load_or_create_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert public_key_hex(load_or_create_key(path)) == public_key_hex(key) and len(public_key_hex(key)) == 64
    path.chmod(0o644)
    with pytest.raises(KeyFileError, match="readable by others"):
        load_or_create_key(path)
    junk = tmp_path / "junk.pem"
    junk.write_text("not a key")
    junk.chmod(0o600)
    with pytest.raises(KeyFileError, match="unreadable"):
        load_or_create_key(junk)


def test_sign_verify_tamper_and_wrong_key(tmp_path: Path) -> None:
    key, other = load_or_create_key(tmp_path / "a.pem"), load_or_create_key(tmp_path / "b.pem")
    env = sign_result(result(), key)
    assert verify(env, public_key_hex(key)) is None
    assert env["result"]["e2e_p50_ms"] == 312.346  # canonical form: rounded, sorted
    tampered = json.loads(json.dumps(env))
    tampered["result"]["output_fps"] = 30.0
    assert verify(tampered, public_key_hex(key)) == "signature does not match the result"
    assert verify(env, public_key_hex(other)) == "signed by another key"
    forged = {**sign_result(result(), other), "public_key": public_key_hex(key)}
    assert verify(forged, public_key_hex(key)) == "signature does not match the result"
    assert verify({"alg": "rsa"}, public_key_hex(key)) == "not an ed25519 result envelope"


def test_verify_export(tmp_path: Path) -> None:
    key = load_or_create_key(tmp_path / "k.pem")
    path = tmp_path / "export.jsonl"
    assert export_jsonl(path, [sign_result(result(n), key) for n in range(3)]) == 3
    check = verify_export(path, public_key_hex(key))
    assert check.ok and check.valid == 3
    lines = path.read_bytes().splitlines()
    lines[1] = lines[1].replace(b'"outcome":"ok"', b'"outcome":"failed"')
    path.write_bytes(b"\n".join([*lines, b"{broken"]) + b"\n")
    check = verify_export(path, public_key_hex(key))
    assert not check.ok and check.valid == 2 and check.invalid == [(2, "signature does not match the result"), (4, "not JSON")]


def test_the_exact_signed_text_verifies_whatever_re_serialises_it(tmp_path: Path) -> None:
    # The signed bytes are Python's canonical form (24.0 stays "24.0"). A tool that re-encodes the envelope
    # (JavaScript's JSON.stringify writes 24.0 as 24) changes `result`, not the exact text beside it.
    from prober.canonical import canonical_json
    from prober.signing import result_text

    key = load_or_create_key(tmp_path / "k.pem")
    pub = public_key_hex(key)
    env = sign_result(result(), key)
    signed = canonical_json(env["result"])
    assert b'"output_fps":23.976' in signed and b'"fps":24.0' in signed
    js = json.loads(json.dumps(env).replace('"fps": 24.0', '"fps": 24'))  # what a JS round trip leaves
    assert js["result"]["samples"][0]["fps"] == 24 and isinstance(js["result"]["samples"][0]["fps"], int)
    assert canonical_json(js["result"]) != signed  # re-serialising cannot recover the signed bytes
    assert verify({**js, "result_json": signed.decode()}, pub) is None  # /v1/prober/results' result_json
    assert verify({**js, "result_json": signed.decode().replace("23.976", "30.0")}, pub) == "result_json does not match the result"
    # an exported line: the exact text of its `result` member is what is checked, so a signer whose canonical form
    # Python does not reproduce (here "24.50", which Python reads as 24.5 and writes as "24.5") still verifies
    text = '{"fps":24.50,"probe_id":"x"}'
    line = json.dumps({"alg": "ed25519", "public_key": pub, "result": json.loads(text), "signature": key.sign(text.encode()).hex()})
    line = line.replace('"fps": 24.5', '"fps":24.50').replace('{"fps":24.50, "probe_id": "x"}', text)
    assert result_text(line) == text.encode()
    path = tmp_path / "other.jsonl"
    path.write_text(line + "\n")
    assert verify_export(path, pub).ok
    assert verify(json.loads(line), pub) == "signature does not match the result"  # the re-serialised form fails
    assert result_text("[1]") is None and result_text('{"result":}') is None and result_text('{"a":1}') is None
