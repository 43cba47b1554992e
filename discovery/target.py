"""The one contract between discovery and the scraper: a Target."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

# A Prometheus label name (data model: [a-zA-Z_][a-zA-Z0-9_]*); names starting with "__" are reserved.
LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


@dataclass(frozen=True)
class Target:
    """A metrics endpoint to scrape and who it belongs to.

    `orchestrator` is the lowercase eth address (or "" when unknown); `instance` is host:port of the URL.
    `labels` are discovery's labels (region, source, ...), never taken from the exposition itself.
    """

    url: str
    orchestrator: str = ""
    labels: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    source: str = "static"

    @property
    def instance(self) -> str:
        parts = urlsplit(self.url)
        return parts.netloc.rsplit("@", 1)[-1]

    @property
    def key(self) -> str:
        """Stable identity used for offsets and sharding."""
        return self.url

    def stable_hash(self) -> int:
        return int.from_bytes(hashlib.sha256(self.key.encode()).digest()[:8], "big")

    def label_dict(self) -> dict[str, str]:
        return dict(self.labels)


def make_target(url: str, orchestrator: str = "", labels: dict[str, str] | None = None, source: str = "static") -> Target:
    return Target(url=url, orchestrator=orchestrator.lower(), labels=tuple(sorted((labels or {}).items())), source=source)
