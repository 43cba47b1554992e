"""The ClickHouse-server path (`http://`) of the one warehouse client, through the real clickhouse-connect HTTP
client, against a STAND-IN server (tests/clickhouse_http_standin.py: no ClickHouse server package exists for
this machine). The stand-in runs the real ClickHouse engine (chDB, in its own process) behind ClickHouse's HTTP
interface, and refuses overlapping requests of one session as a server does (SESSION_IS_LOCKED).

The API's threads, the scorer and the writer share one `Warehouse`; these tests prove that sharing works over
HTTP (the client runs without a session), and — the control — that the same load through clients with a
session fails. Concurrency is made certain, not hoped for: the stand-in's engine is held while the load starts,
so requests pile up in flight together before any of them runs.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import urllib.error
import urllib.request
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator
from urllib.parse import urlencode

import clickhouse_connect
import pytest

import warehouse.client as client_module
from scraper.rows import ROW_COLUMNS, ROW_FORMAT, row_prefix, row_tail, series_fragment
from warehouse.client import ReadOnlyWarehouse, Warehouse, WarehouseError
from warehouse.config import WarehouseSettings
from warehouse.migrations import LEDGER_TABLE, apply_migrations, load_migrations, open_warehouse
from warehouse.writer import DEDUP_SETTINGS

STANDIN = Path(__file__).with_name("clickhouse_http_standin.py")
VOID_COLUMNS = ("start_ts", "end_ts", "scraper", "shard", "reason", "detail")
T0 = 1_700_000_000_000
THREADS, OPS, ROWS = 8, 9, 5
LOCKED = "SESSION_IS_LOCKED"
CLIENT_GUARD = "concurrent queries within the same session"  # clickhouse-connect's own check, one client object
_control = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback only, never a proxy


@pytest.fixture(scope="module")
def standin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The stand-in server in its own process (chDB: one data directory per process); its URL."""
    root = tmp_path_factory.mktemp("standin")
    with open(root / "stderr.log", "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, str(STANDIN), "--port", "0", "--data-dir", str(root / "data")],
            stdout=subprocess.PIPE, stderr=err, text=True,
        )  # fmt: skip
        assert proc.stdout is not None
        line = proc.stdout.readline()  # "READY http://127.0.0.1:PORT", or "" if it died
        try:
            assert line.startswith("READY "), (root / "stderr.log").read_text()
            yield line.split()[1]
        finally:
            proc.terminate()
            proc.wait()


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def db() -> str:
    return f"h_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def wh(standin: str, db: str) -> Iterator[Warehouse]:
    w = Warehouse(standin, db)
    apply_migrations(w)
    yield w
    w.command(f"DROP DATABASE IF EXISTS `{db}` SYNC")
    w.close()


def control(url: str, action: str, **query: Any) -> dict[str, int]:
    """The stand-in's test controls (not ClickHouse): hold/release the engine, wait for a state, stats."""
    try:
        with _control.open(f"{url}/__standin__/{action}?{urlencode(query)}", timeout=120) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as e:
        raise AssertionError(f"stand-in {action} {query}: {e.code} {e.read().decode()}") from None


@contextmanager
def engine_held(url: str) -> Iterator[None]:
    control(url, "hold")
    try:
        yield
    finally:
        control(url, "release")


def void_rows(i: int, j: int) -> list[tuple]:
    return [(T0 + k, T0 + k + 1000, f"s{i}", "0/1", "test", f"{i}-{j}-{k}") for k in range(ROWS)]


def sample_rows(i: int, j: int) -> bytes:
    prefix = row_prefix(f"0x{i:040x}", f"h{i}:1")
    return b"".join(
        prefix + series_fragment("m", {"op": f"{i}-{j}", "k": str(k)}) + row_tail(T0 + k, float(k)) for k in range(ROWS)
    )


