"""Thin adapters: how a pytrickle frame processor and an ai-runner-style process call the stream SDK."""

from __future__ import annotations

import os

from exporter.streams.core import StreamTable


def connect(runner: str | None = None) -> StreamTable:
    """The SDK a runner should use here: a PushClient (started) when NAAP_EXPORTER_PUSH_URL is set — the
    exporter runs in another container or process — else an in-process StreamMetrics the caller serves."""
    if os.environ.get("NAAP_EXPORTER_PUSH_URL"):
        from exporter.streams.push import PushClient

        client = PushClient(runner=runner)
        client.start()
        return client
    from exporter.streams.sdk import StreamMetrics

    sdk = StreamMetrics()
    sdk.start_ticker()
    return sdk
