"""Shared fixtures. Real parts only: a real chDB warehouse, real HTTP servers on loopback.

chDB allows one data directory per process at a time, so the whole test session shares one directory
and every test gets its own ClickHouse database inside it, dropped with SYNC when the test ends. (A plain DROP
on an Atomic database only schedules the tables' removal, eight minutes later: the dropped tables pile up and
every CREATE after them gets slower, about 20 ms more per hundred tests.)

The exporter's tests run on an exporter-only install (`pip install '.[exporter]'`): nothing of the collector
is imported here at module level, only inside the fixtures that need it.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import pytest

if TYPE_CHECKING:
    from naap.settings import Settings
    from warehouse.client import Warehouse


@pytest.fixture(scope="session")
def chdb_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("chdb")


def drop_database(wh: "Warehouse", name: str) -> None:
    """Drop a test's database now (SYNC), not after the Atomic engine's delay; see the module docstring."""
    wh.command(f"DROP DATABASE IF EXISTS `{name}` SYNC")


@pytest.fixture
def db_name(request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh database name; whatever the test created under it is dropped when it ends."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    yield name
    if "chdb_dir" not in request.fixturenames:
        return  # the test never had the session's warehouse directory, so it created nothing in it
    from warehouse.client import Warehouse

    chdb_dir = request.getfixturevalue("chdb_dir")
    control = Warehouse(f"chdb://{chdb_dir}", "default")
    try:
        if control.scalar("SELECT count() FROM system.databases WHERE name = {n:String}", {"n": name}):
            drop_database(control, name)
    finally:
        control.close()


@pytest.fixture
def warehouse(chdb_dir: Path, db_name: str) -> Iterator["Warehouse"]:
    """A migrated warehouse in a database of its own."""
    from warehouse.client import Warehouse
    from warehouse.migrations import apply_migrations

    wh = Warehouse(f"chdb://{chdb_dir}", db_name)
    apply_migrations(wh)
    yield wh
    drop_database(wh, db_name)
    wh.close()


@pytest.fixture
def settings(chdb_dir: Path, db_name: str) -> "Settings":
    """Collector settings on the session's chDB directory, loopback allowed, fast intervals."""
    from naap.settings import Settings

    return Settings(
        warehouse={"data_dir": chdb_dir.parent, "dsn": f"chdb://{chdb_dir}", "database": db_name, "flush_interval_s": 0.2},
        scraper={"interval_s": 0.5, "timeout_s": 0.4, "allow_loopback": True},
        scoring={"interval_s": 0.5, "settle_s": 0.5, "as_of_margin_s": 0.2},
        api={"host": "127.0.0.1", "port": 0},
    )


@pytest.fixture
def fast_sla() -> Any:
    """The released v0.1 SLA config with 1 s window steps, so a few seconds of data are already scored."""
    from importlib import resources

    from scoring.sla_config import parse_config

    text = resources.files("scoring.configs").joinpath("sla-v0.1.yaml").read_text()
    return parse_config(text.replace("step_s: 10", "step_s: 1"), "test")


def fast_v1_config(base_window_s: int = 1, period_s: int = 10, min_coverage: float = 0.5) -> Any:
    """The packaged v1 config with short windows (1 s base windows, one 10 s period named "10s"), for tests that
    publish v1 scores from a few seconds of live data. Not a released version: replay it with configs={...}."""
    from importlib import resources

    import yaml

    from scoring.sla_config import parse_config

    data = yaml.safe_load(resources.files("scoring.configs").joinpath("sla-v1.yaml").read_text())
    data["version"] = "v1-test"
    data["base_window_s"] = base_window_s
    data["periods"] = {"10s": {"seconds": period_s, "step_s": base_window_s, "min_coverage": min_coverage}}
    return parse_config(yaml.safe_dump(data), "test")


@pytest.fixture
def fast_v1() -> Any:
    return fast_v1_config()
