"""The one warehouse client: clickhouse-connect, on embedded chDB (``chdb://``) or a server (``http(s)://``).

Everything in the project talks to ClickHouse through :class:`Warehouse`, so the embedded default and a
ClickHouse server run the same SQL through the same code. chDB facts this class respects (measured with
chdb 4.4): one process per data directory (a file lock), one data directory per process at a time, and a
connection must not run two inserts at once — so writes are serialised by a lock.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import clickhouse_connect
from clickhouse_connect.driver.client import Client

from warehouse.dsn import is_embedded, redact_dsn

log = logging.getLogger(__name__)


class WarehouseError(RuntimeError):
    """The warehouse could not be reached or refused a statement (a transient error for callers)."""


@dataclass(frozen=True)
class QueryResult:
    columns: tuple[str, ...]
    rows: list[tuple]

    def dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, r)) for r in self.rows]


class Warehouse:
    """A thin, thread-safe facade over one clickhouse-connect client bound to one database."""

    def __init__(self, dsn: str, database: str = "naap") -> None:
        self.dsn = dsn
        self.database = database
        self.embedded = is_embedded(dsn)
        self._write_lock = threading.Lock()
        try:
            bootstrap = clickhouse_connect.get_client(dsn=dsn)
            bootstrap.command(f"CREATE DATABASE IF NOT EXISTS `{database}`")
            if self.embedded:
                # chDB sessions share the engine; keep one client so nothing else holds the path.
                bootstrap.close()
            self._client: Client = clickhouse_connect.get_client(dsn=dsn, database=database)
        except Exception as e:  # clickhouse-connect raises many types; callers need one
            raise WarehouseError(f"cannot open warehouse {redact_dsn(dsn)}: {e}") from e

    # -- reads ---------------------------------------------------------------------------------
    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> QueryResult:
        try:
            r = self._client.query(sql, parameters=parameters or {})
        except Exception as e:
            raise WarehouseError(str(e)) from e
        return QueryResult(tuple(r.column_names), list(r.result_rows))

    def scalar(self, sql: str, parameters: dict[str, Any] | None = None) -> Any:
        rows = self.query(sql, parameters).rows
        return rows[0][0] if rows else None

    # -- writes --------------------------------------------------------------------------------
    def command(self, sql: str, parameters: dict[str, Any] | None = None) -> Any:
        with self._write_lock:
            try:
                return self._client.command(sql, parameters=parameters or {})
            except Exception as e:
                raise WarehouseError(str(e)) from e

    def insert_columns(self, table: str, column_names: Sequence[str], columns: Sequence[Sequence[Any]]) -> int:
        """Insert column-oriented data. DateTime64 columns take integer milliseconds (never floats or
        JSON: an integer sent through JSONEachRow lands in year 9999)."""
        n = len(columns[0]) if columns else 0
        if n == 0:
            return 0
        with self._write_lock:
            try:
                self._client.insert(table, columns, column_names=list(column_names), column_oriented=True)
            except Exception as e:
                raise WarehouseError(f"insert into {table} failed: {e}") from e
        return n

    def insert_rows(self, table: str, column_names: Sequence[str], rows: Sequence[Sequence[Any]]) -> int:
        if not rows:
            return 0
        with self._write_lock:
            try:
                self._client.insert(table, list(rows), column_names=list(column_names))
            except Exception as e:
                raise WarehouseError(f"insert into {table} failed: {e}") from e
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
                raise WarehouseError(f"insert into {table} failed: {e}") from e

    def ping(self) -> bool:
        try:
            return self.scalar("SELECT 1") == 1
        except WarehouseError:
            return False

    def close(self) -> None:
        try:
            self._client.close()
        except Exception:  # closing is best effort; nothing to report to callers
            log.debug("closing warehouse client failed", exc_info=True)

    def __enter__(self) -> "Warehouse":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
