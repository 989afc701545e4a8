"""The site directory: one load per key at a time, the stale entry served while it reloads."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, contextmanager
from typing import Any

import pytest
from sqlalchemy import event, update
from sqlalchemy.ext.asyncio import AsyncEngine

from callpool.db.engine import connection, create_engine
from callpool.db.tables import Site
from callpool.errors import NotFound
from callpool.tracking.directory import SiteDirectory
from tests.seed import OWN_NUMBER, make_catalog

OTHER_NUMBER = "+74957770000"


@pytest.fixture
async def small_engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine with a pool small enough for a test to hold every connection."""
    engine = create_engine(database_url, pool_size=1)
    yield engine
    await engine.dispose()


@contextmanager
def site_loads(engine: AsyncEngine) -> Iterator[list[str]]:
    """The statements that read ``sites`` (one per directory load), as they run."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "FROM sites" in statement:
            seen.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)


async def hold_every_connection(engine: AsyncEngine, stack: AsyncExitStack) -> None:
    """Check out the whole pool: its one connection."""
    await stack.enter_async_context(engine.connect())


async def test_concurrent_first_requests_share_one_load(small_engine: AsyncEngine) -> None:
    catalog = await make_catalog(small_engine)
    directory = SiteDirectory(small_engine)
    with site_loads(small_engine) as loads:
        sites = await asyncio.gather(*(directory.get(catalog.key) for _ in range(20)))
    assert len(loads) == 1
    assert {site.own_numbers for site in sites} == {(OWN_NUMBER,)}
    assert all(site is sites[0] for site in sites)


async def test_unknown_key_is_loaded_once_and_not_found_for_everyone(
    small_engine: AsyncEngine,
) -> None:
    directory = SiteDirectory(small_engine)
    with site_loads(small_engine) as loads:
        results = await asyncio.gather(
            *(directory.get("no-such-key") for _ in range(5)), return_exceptions=True
        )
        with pytest.raises(NotFound):
            await directory.get("no-such-key")
    assert len(loads) == 1
    assert all(isinstance(result, NotFound) for result in results)


async def test_stale_entry_is_served_while_one_reload_runs(small_engine: AsyncEngine) -> None:
    catalog = await make_catalog(small_engine)
    directory = SiteDirectory(small_engine, ttl=0.2)
    assert (await directory.get(catalog.key)).own_numbers == (OWN_NUMBER,)
    async with connection(small_engine) as conn:
        await conn.execute(update(Site).values(own_numbers=[OTHER_NUMBER]))
    await asyncio.sleep(0.25)
    with site_loads(small_engine) as loads:
        async with AsyncExitStack() as stack:
            # With the pool busy a reload cannot finish; requests must not wait for it.
            await hold_every_connection(small_engine, stack)
            for _ in range(10):
                site = await asyncio.wait_for(directory.get(catalog.key), timeout=1)
                assert site.own_numbers == (OWN_NUMBER,)
                await asyncio.sleep(0.01)
        # The pool is free again: the one reload that was waiting finishes.
        for _ in range(100):
            if (await directory.get(catalog.key)).own_numbers == (OTHER_NUMBER,):
                break
            await asyncio.sleep(0.01)
    assert (await directory.get(catalog.key)).own_numbers == (OTHER_NUMBER,)
    assert len(loads) == 1


async def test_static_channel_numbers_are_loaded(engine: AsyncEngine) -> None:
    catalog = await make_catalog(engine, pool_size=5)
    site = await SiteDirectory(engine).get(catalog.key)
    assert list(site.static_numbers.values()) == [catalog.static_number]
