"""The exporter's side of the push protocol: validate a runner's push and apply it to the StreamMetrics.

A push is untrusted input even on loopback (any local process can send one): the body is size-capped
before parsing, every field is typed and bounded, label values are short printable ASCII, counters must
not run backwards within a session, a stream id belongs to one runner at a time, and the number of runners,
live pushed streams and workflows is capped. A bad push is refused whole with a JSON message and counted by
reason; it never touches what earlier pushes delivered.
"""

from __future__ import annotations

import json
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Annotated, Any, Callable

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from exporter.streams.core import EVENT_PARAMS, EVENT_STARTUP, FAILURE_CLASSES, STARTUP_KINDS, Stream, WorkflowKey
from exporter.streams.push import PROTOCOL_VERSION
from exporter.streams.sdk import StreamMetrics

# Printable ASCII without spaces or quotes: safe as a label value anywhere downstream.
_LABEL = r"^[!#-&(-~]{1,128}$"
_MAX_COUNT = 2**63 - 1

Label = Annotated[str, Field(pattern=_LABEL)]
OptLabel = Annotated[str, Field(pattern=r"^[!#-&(-~]{0,128}$")]
Count = Annotated[int, Field(ge=0, le=_MAX_COUNT, strict=True)]


def _finite(v: float | None, hi: float) -> float | None:
    if v is None:
        return None
    if not math.isfinite(v) or v < 0 or v > hi:
        raise ValueError(f"must be a finite number in [0, {hi:g}]")
    return v


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=False)


class StreamState(_Strict):
    id: Label
    pipeline: Label
    model_id: Label
    gpu_id: OptLabel = ""
    frames_in: Count = 0
    frames_out: Count = 0
    bytes_in: Count = 0
    bytes_out: Count = 0
    errors: dict[str, Count] = Field(default_factory=dict, max_length=len(FAILURE_CLASSES))
    restarts: dict[str, Count] = Field(default_factory=dict, max_length=len(FAILURE_CLASSES))
    fps_out: float | None = None
    fps_in: float | None = None
    window_seq: Count = 0
    windows: list[float] = Field(default_factory=list, max_length=240)

    @field_validator("errors", "restarts")
    @classmethod
    def _classes(cls, v: dict[str, int]) -> dict[str, int]:
        bad = sorted(set(v) - set(FAILURE_CLASSES))
        if bad:
            raise ValueError(f"unknown failure classes {bad[:3]}; use {', '.join(FAILURE_CLASSES)}")
        return v

    @field_validator("fps_out", "fps_in")
    @classmethod
    def _fps(cls, v: float | None) -> float | None:
        return _finite(v, 10_000.0)

    @field_validator("windows")
    @classmethod
    def _windows(cls, v: list[float]) -> list[float]:
        for x in v:
            _finite(x, 10_000.0)
        return v


class Event(_Strict):
    id: Annotated[int, Field(ge=1, le=_MAX_COUNT, strict=True)]
    stream: Label
    pipeline: Label
    model_id: Label
    gpu_id: OptLabel = ""
    kind: Annotated[str, Field(pattern=f"^({EVENT_STARTUP}|{EVENT_PARAMS})$")]
    label: Annotated[str, Field(pattern="^(" + "|".join(STARTUP_KINDS) + ")?$")] = ""
    seconds: float

    @field_validator("seconds")
    @classmethod
    def _seconds(cls, v: float) -> float:
        return _finite(v, 86_400.0)  # type: ignore[return-value]


class Push(_Strict):
    v: Annotated[int, Field(strict=True)]
    runner: Annotated[str, Field(pattern=r"^[A-Za-z0-9._:-]{1,64}$")]
    session: Annotated[str, Field(pattern=r"^[A-Za-z0-9]{1,64}$")]
    streams: list[StreamState] = Field(default_factory=list, max_length=1024)
    ended: list[StreamState] = Field(default_factory=list, max_length=1024)
    events: list[Event] = Field(default_factory=list, max_length=1024)

    @field_validator("v")
    @classmethod
    def _version(cls, v: int) -> int:
        if v != PROTOCOL_VERSION:
            raise ValueError(f"unsupported protocol version {v}; this exporter speaks {PROTOCOL_VERSION}")
        return v