def run_load(
    whs: list[Warehouse], readers: list[ReadOnlyWarehouse], url: str, until: Callable[[threading.Event], None]
) -> tuple[list[BaseException], dict[str, int]]:
    """THREADS threads × OPS operations, mixed: queries (on the shared client and on a reader handle) and
    inserts with deduplication tokens (native rows, RowBinary), then a retry of each thread's first two
    operations, as the writer retries. Thread i uses whs[i % len(whs)]. The engine is held until `until` says
    the requests have piled up (it gets an event set at the first failure). Returns the failures and the
    rows each table should hold."""
    failures: list[BaseException] = []
    failed = threading.Event()
    lock = threading.Lock()
    expected = {"scraper_void": 0, "samples": 0}

    def op(i: int, j: int, count: bool) -> None:
        w, kind = whs[i % len(whs)], (i + j) % 3
        if kind == 0:
            on_reader = i % 2 == 1
            handle = readers[i % len(readers)] if on_reader else w
            readonly, _ = handle.query("SELECT toUInt8(getSetting('readonly')), count() FROM scraper_void").rows[0]
            assert readonly == (2 if on_reader else 0), "a request's settings reached another request"
            return
        if kind == 1:
            token = {**DEDUP_SETTINGS, "insert_deduplication_token": f"v-{i}-{j}"}
            w.insert_rows("scraper_void", VOID_COLUMNS, void_rows(i, j), settings=token)
        else:
            token = {"insert_deduplication_token": f"s-{i}-{j}"}
            w.insert_raw("samples", ROW_COLUMNS, sample_rows(i, j), fmt=ROW_FORMAT, settings=token)
        if count:
            with lock:
                expected["scraper_void" if kind == 1 else "samples"] += ROWS

    def worker(i: int) -> None:
        for j, count in [(j, True) for j in range(OPS)] + [(0, False), (1, False)]:
            try:
                op(i, j, count)
            except BaseException as e:  # noqa: BLE001 - every failure is reported by the test
                with lock:
                    failures.append(e)
                failed.set()

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(THREADS)]
    with engine_held(url):
        for t in threads:
            t.start()
        until(failed)
    for t in threads:
        t.join()
    return failures, expected


def counts(w: Warehouse) -> dict[str, int]:
    return {t: w.scalar(f"SELECT count() FROM {t}") for t in ("scraper_void", "samples")}


# -- the warehouse over http ------------------------------------------------------------------------------


def test_open_warehouse_applies_every_migration_over_http(standin: str, db: str, tmp_path: Path) -> None:
    settings = WarehouseSettings(dsn=standin, database=db, data_dir=tmp_path)
    w = open_warehouse(settings)
    try:
        versions = [r[0] for r in w.query(f"SELECT version FROM {LEDGER_TABLE} ORDER BY version").rows]
        assert versions == [m.version for m in load_migrations()]
        # 0006 ran whole: its columns (MATERIALIZE COLUMN … mutations_sync) and dedup windows (MODIFY SETTING).
        for table in ("samples", "scrapes", "scraper_void", "discovery_snapshots"):
            ddl = w.scalar("SELECT create_table_query FROM system.tables WHERE database = {d:String} AND name = {t:String}",
                           {"d": db, "t": table})  # fmt: skip
            assert "ingested_at" in ddl and "non_replicated_deduplication_window = 10000" in ddl, ddl
        # apply_retention read the DDL through a server-side bound parameter and set the TTL.
        ttl = w.scalar(f"SELECT create_table_query FROM system.tables WHERE database = '{db}' AND name = 'samples'")
        assert "toIntervalDay(30)" in ttl, ttl
        assert apply_migrations(w) == []  # the ledger is read back over http: nothing is applied twice
    finally:
        w.command(f"DROP DATABASE IF EXISTS `{db}` SYNC")
        w.close()


