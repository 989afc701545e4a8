"""``callpool db size``: rows and bytes of each of callpool's tables, biggest first.

Bytes are the table's own pages and its indexes' pages: SQLite's ``dbstat`` table (when
the library was built with it; else bytes are unknown), PostgreSQL's
``pg_table_size``/``pg_indexes_size`` (TOAST included). Rows are counted exactly, which
reads each table once: seconds on tables of tens of millions of rows.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from callpool.db.engine import connection
from callpool.db.tables import Base


@dataclass(frozen=True)
class TableSize:
    table: str
    rows: int
    table_bytes: int | None
    index_bytes: int | None

    @property
    def total_bytes(self) -> int | None:
        if self.table_bytes is None or self.index_bytes is None:
            return None
        return self.table_bytes + self.index_bytes


@dataclass(frozen=True)
class DatabaseSize:
    tables: tuple[TableSize, ...]
    # The whole database: SQLite's pages in use, or pg_database_size.
    database_bytes: int | None


async def database_size(engine: AsyncEngine) -> DatabaseSize:
    names = [table.name for table in Base.metadata.sorted_tables]
    async with connection(engine) as conn:
        rows = {}
        for table in Base.metadata.sorted_tables:
            rows[table.name] = int(await conn.scalar(select(func.count()).select_from(table)) or 0)
        if engine.dialect.name == "sqlite":
            sizes, total = await _sqlite_bytes(conn)
        else:
            sizes, total = await _pg_bytes(conn, names)
    tables = [TableSize(name, rows[name], *sizes.get(name, (None, None))) for name in names]
    tables.sort(key=lambda t: (-(t.total_bytes or 0), -t.rows, t.table))
    return DatabaseSize(tuple(tables), total)


async def _sqlite_bytes(
    conn: AsyncConnection,
) -> tuple[dict[str, tuple[int | None, int | None]], int | None]:
    query = text(
        "SELECT m.tbl_name, m.type, SUM(s.pgsize) FROM dbstat AS s "
        "JOIN sqlite_master AS m ON m.name = s.name GROUP BY m.tbl_name, m.type"
    )
    try:
        found = (await conn.execute(query)).all()
    except DBAPIError:  # no dbstat in this SQLite build
        return {}, None
    sizes: dict[str, list[int]] = {}
    for table, kind, size in found:
        entry = sizes.setdefault(table, [0, 0])
        entry[0 if kind == "table" else 1] += int(size or 0)
    page_size = int(await conn.scalar(text("PRAGMA page_size")) or 0)
    pages = int(await conn.scalar(text("PRAGMA page_count")) or 0)
    free = int(await conn.scalar(text("PRAGMA freelist_count")) or 0)
    return {t: (s[0], s[1]) for t, s in sizes.items()}, (pages - free) * page_size


async def _pg_bytes(
    conn: AsyncConnection, names: list[str]
) -> tuple[dict[str, tuple[int | None, int | None]], int | None]:
    query = text(
        "SELECT c.relname, pg_table_size(c.oid), pg_indexes_size(c.oid) FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = current_schema() AND c.relkind = 'r' AND c.relname = ANY(:names)"
    )
    found = (await conn.execute(query, {"names": names})).all()
    total = await conn.scalar(text("SELECT pg_database_size(current_database())"))
    return {name: (int(t), int(i)) for name, t, i in found}, int(total)
