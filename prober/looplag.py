"""The prober's own health: how late its event loop wakes up. A loop that wakes much later than asked has been
starved (CPU overload, a blocking call, a paused VM); whatever a probe measured meanwhile is the prober's fault,
not the orchestrator's."""

from __future__ import annotations

import asyncio
import time
from typing import Callable


class LoopLag:
    """Sleeps `tick_s` in a loop and records the largest overshoot (seconds) in `max_s`. Use as an async
    context manager around the work to watch."""

    def __init__(self, tick_s: float = 0.05, clock: Callable[[], float] = time.monotonic) -> None:
        self.tick_s = tick_s
        self.clock = clock
        self.max_s = 0.0
        self._task: asyncio.Task[None] | None = None
        self._since = clock()

    async def _watch(self) -> None:
        while True:
            self._since = self.clock()
            await asyncio.sleep(self.tick_s)
            self.max_s = max(self.max_s, self.clock() - self._since - self.tick_s)

    async def __aenter__(self) -> "LoopLag":
        self._task = asyncio.create_task(self._watch())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self.max_s = max(self.max_s, self.clock() - self._since - self.tick_s)  # the sleep still pending
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
