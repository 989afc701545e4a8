"""The engine's pools: no per-checkout round trips, and still sane when connections die."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from callpool.db.engine import connection, create_engine
from callpool.errors import StoreUnavailable


async def test_sqlite_connection_given_back_mid_transaction_is_rolled_back(
    tmp_path: Path,
) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'e.db'}")
    try:
        async with connection(engine) as conn:
            await conn.execute(text("CREATE TABLE t (x INTEGER)"))
        async with engine.connect() as conn:  # closed without commit
            await conn.execute(text("INSERT INTO t VALUES (1)"))
        async with connection(engine) as conn:
            assert await conn.scalar(text("SELECT count(*) FROM t")) == 0
            await conn.execute(text("INSERT INTO t VALUES (2)"))
        async with connection(engine) as conn:
            assert await conn.scalar(text("SELECT count(*) FROM t")) == 1
    finally:
        await engine.dispose()


async def test_postgresql_connections_killed_by_the_server_are_one_503_then_replaced(
    pg_migrated_url: str,
) -> None:
    engine = create_engine(pg_migrated_url, pool_size=3)

    async def backend_pid() -> int:
        async with connection(engine) as conn:
            pid = await conn.scalar(text("SELECT pg_backend_pid()"))
            await asyncio.sleep(0.05)  # keep it checked out while the others start
            return int(pid)

    try:
        pids = set(await asyncio.gather(*(backend_pid() for _ in range(3))))
        assert len(pids) == 3
        dsn = make_url(pg_migrated_url).set(drivername="postgresql")
        admin = await asyncpg.connect(dsn.render_as_string(hide_password=False))
        try:
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) pid", list(pids)
            )
        finally:
            await admin.close()
        await asyncio.sleep(0.2)
        with pytest.raises(StoreUnavailable):
            async with connection(engine) as conn:
                await conn.execute(text("SELECT 1"))
        # The failure invalidated the pool: the other dead connections are not handed out.
        new_pids = set(await asyncio.gather(*(backend_pid() for _ in range(3))))
        assert not new_pids & pids
    finally:
        await engine.dispose()
