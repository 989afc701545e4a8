"""Rendering a page: the layout's shared context (who, language, navigation) and the call."""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
from aiohttp import web

from callpool.reports.dashboard import i18n
from callpool.reports.dashboard.i18n import N_
from callpool.reports.dashboard.i18n import gettext as _
from callpool.reports.dashboard.keys import ACCESS, LOCALE, PREFIX, SESSION

NAV = (
    ("channels", "/", N_("Channels")),
    ("trends", "/trends", N_("Trends")),
    ("compare", "/compare", N_("Compare")),
    ("calls", "/calls", N_("Calls")),
    ("missed", "/missed", N_("Missed")),
    ("live", "/live", N_("Live")),
    ("pools", "/pools", N_("Pools")),
    ("admin", "/admin", N_("Admin")),
)


def page_context(request: web.Request) -> dict[str, Any]:
    """What the base layout needs on every page, errors and the log-in page included."""
    access = request.get(ACCESS)
    session = request.get(SESSION)
    nav = [
        {"key": key, "href": PREFIX + path, "label": _(label)}
        for key, path, label in NAV
        if key != "admin" or (access is not None and access.is_admin)
    ]
    return {
        "access": access,
        "locale": request.get(LOCALE, i18n.DEFAULT),
        "csrf_token": session.csrf_token if session is not None else "",
        "nav": nav,
        "languages": i18n.LANGUAGE_NAMES,
        "path_qs": request.path_qs,
        "request": request,
        "page": None,
    }


def render(
    request: web.Request, template: str, context: dict[str, Any], status: int = 200
) -> web.Response:
    full = {**page_context(request), **context}
    return aiohttp_jinja2.render_template(template, request, full, status=status)
