"""A new visitor's first visit to a pool campaign: visitor, session, a free number and
its lease, written on the driver's connection.

This is the visit every new session makes, so it is the allocator's hot path. Both forms
return the number taken, ``(id, e164)``, or None when the pick found nothing free (the
visitor and session are written all the same; the caller then goes the long way: release
expired leases, pick again, or count the exhaustion).

- PostgreSQL: ``visit_sql.FIRST_VISIT``, one statement a visit, sent with asyncpg
  directly (SQLAlchemy's execution path cost more CPU than the statement).
- SQLite: the visit's four statements in aiosqlite's thread, in one hop.

Both group commits: the visits that queue while a batch is being written go together in
the next one, in one transaction (one round trip too on PostgreSQL). One commit and one
WAL write a batch instead of a visit is most of the gain: a lone visit's commit was 80 %
of its time on SQLite. If a batch fails, each of its visits is written alone, so only a
failing visit fails. Under light load a batch is one visit and nothing waits; a visit is
answered only once its batch is committed.
"""

from __future__ import annotations

import asyncio
import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any, Protocol, TypeVar

import asyncpg
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from callpool.db.driver_sql import (
    as_dbapi_error,
    compile_for,
    converted,
    run_in_sqlite_thread,
)
from callpool.db.engine import store_errors
from callpool.tracking.visit_sql import (
    FIRST_VISIT,
    LEASE_ROW,
    SESSION_ROW,
    TAKE_FREE_NUMBER,
    VISITOR_ROW,
)

Taken = tuple[int, str]
Outcome = Taken | Exception | None
# A SQLite visit's four argument tuples: visitor, session, pick, lease.
VisitArgs = tuple[tuple[Any, ...], ...]
T = TypeVar("T")
MAX_BATCH = 64


class FirstVisits(Protocol):
    # Batches written and the visits in them, for tests and benchmarks.
    @property
    def batches(self) -> int: ...

    @property
    def written(self) -> int: ...

    async def write(self, values: Mapping[str, Any]) -> Taken | None:
        """Write the visit named by ``visit_sql.first_visit_params`` values."""

    async def close(self) -> None: ...


def first_visits_for(engine: AsyncEngine) -> FirstVisits:
    if engine.dialect.name == "postgresql":
        return PgFirstVisits(engine)
    return SqliteFirstVisits(engine)


class _GroupCommit(ABC):
    """Visits queue; flusher tasks (at most ``max_flushers`` at a time) take what is
    queued, up to ``max_batch``, and hand it to ``_write_batch``, one outcome a visit.
    Subclasses say how a visit's values become arguments and how a batch is written.

    A flusher is its own task: a request that goes away does not take the batch (and the
    other requests in it) down with it. Its visit is written all the same, and its lease
    simply runs out.
    """

    def __init__(self, max_batch: int, max_flushers: int) -> None:
        self._max_batch = max_batch
        self._max_flushers = max_flushers
        self._queue: list[tuple[Any, asyncio.Future[Taken | None]]] = []
        self._flushers: set[asyncio.Task[None]] = set()
        # Flushers still looking at the queue. Counted down as one stops looking, not when
        # its task is done: a visit queued in between must start a new one.
        self._running = 0
        self._closed = False
        self.batches = 0
        self.written = 0

    @abstractmethod
    def _args(self, values: Mapping[str, Any]) -> Any: ...

    @abstractmethod
    async def _write_batch(self, batch: list[Any]) -> list[Outcome]: ...

    async def write(self, values: Mapping[str, Any]) -> Taken | None:
        """Write the visit named by ``visit_sql.first_visit_params`` values."""
        if self._closed:
            raise RuntimeError("the visit writer is closed")
        future: asyncio.Future[Taken | None] = asyncio.get_running_loop().create_future()
        self._queue.append((self._args(values), future))
        if self._running < self._max_flushers:
            self._running += 1
            task = asyncio.create_task(self._flush())
            self._flushers.add(task)
            task.add_done_callback(self._flushers.discard)
        return await future

    async def close(self) -> None:
        self._closed = True
        while self._flushers:
            await asyncio.gather(*self._flushers)

    async def _flush(self) -> None:
        try:
            while self._queue:
                batch = self._queue[: self._max_batch]
                del self._queue[: self._max_batch]
                await self._write(batch)
        finally:
            self._running -= 1

    async def _write(self, batch: list[tuple[Any, asyncio.Future[Taken | None]]]) -> None:
        try:
            outcomes = await self._write_batch([args for args, _ in batch])
        except Exception as exc:  # the whole batch failed: each visit gets the error
            outcomes = [exc] * len(batch)
        self.batches += 1
        self.written += len(batch)
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            if future.done():  # its request was cancelled
                continue
            if isinstance(outcome, Exception):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)