def test_rows_round_trip_over_http(wh: Warehouse) -> None:
    labels = {"model_id": "m1", "quoted": 'a"b\\c', "unicode": "é😀"}
    raw = b"".join(row_prefix("0xo", "h:1") + series_fragment("fps", labels) + row_tail(T0 + k, k / 3) for k in range(100))
    wh.insert_raw("samples", ROW_COLUMNS, raw, fmt=ROW_FORMAT)
    wh.insert_raw("samples", ROW_COLUMNS, iter([sample_rows(1, 1), sample_rows(1, 2)]), fmt=ROW_FORMAT)  # streamed chunks
    got = wh.query("SELECT orchestrator, instance, metric, labels, toUnixTimestamp64Milli(ts), value FROM samples "
                   "WHERE orchestrator = {o:String} ORDER BY ts", {"o": "0xo"}).rows  # fmt: skip
    assert got == [("0xo", "h:1", "fps", labels, T0 + k, k / 3) for k in range(100)]
    assert wh.scalar("SELECT count() FROM samples") == 100 + 2 * ROWS

    rows = void_rows(3, 4)
    assert wh.insert_rows("scraper_void", VOID_COLUMNS, rows) == ROWS  # native, lz4-compressed body
    back = wh.query("SELECT toUnixTimestamp64Milli(start_ts), toUnixTimestamp64Milli(end_ts), scraper, shard, reason, "
                    "detail FROM scraper_void ORDER BY detail").rows  # fmt: skip
    assert back == sorted(rows, key=lambda r: r[5])


@pytest.mark.parametrize("compress", ["lz4", "zstd", False])
def test_standin_speaks_clickhouse_connects_encodings(standin: str, db: str, compress: Any) -> None:
    """The stand-in itself: compressed native inserts and responses, as clickhouse-connect negotiates them."""
    c = clickhouse_connect.get_client(dsn=standin, autogenerate_session_id=False, compress=compress)
    try:
        c.command(f"CREATE DATABASE `{db}`")
        c.command(f"CREATE TABLE `{db}`.t (a UInt64, s LowCardinality(String)) ENGINE = MergeTree ORDER BY a")
        c.insert(f"`{db}`.t", [(i, f"v{i % 3}") for i in range(1000)], column_names=["a", "s"])
        assert c.query(f"SELECT count(), sum(a), uniqExact(s) FROM `{db}`.t").result_rows == [(1000, 499500, 3)]
        assert c.command("SELECT 1 WHERE 0") == ""  # a result with no rows, as a server reports it
    finally:
        c.command(f"DROP DATABASE IF EXISTS `{db}` SYNC")
        c.close()


# -- concurrency: one Warehouse shared by threads -----------------------------------------------------------


def test_one_warehouse_shared_by_threads_over_http(wh: Warehouse, standin: str) -> None:
    reader = wh.reader()
    refused_before = control(standin, "stats")["refused"]

    def piled_up(_: threading.Event) -> None:
        # Threads 0 and 6 query on the shared client, 3 on the reader, one writer inserts: four requests in
        # flight at once on two clients. With a session on the client this never happens (they are refused).
        control(standin, "wait", inflight=4, timeout=30)

    failures, expected = run_load([wh], [reader], standin, piled_up)
    assert not failures, failures[:3]
    assert counts(wh) == expected and expected["samples"] > 0 and expected["scraper_void"] > 0
    assert control(standin, "stats")["refused"] == refused_before


def _session_connect(session_id: str | None) -> Callable[..., Any]:
    """warehouse.client._connect as it would be with a session: the control."""

    def connect(dsn: str, database: str | None = None, settings: dict[str, Any] | None = None, *_timeouts: float) -> Any:
        kwargs: dict[str, Any] = {"dsn": dsn, "database": database, "settings": settings}
        if session_id:
            kwargs["session_id"] = session_id
        else:
            kwargs["autogenerate_session_id"] = True
        return clickhouse_connect.get_client(**{k: v for k, v in kwargs.items() if v is not None})

    return connect


