"""Throwaway PostgreSQL databases for one test run, made with asyncpg directly."""

from __future__ import annotations

import asyncio
import os
import secrets

import asyncpg
from sqlalchemy.engine import make_url

PG_URL_VAR = "CALLPOOL_TEST_PG_URL"


def base_url() -> str | None:
    return os.environ.get(PG_URL_VAR) or None


def _dsn(url: str, database: str | None = None) -> str:
    parsed = make_url(url).set(drivername="postgresql")
    if database:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


async def _admin(url: str, sql: str) -> None:
    conn = await asyncpg.connect(_dsn(url), timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def create_database(url: str, prefix: str = "cptest") -> str:
    """Create an empty database next to ``url``'s and return its SQLAlchemy URL."""
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(3)}"
    asyncio.run(_admin(url, f'CREATE DATABASE "{name}"'))
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def drop_database(base: str, url: str) -> None:
    name = make_url(url).database
    asyncio.run(_admin(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def check_reachable(url: str) -> None:
    asyncio.run(_admin(url, "SELECT 1"))
