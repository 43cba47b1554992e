"""DSN facts every caller needs: whether it is the embedded engine, and how to show it without credentials."""

from __future__ import annotations

import re
from pathlib import Path


def is_embedded(dsn: str) -> bool:
    return dsn.lower().startswith("chdb://")


def embedded_path(dsn: str) -> Path:
    """The data directory of a chdb:// DSN."""
    return Path(dsn.split("://", 1)[1].split("?", 1)[0])


_SECRET_PARAMS = re.compile(r"(?i)([?&](?:password|access_token|token)=)[^&#]*")


def redact_dsn(dsn: str) -> str:
    """`scheme://user:secret@host…` → `scheme://***@host…`, and `?password=secret` → `?password=***`; a DSN
    without credentials is returned as is."""
    if "@" in dsn and "://" in dsn:
        scheme, rest = dsn.split("://", 1)
        authority_end = min((i for i in (rest.find("/"), rest.find("?"), rest.find("#")) if i >= 0), default=len(rest))
        if "@" in rest[:authority_end]:
            dsn = f"{scheme}://***@{rest[:authority_end].rsplit('@', 1)[1]}{rest[authority_end:]}"
    return _SECRET_PARAMS.sub(r"\1***", dsn)
