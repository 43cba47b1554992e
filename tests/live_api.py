"""The real API served by uvicorn on a loopback port in a background thread, over a warehouse filled with known rows
(tests/api_fixtures.py): what the browser tests (tests/test_pages.py) and the Grafana Infinity panels
(tests/test_grafana.py) read."""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Iterator

import uvicorn

from api.app import create_app
from api.config import ApiSettings
from scoring.sla_config import load_config
from warehouse.client import Warehouse


@contextlib.contextmanager
def serve(wh: Warehouse) -> Iterator[str]:
    """Yield the base URL (http://127.0.0.1:PORT) of the API over `wh` until the block ends."""
    app = create_app(wh.reader(), load_config(), ApiSettings(rate_limit_per_minute=100_000))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="error", lifespan="on"))
    server.capture_signals = lambda: contextlib.nullcontext()  # type: ignore[method-assign]  # not the main thread
    thread = threading.Thread(target=server.run, name="live-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the API server did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
