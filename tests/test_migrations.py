"""Schema migrations: ordered, idempotent, frozen, printable as SQL."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from warehouse.client import Warehouse
from warehouse.migrations import (
    LEDGER_TABLE,
    MigrationError,
    apply_migrations,
    apply_retention,
    load_migrations,
    pending_migrations,
    render_sql,
)

TABLES = {"samples", "scrapes", "discovery_snapshots", "sla_scores"}


def _fresh(chdb_dir: Path, name: str) -> Warehouse:
    return Warehouse(f"chdb://{chdb_dir}", name)


def test_migrations_are_numbered_without_gaps() -> None:
    migs = load_migrations()
    assert [m.version for m in migs] == list(range(1, len(migs) + 1))
    assert all(m.statements for m in migs)


def test_apply_on_empty_warehouse_then_again_is_a_noop(chdb_dir: Path, db_name: str) -> None:
    wh = _fresh(chdb_dir, db_name)
    try:
        assert wh.query("SHOW TABLES").rows == []
        first = apply_migrations(wh)
        assert [m.version for m in first] == [m.version for m in load_migrations()]
        tables = {r[0] for r in wh.query("SHOW TABLES").rows}
        assert TABLES | {LEDGER_TABLE} <= tables
        assert apply_migrations(wh) == []
        assert pending_migrations(wh) == []
        assert wh.scalar(f"SELECT count() FROM {LEDGER_TABLE}") == len(first)
    finally:
        wh.command(f"DROP DATABASE `{db_name}` SYNC")
        wh.close()


def test_an_edited_migration_stops_start_up(chdb_dir: Path, db_name: str) -> None:
    wh = _fresh(chdb_dir, db_name)
    try:
        apply_migrations(wh)
        wh.command(f"ALTER TABLE {LEDGER_TABLE} UPDATE checksum = 'edited' WHERE version = 1 SETTINGS mutations_sync = 1")
        with pytest.raises(MigrationError, match="edited after it was applied"):
            apply_migrations(wh)
    finally:
        wh.command(f"DROP DATABASE `{db_name}` SYNC")
        wh.close()


def test_render_sql_prints_every_statement() -> None:
    sql = render_sql(load_migrations())
    for table in TABLES:
        assert f"CREATE TABLE IF NOT EXISTS {table}" in sql
    assert sql.count("-- migration ") == len(load_migrations())


def test_retention_follows_settings(warehouse: Warehouse, tmp_path) -> None:  # noqa: ANN001
    """Every table has its own retention setting; a table's TTL follows it (and 0 keeps rows forever)."""
    from warehouse.config import WarehouseSettings
    from warehouse.migrations import RETENTION

    def ddl(table: str) -> str:
        return warehouse.scalar(
            "SELECT create_table_query FROM system.tables WHERE database = {d:String} AND name = {t:String}",
            {"d": warehouse.database, "t": table},
        )

    days = {field: 7 + i for i, (_col, field) in enumerate(RETENTION.values())}
    apply_retention(warehouse, WarehouseSettings(data_dir=tmp_path, **days))
    for table, (column, field) in RETENTION.items():
        assert f"TTL toDateTime({column}) + toIntervalDay({days[field]})" in ddl(table), table
    apply_retention(warehouse, WarehouseSettings(data_dir=tmp_path, **{f: 0 for f in days}))
    assert all("TTL" not in ddl(t) for t in RETENTION)


def test_millisecond_timestamps_land_in_the_right_year(warehouse: Warehouse) -> None:
    """The ClickHouse trap: integer ms through JSONEachRow become 9999-12-31. Our insert path must not."""
    now_ms = int(time.time() * 1000)
    warehouse.insert_columns(
        "samples",
        ("ts", "orchestrator", "instance", "metric", "labels", "value"),
        [[now_ms], ["0xabc"], ["h:1"], ["m"], [{}], [1.0]],
    )
    back = warehouse.scalar("SELECT toUnixTimestamp64Milli(ts) FROM samples")
    assert back == now_ms


def _naap(*args: str, data_dir: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "naap", "--log-level", "warning", "warehouse", "migrate", *args, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_dry_run_prints_sql_and_changes_nothing(tmp_path: Path) -> None:
    data = tmp_path / "wh"  # a subprocess: its own chDB directory
    dry = _naap("--dry-run", data_dir=data)
    assert dry.returncode == 0, dry.stderr
    assert "CREATE TABLE IF NOT EXISTS samples" in dry.stdout
    again = _naap("--dry-run", data_dir=data)
    assert again.stdout == dry.stdout  # nothing was applied by the dry run
    applied = _naap(data_dir=data)
    assert applied.returncode == 0, applied.stderr
    assert "applied 0001_samples" in applied.stdout
    after = _naap("--dry-run", data_dir=data)
    assert "up to date" in after.stdout and "CREATE TABLE" not in after.stdout
    assert "up to date" in _naap(data_dir=data).stdout
