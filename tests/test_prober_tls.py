"""TLS trust on first use, then pinning, against a stand-in orchestrator's real TLS listener (a self-signed
certificate made like go-livepeer's). A changed certificate is `tls_pin_mismatch`, never silently accepted."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from aiohttp import web

from exporter.common.net import free_port
from prober import errors
from prober.errors import ProbeFailure
from prober.info import get_orchestrator_info
from prober.standin.orchestrator import StandIn
from prober.tlspin import PinStore, PinStoreError, certificate_names, fetch_certificate, fingerprint


async def test_first_use_pins_same_certificate_passes_changed_one_fails(tmp_path: Path) -> None:
    path = tmp_path / "state" / "pins.json"
    pins = PinStore(path)
    async with StandIn("tofu") as o:
        first = await get_orchestrator_info(o.grpc_target, pins=pins, allow_loopback=True)
        second = await get_orchestrator_info(o.grpc_target, pins=PinStore(path), allow_loopback=True)  # from the file
        old = o.cert_sha256
        await o.restart()
        assert o.cert_sha256 != old
        with pytest.raises(ProbeFailure) as e:
            await get_orchestrator_info(o.grpc_target, pins=PinStore(path), allow_loopback=True)
        assert PinStore(path).forget(o.grpc_target)
        repinned = await get_orchestrator_info(o.grpc_target, pins=PinStore(path), allow_loopback=True)
    assert (first.newly_pinned, second.newly_pinned, repinned.newly_pinned) == (True, False, True)
    assert first.cert_sha256 == second.cert_sha256 == old and repinned.cert_sha256 == o.cert_sha256
    assert (e.value.error_class, e.value.fault) == (errors.TLS_PIN_MISMATCH, errors.EXCLUDED)
    assert old[:16] in e.value.message and o.cert_sha256[:16] in e.value.message
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text()) == {"schema": 1, "pins": {o.grpc_target: o.cert_sha256}}


async def test_certificate_is_made_like_go_livepeers() -> None:
    async with StandIn("cert") as o:
        host, port = o.grpc_target.rsplit(":", 1)
        der = await fetch_certificate(host, int(port), 2.0)
    assert fingerprint(der) == o.cert_sha256 and certificate_names(der) == ["127.0.0.1"]


async def test_handshake_failures_are_classified() -> None:
    app = web.Application()
    runner = web.AppRunner(app)
    await runner.setup()
    plain = free_port()
    await web.TCPSite(runner, "127.0.0.1", plain).start()  # plain HTTP: no TLS handshake possible
    try:
        with pytest.raises(ProbeFailure) as not_tls:
            await fetch_certificate("127.0.0.1", plain, 2.0)
    finally:
        await runner.cleanup()
    with pytest.raises(ProbeFailure) as closed:
        await fetch_certificate("127.0.0.1", free_port(), 2.0)
    assert not_tls.value.error_class == errors.TLS and closed.value.error_class == errors.CONNECT


def test_an_unusable_pin_store_says_so(tmp_path: Path) -> None:
    bad = tmp_path / "pins.json"
    bad.write_text("{not json")
    with pytest.raises(PinStoreError, match="pins.json is unreadable"):
        PinStore(bad)
    bad.write_text(json.dumps({"schema": 1, "pins": {"h:1": "short"}}))
    with pytest.raises(PinStoreError, match="malformed pins"):
        PinStore(bad)
    memory = PinStore(None)
    assert memory.check("h:1", b"cert-a") == (fingerprint(b"cert-a"), True)
    with pytest.raises(ProbeFailure):
        memory.check("h:1", b"cert-b")
