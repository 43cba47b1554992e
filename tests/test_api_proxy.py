"""The rate limit's client address over a real uvicorn server on loopback, configured as `naap collect` and `naap api`
configure it (ApiSettings.server_kwargs): X-Forwarded-For is ignored by default, so a local process cannot pick its
own address, and honoured only from the proxies api.forwarded_allow_ips names."""

from __future__ import annotations

import socket
import threading
import urllib.error
import urllib.request
from typing import Iterator

import pytest
import uvicorn

from api.app import create_app
from api.config import ApiSettings
from scoring.sla_config import load_config
from warehouse.client import Warehouse


def _status(url: str, forwarded_for: str) -> int:
    req = urllib.request.Request(url, headers={"X-Forwarded-For": forwarded_for})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


class _Server(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # the test's thread owns no signals
        pass


@pytest.fixture
def serve(warehouse: Warehouse) -> Iterator:
    servers: list[tuple[_Server, threading.Thread]] = []

    def start(settings: ApiSettings) -> str:
        app = create_app(warehouse.reader(), load_config(), settings)
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        server = _Server(uvicorn.Config(app, log_level="critical", access_log=False, **settings.server_kwargs()))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        servers.append((server, thread))
        while not server.started:
            assert thread.is_alive(), "the server did not start"
            thread.join(0.02)
        return f"http://127.0.0.1:{sock.getsockname()[1]}/v1/sla/targets"

    yield start
    for server, thread in servers:
        server.should_exit = True
        thread.join(30)


def test_forwarded_headers_are_ignored_by_default(serve) -> None:  # type: ignore[no-untyped-def]
    assert ApiSettings().forwarded_allow_ips == [] and ApiSettings().server_kwargs() == {"proxy_headers": False}
    url = serve(ApiSettings(rate_limit_per_minute=2))
    # Three "clients" by X-Forwarded-For, one loopback peer: one client to the rate limit, refused at the third.
    assert [_status(url, f"203.0.113.{i}") for i in range(3)] == [200, 200, 429]


def test_forwarded_headers_are_trusted_from_a_named_proxy(serve) -> None:  # type: ignore[no-untyped-def]
    url = serve(ApiSettings(rate_limit_per_minute=2, forwarded_allow_ips=["127.0.0.1"]))
    assert [_status(url, f"203.0.113.{i}") for i in range(3)] == [200, 200, 200]  # three clients, one request each
    assert [_status(url, "203.0.113.9") for _ in range(3)] == [200, 200, 429]  # one client, three requests
