"""The SDK as a client of a separate exporter process: a runner in its own container pushes to the local
exporter over loopback.

    client = PushClient("http://127.0.0.1:9936/v1/push", runner="ai-runner-0")
    client.start()
    s = client.start_stream("stream-1", "live-video-to-video", "streamdiffusion-sdxl", gpu_id=uuid)
    s.frame_out()            # the same hot path as in-process: an integer add
    ...
    client.stop()            # one last push, then the thread ends

Windows are closed here, next to the frames, so pushing late never bends FPS or jitter. Every push carries
the full state of the runner's live streams (cumulative counters, the last windows), so a lost push costs
nothing; ended streams and first-frame events are kept until the exporter acknowledges them. Only the
standard library is used for HTTP: runner images need nothing beyond this package's core.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from typing import Any, Callable

from exporter.streams.core import Stream, StreamTable

log = logging.getLogger(__name__)

PROTOCOL_VERSION = 1
DEFAULT_PUSH_URL = "http://127.0.0.1:9936/v1/push"


def _state(s: Stream) -> dict[str, Any]:
    return {
        "id": s.stream_id,
        "pipeline": s.pipeline,
        "model_id": s.model_id,
        "gpu_id": s.gpu_id,
        "frames_in": s.frames_in,
        "frames_out": s.frames_out,
        "bytes_in": s.rx_bytes,
        "bytes_out": s.tx_bytes,
        "errors": dict(s.errors),
        "restarts": dict(s.restarts),
        "fps_out": s.fps_out,
        "fps_in": s.fps_in,
        "window_seq": s.window_seq,
        "windows": list(s.windows),
    }


class PushClient(StreamTable):
    """StreamTable whose state is pushed to an exporter every `interval_s`."""

    def __init__(
        self,
        url: str | None = None,
        runner: str | None = None,
        interval_s: float = 1.0,
        timeout_s: float = 2.0,
        window_s: float = 5.0,
        jitter_window_s: float = 60.0,
        max_pending: int = 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(window_s=window_s, jitter_window_s=jitter_window_s, clock=clock)
        self.url = url or os.environ.get("NAAP_EXPORTER_PUSH_URL") or DEFAULT_PUSH_URL
        self.runner = runner or os.environ.get("NAAP_RUNNER_ID") or f"runner-{os.getpid()}"
        self.session = secrets.token_hex(8)  # a restarted runner is a new session: its counters start over
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self._events: deque[dict[str, Any]] = deque(maxlen=max_pending)
        self._ended: deque[dict[str, Any]] = deque(maxlen=max_pending)
        self._event_id = 0
        self._thread: threading.Thread | None = None
        self._halt = threading.Event()
        self.pushes = 0
        self.failures = 0
        self.last_error: str | None = None

    # -- hooks ---------------------------------------------------------------------------------------
    def _retire(self, s: Stream) -> None:
        self._ended.append(_state(s))

    def _event(self, s: Stream, kind: str, label: str, seconds: float) -> None:
        with self._lock:
            self._event_id += 1
            self._events.append({"id": self._event_id, "stream": s.stream_id, "pipeline": s.pipeline,
                                 "model_id": s.model_id, "gpu_id": s.gpu_id, "kind": kind, "label": label,
                                 "seconds": seconds})  # fmt: skip

    # -- pushing -------------------------------------------------------------------------------------
    def payload(self) -> dict[str, Any]:
        with self._lock:
            return {
                "v": PROTOCOL_VERSION,
                "runner": self.runner,
                "session": self.session,
                "streams": [_state(s) for s in self._streams.values()],
                "ended": list(self._ended),
                "events": list(self._events),
            }

    def push(self) -> bool:
        """Send the current state once; True when the exporter accepted it."""
        body = self.payload()
        data = json.dumps(body, separators=(",", ":")).encode()
        req = urllib.request.Request(self.url, data=data, method="POST", headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                resp.read(65536)
        except urllib.error.HTTPError as e:
            self._failed(f"HTTP {e.code}: {e.read(512).decode(errors='replace')}")
            return False
        except (OSError, ValueError) as e:
            self._failed(str(e))
            return False
        self.pushes += 1
        self.last_error = None
        # Acknowledged: forget what that push delivered (newer items arrived after it and stay).
        sent_ended, sent_event = len(body["ended"]), body["events"][-1]["id"] if body["events"] else 0
        with self._lock:
            for _ in range(min(sent_ended, len(self._ended))):
                self._ended.popleft()
            while self._events and self._events[0]["id"] <= sent_event:
                self._events.popleft()
        return True

    def _failed(self, why: str) -> None:
        self.failures += 1
        if self.last_error != why:  # say it once per distinct failure, not once per second
            log.warning("push to %s failed: %s", self.url, why)
        self.last_error = why

    def start(self) -> None:
        self.start_ticker()
        if self._thread is not None:
            return
        self._halt.clear()

        def run() -> None:
            while not self._halt.wait(self.interval_s):
                self.push()

        self._thread = threading.Thread(target=run, name="naap-stream-push", daemon=True)
        self._thread.start()

    def stop(self, final_push: bool = True) -> None:
        self._halt.set()
        if self._thread is not None:
            self._thread.join(timeout=self.timeout_s + 1)
            self._thread = None
        self.stop_ticker()
        if final_push:
            self.push()
