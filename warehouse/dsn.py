"""DSN facts every caller needs: whether it is the embedded engine, and how to show it without credentials."""

from __future__ import annotations

from pathlib import Path


def is_embedded(dsn: str) -> bool:
    return dsn.lower().startswith("chdb://")


def embedded_path(dsn: str) -> Path:
    """The data directory of a chdb:// DSN."""
    return Path(dsn.split("://", 1)[1].split("?", 1)[0])


def redact_dsn(dsn: str) -> str:
    """`scheme://user:secret@host…` → `scheme://***@host…`; a DSN without credentials is returned as is."""
    if "@" in dsn and "://" in dsn:
        scheme, rest = dsn.split("://", 1)
        return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"
    return dsn
