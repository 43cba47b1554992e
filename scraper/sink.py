"""What the scraper hands to the warehouse writer (warehouse/writer.py): each scrape's samples (RowBinary rows,
scraper/rows.py) and its scrape row, and void windows.

The writer batches, retries idempotently and bounds the queue; this module says what the scraper's rows are
and what a dropped or unwritten batch means for availability: its scrape rows' slots are voided (a
`rows_dropped` void window), so a gap the warehouse caused never counts against a target.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from scraper.rows import INSERT_SETTINGS, ROW_COLUMNS, ROW_FORMAT
from warehouse.writer import Part, Writer

log = logging.getLogger(__name__)

SCRAPE_COLUMNS = (
    "ts",
    "scheduled_ts",
    "target",
    "orchestrator",
    "instance",
    "up",
    "duration_s",
    "bytes",
    "samples",
    "error_class",
    "error",
    "scraper",
    "shard",
)
# What the sink writes: the columns above plus `void` (migration 0005) and `identity`, `dropped` (0006);
# `ingested_at` is the server's own clock at insert (its column default).
SCRAPE_ROW_COLUMNS = (*SCRAPE_COLUMNS, "void", "identity", "dropped")
VOID_COLUMNS = ("start_ts", "end_ts", "scraper", "shard", "reason", "detail")


@dataclass
class ScrapeRecord:
    ts_ms: int
    scheduled_ms: int
    target: str
    orchestrator: str
    instance: str
    up: bool
    duration_s: float
    bytes: int
    samples: int
    error_class: str
    error: str
    scraper: str = ""
    shard: str = "0/1"
    void: bool = False
    identity: str = ""  # checked | self_declared | "" (the scrape failed before identity was known)
    dropped: dict[str, int] = field(default_factory=dict)  # samples not stored, by reason (scraper/append.py)

    def row(self) -> tuple:
        return (
            self.ts_ms,
            self.scheduled_ms,
            self.target,
            self.orchestrator,
            self.instance,
            int(self.up),
            self.duration_s,
            self.bytes,
            self.samples,
            self.error_class,
            self.error,
            self.scraper,
            self.shard,
            int(self.void),
            self.identity,
            self.dropped,
        )


@dataclass
class VoidWindow:
    """A window in which one scraper's scrape rows count neither for nor against the targets."""

    start_ms: int
    end_ms: int
    scraper: str
    shard: str
    reason: str  # paused | all_unreachable | rows_dropped | shed | stopped
    detail: str = ""

    def row(self) -> tuple:
        return (self.start_ms, self.end_ms, self.scraper, self.shard, self.reason, self.detail)


def _merge_voids(last: tuple, new: tuple) -> tuple | None:
    """Overlapping windows of one scraper for one reason become one (the writer's coalesce hook)."""
    (s0, e0, scraper0, shard0, reason0, detail0), (s1, e1, scraper1, shard1, reason1, _detail1) = last, new
    if (scraper0, shard0, reason0) == (scraper1, shard1, reason1) and s1 <= e0 and e1 >= s0:
        return (min(s0, s1), max(e0, e1), scraper0, shard0, reason0, detail0)
    return None


@dataclass
class SinkStats:
    """What the sink lost, by kind (the writer's own counters are in `writer.stats`)."""

    samples_dropped: int = 0
    scrapes_dropped: int = 0


class ScrapeSink:
    """The scraper's side of the writer. `scraper` and `shard` name the void windows it records."""

    def __init__(self, writer: Writer, scraper: str = "", shard: str = "0/1") -> None:
        self.writer = writer
        self.scraper = scraper
        self.shard = shard
        self.stats = SinkStats()
        writer.on_drop = self._dropped

    def add(self, record: ScrapeRecord, sample_rows: bytes = b"", samples: int = 0) -> None:
        """Queue one scrape's row and its samples (RowBinary rows of the samples table, scraper/rows.py)."""
        if sample_rows:
            self.writer.add_encoded("samples", ROW_COLUMNS, ROW_FORMAT, sample_rows, samples, INSERT_SETTINGS)
        self.writer.add("scrapes", SCRAPE_ROW_COLUMNS, [record.row()])

    def add_void(self, window: VoidWindow) -> None:
        self.writer.add_kept("scraper_void", VOID_COLUMNS, window.row(), coalesce=_merge_voids)

    def _dropped(self, lost: dict[str, Part]) -> None:
        samples = lost.get("samples")
        scrapes = lost.get("scrapes")
        self.stats.samples_dropped += samples.count if samples else 0
        self.stats.scrapes_dropped += scrapes.count if scrapes else 0
        if scrapes is not None and scrapes.rows:
            scheduled = [r[1] for r in scrapes.rows]
            self.add_void(
                VoidWindow(min(scheduled), max(scheduled) + 1, self.scraper, self.shard, "rows_dropped",
                           f"{len(scheduled)} scrape rows and {samples.count if samples else 0} samples were not "
                           "written: the warehouse was unavailable")
            )  # fmt: skip

    @property
    def pressure(self) -> float:
        return self.writer.pressure