@dataclass(frozen=True)
class PushLimits:
    max_body_bytes: int = 256 * 1024
    max_runners: int = 64
    max_streams: int = 4096  # live pushed streams, all runners together
    max_workflows: int = 256  # distinct (pipeline, model_id, gpu_id) ever seen through pushes
    stale_s: float = 15.0  # a runner silent this long is gone: its streams end as runner_disconnect


class PushRejected(Exception):
    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status, self.reason, self.message = status, reason, message


@dataclass
class _Runner:
    session: str
    last_seen: float
    last_event: int = 0
    streams: dict[str, Stream] = field(default_factory=dict)


class PushIngest:
    """Applies validated pushes to `metrics`; counts what it accepts and refuses."""

    def __init__(self, metrics: StreamMetrics, limits: PushLimits | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        self.metrics = metrics
        self.limits = limits or PushLimits()
        self._clock = clock
        self._lock = threading.Lock()
        self._runners: dict[str, _Runner] = {}
        self._owner: dict[str, str] = {}  # stream id -> runner
        self._workflows: set[WorkflowKey] = set()
        self.accepted = 0
        self.rejected: dict[str, int] = {}
        self.stream_conflicts = 0

    # -- entry point -----------------------------------------------------------------------------------
    def handle(self, body: bytes, content_type: str | None) -> dict[str, Any]:
        """Validate and apply one push body. Raises PushRejected (counted) on any problem."""
        try:
            push = self._parse(body, content_type)
            with self._lock:
                result = self._apply(push)
        except PushRejected as e:
            self.rejected[e.reason] = self.rejected.get(e.reason, 0) + 1
            raise
        self.accepted += 1
        return result

    def reject(self, status: int, reason: str, message: str) -> PushRejected:
        """Count a refusal decided before `handle` (peer not allowed, body too large)."""
        self.rejected[reason] = self.rejected.get(reason, 0) + 1
        return PushRejected(status, reason, message)

    def _parse(self, body: bytes, content_type: str | None) -> Push:
        if len(body) > self.limits.max_body_bytes:
            raise PushRejected(413, "too_large", f"body over {self.limits.max_body_bytes} bytes")
        if (content_type or "").split(";")[0].strip().lower() != "application/json":
            raise PushRejected(415, "bad_content_type", "Content-Type must be application/json")
        try:
            raw = json.loads(body)
        except (ValueError, UnicodeDecodeError) as e:
            raise PushRejected(400, "bad_json", f"body is not JSON: {e}") from None
        try:
            return Push.model_validate(raw)
        except ValidationError as e:
            first = e.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise PushRejected(400, "invalid", f"{where}: {first['msg']} ({e.error_count()} problem(s))") from None

    # -- applying (lock held) ----------------------------------------------------------------------------
    def _apply(self, push: Push) -> dict[str, Any]:
        now = self._clock()
        r = self._runners.get(push.runner)
        if r is None:
            if len(self._runners) >= self.limits.max_runners:
                raise PushRejected(429, "too_many_runners", f"more than {self.limits.max_runners} runners")
            r = self._runners[push.runner] = _Runner(session=push.session, last_seen=now)
        elif r.session != push.session:
            # The runner restarted: what its previous session had live is over.
            self._end_all(r, disconnect=False)
            r.session, r.last_event = push.session, 0
        self._check(push, r)
        r.last_seen = now
        conflicts = 0
        seen: set[str] = set()
        for st in push.streams:
            s = self._stream(push.runner, r, st)
            if s is None:
                conflicts += 1
                continue
            seen.add(st.id)
            self._copy(s, st)
        for st in push.ended:
            s = r.streams.get(st.id)
            if s is not None:
                self._copy(s, st)
                self._end(r, st.id)
        for sid in [sid for sid in r.streams if sid not in seen]:
            self._end(r, sid)  # absent from a full-state push: the stream ended
        events = 0
        for ev in push.events:
            if ev.id > r.last_event:
                key = (ev.pipeline, ev.model_id, ev.gpu_id)
                if key in self._workflows:
                    self.metrics.observe(key, ev.kind, ev.label, ev.seconds)
                    events += 1
                r.last_event = ev.id
        self.stream_conflicts += conflicts
        return {"status": 200, "message": "ok", "streams": len(seen), "events": events, "conflicts": conflicts}

    def _check(self, push: Push, r: _Runner) -> None:
        # All-or-nothing checks, before anything is applied.
        new = [st for st in push.streams if st.id not in r.streams]
        live = sum(len(x.streams) for x in self._runners.values())
        if live + len(new) > self.limits.max_streams:
            raise PushRejected(429, "too_many_streams", f"more than {self.limits.max_streams} live pushed streams")
        keys = {(st.pipeline, st.model_id, st.gpu_id) for st in new} - self._workflows
        if len(self._workflows) + len(keys) > self.limits.max_workflows:
            raise PushRejected(429, "too_many_workflows", f"more than {self.limits.max_workflows} workflows")
        for st in [*push.streams, *push.ended]:
            s = r.streams.get(st.id)
            if s is None:
                continue
            if (st.frames_in < s.frames_in or st.frames_out < s.frames_out or st.bytes_in < s.rx_bytes
                    or st.bytes_out < s.tx_bytes):  # fmt: skip
                raise PushRejected(400, "backwards", f"stream {st.id}: counters went backwards within a session")
            if (st.pipeline, st.model_id, st.gpu_id) != s.key:
                raise PushRejected(400, "invalid", f"stream {st.id}: pipeline/model_id/gpu_id changed mid-stream")

    def _stream(self, name: str, r: _Runner, st: StreamState) -> Stream | None:
        s = r.streams.get(st.id)
        if s is not None:
            return s
        owner = self._owner.get(st.id)
        if owner is not None or self.metrics.stream(st.id) is not None:
            return None  # the id is live elsewhere (another runner, or in-process): refuse, count
        key = (st.pipeline, st.model_id, st.gpu_id)
        self._workflows.add(key)
        s = self.metrics.start_remote_stream(st.id, *key)
        r.streams[st.id] = s
        self._owner[st.id] = name
        return s

    @staticmethod
    def _copy(s: Stream, st: StreamState) -> None:
        s.frames_in, s.frames_out, s.rx_bytes, s.tx_bytes = st.frames_in, st.frames_out, st.bytes_in, st.bytes_out
        s.errors = {k: v for k, v in st.errors.items() if v}
        s.restarts = {k: v for k, v in st.restarts.items() if v}
        s.fps_out, s.fps_in = st.fps_out, st.fps_in
        fresh = st.window_seq - s.window_seq
        if fresh > 0:
            for x in st.windows[-fresh:]:
                s.windows.append(x)
            s.window_seq = st.window_seq
            s.update_jitter()

    def _end(self, r: _Runner, sid: str) -> None:
        r.streams.pop(sid, None)
        self._owner.pop(sid, None)
        self.metrics.end_stream(sid)

    def _end_all(self, r: _Runner, disconnect: bool) -> None:
        for sid, s in list(r.streams.items()):
            if disconnect:
                self.metrics.error_count(s.key, "runner_disconnect")
            self._end(r, sid)

    # -- housekeeping ------------------------------------------------------------------------------------
    def expire(self, now: float | None = None) -> int:
        """End the streams of runners silent for `stale_s`, counting each as a runner_disconnect error."""
        now = self._clock() if now is None else now
        gone = 0
        with self._lock:
            for name, r in list(self._runners.items()):
                if now - r.last_seen > self.limits.stale_s:
                    gone += len(r.streams)
                    self._end_all(r, disconnect=True)
                    del self._runners[name]
        return gone

    @property
    def runners(self) -> int:
        return len(self._runners)
