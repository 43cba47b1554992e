"""Facts about this installation every part may report: the distribution's version, from package metadata."""

from __future__ import annotations

from importlib import metadata

DISTRIBUTION = "naap-sla"


def version() -> str:
    """The installed naap-sla version ("0+unknown" when running from a tree that was never installed)."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "0+unknown"
