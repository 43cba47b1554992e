"""A simulated AI runner that drives the stream SDK like a real one, with a quality profile.

Used by the demo fleet, `naap exporter --simulate` and tests. It goes through exactly the SDK calls a real
runner makes — start_stream (cold or warm), frame_in, frame_out, bytes_in/out, params_update, restart,
error, end_stream — so the exposition is the real one; only the frames are imaginary. Delays (startup,
prompt-to-first-frame, restart recovery) scale with `time_scale` so tests with short windows stay short.
"""

from __future__ import annotations

import math
import random
import threading
import time
from dataclasses import dataclass

from exporter.streams.core import StreamTable

# Nominal output FPS a healthy GPU reaches per workflow (pipeline, model_id) in the simulation: a fifth above the
# SLA targets (20 and 30 fps), as a well-provisioned orchestrator runs, so "steady" meets them.
SIMULATED_WORKFLOWS: tuple[tuple[str, str, float], ...] = (
    ("live-video-to-video", "streamdiffusion-sdxl", 24.0),
    ("live-video-to-video", "streamdiffusion-sd15", 36.0),
)


@dataclass(frozen=True)
class Profile:
    """How one simulated orchestrator behaves."""

    name: str
    fps_factor: float = 1.0  # × nominal FPS
    fps_noise: float = 0.02  # relative σ per tick
    wobble: float = 0.0  # relative amplitude of a slow FPS oscillation (jitter)
    errors_per_min: float = 0.0  # stream errors per stream-minute
    restarts_per_min: float = 0.0  # pipeline restarts per stream-minute
    http_error_rate: float = 0.0  # fraction of /metrics requests answered 500
    response_delay_s: float = 0.0  # added to every /metrics response
    offline_every_s: float = 0.0  # cycle length; 0 = never offline
    offline_for_s: float = 0.0  # offline part of each cycle
    cold_start_s: float = 2.0  # request → first frame when the model must be loaded (at time_scale 1)
    warm_start_s: float = 0.5
    params_every_s: float = 30.0  # mean time between prompt updates per stream
    params_latency_s: float = 0.3  # prompt update → first frame with it

    def offline_at(self, t: float) -> bool:
        if self.offline_every_s <= 0:
            return False
        return (t % self.offline_every_s) >= self.offline_every_s - self.offline_for_s


PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile("steady"),
        Profile("jittery", fps_factor=0.95, fps_noise=0.15, wobble=0.35, params_latency_s=0.8),
        Profile("slow", fps_factor=0.55, fps_noise=0.05, response_delay_s=0.8, cold_start_s=6.0, warm_start_s=1.5),
        # flaky: a fifth of its scrapes fail and about one stream in twelve fails (0.075 errors per stream-minute
        # against a stream started every 90 s per slot: a failure rate near 8 %, between the v1 target and zero).
        Profile("flaky", fps_noise=0.08, errors_per_min=0.075, restarts_per_min=0.2, http_error_rate=0.2),
        # offline: unreachable 40 s of every minute (availability about 1/3)
        Profile("offline", offline_every_s=60.0, offline_for_s=40.0),
    )
}


