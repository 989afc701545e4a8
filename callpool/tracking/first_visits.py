"""A new visitor's first visit to a pool campaign: visitor, session, a free number and
its lease, written on the driver's connection.

This is the visit every new session makes, so it is the allocator's hot path. Both forms
return the number taken, ``(id, e164)``, or None when the pick found nothing free (the
visitor and session are written all the same; the caller then goes the long way: release
expired leases, pick again, or count the exhaustion).

- PostgreSQL: ``visit_sql.FIRST_VISIT``, one statement and its own transaction, sent with
  asyncpg directly (SQLAlchemy's execution path cost more CPU than the statement).
- SQLite: group commit. Visits queue; a flusher takes everything queued and writes it in
  one transaction in aiosqlite's thread; if the batch fails, each of its visits is
  written alone, so a failing visit fails alone. One commit (and one WAL append) per
  batch instead of per visit is what SQLite's throughput is made of: the commit was 80 %
  of a lone visit's time. Under light load a batch is one visit and nothing waits. A
  visit is answered only once its batch is committed, as before.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any, Protocol, TypeVar

import asyncpg
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from callpool.db.driver_sql import (
    as_dbapi_error,
    compile_for,
    converted,
    run_in_sqlite_thread,
)
from callpool.db.engine import store_errors
from callpool.db.tables import Lease, Session, Visitor
from callpool.tracking.visit_sql import (
    FIRST_VISIT,
    LEASE_COLUMNS,
    SESSION_COLUMNS,
    TAKE_FREE_NUMBER,
    VISITOR_COLUMNS,
    binds,
)

log = logging.getLogger("callpool.tracking")

Taken = tuple[int, str]
T = TypeVar("T")
MAX_BATCH = 64


class FirstVisits(Protocol):
    async def write(self, values: Mapping[str, Any]) -> Taken | None:
        """Write the visit named by ``visit_sql.first_visit_params`` values."""

    async def close(self) -> None: ...


def first_visits_for(engine: AsyncEngine) -> FirstVisits:
    if engine.dialect.name == "postgresql":
        return PgFirstVisits(engine)
    return SqliteFirstVisits(engine)


class PgFirstVisits:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._statement = compile_for(FIRST_VISIT, engine.dialect)

    async def write(self, values: Mapping[str, Any]) -> Taken | None:
        args = self._statement.args(values)
        async with store_errors(), self._engine.connect() as conn:
            raw = await conn.get_raw_connection()
            try:
                row = await raw.driver_connection.fetchrow(self._statement.sql, *args)  # type: ignore[union-attr]
            except asyncpg.IntegrityConstraintViolationError as exc:
                raise IntegrityError(self._statement.sql, None, exc) from exc
            except Exception:
                # Let SQLAlchemy look at the connection: if it is dead, this raises its
                # "connection invalidated" error and the pool drops every connection
                # opened before, as for any other statement.
                await conn.exec_driver_sql("SELECT 1")
                raise
        return None if row is None else (row[0], row[1])

    async def close(self) -> None:
        return None


class _SqliteStatements:
    def __init__(self, engine: AsyncEngine) -> None:
        dialect = engine.dialect
        self.visitor = compile_for(
            insert(Visitor).values(binds("visitor", Visitor.__table__, VISITOR_COLUMNS)), dialect
        )
        self.session = compile_for(
            insert(Session).values(binds("session", Session.__table__, SESSION_COLUMNS)), dialect
        )
        self.take = compile_for(TAKE_FREE_NUMBER, dialect)
        lease_columns = ("number_id", *LEASE_COLUMNS[1:])
        self.lease = compile_for(
            insert(Lease).values(binds("lease", Lease.__table__, lease_columns)), dialect
        )
        self.lease_number = self.lease.position("lease_number_id")
        self._all = (self.visitor, self.session, self.take, self.lease)
        self._defaults: dict[str, Any] = {"lease_number_id": 0}
        self._converters: dict[str, Callable[[Any], Any]] = {}
        for statement in self._all:
            self._defaults.update(statement.defaults)
            self._converters.update(statement.converters)

    def args(self, values: Mapping[str, Any]) -> tuple[tuple[Any, ...], ...]:
        ready = converted({**self._defaults, **values}, self._converters)
        return tuple(statement.pick(ready) for statement in self._all)


# A queued visit: its four argument tuples and the future its request awaits.
_Queued = tuple[tuple[tuple[Any, ...], ...], "asyncio.Future[Taken | None]"]


class SqliteFirstVisits:
    def __init__(self, engine: AsyncEngine, max_batch: int = MAX_BATCH) -> None:
        self._engine = engine
        self._statements = _SqliteStatements(engine)
        self._max_batch = max_batch
        self._queue: list[_Queued] = []
        self._flusher: asyncio.Task[None] | None = None
        self._closed = False
        self.batches = 0
        self.written = 0

    async def write(self, values: Mapping[str, Any]) -> Taken | None:
        if self._closed:
            raise RuntimeError("the visit writer is closed")
        future: asyncio.Future[Taken | None] = asyncio.get_running_loop().create_future()
        self._queue.append((self._statements.args(values), future))
        if self._flusher is None or self._flusher.done():
            # The flusher is its own task: a request that goes away does not take the
            # batch (and the other requests in it) down with it.
            self._flusher = asyncio.create_task(self._flush())
        return await future

    async def close(self) -> None:
        self._closed = True
        if self._flusher is not None:
            await self._flusher

    async def _flush(self) -> None:
        while self._queue:
            batch = self._queue[: self._max_batch]
            del self._queue[: self._max_batch]
            try:
                outcomes = await self._write_batch([args for args, _ in batch])
            except Exception as exc:  # the whole batch failed: each visit gets the error
                outcomes = [exc] * len(batch)
            for (_, future), outcome in zip(batch, outcomes, strict=True):
                if future.done():  # its request was cancelled
                    continue
                if isinstance(outcome, Exception):
                    future.set_exception(outcome)
                else:
                    future.set_result(outcome)

    async def _write_batch(
        self, batch: list[tuple[tuple[Any, ...], ...]]
    ) -> list[Taken | Exception | None]:
        statements = self._statements
        async with store_errors(), self._engine.connect() as conn:
            try:
                outcomes = await run_in_sqlite_thread(
                    conn, lambda db: _write_visits(db, statements, batch)
                )
            except sqlite3.Error as exc:
                raise as_dbapi_error(exc, "BEGIN IMMEDIATE ... COMMIT", sqlite3.Error) from exc
        self.batches += 1
        self.written += len(batch)
        return [
            as_dbapi_error(o, statements.take.sql, sqlite3.Error) if isinstance(o, Exception) else o
            for o in outcomes
        ]


def _write_visits(
    db: sqlite3.Connection, statements: _SqliteStatements, batch: list[tuple[tuple[Any, ...], ...]]
) -> list[Taken | Exception | None]:
    """In aiosqlite's thread: the batch in one transaction.

    Rows go in with ``executemany`` (its loop runs in C, and this thread shares the GIL
    with the event loop). If anything in the batch fails, the batch is rolled back and
    each visit is written alone, so only the failing one gets the error.
    """
    try:
        return _in_transaction(db, lambda: _write_all(db, statements, batch))
    except sqlite3.DatabaseError:
        if len(batch) == 1:
            raise
    outcomes: list[Taken | Exception | None] = []
    for args in batch:
        try:
            outcomes.extend(_in_transaction(db, partial(_write_all, db, statements, [args])))
        except sqlite3.DatabaseError as exc:
            outcomes.append(exc)
    return outcomes


def _in_transaction(db: sqlite3.Connection, work: Callable[[], T]) -> T:
    db.execute("BEGIN IMMEDIATE")
    try:
        result = work()
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    return result


def _write_all(
    db: sqlite3.Connection, statements: _SqliteStatements, batch: list[tuple[tuple[Any, ...], ...]]
) -> list[Taken | Exception | None]:
    db.executemany(statements.visitor.sql, [args[0] for args in batch])
    db.executemany(statements.session.sql, [args[1] for args in batch])
    outcomes: list[Taken | Exception | None] = []
    leases = []
    for args in batch:
        # fetchall: a RETURNING statement left unfinished would hold the transaction open.
        rows = db.execute(statements.take.sql, args[2]).fetchall()
        if not rows:
            outcomes.append(None)
            continue
        number_id, e164 = rows[0][0], rows[0][1]
        lease = list(args[3])
        lease[statements.lease_number] = number_id
        leases.append(lease)
        outcomes.append((number_id, e164))
    db.executemany(statements.lease.sql, leases)
    return outcomes
