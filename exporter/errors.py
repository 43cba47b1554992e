"""The one error the exporter raises to whoever starts it.

`ExporterStartError` means: the exporter cannot start as configured, and nothing was left running (listeners
closed, threads stopped, HTTP sessions closed). `str(e)` is one line for the operator, saying what failed,
where, and what to change, e.g.

    cannot listen on 0.0.0.0:9935: address already in use — another exporter running? choose another --port

The caller prints that line and exits non-zero; no traceback is needed or wanted. Everything that is only
*down* at start-up (go-livepeer not running yet, a dcgm-exporter that does not answer, no GPU) is not a
start error: the source reports `naap_exporter_source_up 0` and the exporter serves the rest.
"""

from __future__ import annotations


class ExporterStartError(Exception):
    """The exporter cannot start as configured; the message is one line (no newline) for the operator."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))  # one line, whatever an OS or library message held
