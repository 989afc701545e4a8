"""Bearer-token checks for the admin and reports APIs."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from callpool.accounts import sessions
from callpool.accounts import store as accounts_store
from callpool.accounts.access import Access, bootstrap_access
from callpool.accounts.credentials import tokens_equal
from callpool.accounts.sessions import SESSION_COOKIE
from callpool.errors import AuthError, Forbidden
from callpool.web.keys import ENGINE, SETTINGS

ROLES = ("viewer", "admin")


async def require_role(request: web.Request, role: str) -> str:
    """The caller's role; raises unless it is at least ``role``."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError("an 'Authorization: Bearer <token>' header is required")
    token = token.strip()
    bootstrap = request.app[SETTINGS].admin_token
    if bootstrap is not None and tokens_equal(token, bootstrap.get_secret_value()):
        found = "admin"
    else:
        found = await accounts_store.role_for_token(request.app[ENGINE], token)
    if ROLES.index(found) < ROLES.index(role):
        raise Forbidden(f"this needs the {role} role")
    return found


async def require_access(request: web.Request, role: str) -> Access:
    """The caller's role and sites (a token carries its user's site membership); raises
    unless the role is at least ``role``. The bootstrap token sees every site.

    Without a bearer token, a GET may come with the dashboard's session cookie: its
    export buttons are plain links to the report API. Only reads: a state-changing
    request needs a token, so the cookie cannot be ridden by another site's form.
    """
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if not header and request.method == "GET" and SESSION_COOKIE in request.cookies:
        return await _session_access(request, role)
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError("an 'Authorization: Bearer <token>' header is required")
    token = token.strip()
    bootstrap = request.app[SETTINGS].admin_token
    if bootstrap is not None and tokens_equal(token, bootstrap.get_secret_value()):
        access = bootstrap_access()
    else:
        access = await accounts_store.access_for_token(request.app[ENGINE], token)
    if ROLES.index(access.role) < ROLES.index(role):
        raise Forbidden(f"this needs the {role} role")
    return access


async def _session_access(request: web.Request, role: str) -> Access:
    engine = request.app[ENGINE]
    live = await sessions.find_session(engine, request.cookies[SESSION_COOKIE], datetime.now(UTC))
    access = await accounts_store.access_for_user(engine, live.user_id) if live else None
    if access is None:
        raise AuthError("the session has ended: log in again")
    if ROLES.index(access.role) < ROLES.index(role):
        raise Forbidden(f"this needs the {role} role")
    return access
