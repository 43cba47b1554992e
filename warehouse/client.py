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
import math
import os
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, Iterable, Sequence
from urllib.parse import unquote_plus

import clickhouse_connect
from clickhouse_connect.driver.client import Client
from urllib3.util import Timeout

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


# Client-side time limits of a ClickHouse server connection (WarehouseSettings.connect_timeout_s, read_timeout_s):
# a server that accepts and never answers fails a request after these instead of hanging its caller.
CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 30.0

# Loggers of the HTTP stack that report, as WARNINGs with tracebacks, failures this module turns into one
# WarehouseError; they are shown only at --log-level debug.
_NOISY_LOGGERS = ("urllib3.connectionpool", "clickhouse_connect.driver._backend.http_sync", "clickhouse_connect.driver.httpclient")


def quiet_http_loggers() -> None:
    """Send the HTTP stack's own retry and driver warnings to DEBUG: the caller reports the failure once."""
    level = logging.getLogger().getEffectiveLevel()
    for name in _NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG if level <= logging.DEBUG else logging.ERROR)


def split_credentials(dsn: str) -> tuple[str, dict[str, str]]:
    """The DSN without `user`/`username`/`password` query parameters, and those as client arguments (given in
    the query string they would reach the client twice: "got multiple values for argument 'password'")."""
    if "?" not in dsn:
        return dsn, {}
    base, query = dsn.split("?", 1)
    kept, creds = [], {}
    for pair in query.split("&"):
        key, _, value = pair.partition("=")
        if key in ("password", "user", "username"):
            creds["password" if key == "password" else "username"] = unquote_plus(value)
        elif pair:
            kept.append(pair)
    return (f"{base}?{'&'.join(kept)}" if kept else base), creds


def _connect(dsn: str, database: str | None = None, settings: dict[str, Any] | None = None,
             connect_timeout_s: float = CONNECT_TIMEOUT_S, read_timeout_s: float = READ_TIMEOUT_S) -> Client:  # fmt: skip
    kwargs: dict[str, Any] = {"dsn": dsn}
    if database:
        kwargs["database"] = database
    if settings:
        kwargs["settings"] = settings
    if not is_embedded(dsn):
        quiet_http_loggers()
        kwargs["dsn"], creds = split_credentials(dsn)
        kwargs.update(creds)
        kwargs["autogenerate_session_id"] = False  # see the module docstring: concurrent use of one client
        # The client takes whole seconds; the exact limits are set on it right after.
        kwargs["connect_timeout"] = max(1, math.ceil(connect_timeout_s))
        kwargs["send_receive_timeout"] = max(1, math.ceil(read_timeout_s))
    client = clickhouse_connect.get_client(**kwargs)
    if not is_embedded(dsn) and hasattr(client, "timeout"):
        client.timeout = Timeout(connect=connect_timeout_s, read=read_timeout_s)
    return client


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
        where = embedded_path(dsn)
        info = json.loads((where / HOLDER_FILE).read_text())
        pid = int(info["pid"])
        if pid == os.getpid():
            return ""
        if "path" in info and info["path"] != str(where.resolve()):
            return ""  # a copied directory carries its original's holder file: that process holds the original
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
    if is_embedded(dsn):
        return WarehouseError(f"cannot open warehouse {redact_dsn(dsn)}: {cause}")
    return WarehouseError(
        f"cannot open warehouse {redact_dsn(dsn)}: {cause}. Check that the ClickHouse server is running and answers "
        "at that address (and the credentials), or use the embedded warehouse (--data-dir DIR instead of --warehouse)"
    )


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

    def __init__(self, dsn: str, database: str = "naap", holder: str | None = None,
                 connect_timeout_s: float = CONNECT_TIMEOUT_S, read_timeout_s: float = READ_TIMEOUT_S,
                 create_database: bool = True) -> None:  # fmt: skip
        self.dsn = dsn
        self.database = database
        self.embedded = is_embedded(dsn)
        self.connect_timeout_s = connect_timeout_s
        self.read_timeout_s = read_timeout_s
        self._holder_written = False
        self._write_lock = threading.Lock()
        self._readers: list[Client] = []
        if self.embedded:
            # Asking the engine would fail too, but only after it printed its own lock error to stderr.
            who = _holder(dsn)
            if who:
                raise _held(dsn, who)
        try:
            bootstrap = _connect(dsn, None, None, connect_timeout_s, read_timeout_s)
            if create_database:
                bootstrap.command(f"CREATE DATABASE IF NOT EXISTS `{database}`")
                self._database_exists = True
            else:  # look only (a dry run): without the database the one client stays unbound
                self._database_exists = bool(bootstrap.command(f"EXISTS DATABASE `{database}`"))
                if not self._database_exists:
                    self._client: Client = bootstrap
            if self._database_exists:
                bootstrap.close()  # chDB: keep one client so nothing else holds the path; a server: its pool
                self._client = _connect(dsn, database, None, connect_timeout_s, read_timeout_s)
        except Exception as e:  # clickhouse-connect raises many types; callers need one
            raise _open_error(dsn, e) from None
        if self.embedded:
            self._write_holder(holder)

    def database_exists(self) -> bool:
        """Whether the database existed (or was created) when this handle opened."""
        return self._database_exists

    def _write_holder(self, holder: str | None) -> None:
        command = holder or " ".join(os.path.basename(a) for a in sys.argv[:2]) or "python"
        try:
            (embedded_path(self.dsn) / HOLDER_FILE).write_text(
                json.dumps({"pid": os.getpid(), "command": command, "since": time.time(),
                            "path": str(embedded_path(self.dsn).resolve())})
            )
            self._holder_written = True
        except OSError:
            log.debug("could not write the warehouse holder file", exc_info=True)

    def _remove_holder(self) -> None:
        """At close: remove the holder file if it still names this process (a stale one would name a dead pid)."""
        if not self._holder_written:
            return
        self._holder_written = False
        path = embedded_path(self.dsn) / HOLDER_FILE
        try:
            if int(json.loads(path.read_text()).get("pid", -1)) == os.getpid():
                path.unlink()
        except (OSError, ValueError, TypeError, AttributeError):
            log.debug("could not remove the warehouse holder file", exc_info=True)

    def reader(self, max_execution_time_s: float = 10.0) -> "ReadOnlyWarehouse":
        """A handle for untrusted-facing reads (the API): the server refuses anything but reads on it
        (`readonly=2`) and stops any query past `max_execution_time_s`."""
        settings = {"readonly": 2, "max_execution_time": max(1, int(round(max_execution_time_s)))}
        # The server stops a query at max_execution_time; a server that does not answer at all is cut off by the
        # client a little later, so the API answers 503 instead of hanging.
        read_s = max_execution_time_s + min(5.0, max_execution_time_s)
        try:
            client = _connect(self.dsn, self.database, settings, self.connect_timeout_s, read_s)
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
        if self.embedded:
            self._remove_holder()

    def __enter__(self) -> "Warehouse":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
