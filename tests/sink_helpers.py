"""The scraper's sink over a real writer, for tests that scrape into a warehouse."""

from __future__ import annotations

import uuid
from typing import Any

from scraper.sink import ScrapeSink
from warehouse.client import Warehouse
from warehouse.writer import Writer

BUILD_INFO = 'naap_exporter_build_info{{orchestrator="{orch}",region="test",version="0",mode="live"}} 1\n'


def sink_for(warehouse: Warehouse, scraper: str = "s1", **writer: Any) -> ScrapeSink:
    return ScrapeSink(Writer(warehouse, f"test-{uuid.uuid4().hex[:8]}", **writer), scraper=scraper)


def declaring(orchestrator: str, body: bytes = b"") -> bytes:
    """`body` with the build-info line an exporter declares its orchestrator in (prepended)."""
    return BUILD_INFO.format(orch=orchestrator).encode() + body
