"""Engine construction and the one transaction context the stores use.

SQLite gets one connection (WAL, synchronous=NORMAL, foreign keys on): one writer is
what SQLite serialises correctly, and a pool of several connections only queues on the
database lock with long tails. PostgreSQL gets a pool of up to ``pool_size`` connections,
opened on demand and then kept: no overflow connections that are closed on return and
opened again (with a fresh prepared statement cache) a moment later under load.

Neither pool spends a round trip per checkout on housekeeping. The SQLite pool does not
roll back a connection it gets back (each a trip to aiosqlite's thread): every use goes
through SQLAlchemy's ``Connection``, which ends its own transaction (commit, or rollback
on close). The PostgreSQL pool does not ping before each use (asyncpg's ping is three
round trips); a connection the server has dropped fails its next statement instead, that
error says the connection was invalidated, so it maps to ``StoreUnavailable`` (503), and
SQLAlchemy then replaces every connection that was open before the drop: one failed
request per database restart, not one per pooled connection. Connections are also
recycled hourly, so none lives long enough to be cut by an idle timeout on the way.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, create_async_engine

from callpool.errors import Conflict, StoreUnavailable

log = logging.getLogger("callpool.db")


# Every statement callpool sends is prepared (asyncpg) and run again and again with new
# values. In "auto" mode PostgreSQL plans a statement afresh at each run while it guesses a
# generic plan would cost more, and for the visit's statement (four writes in CTEs) that
# planning cost more than the execution: 1.3 ms of server CPU a visit against 0.65 ms with
# the generic plan. A query that needs plans for its values (a report over a skewed range)
# can still ask for them: SET LOCAL plan_cache_mode = force_custom_plan.
PG_SESSION_SETTINGS = {"plan_cache_mode": "force_generic_plan"}


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def create_engine(url: str, *, pool_size: int = 20) -> AsyncEngine:
    if is_sqlite(url):
        _open_sqlite_once(url)
        engine = create_async_engine(
            url, pool_size=1, max_overflow=0, pool_timeout=30, pool_reset_on_return=None
        )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=0,
        pool_recycle=3600,
        pool_timeout=10,
        connect_args={"timeout": 5, "server_settings": PG_SESSION_SETTINGS},
    )


def _open_sqlite_once(url: str) -> None:
    """Create the database's directory, and open the file once, synchronously.

    aiosqlite opens in a worker thread; when that open fails it reports back to an event
    loop that ``asyncio.run`` may already have closed, and the thread dies with a
    traceback of its own after the real error (omnilib/aiosqlite#259). Opened here first,
    a path that cannot be a database fails plainly, before any thread starts.
    """
    parsed = make_url(url)
    database = parsed.database
    if not database or database == ":memory:":
        return
    uri = str(parsed.query.get("uri", "")).lower() in ("true", "1")
    if not uri:
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    sqlite3.connect(database, uri=uri).close()


async def check_writable(engine: AsyncEngine) -> None:
    """Fail now, not at the first visit, when the database refuses writes (a read-only
    SQLite file): a delete of nothing still takes the write lock. Nothing changes."""
    async with engine.connect() as conn:
        await conn.exec_driver_sql("DELETE FROM alembic_version WHERE 1 = 0")
        await conn.rollback()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def _is_unreachable(exc: BaseException) -> bool:
    if isinstance(exc, InterfaceError | OperationalError) and isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        # SQLite's OperationalError also means "locked" or a bad statement: only "unable to
        # open" is the database being gone.
        if isinstance(exc.orig, sqlite3.OperationalError):
            return "unable to open" in str(exc.orig)
        return True
    return isinstance(exc, OSError | ConnectionError)


@asynccontextmanager
async def store_errors() -> AsyncIterator[None]:
    """Map "the database cannot be reached" to ``StoreUnavailable`` (503); others pass."""
    try:
        yield
    except Exception as exc:
        if _is_unreachable(exc):
            log.warning("database unreachable: %s", type(exc).__name__)
            raise StoreUnavailable("the database cannot be reached") from exc
        raise


@asynccontextmanager
async def transaction(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    """One unit of work: commits on success, rolls back on error, maps 'database down'."""
    async with (
        store_errors(),
        AsyncSession(engine, expire_on_commit=False) as session,
        session.begin(),
    ):
        yield session


@asynccontextmanager
async def connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A Core connection in a transaction, for hot paths that don't need the ORM."""
    async with store_errors(), engine.begin() as conn:
        yield conn


async def flush_or_conflict(session: AsyncSession, conflict_message: str) -> None:
    """Flush; a unique-constraint violation becomes ``Conflict(conflict_message)``."""
    try:
        await session.flush()
    except IntegrityError:
        raise Conflict(conflict_message) from None
