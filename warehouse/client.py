"""The one warehouse client: clickhouse-connect, on embedded chDB (``chdb://``) or a server (``http(s)://``).

Everything in the project talks to ClickHouse through :class:`Warehouse`, so the embedded default and a
ClickHouse server run the same SQL through the same code. Facts this class respects:
- chDB (measured with chdb 4.4): one process per data directory (a file lock), one data directory per process
  at a time, and a connection must not run two inserts at once — so writes are serialised by a lock. A second
  handle on the same engine is cheap and has its own settings: the read-only reader is one.
- A ClickHouse server refuses concurrent queries within one HTTP session ("Session is locked by a concurrent
  client"), and clickhouse-connect opens a session per client by default. The API's threads, the scorer and the
  writer share a client, so server clients here run without a session (each request stands alone; nothing
  here relies on session state such as temporary tables).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import clickhouse_connect
from clickhouse_connect.driver.client import Client

from warehouse.dsn import embedded_path, is_embedded, redact_dsn

log = logging.getLogger(__name__)


class WarehouseError(RuntimeError):
    """The warehouse could not be reached or refused a statement (a transient error for callers)."""


@dataclass(frozen=True)
class QueryResult:
    columns: tuple[str, ...]
    rows: list[tuple]

    def dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, r)) for r in self.rows]


HOLDER_FILE = ".naap-holder.json"


def _connect(dsn: str, database: str | None = None, settings: dict[str, Any] | None = None) -> Client:
    kwargs: dict[str, Any] = {"dsn": dsn}
    if database:
        kwargs["database"] = database
    if settings:
        kwargs["settings"] = settings
    if not is_embedded(dsn):
        kwargs["autogenerate_session_id"] = False  # see the module docstring: concurrent use of one client
    return clickhouse_connect.get_client(**kwargs)


def _root_cause(e: BaseException) -> str:
    """The innermost message of an exception chain, on one line (connection errors arrive wrapped in retries)."""
    while e.__cause__ is not None or e.__context__ is not None:
        e = e.__cause__ or e.__context__  # type: ignore[assignment]
    text = " ".join(str(e).split()) or type(e).__name__
    return text[:300]


def _holder(dsn: str) -> str:
    """Who holds an embedded warehouse: the command and pid its holder file names, if that process is alive and
    is not this one; "" otherwise."""
    try:
        info = json.loads((embedded_path(dsn) / HOLDER_FILE).read_text())
        pid = int(info["pid"])
        if pid == os.getpid():
            return ""
        os.kill(pid, 0)  # raises when no such process
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(info["since"])))
        return f"`{info['command']}` (pid {pid}, since {since})"
    except (OSError, ValueError, KeyError, TypeError):
        return ""


def _held(dsn: str, who: str) -> WarehouseError:
    return WarehouseError(
        f"the embedded warehouse at {embedded_path(dsn)} is held by {who}: chDB allows one process per data "
        "directory. Stop that process, use its API, give this command another --data-dir, or share a "
        "ClickHouse server (--warehouse http://host:8123) between processes."
    )


def _open_error(dsn: str, e: BaseException) -> WarehouseError:
    cause = _root_cause(e)
    if is_embedded(dsn) and ("lock" in cause.lower() or "EmbeddedServer" in cause):
        return _held(dsn, _holder(dsn) or "another process")
    return WarehouseError(f"cannot open warehouse {redact_dsn(dsn)}: {cause}")


class _Reads:
    _client: Client
    database: str

    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> QueryResult:
        try:
            r = self._client.query(sql, parameters=parameters or {})
        except Exception as e:
            raise WarehouseError(_root_cause(e)) from e
        return QueryResult(tuple(r.column_names), list(r.result_rows))

    def scalar(self, sql: str, parameters: dict[str, Any] | None = None) -> Any:
        rows = self.query(sql, parameters).rows
        return rows[0][0] if rows else None

    def ping(self) -> bool:
        try:
            return self.scalar("SELECT 1") == 1
        except WarehouseError:
            return False


class ReadOnlyWarehouse(_Reads):
    """Reads only, with a server-side time limit: what the API gets (see Warehouse.reader)."""

    def __init__(self, client: Client, database: str) -> None:
        self._client = client
        self.database = database


class Warehouse(_Reads):
    """A thin, thread-safe facade over one clickhouse-connect client bound to one database.

    `holder` names the command holding an embedded warehouse (written beside it, so that a second process
    that finds the directory locked can say who holds it)."""

    def __init__(self, dsn: str, database: str = "naap", holder: str | None = None) -> None:
        self.dsn = dsn
        self.database = database
        self.embedded = is_embedded(dsn)
        self._write_lock = threading.Lock()
        self._readers: list[Client] = []
        if self.embedded:
            # Asking the engine would fail too, but only after it printed its own lock error to stderr.
            who = _holder(dsn)
            if who:
                raise _held(dsn, who)
        try:
            bootstrap = _connect(dsn)
            bootstrap.command(f"CREATE DATABASE IF NOT EXISTS `{database}`")
            bootstrap.close()  # chDB: keep one client so nothing else holds the path; a server: its pool
            self._client: Client = _connect(dsn, database)
        except Exception as e:  # clickhouse-connect raises many types; callers need one
            raise _open_error(dsn, e) from None
        if self.embedded:
            self._write_holder(holder)

    def _write_holder(self, holder: str | None) -> None:
        command = holder or " ".join(os.path.basename(a) for a in sys.argv[:2]) or "python"
        try:
            (embedded_path(self.dsn) / HOLDER_FILE).write_text(
                json.dumps({"pid": os.getpid(), "command": command, "since": time.time()})
            )
        except OSError:
            log.debug("could not write the warehouse holder file", exc_info=True)

    def reader(self, max_execution_time_s: float = 10.0) -> "ReadOnlyWarehouse":
        """A handle for untrusted-facing reads (the API): the server refuses anything but reads on it
        (`readonly=2`) and stops any query past `max_execution_time_s`."""
        settings = {"readonly": 2, "max_execution_time": max(1, int(round(max_execution_time_s)))}
        try:
            client = _connect(self.dsn, self.database, settings)
        except Exception as e:
            raise _open_error(self.dsn, e) from None
        self._readers.append(client)
        return ReadOnlyWarehouse(client, self.database)

    # -- writes --------------------------------------------------------------------------------
    def command(self, sql: str, parameters: dict[str, Any] | None = None) -> Any:
        with self._write_lock:
            try:
                return self._client.command(sql, parameters=parameters or {})
            except Exception as e:
                raise WarehouseError(_root_cause(e)) from e

    def insert_columns(self, table: str, column_names: Sequence[str], columns: Sequence[Sequence[Any]],
                       settings: dict[str, Any] | None = None) -> int:  # fmt: skip
        """Insert column-oriented data. DateTime64 columns take integer milliseconds (never floats or
        JSON: an integer sent through JSONEachRow lands in year 9999)."""
        n = len(columns[0]) if columns else 0
        if n == 0:
            return 0
        with self._write_lock:
            try:
                self._client.insert(table, columns, column_names=list(column_names), column_oriented=True, settings=settings)
            except Exception as e:
                raise WarehouseError(f"insert into {table} failed: {_root_cause(e)}") from e
        return n

    def insert_rows(self, table: str, column_names: Sequence[str], rows: Sequence[Sequence[Any]],
                    settings: dict[str, Any] | None = None) -> int:  # fmt: skip
        """Insert rows (tuples in `column_names` order); `settings` per insert (e.g. a deduplication token)."""
        if not rows:
            return 0
        with self._write_lock:
            try:
                self._client.insert(table, list(rows), column_names=list(column_names), settings=settings)
            except Exception as e:
                raise WarehouseError(f"insert into {table} failed: {_root_cause(e)}") from e
        return len(rows)

    def insert_raw(
        self, table: str, column_names: Sequence[str], data: bytes | Iterable[bytes], fmt: str,
        settings: dict[str, Any] | None = None,
    ) -> None:
        """Insert rows already encoded in a ClickHouse input format (the scraper's samples, as RowBinary: the
        engine reads them in C++, several times cheaper than building Python objects for a native insert).
        `data` may be an iterable of chunks: they are streamed, never joined into one buffer."""
        if isinstance(data, (bytes, bytearray)) and not data:
            return
        with self._write_lock:
            try:
                self._client.raw_insert(table, list(column_names), insert_block=data, fmt=fmt, settings=settings)
            except Exception as e:
                raise WarehouseError(f"insert into {table} failed: {_root_cause(e)}") from e

    def close(self) -> None:
        for client in (*self._readers, self._client):
            try:
                client.close()
            except Exception:  # closing is best effort; nothing to report to callers
                log.debug("closing a warehouse client failed", exc_info=True)
        self._readers = []

    def __enter__(self) -> "Warehouse":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
