"""The aiohttp application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from aiohttp import web

from callpool.db.engine import create_engine
from callpool.pbx.listener import PbxListener
from callpool.settings import Settings
from callpool.tracking import api as tracking_api
from callpool.tracking import snippet
from callpool.tracking.directory import SiteDirectory
from callpool.tracking.guard import RateLimiter
from callpool.tracking.heartbeats import HeartbeatCache
from callpool.tracking.leases import SqlLeaseStore
from callpool.web import admin_api, health
from callpool.web.errors import error_middleware
from callpool.web.keys import ENGINE, LISTENERS, SETTINGS

CleanupCtx = Callable[[web.Application], AsyncIterator[None]]


def create_app(settings: Settings, *extra_contexts: CleanupCtx) -> web.Application:
    """Build the app; the engine (and whatever ``extra_contexts`` start) live in cleanup_ctx."""
    app = web.Application(
        middlewares=[error_middleware], client_max_size=admin_api.IMPORT_MAX_BYTES
    )
    app[SETTINGS] = settings
    app.cleanup_ctx.append(_engine_ctx)
    app.cleanup_ctx.append(_tracking_ctx)
    app.cleanup_ctx.append(_ami_ctx)
    app.cleanup_ctx.extend(extra_contexts)
    app.add_routes(health.routes)
    app.add_routes(admin_api.routes)
    app.add_routes(tracking_api.routes)
    app.add_routes(snippet.routes)
    return app


async def _engine_ctx(app: web.Application) -> AsyncIterator[None]:
    engine = create_engine(app[SETTINGS].database_url.get_secret_value())
    app[ENGINE] = engine
    yield
    await engine.dispose()


async def _tracking_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    engine = app[ENGINE]
    store = SqlLeaseStore(engine)
    app[tracking_api.DIRECTORY] = SiteDirectory(engine)
    app[tracking_api.LEASES] = store
    app[tracking_api.HEARTBEATS] = HeartbeatCache(store)
    app[tracking_api.IP_LIMITER] = RateLimiter(settings.ip_rate_per_second, settings.ip_burst)
    app[tracking_api.VISITOR_LIMITER] = RateLimiter(
        settings.visitor_rate_per_second, settings.visitor_burst
    )
    app[snippet.SNIPPET_SOURCE] = snippet.load_snippet()
    if tracking_api.CLOCK not in app:
        app[tracking_api.CLOCK] = tracking_api.wall_clock
    yield
    await store.close()


async def _ami_ctx(app: web.Application) -> AsyncIterator[None]:
    """One listener per configured PBX when ``ami_enabled`` (each waits for its lock)."""
    settings = app[SETTINGS]
    listeners: list[PbxListener] = []
    if settings.ami_enabled:
        listeners = [
            PbxListener(
                pbx,
                app[ENGINE],
                settings.journal_dir,
                region=settings.default_region,
                credit_repeat_callers=settings.credit_repeat_callers,
            )
            for pbx in settings.pbx
        ]
    app[LISTENERS] = tuple(listeners)
    for listener in listeners:
        await listener.start()
    yield
    for listener in listeners:
        await listener.close()
