"""Response headers (Content-Security-Policy and friends) and CSRF protection.

The policy allows scripts, styles, images and connections from callpool itself only,
and no inline script at all: the dashboard's one script is a file, chart data travels
in ``<script type="application/json">`` islands, which are data, not code.

CSRF: every POST (and any other state-changing method) must carry the session's token,
in a form's ``_csrf`` field or an ``X-CSRF-Token`` header; before log-in the token is a
random value in a cookie of its own that the log-in form repeats (double submit). A
cross-site page can make a browser send the cookies but cannot read either token. The
``Origin`` header, when the browser sends one, must be this server's.
"""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.typedefs import Handler

from callpool.errors import Forbidden
from callpool.reports.dashboard.keys import LOGIN_CSRF_COOKIE, PREFIX, SESSION

CSP = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_FIELD = "_csrf"
CSRF_HEADER = "X-CSRF-Token"


class CsrfRefused(Forbidden):
    error_id = "csrf_refused"


@web.middleware
async def headers_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    if not request.path.startswith(f"{PREFIX}/static/"):
        # Pages show customers' data: never kept by a shared cache or the back button.
        response.headers.setdefault("Cache-Control", "no-store")
    return response


@web.middleware
async def csrf_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.method not in SAFE_METHODS:
        await check_csrf(request)
    return await handler(request)


async def check_csrf(request: web.Request) -> None:
    origin = request.headers.get("Origin")
    # The host only: behind a TLS-terminating proxy the scheme seen here is http.
    if origin is not None and urlsplit(origin).netloc != request.host:
        raise CsrfRefused("the request came from another site")
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.content_type in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ):
        field = (await request.post()).get(CSRF_FIELD)
        sent = field if isinstance(field, str) else None
    session = request.get(SESSION)
    expected = session.csrf_token if session is not None else request.cookies.get(LOGIN_CSRF_COOKIE)
    if not sent or not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise CsrfRefused("the form has expired or did not come from this page: reload and retry")
