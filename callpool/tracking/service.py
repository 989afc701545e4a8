"""The visitor side's lifecycle inside the app: lease store, site directory, rate limits."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from callpool.tracking import api, snippet
from callpool.tracking.directory import SiteDirectory
from callpool.tracking.guard import RateLimiter
from callpool.tracking.heartbeats import HeartbeatCache
from callpool.tracking.leases import SqlLeaseStore
from callpool.web.keys import ENGINE, SETTINGS

routes = [*api.routes, *snippet.routes]


async def tracking_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    engine = app[ENGINE]
    store = SqlLeaseStore(engine)
    app[api.DIRECTORY] = SiteDirectory(engine)
    app[api.LEASES] = store
    app[api.HEARTBEATS] = HeartbeatCache(store)
    app[api.IP_LIMITER] = RateLimiter(settings.ip_rate_per_second, settings.ip_burst)
    app[api.VISITOR_LIMITER] = RateLimiter(settings.visitor_rate_per_second, settings.visitor_burst)
    app[snippet.SNIPPET_SOURCE] = snippet.load_snippet()
    if api.CLOCK not in app:
        app[api.CLOCK] = api.wall_clock
    yield
    await store.close()
