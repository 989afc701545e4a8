"""Shared fixtures. Every database test runs on SQLite and on PostgreSQL.

PostgreSQL comes from CALLPOOL_TEST_PG_URL. Without it the PostgreSQL cases skip on a
developer machine; under CI (CI=true) a missing or unreachable PostgreSQL fails the run.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine

from callpool.db import migrate
from callpool.db.engine import create_engine
from callpool.db.tables import Base
from tests import pg

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# Apps built in tests run without the scheduler unless a test asks for it: a job firing
# at a random moment would change what a test sees. Tests call the jobs directly.
os.environ.setdefault("CALLPOOL_SCHEDULER_ENABLED", "false")


def pytest_sessionstart(session: pytest.Session) -> None:
    if not IN_CI:
        return
    url = pg.base_url()
    if url is None:
        raise pytest.UsageError(f"CI=true but {pg.PG_URL_VAR} is not set")
    try:
        pg.check_reachable(url)
    except Exception as exc:
        message = f"CI=true but PostgreSQL at {pg.PG_URL_VAR} is unreachable: {exc}"
        raise pytest.UsageError(message) from None


# A test marked pure must not reach for these (`make test-fast` runs the pure tests alone).
IO_FIXTURES = frozenset(
    {"engine", "database_url", "pg_base_url", "pg_migrated_url", "aiohttp_client", "aiohttp_server"}
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        used = IO_FIXTURES.intersection(getattr(item, "fixturenames", ()))
        if item.get_closest_marker("pure") and used:
            raise pytest.UsageError(f"{item.nodeid} is marked pure but uses {sorted(used)}")


async def _migrate(url: str) -> None:
    engine = create_engine(url)
    try:
        await migrate.upgrade(engine)
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def pg_base_url() -> str:
    url = pg.base_url()
    if url is None:
        pytest.skip(f"PostgreSQL tests need {pg.PG_URL_VAR}")
    return url


@pytest.fixture(scope="session")
def pg_migrated_url(pg_base_url: str) -> Iterator[str]:
    """One migrated database for the run; tests empty its tables before use."""
    url = pg.create_database(pg_base_url)
    asyncio.run(_migrate(url))
    yield url
    pg.drop_database(pg_base_url, url)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database on each backend."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'callpool.db'}"
        asyncio.run(_migrate(url))
        return url
    url: str = request.getfixturevalue("pg_migrated_url")
    asyncio.run(empty_tables(url))
    return url


async def empty_tables(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            for table in reversed(Base.metadata.sorted_tables):
                await conn.execute(delete(table))
    finally:
        await engine.dispose()


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()
