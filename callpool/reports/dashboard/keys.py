"""Typed state of the dashboard sub-app and of each of its requests."""

from __future__ import annotations

from aiohttp import web
from babel.support import NullTranslations

from callpool.accounts.access import Access
from callpool.accounts.sessions import LiveSession
from callpool.reports.dashboard.live_feed import LiveFeed
from callpool.reports.dashboard.throttle_store import SqlLoginThrottle

PREFIX = "/app"
SESSION_COOKIE = "callpool_session"
LOGIN_CSRF_COOKIE = "callpool_login_csrf"

CATALOGUES = web.AppKey("dashboard_catalogues", dict[str, NullTranslations])
THROTTLE = web.AppKey("dashboard_login_throttle", SqlLoginThrottle)
LIVE_FEED = web.AppKey("dashboard_live_feed", LiveFeed)  # made by the first live page

ACCESS = web.RequestKey("dashboard_access", Access)
SESSION = web.RequestKey("dashboard_session", LiveSession)
SESSION_TOKEN = web.RequestKey("dashboard_session_token", str)
LOCALE = web.RequestKey("dashboard_locale", str)
