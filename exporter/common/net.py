"""Ports: the exporter's well-known ones, and a free loopback port for demos and tests."""

from __future__ import annotations

import socket

# Where an orchestrator's exporter listens; discovery's convention looks for metrics at
# http://<service host>:EXPORTER_PORT/metrics.
EXPORTER_PORT = 9935
# The exporter's loopback listener for runner pushes.
PUSH_PORT = 9936


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free on `host` a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]
