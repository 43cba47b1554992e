"""Wall-clock time in the unit the warehouse stores (integer milliseconds since the Unix epoch, UTC).

One function, so that code which stamps rows takes a `clock: Clock = now_ms` parameter and tests pass their
own. Scores never read it: their windows are parameters (see scoring/).
"""

from __future__ import annotations

import time
from typing import Callable

Clock = Callable[[], int]


def now_ms() -> int:
    """Milliseconds since the epoch, from `time.time_ns()` (no float rounding)."""
    return time.time_ns() // 1_000_000
