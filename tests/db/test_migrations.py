"""Migrations build the model on both databases, and come down and up again cleanly."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from callpool.db import migrate
from callpool.db.engine import create_engine
from callpool.db.tables import Base
from tests import pg
from tests.seed import make_catalog


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
        return
    base: str = request.getfixturevalue("pg_base_url")
    url = pg.create_database(base, prefix="cpmigr")
    yield url
    pg.drop_database(base, url)


def _diff(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names()) - {"alembic_version"}


async def test_upgrade_downgrade_upgrade_matches_the_model(empty_database_url: str) -> None:
    engine = create_engine(empty_database_url)
    try:
        await migrate.upgrade(engine)
        assert await migrate.current_revision(engine) == migrate.head_revision()
        await migrate.downgrade(engine, "base")
        async with engine.connect() as conn:
            assert await conn.run_sync(_tables) == set()
        await migrate.upgrade(engine)
        async with engine.connect() as conn:
            assert await conn.run_sync(_tables) == set(Base.metadata.tables)
            assert await conn.run_sync(_diff) == []
    finally:
        await engine.dispose()


def test_migrations_run_from_plain_sync_code(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'sync.db'}"

    async def run() -> bool:
        engine = create_engine(url)
        try:
            await migrate.upgrade(engine)
            return await migrate.is_up_to_date(engine)
        finally:
            await engine.dispose()

    assert asyncio.run(run())


async def test_stepping_down_and_up_through_every_migration_keeps_the_rows(
    engine: AsyncEngine,
) -> None:
    """SQLite rebuilds a table to drop a column; that must not cascade to its children."""
    await make_catalog(engine, pool_size=3)
    counts = {}
    async with engine.connect() as conn:
        for table in ("sites", "campaigns", "channels", "tracking_numbers"):
            counts[table] = await conn.scalar(text(f"SELECT count(*) FROM {table}"))
    assert all(counts.values())
    await migrate.downgrade(engine, "0006")
    await migrate.upgrade(engine)
    async with engine.connect() as conn:
        for table, before in counts.items():
            assert await conn.scalar(text(f"SELECT count(*) FROM {table}")) == before, table
