"""Ordered, numbered, frozen schema migrations.

Each migration is a file ``NNNN_name.sql`` in this folder. They are applied in order, once each, and
recorded (version, name, checksum) in ``schema_migrations``. A migration that has been applied is never
edited: a changed checksum stops start-up with a clear error. New schema means a new file.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from importlib import resources

from exporter.common.clock import now_ms
from warehouse.client import Warehouse, WarehouseError
from warehouse.config import WarehouseSettings
from warehouse.dsn import embedded_path, is_embedded, redact_dsn

log = logging.getLogger(__name__)

LEDGER_TABLE = "schema_migrations"
_FILE_RE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

LEDGER_DDL = f"""CREATE TABLE IF NOT EXISTS {LEDGER_TABLE}
(
    version    UInt32,
    name       String,
    checksum   String,
    applied_at DateTime64(3, 'UTC')
)
ENGINE = MergeTree
ORDER BY version"""


class MigrationError(RuntimeError):
    pass


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()

    @property
    def statements(self) -> list[str]:
        parts = re.split(r";\s*(?:\n|$)", self.sql)
        out = []
        for p in parts:
            body = "\n".join(line for line in p.splitlines() if not line.strip().startswith("--")).strip()
            if body:
                out.append(body)
        return out


def load_migrations() -> list[Migration]:
    """Read the migration files; numbering must be contiguous from 1 and unique."""
    found: list[Migration] = []
    for entry in resources.files(__name__).iterdir():
        m = _FILE_RE.match(entry.name)
        if m:
            found.append(Migration(int(m.group(1)), m.group(2), entry.read_text(encoding="utf-8")))
    found.sort(key=lambda mig: mig.version)
    for expected, mig in enumerate(found, start=1):
        if mig.version != expected:
            raise MigrationError(f"migrations must be numbered 1..N without gaps; found {mig.version:04d} at {expected}")
    return found


def _ensure_ledger(wh: Warehouse) -> None:
    wh.command(LEDGER_DDL)


def applied_versions(wh: Warehouse) -> dict[int, tuple[str, str]]:
    """What the ledger says was applied; an absent ledger (fresh warehouse) means nothing yet."""
    if not wh.scalar(f"EXISTS TABLE {LEDGER_TABLE}"):
        return {}
    rows = wh.query(f"SELECT version, name, checksum FROM {LEDGER_TABLE} ORDER BY version").rows
    return {int(v): (n, c) for v, n, c in rows}


def pending_migrations(wh: Warehouse) -> list[Migration]:
    done = applied_versions(wh)
    pending = []
    for mig in load_migrations():
        if mig.version in done:
            name, checksum = done[mig.version]
            if checksum != mig.checksum:
                raise MigrationError(
                    f"migration {mig.version:04d}_{mig.name} was edited after it was applied "
                    f"(recorded checksum {checksum[:12]}, file {mig.checksum[:12]}); add a new migration instead"
                )
        else:
            pending.append(mig)
    return pending


def apply_migrations(wh: Warehouse) -> list[Migration]:
    """Apply every pending migration in order; return those applied now (empty when up to date)."""
    applied_now = []
    _ensure_ledger(wh)
    for mig in pending_migrations(wh):
        log.info("applying migration %04d_%s", mig.version, mig.name)
        for stmt in mig.statements:
            try:
                wh.command(stmt)
            except WarehouseError as e:
                raise MigrationError(f"migration {mig.version:04d}_{mig.name} failed: {e}") from e
        # Recorded only after every statement succeeded; statements are IF NOT EXISTS so a re-run is safe.
        wh.insert_rows(
            LEDGER_TABLE,
            ["version", "name", "checksum", "applied_at"],
            [(mig.version, mig.name, mig.checksum, now_ms())],
        )
        applied_now.append(mig)
    return applied_now


def render_sql(migrations: list[Migration]) -> str:
    chunks = []
    for mig in migrations:
        chunks.append(f"-- migration {mig.version:04d}_{mig.name} (sha256 {mig.checksum[:12]})")
        chunks.extend(stmt + ";" for stmt in mig.statements)
        chunks.append("")
    return "\n".join(chunks)


# Retention: table -> (its time column, the WarehouseSettings field giving its days; 0 keeps rows forever).
RETENTION = {
    "samples": ("ts", "sample_ttl_days"),
    "scrapes": ("scheduled_ts", "scrape_ttl_days"),
    "scraper_void": ("start_ts", "void_ttl_days"),
    "discovery_snapshots": ("ts", "snapshot_ttl_days"),
    "sla_scores": ("window_end", "score_ttl_days"),
    "score_inputs_v1": ("window_start", "score_ttl_days"),  # what replay recomputes scores from: kept with them
    # The catalog's rollups (0008): kept longer than the raw log they summarise (docs/metrics.md, "Rollups").
    "rollup_1m_v1": ("bucket", "rollup_1m_ttl_days"),
    "rollup_5m_v1": ("bucket", "rollup_5m_ttl_days"),
    "rollup_1h_v1": ("bucket", "rollup_1h_ttl_days"),
    # The prober's results (0009): signed runs kept like scrapes, their per-second samples like raw samples.
    "probe_runs": ("started_at", "probe_ttl_days"),
    "probe_samples": ("started_at", "probe_sample_ttl_days"),
}
_TTL_RE = re.compile(r"TTL toDateTime\((\w+)\) \+ toIntervalDay\((\d+)\)")


def apply_retention(wh: Warehouse, settings: WarehouseSettings) -> None:
    """Make every table's TTL match the settings. Not a migration: it is operator configuration, and a table is
    only altered when its TTL differs (MODIFY TTL rewrites parts)."""
    for table, (column, field) in RETENTION.items():
        days = int(getattr(settings, field))
        ddl = wh.scalar(
            "SELECT create_table_query FROM system.tables WHERE database = {db:String} AND name = {t:String}",
            {"db": wh.database, "t": table},
        )
        if ddl is None:
            continue
        m = _TTL_RE.search(ddl)
        current = int(m.group(2)) if m else 0
        if current == days:
            continue
        if days == 0:
            wh.command(f"ALTER TABLE {table} REMOVE TTL")
        else:
            wh.command(f"ALTER TABLE {table} MODIFY TTL toDateTime({column}) + toIntervalDay({days})")
        log.info("%s retention set to %s", table, f"{days} days" if days else "unlimited")


def render_retention(settings: WarehouseSettings) -> str:
    """The retention a real run sets after the migrations (what apply_retention makes every table's TTL), as SQL
    comments for a dry run."""
    lines = ["-- retention (applied after the migrations, where a table's TTL differs):"]
    for table, (column, field) in RETENTION.items():
        days = int(getattr(settings, field))
        lines.append(f"--   {table}: {f'{days} days' if days else 'kept forever'} (warehouse.{field}, by {column})")
    return "\n".join(lines) + "\n"


def open_warehouse(settings: WarehouseSettings, migrate: bool = True, holder: str | None = None,
                   create: bool = True) -> Warehouse:  # fmt: skip
    """Open the configured warehouse and (by default) bring its schema up to date and its retention in line.

    `holder` names the command (see Warehouse). `create=False` is for read-only commands: an embedded warehouse
    that does not exist yet (a mistyped --data-dir) is an error, never silently created empty."""
    dsn = settings.resolved_dsn()
    if is_embedded(dsn):
        path = embedded_path(dsn)
        if not create and not path.is_dir():
            raise WarehouseError(f"no warehouse at {path}: check --data-dir / --warehouse (nothing was created)")
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    wh = Warehouse(dsn, settings.database, holder=holder, connect_timeout_s=settings.connect_timeout_s,
                   read_timeout_s=settings.read_timeout_s)
    if not create and not wh.scalar(f"EXISTS TABLE {LEDGER_TABLE}"):
        wh.close()
        raise WarehouseError(f"no naap schema in database {settings.database!r} of {redact_dsn(dsn)}: nothing to read there")
    if migrate:
        apply_migrations(wh)
        apply_retention(wh, settings)
    return wh
