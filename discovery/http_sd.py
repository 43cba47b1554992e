"""The current targets in Prometheus HTTP service discovery form, and as a table for people.

http_sd: ``[{"targets": ["host:port"], "labels": {"__scheme__": "http", "__metrics_path__": "/metrics",
"orchestrator": "0x…", "naap_source": "chain", ...}}]`` — one group per target, sorted by URL, so a stock
Prometheus (``http_sd_configs``) scrapes exactly what the collector scrapes. Query parameters of a URL
become ``__param_<name>`` labels. Only label names Prometheus accepts are passed on.
"""

from __future__ import annotations

from typing import Any, Iterable
from urllib.parse import parse_qsl, urlsplit

from discovery.target import LABEL_NAME, Target


def source_kind(source: str) -> str:
    """chain, config or file: never a local file path (the list is public)."""
    return source.split(":", 1)[0]


def http_sd_group(t: Target) -> dict[str, Any]:
    parts = urlsplit(t.url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    host = parts.hostname or ""
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    labels: dict[str, str] = {
        k: v for k, v in t.labels if LABEL_NAME.match(k) and not k.startswith("__") and isinstance(v, str)
    }
    labels["__scheme__"] = parts.scheme
    labels["__metrics_path__"] = parts.path or "/"
    for k, v in parse_qsl(parts.query, keep_blank_values=True):
        if LABEL_NAME.match(k):
            labels[f"__param_{k}"] = v
    if t.orchestrator:
        labels["orchestrator"] = t.orchestrator
    labels["naap_source"] = source_kind(t.source)
    return {"targets": [address], "labels": labels}


def http_sd_groups(targets: Iterable[Target]) -> list[dict[str, Any]]:
    return [http_sd_group(t) for t in sorted(targets, key=lambda t: t.url)]


def table(rows: list[dict[str, Any]]) -> str:
    """Fixed-width text table of dict rows (the keys of the first row are the columns)."""
    if not rows:
        return "(none)\n"
    cols = list(rows[0])
    cells = [[str(r.get(c, "")) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(cols, widths)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in cells]
    return "\n".join(lines) + "\n"
