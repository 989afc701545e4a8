"""The dashboard sub-app: templates, languages, security middleware and every page.

Mounted by the composition root at ``/app`` (``PREFIX``); ``/`` redirects there. Its
middlewares run for dashboard requests only, so the public tracking API pays nothing
for them. Order, outermost first: HTML error pages, security headers, the session
(who is asking, which language), CSRF.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

import aiohttp_jinja2
import jinja2
from aiohttp import web
from aiohttp.typedefs import Handler
from markupsafe import Markup

from callpool import errors
from callpool.reports.dashboard import i18n
from callpool.reports.dashboard.assets import ASSETS, load_assets, serve_asset
from callpool.reports.dashboard.auth import routes as auth_routes
from callpool.reports.dashboard.auth import session_middleware
from callpool.reports.dashboard.i18n import gettext as _
from callpool.reports.dashboard.keys import CATALOGUES, LIVE_FEED, PREFIX, THROTTLE
from callpool.reports.dashboard.live_feed import LiveFeed
from callpool.reports.dashboard.page import page_context
from callpool.reports.dashboard.security import csrf_middleware, headers_middleware
from callpool.reports.dashboard.throttle_store import SqlLoginThrottle
from callpool.reports.dashboard.views import (
    admin,
    calls,
    live,
    metric_help,
    pools,
    recordings,
    reports,
)
from callpool.web.errors import status_for

log = logging.getLogger("callpool.dashboard")

root_routes = web.RouteTableDef()


@root_routes.get("/")
async def home(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound(f"{PREFIX}/")


def create_dashboard() -> web.Application:
    app = web.Application(
        middlewares=[html_error_middleware, headers_middleware, session_middleware, csrf_middleware]
    )
    app[CATALOGUES] = i18n.load_catalogues()
    app[THROTTLE] = SqlLoginThrottle()
    app[LIVE_FEED] = LiveFeed()  # idle until a live page subscribes
    app[ASSETS] = load_assets()
    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.PackageLoader("callpool.reports.dashboard", "templates"),
        autoescape=jinja2.select_autoescape(("html",), default=True),
        extensions=["jinja2.ext.i18n"],
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        default_helpers=False,
    )
    env.install_gettext_callables(i18n.gettext, i18n.ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.filters.update(FILTERS)
    assets = app[ASSETS]
    env.globals["static"] = lambda name: f"{PREFIX}/static/{name}?v={assets[name].version}"
    env.globals["prefix"] = PREFIX
    app.router.add_get("/static/{name}", serve_asset, name="static")
    app.add_routes(auth_routes)
    app.add_routes(pools.routes)
    app.add_routes(admin.routes)
    app.add_routes(calls.routes)
    app.add_routes(recordings.routes)
    app.add_routes(reports.routes)
    app.add_routes(live.routes)
    app.add_routes(metric_help.routes)
    app.on_cleanup.append(live.live_cleanup)
    return app


@web.middleware
async def html_error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Errors as a page in the user's language, with the one-line message."""
    try:
        return await handler(request)
    except errors.CallpoolError as exc:
        return _error_page(request, status_for(exc), str(exc))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        message = _("Page not found.") if exc.status == 404 else exc.reason
        return _error_page(request, exc.status, message)


def _error_page(request: web.Request, status: int, message: str) -> web.Response:
    if status >= 500:
        log.warning("%s %s: %s", request.method, request.path, message)
    context = {**page_context(request), "status": status, "message": message}
    return aiohttp_jinja2.render_template("error.html", request, context, status=status)


def _pass_locale(fmt: Any) -> Any:
    @jinja2.pass_context
    def apply(ctx: jinja2.runtime.Context, value: Any, *args: Any) -> str:
        return str(fmt(value, ctx.get("locale", i18n.DEFAULT), *args))

    return apply


def url_path(url: str | None) -> str:
    """A landing page as its path and query: the host is the site's own, shown above."""
    if not url:
        return ""
    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def safe_json(text: str) -> Markup:
    """JSON inside <script type="application/json">: "<" escaped so that visitor text can
    never close the element; the browser's JSON.parse reads it back unchanged."""
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


FILTERS = {
    "url_path": url_path,
    "safe_json": safe_json,
    "num": _pass_locale(i18n.fmt_number),
    "pct": _pass_locale(i18n.fmt_pct),
    "ratio": _pass_locale(i18n.fmt_ratio),
    "money": _pass_locale(i18n.fmt_money),
    "secs": _pass_locale(i18n.fmt_seconds),
    "day": _pass_locale(i18n.fmt_date),
    "when": _pass_locale(i18n.fmt_datetime),
    "clock": _pass_locale(i18n.fmt_time),
    "unit": _pass_locale(lambda value, locale, unit: i18n.fmt_unit(value, unit, locale)),
}
