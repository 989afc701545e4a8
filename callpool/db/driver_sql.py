"""Statements run on the driver's own connection, for the one path where SQLAlchemy's
per-execution work costs more than the database does: a new visitor's first visit.

A ``DriverStatement`` is a SQLAlchemy statement compiled once for an engine's dialect:
the SQL text with positional placeholders, and how to turn a dict of named values into
the driver's argument tuple with the same bind processing SQLAlchemy would apply (UTC
datetimes, JSON), so rows written this way read back exactly like the rest.

The connection still comes from the engine's pool (``AsyncConnection.get_raw_connection``),
so the SQLite single-writer discipline and the PostgreSQL pool size hold. Errors come back
as SQLAlchemy's (``DBAPIError.instance``), so callers handle one kind.
"""

from __future__ import annotations

import operator
import sqlite3
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, cast

from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement

T = TypeVar("T")


class DriverStatement:
    """``sql`` and the names of its positional arguments; ``args`` binds values."""

    def __init__(
        self,
        sql: str,
        names: tuple[str, ...],
        converters: Mapping[str, Callable[[Any], Any]],
        defaults: Mapping[str, Any],
    ) -> None:
        self.sql = sql
        self.names = names
        # Bind processing by name, only for the names that have one.
        self.converters = dict(converters)
        # Values bound in the statement itself (LIMIT 1, literals): used when not given.
        self.defaults = dict(defaults)
        self._pick = operator.itemgetter(*names)

    def args(self, values: Mapping[str, Any]) -> tuple[Any, ...]:
        """The driver's positional arguments for named ``values``."""
        return self.pick(converted({**self.defaults, **values}, self.converters))

    def pick(self, ready: Mapping[str, Any]) -> tuple[Any, ...]:
        """The positional arguments from values already merged and converted."""
        picked = self._pick(ready)
        return picked if len(self.names) > 1 else (picked,)

    def position(self, name: str) -> int:
        return self.names.index(name)


def converted(
    values: dict[str, Any], converters: Mapping[str, Callable[[Any], Any]]
) -> dict[str, Any]:
    """``values`` with bind processing applied in place; a value given under several
    names (a visit's ``now`` is in six columns) is processed once."""
    done: dict[tuple[int, int], Any] = {}
    for name, convert in converters.items():
        value = values.get(name)
        if value is None:
            continue
        key = (id(convert), id(value))
        if key not in done:
            done[key] = convert(value)
        values[name] = done[key]
    return values


_PROCESSORS: dict[tuple[str, str, str], Callable[[Any], Any] | None] = {}


def compile_for(statement: ClauseElement, dialect: Dialect) -> DriverStatement:
    compiled = cast(SQLCompiler, statement.compile(dialect=dialect))
    names = tuple(compiled.positiontup or ())
    binds = compiled.binds
    processors = {}
    for name in names:
        kind = binds[name].type
        # One processor per type and driver (``repr`` shows a type's parameters), so that
        # ``converted`` can tell when two names are processed alike.
        key = (dialect.name, dialect.driver, f"{type(kind).__module__}.{kind!r}")
        if key not in _PROCESSORS:
            _PROCESSORS[key] = kind.bind_processor(dialect)
        processors[name] = _PROCESSORS[key]
    return DriverStatement(
        sql=str(compiled),
        names=names,
        converters={name: f for name, f in processors.items() if f is not None},
        defaults={name: binds[name].value for name in names},
    )


async def run_in_sqlite_thread(conn: AsyncConnection, work: Callable[[sqlite3.Connection], T]) -> T:
    """Run ``work`` on the pooled SQLite connection in aiosqlite's thread: one hop.

    aiosqlite hops to its thread once per cursor operation (execute, fetch, close), and a
    visit of four statements made fourteen hops while holding SQLite's only connection.
    aiosqlite has no public call for "run this function in your thread"; ``_execute`` is
    what all its methods use (pinned in pyproject.toml, and the visit tests go through it).
    """
    raw = await conn.get_raw_connection()
    driver = raw.driver_connection
    return await driver._execute(lambda: work(driver._conn))  # type: ignore[union-attr,no-any-return]


def as_dbapi_error(exc: Exception, sql: str, base: type[Exception]) -> Exception:
    """The SQLAlchemy exception SQLAlchemy itself would raise for a driver error."""
    if isinstance(exc, base):
        return DBAPIError.instance(sql, None, exc, base)
    return exc
