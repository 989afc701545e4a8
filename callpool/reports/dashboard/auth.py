"""Log-in, log-out and who is asking: the session middleware and the role guards.

The session cookie is HttpOnly, SameSite=Lax (links from e-mail still land signed in;
state changes need the CSRF token anyway) and Secure whenever the request came over
HTTPS (directly or through a proxy that says so); over plain HTTP on a closed network
it could not be sent back at all otherwise. Its path is ``/`` so that the report API's
export links can honour the same session.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from urllib.parse import quote

from aiohttp import web
from aiohttp.typedefs import Handler

from callpool.accounts import sessions
from callpool.accounts import store as accounts_store
from callpool.accounts.access import Access
from callpool.errors import Forbidden
from callpool.reports.dashboard import i18n
from callpool.reports.dashboard.i18n import gettext as _
from callpool.reports.dashboard.keys import (
    ACCESS,
    CATALOGUES,
    LOCALE,
    LOGIN_CSRF_COOKIE,
    PREFIX,
    SESSION,
    SESSION_COOKIE,
    SESSION_TOKEN,
    THROTTLE,
)
from callpool.reports.dashboard.page import render
from callpool.web.keys import ENGINE

routes = web.RouteTableDef()
PUBLIC = ("/login", "/static/")


def _now() -> datetime:
    return datetime.now(UTC)


def is_secure(request: web.Request) -> bool:
    return request.secure or request.headers.get("X-Forwarded-Proto", "") == "https"


@web.middleware
async def session_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Loads the signed-in user (or nobody), picks the language, and guards every page."""
    token = request.cookies.get(SESSION_COOKIE)
    live = (
        await sessions.find_session(request.config_dict[ENGINE], token, _now()) if token else None
    )
    access = (
        await accounts_store.access_for_user(request.config_dict[ENGINE], live.user_id)
        if live
        else None
    )
    if live is not None and access is not None and token is not None:
        request[SESSION] = live
        request[SESSION_TOKEN] = token
        request[ACCESS] = access
    locale = i18n.choose_locale(
        live.locale if live else None, request.headers.get("Accept-Language", "")
    )
    request[LOCALE] = locale
    i18n.activate(request.app[CATALOGUES][locale])
    local_path = request.path.removeprefix(PREFIX)
    if ACCESS not in request and not local_path.startswith(PUBLIC):
        if request.method == "GET":
            raise web.HTTPFound(f"{PREFIX}/login?next={quote(request.path_qs, safe='')}")
        raise Forbidden(_("Please sign in first."))
    return await handler(request)


def access_of(request: web.Request) -> Access:
    return request[ACCESS]


def require_admin(request: web.Request) -> Access:
    access = request[ACCESS]
    if not access.is_admin:
        raise Forbidden(_("This page is for administrators."))
    return access


def require_superadmin(request: web.Request) -> Access:
    access = require_admin(request)
    if not access.all_sites:
        raise Forbidden(_("This page is for administrators of every site."))
    return access


@routes.get("/login", name="login")
async def login_form(request: web.Request) -> web.StreamResponse:
    if ACCESS in request:
        raise web.HTTPFound(_safe_next(request.query.get("next")))
    return _login_page(request, error=None, username="", status=200)


@routes.post("/login")
async def login(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    username = str(form.get("username", "")).strip()
    password = str(form.get("password", ""))
    address = request.remote or "?"
    throttle = request.app[THROTTLE]
    engine = request.config_dict[ENGINE]
    wait = await throttle.retry_after(engine, username, address, _now())
    if wait > 0:
        minutes = max(1, round(wait / 60))
        message = _("Too many failed attempts. Try again in %(minutes)d min.")
        return _login_page(request, message % {"minutes": minutes}, username, status=429)
    user = await accounts_store.authenticate(engine, username, password) if username else None
    if user is None:
        await throttle.failed(engine, username, address, _now())
        return _login_page(
            request, error=_("Wrong user name or password."), username=username, status=401
        )
    await throttle.succeeded(engine, username, address)
    new = await sessions.start_session(engine, user.id, _now())
    response = web.HTTPFound(_safe_next(str(form.get("next", ""))))
    response.set_cookie(
        SESSION_COOKIE,
        new.token,
        path="/",
        httponly=True,
        samesite="Lax",
        secure=is_secure(request),
        max_age=int(sessions.ABSOLUTE.total_seconds()),
    )
    response.del_cookie(LOGIN_CSRF_COOKIE, path=PREFIX)
    raise response


@routes.post("/logout", name="logout")
async def logout(request: web.Request) -> web.StreamResponse:
    await sessions.end_session(request.config_dict[ENGINE], request[SESSION_TOKEN])
    response = web.HTTPFound(f"{PREFIX}/login")
    response.del_cookie(SESSION_COOKIE, path="/")
    raise response


@routes.post("/settings/language", name="language")
async def set_language(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    chosen = str(form.get("locale", ""))
    await accounts_store.set_user_locale(
        request.config_dict[ENGINE], request[ACCESS].user_id or 0, chosen or None
    )
    raise web.HTTPFound(_safe_next(str(form.get("next", ""))))


def _login_page(
    request: web.Request, error: str | None, username: str, status: int
) -> web.StreamResponse:
    csrf = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(32)
    response = render(
        request,
        "login.html",
        {
            "error": error,
            "username": username,
            "login_csrf": csrf,
            "next": request.query.get("next", ""),
        },
        status=status,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        csrf,
        path=PREFIX,
        httponly=True,
        samesite="Strict",
        secure=is_secure(request),
    )
    return response


def _safe_next(target: str | None) -> str:
    """Only a path of the dashboard: never an open redirect to another host."""
    if target and target.startswith(f"{PREFIX}/") and not target.startswith("//"):
        return target
    return f"{PREFIX}/"
