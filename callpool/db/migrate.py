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
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

# Shipped inside the package, so an installed wheel can upgrade its database.
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    await _migrate(engine, lambda sync: command.upgrade(alembic_config(sync), revision))


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    await _migrate(engine, lambda sync: command.downgrade(alembic_config(sync), revision))


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


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        return await conn.run_sync(
            lambda sync: MigrationContext.configure(sync).get_current_revision()
        )


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


async def is_up_to_date(engine: AsyncEngine) -> bool:
    return await current_revision(engine) == head_revision()