def test_control_a_shared_client_with_a_session_fails_under_the_same_load(
    wh: Warehouse, standin: str, db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """clickhouse-connect's default (a session per client): the shared client's overlapping requests fail —
    caught by the client's own guard, or refused by the server with SESSION_IS_LOCKED when both got past it."""
    monkeypatch.setattr(client_module, "_connect", _session_connect(None))
    shared = Warehouse(standin, db)
    try:
        assert shared.scalar("SELECT 1") == 1  # one request at a time in a session is fine
        failures, _ = run_load([shared], [shared.reader()], standin, lambda failed: failed.wait(30) or None)
    finally:
        shared.close()
    assert failures, "the same load through a client with a session did not fail: the test could not catch it"
    assert all(isinstance(f, WarehouseError) and (LOCKED in str(f) or CLIENT_GUARD in str(f)) for f in failures), failures[:3]


def test_control_clients_sharing_a_session_are_refused_session_is_locked(
    wh: Warehouse, standin: str, db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Several clients (as several processes would) in one session: the server refuses the overlapping ones."""
    monkeypatch.setattr(client_module, "_connect", _session_connect(f"shared-{db}"))
    whs = [Warehouse(standin, db) for _ in range(THREADS)]
    try:
        readers = [w.reader() for w in whs]
        refused = control(standin, "stats")["refused"] + 1
        failures, _ = run_load(whs, readers, standin, lambda _: control(standin, "wait", refused=refused, timeout=30) and None)
    finally:
        for w in whs:
            w.close()
    assert failures, "no request was refused"
    assert all(isinstance(f, WarehouseError) and LOCKED in str(f) for f in failures), failures[:3]
    assert {getattr(f.__cause__, "code", None) for f in failures} == {373}


# -- deduplication and the read-only handle over http -------------------------------------------------------


def test_deduplication_token_over_http(wh: Warehouse) -> None:
    rows, other = void_rows(1, 1), void_rows(2, 2)
    token = {**DEDUP_SETTINGS, "insert_deduplication_token": "t"}
    wh.insert_rows("scraper_void", VOID_COLUMNS, rows, settings=token)
    wh.insert_rows("scraper_void", VOID_COLUMNS, rows, settings=token)  # a retry: dropped
    assert wh.scalar("SELECT count() FROM scraper_void") == ROWS
    # It is the token that decides (so it reached the server): other rows under it are dropped, the same rows
    # under another token are stored.
    wh.insert_rows("scraper_void", VOID_COLUMNS, other, settings=token)
    assert wh.scalar("SELECT count() FROM scraper_void") == ROWS
    wh.insert_rows("scraper_void", VOID_COLUMNS, rows, settings={"insert_deduplication_token": "t2"})
    assert wh.scalar("SELECT count() FROM scraper_void") == 2 * ROWS

    raw = sample_rows(5, 5)
    for _ in range(2):
        wh.insert_raw("samples", ROW_COLUMNS, raw, fmt=ROW_FORMAT, settings={"insert_deduplication_token": "r"})
    assert wh.scalar("SELECT count() FROM samples") == ROWS


def test_reader_over_http_refuses_writes_and_stops_slow_queries(wh: Warehouse) -> None:
    reader = wh.reader(max_execution_time_s=1)
    for sql in ("INSERT INTO scraper_void (scraper) VALUES ('x')", "INSERT INTO scraper_void (scraper) SELECT 'x'"):
        with pytest.raises(WarehouseError, match="READONLY"):
            reader.query(sql)
    with pytest.raises(WarehouseError, match="readonly"):
        reader.query("SELECT 1 SETTINGS readonly = 0")  # nor can it lift its own limit
    assert wh.scalar("SELECT count() FROM scraper_void") == 0
    with pytest.raises(WarehouseError, match="TIMEOUT_EXCEEDED"):
        reader.query("SELECT sum(number) FROM system.numbers")  # endless without the limit
    # The settings were the reader's requests' own: the writer's client has none of them.
    assert reader.query("SELECT toUInt8(getSetting('readonly')), toUInt64(getSetting('max_execution_time'))").rows == [(2, 1)]
    assert wh.query("SELECT toUInt8(getSetting('readonly')), toUInt64(getSetting('max_execution_time'))").rows == [(0, 0)]
    wh.insert_rows("scraper_void", VOID_COLUMNS, void_rows(0, 0))
    assert reader.scalar("SELECT count() FROM scraper_void") == ROWS
