"""The runner's events and control messages, as ai-runner writes and reads them (MIT; read at 50a742ce).

- Control (`<mid>-control`, gateway → runner): one trickle segment = one JSON object = the FULL params (a
  replacement, not a merge: omitted keys revert to class defaults); `{"keep": "alive"}` is ignored and sent
  every 10 s by the gateway (runner/src/runner/live/streamer/protocol/trickle.py; go-livepeer
  server/ai_live_video.go).
- Events (`<mid>-events`, runner → gateway): one segment = one JSON object `{"event": {...},
  "queue_event_type": "ai_stream_events"}`; a body without `event` is the event itself (go-livepeer
  ai_live_video.go). Types used here:
  - `status` every 10 s (streamer/streamer.py STATUS_REPORT_INTERVAL; process/status.py): `state` (LOADING,
    OFFLINE, ONLINE, DEGRADED_INPUT, DEGRADED_INFERENCE, ERROR), `input_status.fps`,
    `inference_status.{fps, last_params_hash, restart_count, last_error, …}`, times in integer ms;
  - `restart` (process_guardian.py): `restart_count`, `restart_time` (float seconds), `restart_logs`;
  - `error` (process_guardian.py): `message`, `time` (float seconds).
- The params hash the runner reports is md5 of `json.dumps(params, sort_keys=True)` (process/process.py).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

KEEPALIVE = {"keep": "alive"}
QUEUE_EVENT_TYPE = "ai_stream_events"
STATES = ("LOADING", "OFFLINE", "ONLINE", "DEGRADED_INPUT", "DEGRADED_INFERENCE", "ERROR")


def params_hash(params: Any) -> str:
    """The runner's hash of a params object: md5 hex of json.dumps(params, sort_keys=True)."""
    return hashlib.md5(json.dumps(params, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class RunnerEvent:
    """A parsed event: `type` ("status", "restart", "error", or another string), and for status: `state`,
    `params_hash`, `restart_count`, `last_error`, `input_fps`, `output_fps`; for error: `message`."""

    type: str
    state: str | None = None
    params_hash: str | None = None
    restart_count: int | None = None
    last_error: str | None = None
    message: str | None = None
    input_fps: float | None = None
    output_fps: float | None = None


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _str(v: Any, n: int = 300) -> str | None:
    return v[:n] if isinstance(v, str) else None


def parse_event(body: bytes) -> RunnerEvent | None:
    """The event in one events-channel segment; None when it is not a JSON object with a string `type`."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    ev = doc.get("event", doc) if isinstance(doc, dict) else None
    if not isinstance(ev, dict) or not isinstance(ev.get("type"), str):
        return None
    kind = ev["type"][:64]
    if kind == "status":
        inf = ev.get("inference_status") if isinstance(ev.get("inference_status"), dict) else {}
        inp = ev.get("input_status") if isinstance(ev.get("input_status"), dict) else {}
        rc = inf.get("restart_count")
        return RunnerEvent(
            kind,
            state=_str(ev.get("state"), 32),
            params_hash=_str(inf.get("last_params_hash"), 64),
            restart_count=rc if isinstance(rc, int) and not isinstance(rc, bool) else None,
            last_error=_str(inf.get("last_error")),
            input_fps=_num(inp.get("fps")),
            output_fps=_num(inf.get("fps")),
        )
    if kind == "restart":
        rc = ev.get("restart_count")
        return RunnerEvent(kind, restart_count=rc if isinstance(rc, int) and not isinstance(rc, bool) else None)
    if kind == "error":
        return RunnerEvent(kind, message=_str(ev.get("message")))
    return RunnerEvent(kind)


def envelope(event: dict[str, Any]) -> bytes:
    return json.dumps({"event": event, "queue_event_type": QUEUE_EVENT_TYPE}).encode()


def status_event(
    *, pipeline: str, state: str, start_ms: int, now_ms: int, state_ms: int, input_fps: float, output_fps: float,
    last_input_ms: int | None, last_output_ms: int | None, params: dict[str, Any] | None, params_hash_: str,
    params_ms: int | None, last_error: str | None, last_error_ms: int | None, restart_count: int, restart_ms: int | None,
) -> bytes:
    """A `status` event in ai-runner's shape (process/status.py), enveloped."""
    return envelope({
        "type": "status",
        "pipeline": pipeline,
        "start_time": start_ms,
        "state": state,
        "last_state_update_time": state_ms,
        "input_status": {"last_input_time": last_input_ms, "fps": round(input_fps, 2)},
        "inference_status": {
            "last_output_time": last_output_ms,
            "fps": round(output_fps, 2),
            "last_params_update_time": params_ms,
            "last_params": params,
            "last_params_hash": params_hash_,
            "last_error_time": last_error_ms,
            "last_error": last_error,
            "last_restart_time": restart_ms,
            "last_restart_logs": None,
            "restart_count": restart_count,
        },
        "last_status_timestamp": now_ms,
        "timestamp": now_ms,
    })  # fmt: skip


def restart_event(*, pipeline: str, restart_count: int, now_ms: int, logs: list[str]) -> bytes:
    """A `restart` event (process_guardian.py): restart_time in float seconds."""
    return envelope({"type": "restart", "pipeline": pipeline, "restart_count": restart_count,
                     "restart_time": now_ms / 1000, "restart_logs": logs, "timestamp": now_ms})  # fmt: skip


def error_event(*, pipeline: str, message: str, now_ms: int) -> bytes:
    """An `error` event (process_guardian.py): time in float seconds."""
    return envelope({"type": "error", "pipeline": pipeline, "message": message, "time": now_ms / 1000, "timestamp": now_ms})
