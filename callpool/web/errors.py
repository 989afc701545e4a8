"""One middleware maps errors to a status, a stable ``error`` id and a message.

Never a traceback or a secret: unexpected errors are logged here and answered with a
generic 500. A client that goes away in the middle of its request (the connection reset
while its body is read) is routine, not an error of ours: one DEBUG line.
"""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.typedefs import Handler

from callpool import errors

log = logging.getLogger("callpool.web")

# Headers a handler wants on its error answers as well: the tracking API's CORS
# headers, so that the page's script can read why it was refused.
ERROR_HEADERS: web.RequestKey[dict[str, str]] = web.RequestKey("error_headers")

STATUS: dict[type[errors.CallpoolError], int] = {
    errors.PayloadTooLarge: 413,
    errors.ValidationError: 400,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.Forbidden: 403,
    errors.AuthError: 401,
    errors.RateLimited: 429,
    errors.StoreUnavailable: 503,
    errors.RecordingUnavailable: 503,
    errors.ExportUnavailable: 503,
}


def error_response(status: int, error_id: str, message: str) -> web.Response:
    return web.json_response({"error": error_id, "message": message}, status=status)


def status_for(exc: errors.CallpoolError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except errors.CallpoolError as exc:
        status = status_for(exc)
        if status >= 500:
            log.warning("%s %s: %s", request.method, request.path, exc)
        response = error_response(status, exc.error_id, str(exc))
        response.headers.update(request.get(ERROR_HEADERS, {}))
        return response
    except web.HTTPRequestEntityTooLarge:
        return error_response(413, "payload_too_large", "request body is too large")
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return error_response(exc.status, "http_error", exc.reason)
    except ConnectionResetError:
        # aiohttp's ClientConnectionResetError is one too. Nobody reads this answer; 499
        # is what nginx logs for a client that closed its request.
        log.debug("%s %s: the client went away", request.method, request.path)
        return error_response(499, "client_disconnected", "the client closed the connection")
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal_error", "internal error")