class PgFirstVisits(_GroupCommit):
    """``FIRST_VISIT`` for each visit of a batch, pipelined in one round trip and one
    transaction (asyncpg's ``fetchmany``): one commit, one WAL flush a batch. A few
    batches run at once, on as many pooled connections."""

    def __init__(
        self, engine: AsyncEngine, max_batch: int = MAX_BATCH, max_flushers: int = 4
    ) -> None:
        super().__init__(max_batch, max_flushers)
        self._engine = engine
        self._statement = compile_for(FIRST_VISIT, engine.dialect)

    def _args(self, values: Mapping[str, Any]) -> tuple[Any, ...]:
        return self._statement.args(values)

    async def _write_batch(self, batch: list[tuple[Any, ...]]) -> list[Outcome]:
        sql = self._statement.sql
        async with store_errors(), self._engine.connect() as conn:
            raw = (await conn.get_raw_connection()).driver_connection
            assert raw is not None
            try:
                try:
                    rows = await raw.fetchmany(sql, batch)
                except asyncpg.IntegrityConstraintViolationError:
                    if len(batch) == 1:
                        raise
                    # The batch rolled back as a whole: write each alone, so that only
                    # the failing visit fails.
                    return [await self._write_alone(raw, args) for args in batch]
            except asyncpg.IntegrityConstraintViolationError as exc:
                raise IntegrityError(sql, None, exc) from exc
            except Exception:
                # Let SQLAlchemy look at the connection: if it is dead, this raises its
                # "connection invalidated" error and the pool drops every connection
                # opened before, as for any other statement.
                await conn.exec_driver_sql("SELECT 1")
                raise
        return [_taken(row) for row in rows]

    async def _write_alone(self, raw: Any, args: tuple[Any, ...]) -> Outcome:
        sql = self._statement.sql
        try:
            return _taken(await raw.fetchrow(sql, *args))
        except asyncpg.IntegrityConstraintViolationError as exc:
            return IntegrityError(sql, None, exc)


def _taken(row: Any) -> Taken | None:
    return None if row is None or row[0] is None else (row[0], row[1])


class _SqliteStatements:
    def __init__(self, engine: AsyncEngine) -> None:
        dialect = engine.dialect
        self.visitor = compile_for(VISITOR_ROW, dialect)
        self.session = compile_for(SESSION_ROW, dialect)
        self.take = compile_for(TAKE_FREE_NUMBER, dialect)
        self.lease = compile_for(LEASE_ROW, dialect)
        self.lease_number = self.lease.position("lease_number_id")
        self._all = (self.visitor, self.session, self.take, self.lease)
        self._defaults: dict[str, Any] = {"lease_number_id": 0}
        self._converters: dict[str, Callable[[Any], Any]] = {}
        for statement in self._all:
            self._defaults.update(statement.defaults)
            self._converters.update(statement.converters)

    def args(self, values: Mapping[str, Any]) -> VisitArgs:
        ready = converted({**self._defaults, **values}, self._converters)
        return tuple(statement.pick(ready) for statement in self._all)


class SqliteFirstVisits(_GroupCommit):
    """The batch in one transaction in aiosqlite's thread, one batch at a time: SQLite
    has one writer."""

    def __init__(self, engine: AsyncEngine, max_batch: int = MAX_BATCH) -> None:
        super().__init__(max_batch, max_flushers=1)
        self._engine = engine
        self._statements = _SqliteStatements(engine)

    def _args(self, values: Mapping[str, Any]) -> VisitArgs:
        return self._statements.args(values)

    async def _write_batch(self, batch: list[VisitArgs]) -> list[Outcome]:
        statements = self._statements
        async with store_errors(), self._engine.connect() as conn:
            try:
                outcomes = await run_in_sqlite_thread(
                    conn, lambda db: _write_visits(db, statements, batch)
                )
            except sqlite3.Error as exc:
                raise as_dbapi_error(exc, "BEGIN IMMEDIATE ... COMMIT", sqlite3.Error) from exc
        return [
            as_dbapi_error(o, statements.take.sql, sqlite3.Error) if isinstance(o, Exception) else o
            for o in outcomes
        ]


def _write_visits(
    db: sqlite3.Connection, statements: _SqliteStatements, batch: list[VisitArgs]
) -> list[Outcome]:
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
    outcomes: list[Outcome] = []
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
    db: sqlite3.Connection, statements: _SqliteStatements, batch: list[VisitArgs]
) -> list[Outcome]:
    db.executemany(statements.visitor.sql, [args[0] for args in batch])
    db.executemany(statements.session.sql, [args[1] for args in batch])
    outcomes: list[Outcome] = []
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
