"""The composition root: builds the web app with the parts switched on by settings. No logic."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import log as aiohttp_log
from aiohttp import web

from callpool.db import migrate
from callpool.db.engine import create_engine, is_sqlite
from callpool.scheduler import scheduler_ctx
from callpool.settings import Settings
from callpool.web.app import create_app

log = logging.getLogger("callpool")


def build_app(settings: Settings) -> web.Application:
    contexts = []
    if settings.scheduler_enabled:
        contexts.append(scheduler_ctx)
    return create_app(settings, *contexts)


async def prepare_database(settings: Settings) -> None:
    """Upgrade an embedded SQLite database on start; PostgreSQL is upgraded by the operator."""
    url = settings.database_url.get_secret_value()
    engine = create_engine(url)
    try:
        if is_sqlite(url):
            await migrate.upgrade(engine)
        elif not await migrate.is_up_to_date(engine):
            log.warning("database schema is not at head: run `callpool db upgrade`")
    finally:
        await engine.dispose()


def run_server(settings: Settings) -> None:
    asyncio.run(prepare_database(settings))
    # One log line a request costs about a third of the heartbeat throughput: off unless
    # asked for.
    access_log = aiohttp_log.access_logger if settings.access_log else None
    web.run_app(
        build_app(settings),
        host=settings.host,
        port=settings.port,
        reuse_port=settings.reuse_port,
        print=None,
        access_log=access_log,
    )
