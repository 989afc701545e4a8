"""`callpool db upgrade|downgrade|current`: alembic driven from code.

Migrations run on a sync connection borrowed from the async engine (``run_sync``), so
the same code path serves the CLI, `serve` on start and the tests.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.script.revision import ResolutionError
from alembic.util.exc import CommandError
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from callpool.errors import ConfigError, DatabaseUnusable, ValidationError

# Shipped inside the package, so an installed wheel can upgrade its database.
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(connection: Connection | None = None) -> Config:
    if not (MIGRATIONS_DIR / "env.py").is_file() or not any(
        (MIGRATIONS_DIR / "versions").glob("*.py")
    ):
        raise ConfigError(
            f"the database migrations are missing from this installation (looked in "
            f"{MIGRATIONS_DIR}): reinstall callpool, e.g. pip install --force-reinstall callpool"
        )
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    await _migrate(engine, lambda sync: _step(command.upgrade, sync, revision))


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    await _migrate(engine, lambda sync: _step(command.downgrade, sync, revision))


async def _migrate(engine: AsyncEngine, run: Callable[[Connection], None]) -> None:
    """Run ``run`` in one transaction; on SQLite with foreign keys off meanwhile.

    SQLite's batch mode rebuilds a table to drop or alter a column (copy, drop the old
    table, rename). With foreign keys on, dropping the old ``campaigns`` table would
    cascade to every row that references it: numbers, leases, calls. The pragma only
    takes effect outside a transaction, so it is set before and restored after.
    """
    async with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            await conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            await conn.commit()
        try:
            async with conn.begin():
                await conn.run_sync(run)
                if sqlite:
                    broken = (await conn.exec_driver_sql("PRAGMA foreign_key_check")).first()
                    if broken is not None:
                        raise RuntimeError(f"migration left a dangling reference: {tuple(broken)}")
        finally:
            if sqlite:
                await conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                await conn.commit()


def _step(step: Callable[[Config, str], None], sync: Connection, revision: str) -> None:
    """Run an alembic step, first checking both ends are revisions this version knows."""
    config = alembic_config(sync)
    scripts = ScriptDirectory.from_config(config)
    current = MigrationContext.configure(sync).get_current_revision()
    if current is not None and not _is_known(scripts, current):
        raise DatabaseUnusable(
            f"the database is at schema revision {current!r}, which this version of callpool "
            f"does not know (its newest is {scripts.get_current_head()}): a newer callpool "
            "upgraded it; run that version, or restore a backup"
        )
    # A plain id must exist; relative ("-1") and branch ("head@x") forms are alembic's to read.
    if revision.isalnum() and revision not in ("head", "base") and not _is_known(scripts, revision):
        raise ValidationError(
            f"no schema revision {revision!r}: give head, base or one of "
            f"{', '.join(sorted(r.revision for r in scripts.walk_revisions()))}"
        )
    step(config, revision)


def _is_known(scripts: ScriptDirectory, revision: str) -> bool:
    try:
        return scripts.get_revision(revision) is not None
    except (CommandError, ResolutionError):
        return False


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        return await conn.run_sync(
            lambda sync: MigrationContext.configure(sync).get_current_revision()
        )


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


async def is_up_to_date(engine: AsyncEngine) -> bool:
    return await current_revision(engine) == head_revision()
