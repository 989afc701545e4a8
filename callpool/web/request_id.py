"""A request id on every request: taken from ``X-Request-Id`` if sane, else made here.

It is set in :data:`callpool.logs.REQUEST_ID` while the request is handled, so every log
line written for it carries the id, and returned in the response's ``X-Request-Id``. A
proxy in front that already assigns ids (nginx ``$request_id``) keeps its own; anything
that is not 1-128 letters, digits and ``._:-`` is replaced, so a client cannot put
arbitrary text into the logs.
"""

from __future__ import annotations

import re
import secrets

from aiohttp import web
from aiohttp.typedefs import Handler
from aiohttp.web_log import AccessLogger
from aiohttp.web_request import BaseRequest

from callpool.logs import REQUEST_ID

HEADER = "X-Request-Id"
_SANE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}")


def request_id_for(incoming: str | None) -> str:
    if incoming and _SANE.fullmatch(incoming):
        return incoming
    return secrets.token_hex(8)


@web.middleware
async def request_id_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    request_id = request_id_for(request.headers.get(HEADER))
    token = REQUEST_ID.set(request_id)
    try:
        try:
            response = await handler(request)
        except web.HTTPException as exc:  # a redirect the error middleware let through
            exc.headers[HEADER] = request_id
            raise
        if not response.prepared:  # a streamed response has sent its headers already
            response.headers[HEADER] = request_id
        return response
    finally:
        REQUEST_ID.reset(token)


class RequestIdAccessLogger(AccessLogger):
    """aiohttp's access log line, written with the request's id (logged after the handler)."""

    def log(self, request: BaseRequest, response: web.StreamResponse, time: float) -> None:
        token = REQUEST_ID.set(response.headers.get(HEADER))
        try:
            super().log(request, response, time)
        finally:
            REQUEST_ID.reset(token)
