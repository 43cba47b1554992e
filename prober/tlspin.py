"""TLS trust on first use, then pinning: orchestrators serve a self-signed certificate (go-livepeer
server/cert.go generates an ECDSA P-256 certificate, `IsCA`, `DNSNames=[service host]`), and go-livepeer's own
gateway does not verify it at all (`InsecureSkipVerify`, server/segment_rpc.go). The prober does better: the
first certificate seen for a `host:port` is pinned (sha256 of its DER bytes) and every later connection must
present the same one; a different one is the error class `tls_pin_mismatch`, never silently accepted.

Caveat measured from the source: go-livepeer currently generates a NEW certificate at every start ("XXX for
now, just generate a new cert every time", server/cert.go getCert), so a pin changes whenever an orchestrator
restarts. Such a probe is `excluded` (neither side's fault); `PinStore.forget(key)` re-pins on the next probe.

How the pin is enforced: `fetch_certificate` makes one TLS handshake without verification and returns the
peer's DER certificate; `PinStore.check` compares it with the pin (or pins it). gRPC then gets that exact
certificate as its only root (`grpc.ssl_channel_credentials(root_certificates=…)`, target name overridden to a
name the certificate carries) and HTTPS gets `aiohttp.Fingerprint(sha256)`: if the server swapped certificates
between the two connections, the second handshake fails (`tls`) instead of trusting the new one.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import ssl
import tempfile
import threading
from pathlib import Path

from cryptography import x509

from prober import errors
from prober.errors import ProbeFailure

MAX_PINS = 100_000
MAX_CERT_BYTES = 64 << 10


def fingerprint(der: bytes) -> str:
    """sha256 of the DER certificate, lowercase hex (64 chars)."""
    return hashlib.sha256(der).hexdigest()


def certificate_names(der: bytes) -> list[str]:
    """Names a certificate is issued for, in its order: subjectAltName DNS names and IP addresses, then the
    subject's common name; [] for an unparseable certificate."""
    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError:
        return []
    names: list[str] = []
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names += [str(n) for n in san.get_values_for_type(x509.DNSName)]
        names += [str(n) for n in san.get_values_for_type(x509.IPAddress)]
    except x509.ExtensionNotFound:
        pass
    for attr in cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME):
        if isinstance(attr.value, str) and attr.value not in names:
            names.append(attr.value)
    return names


async def fetch_certificate(host: str, port: int, timeout_s: float) -> bytes:
    """The DER certificate `host:port` presents, from one unverified TLS handshake (closed right after).

    Raises ProbeFailure: `timeout` (no handshake within timeout_s), `connect` (refused, reset, unreachable),
    `tls` (handshake failed or no certificate).
    """
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    writer = None
    try:
        async with asyncio.timeout(timeout_s):
            _, writer = await asyncio.open_connection(host, port, ssl=ctx, server_hostname=host)
            obj = writer.get_extra_info("ssl_object")
            der = obj.getpeercert(binary_form=True) if obj is not None else None
    except TimeoutError:
        raise ProbeFailure(errors.TIMEOUT, errors.ORCHESTRATOR, f"TLS handshake with {host}:{port} took over {timeout_s} s") from None
    except ssl.SSLError as e:
        raise ProbeFailure(errors.TLS, errors.ORCHESTRATOR, f"TLS handshake with {host}:{port} failed: {e.reason or e}") from None
    except OSError as e:
        raise ProbeFailure(errors.CONNECT, errors.ORCHESTRATOR, f"cannot connect to {host}:{port}: {e.strerror or e}") from None
    finally:
        if writer is not None:
            writer.close()
    if not der or len(der) > MAX_CERT_BYTES:
        raise ProbeFailure(errors.TLS, errors.ORCHESTRATOR, f"{host}:{port} presented no usable certificate")
    return der


class PinStoreError(ValueError):
    """The pin store file cannot be used (unreadable, not our JSON); the message names the file."""


class PinStore:
    """Pins by `host:port` → sha256 hex of the DER certificate, kept in a small JSON file (written atomically,
    mode 0600) or only in memory when `path` is None.

    File shape: `{"schema": 1, "pins": {"<host:port>": "<sha256 hex>"}}`. At most MAX_PINS entries (new keys
    past that are checked against nothing and not stored; counted in `overflow`).
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self._lock = threading.Lock()
        self._pins: dict[str, str] = {}
        self.overflow = 0
        if self.path is not None and self.path.exists():
            self._pins = self._read(self.path)

    @staticmethod
    def _read(path: Path) -> dict[str, str]:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise PinStoreError(f"TLS pin store {path} is unreadable: {e}") from None
        pins = data.get("pins") if isinstance(data, dict) else None
        if data.get("schema") != 1 or not isinstance(pins, dict):
            raise PinStoreError(f"TLS pin store {path} is not a schema-1 pin store")
        bad = [k for k, v in pins.items() if not (isinstance(v, str) and len(v) == 64)]
        if bad:
            raise PinStoreError(f"TLS pin store {path} has malformed pins for {bad[:3]}")
        return dict(pins)

    def get(self, key: str) -> str | None:
        with self._lock:
            return self._pins.get(key)

    def forget(self, key: str) -> bool:
        """Drop a pin (the next certificate seen for `key` is pinned again); True when there was one."""
        with self._lock:
            found = self._pins.pop(key, None) is not None
            if found:
                self._save()
            return found

    def check(self, key: str, der: bytes) -> tuple[str, bool]:
        """(fingerprint, newly_pinned). Raises ProbeFailure(`tls_pin_mismatch`, excluded) when `key` is pinned
        to another certificate."""
        fp = fingerprint(der)
        with self._lock:
            pinned = self._pins.get(key)
            if pinned is None:
                if len(self._pins) >= MAX_PINS:
                    self.overflow += 1
                    return fp, False
                self._pins[key] = fp
                self._save()
                return fp, True
        if pinned != fp:
            raise ProbeFailure(
                errors.TLS_PIN_MISMATCH,
                errors.EXCLUDED,
                f"{key} presented certificate sha256 {fp[:16]}…, pinned {pinned[:16]}… (restart or interception)",
            )
        return fp, False

    def _save(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        body = json.dumps({"schema": 1, "pins": dict(sorted(self._pins.items()))}, indent=1).encode()
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".pins-")
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(body)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