class SimulatedRunner:
    """Feeds `streams` concurrent streams spread over `gpu_ids` through the SDK, in a background thread."""

    FRAME_BYTES_IN = 24_000
    FRAME_BYTES_OUT = 30_000

    def __init__(
        self,
        sdk: StreamTable,
        gpu_ids: list[str],
        streams: int = 4,
        profile: Profile = PROFILES["steady"],
        seed: int = 0,
        tick_s: float = 0.1,
        mean_stream_life_s: float = 90.0,
        time_scale: float = 1.0,
    ) -> None:
        self.sdk = sdk
        self.gpu_ids = gpu_ids or [""]
        self.n_streams = streams
        self.profile = profile
        self.tick_s = tick_s
        self.mean_stream_life_s = mean_stream_life_s
        self.time_scale = time_scale
        self._rng = random.Random(seed)
        self._seed = seed
        self._serial = 0
        self._carry: dict[str, list[float]] = {}
        self._nominal: dict[str, float] = {}
        self._phase: dict[str, float] = {}
        self._paused_until: dict[str, float] = {}  # startup, restart recovery, params latency
        self._warm: set[tuple[str, str]] = set()  # (gpu, model) pairs with the model loaded
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def _new_stream(self, slot: int, now: float) -> str:
        self._serial += 1
        sid = f"sim-{self._seed:x}-{self._serial:05d}"
        pipeline, model_id, fps = SIMULATED_WORKFLOWS[slot % len(SIMULATED_WORKFLOWS)]
        gpu = self.gpu_ids[slot % len(self.gpu_ids)]
        warm = (gpu, model_id) in self._warm
        self._warm.add((gpu, model_id))
        self.sdk.start_stream(sid, pipeline, model_id, gpu, warm=warm)
        p = self.profile
        self._paused_until[sid] = now + (p.warm_start_s if warm else p.cold_start_s) * self.time_scale
        self._carry[sid] = [0.0, 0.0]
        self._nominal[sid] = fps
        self._phase[sid] = self._rng.random() * 2 * math.pi
        return sid

    def step(self, dt: float, now: float) -> None:
        p = self.profile
        for sid in list(self._carry):
            s = self.sdk.stream(sid)
            if s is None:
                continue
            nominal = self._nominal[sid]
            fps_in = nominal * (1 + self._rng.gauss(0, 0.01))
            carry = self._carry[sid]
            carry[1] += fps_in * dt
            n_in = int(carry[1])
            carry[1] -= n_in
            for _ in range(n_in):
                s.frame_in()
                s.bytes_in(self.FRAME_BYTES_IN)
            if now < self._paused_until.get(sid, 0.0):
                continue  # loading, restarting or applying new params: nothing comes out yet
            wobble = 1 + p.wobble * math.sin(now / 7.0 + self._phase[sid])
            fps_out = max(0.0, nominal * p.fps_factor * wobble * (1 + self._rng.gauss(0, p.fps_noise)))
            carry[0] += fps_out * dt
            n_out = int(carry[0])
            carry[0] -= n_out
            for _ in range(n_out):
                s.frame_out()
                s.bytes_out(self.FRAME_BYTES_OUT)
            if p.errors_per_min and self._rng.random() < p.errors_per_min * dt / 60.0:
                s.error(self._rng.choice(("timeout", "model_error", "runner_disconnect")))
            if p.restarts_per_min and self._rng.random() < p.restarts_per_min * dt / 60.0:
                s.restart("model_error")
                self._paused_until[sid] = now + p.warm_start_s * 2 * self.time_scale
            elif p.params_every_s and self._rng.random() < dt / p.params_every_s:
                s.params_update()
                self._paused_until[sid] = now + p.params_latency_s * self.time_scale * (0.5 + self._rng.random())

    def _churn(self, dt: float, now: float) -> None:
        # Streams end and new ones start, as on a real orchestrator; ended series must disappear.
        for slot, sid in enumerate(list(self._carry)):
            if self._rng.random() < dt / self.mean_stream_life_s:
                self.sdk.end_stream(sid)
                del self._carry[sid], self._nominal[sid], self._phase[sid]
                self._paused_until.pop(sid, None)
                self._new_stream(slot, now)

    def start(self) -> None:
        now = time.monotonic()
        for slot in range(self.n_streams):
            self._new_stream(slot, now)
        self._stop.clear()

        def run() -> None:
            last = time.monotonic()
            while not self._stop.wait(self.tick_s):
                now = time.monotonic()
                dt, last = now - last, now
                self.step(dt, now)
                self._churn(dt, now)

        self._thread = threading.Thread(target=run, name="naap-simulated-runner", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None
