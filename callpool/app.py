"""The composition root: builds the web app from every room's routes and lifecycle contexts.

No logic lives here. Each room exposes ``routes`` and, where it owns long-lived parts, a
cleanup context; this module decides which run, in which order (the engine first, closed
last), from the settings. Nothing is built at import time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable

from aiohttp import log as aiohttp_log
from aiohttp import web
from aiohttp.typedefs import Middleware

from callpool import api_doc
from callpool.catalog import api as catalog_api
from callpool.db import migrate
from callpool.db.engine import check_writable, create_engine, is_sqlite
from callpool.pbx.service import CALLS_SAVED, check_journal_dir, listeners_ctx
from callpool.recordings.service import RecordingService
from callpool.recordings.store import note_recordings
from callpool.recordings.web import RECORDINGS, media_routes, recordings_ctx
from callpool.reports import api as reports_api
from callpool.reports import dashboard
from callpool.retention import api as retention_api
from callpool.scheduler import scheduler_ctx
from callpool.settings import Settings
from callpool.tracking import pool_api
from callpool.tracking import service as tracking
from callpool.web import health, listen, prometheus
from callpool.web.errors import error_middleware
from callpool.web.keys import ENGINE, LISTENERS, SETTINGS
from callpool.web.prometheus import OPS_METRICS, OpsMetrics, http_metrics_middleware
from callpool.web.request_id import RequestIdAccessLogger, request_id_middleware

log = logging.getLogger("callpool")


def create_app(settings: Settings) -> web.Application:
    """The whole app as the settings switch it on (the scheduler with ``scheduler_enabled``)."""
    metrics = OpsMetrics()
    # Outermost first: the request id is set for every log line below it; the metrics
    # see the status the error middleware answered with. Nobody scrapes without a
    # metrics token: the HTTP series then cost nothing (bench/middleware.py: ~10 µs).
    middlewares: list[Middleware] = [request_id_middleware, error_middleware]
    if settings.metrics_token is not None:
        middlewares.insert(1, http_metrics_middleware(metrics))
    app = web.Application(middlewares=middlewares, client_max_size=catalog_api.IMPORT_MAX_BYTES)
    app[SETTINGS] = settings
    app[OPS_METRICS] = metrics
    metrics.watch_listeners(app)
    app[RECORDINGS] = RecordingService(settings)
    app[CALLS_SAVED] = (note_recordings,)  # the names in a call's CDRs, saved with it
    app.cleanup_ctx.append(engine_ctx)
    app.cleanup_ctx.append(tracking.tracking_ctx)
    app.cleanup_ctx.append(listeners_ctx)
    app.cleanup_ctx.append(recordings_ctx)
    if settings.scheduler_enabled:
        app.cleanup_ctx.append(scheduler_ctx)
    app.add_routes(health.routes)
    app.add_routes(prometheus.routes)
    app.add_routes(catalog_api.routes)
    app.add_routes(pool_api.routes)
    app.add_routes(retention_api.routes)
    app.add_routes(tracking.routes)
    app.add_routes(media_routes)
    app.add_routes(reports_api.routes)
    app.add_routes(api_doc.routes)
    app[api_doc.OPENAPI] = (*api_doc.ENDPOINTS, *reports_api.api.endpoints)
    app.add_subapp(dashboard.PREFIX, dashboard.create_dashboard())
    app.add_routes(dashboard.root_routes)
    return app


async def engine_ctx(app: web.Application) -> AsyncIterator[None]:
    engine = create_engine(app[SETTINGS].database_url.get_secret_value())
    app[ENGINE] = engine
    yield
    await engine.dispose()


async def prepare_database(settings: Settings) -> None:
    """Upgrade an embedded SQLite database on start; PostgreSQL is upgraded by the operator."""
    url = settings.database_url.get_secret_value()
    engine = create_engine(url)
    try:
        if is_sqlite(url):
            before = await migrate.current_revision(engine)
            await migrate.upgrade(engine)
            after = await migrate.current_revision(engine)
            if before != after:
                log.info("database schema upgraded from %s to %s", before or "empty", after)
            await check_writable(engine)
        elif not await migrate.is_up_to_date(engine):
            log.warning("database schema is not at head: run `callpool db upgrade`")
    finally:
        await engine.dispose()


def run_server(settings: Settings, announce: Callable[[str], None] = print) -> None:
    """Bind the port, prepare the database, start every part, ``announce`` one line; serve
    until SIGTERM or SIGINT, then stop in order.

    Binding first means a port in use stops start-up before anything is touched. On a
    signal aiohttp stops accepting, lets in-flight requests finish for up to
    ``shutdown_timeout`` seconds, then runs the cleanup contexts in reverse: the
    scheduler stops, each PBX listener closes (writes what it has queued, fsyncs and
    commits its journal, releases the PBX's lock so a standby takes over at once), the
    lease store finishes its queued first visits, and the engine closes last.
    """
    sockets = listen.bind(settings.host, settings.port, reuse_port=settings.reuse_port)
    try:
        # Before the database is touched: a bad journal directory is one line, not a
        # half-started server.
        for pbx in settings.pbx if settings.ami_enabled else ():
            check_journal_dir(settings.journal_dir / pbx.name)
        asyncio.run(prepare_database(settings))
        app = create_app(settings)

        async def started(app: web.Application) -> None:  # after every cleanup context
            names = [listener.name for listener in app[LISTENERS]]
            announce(listen.serving_line(settings, sockets, names))

        app.on_startup.append(started)
        app.on_shutdown.append(_stopping)
        # One log line a request costs about a third of the heartbeat throughput: off
        # unless asked for.
        access_log = aiohttp_log.access_logger if settings.access_log else None
        web.run_app(
            app,
            sock=sockets,
            print=None,
            access_log=access_log,
            access_log_class=RequestIdAccessLogger,
            shutdown_timeout=settings.shutdown_timeout,
        )
        log.info("callpool stopped")
    finally:
        # Closed here too when start-up fails before aiohttp has taken them over.
        for sock in sockets:
            sock.close()


async def _stopping(app: web.Application) -> None:
    log.info(
        "stopping: no new connections; in-flight requests have %.0f s",
        app[SETTINGS].shutdown_timeout,
    )
