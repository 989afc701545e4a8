"""Reading request bodies: size limit first, then JSON, then an object."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from callpool.errors import PayloadTooLarge, ValidationError


async def read_json_object(request: web.Request, max_bytes: int) -> dict[str, Any]:
    """The body as a JSON object, whatever its content type (sendBeacon sends text/plain)."""
    if request.content_length is not None and request.content_length > max_bytes:
        raise PayloadTooLarge(f"request body is over {max_bytes} bytes")
    raw = await _read_body(request, max_bytes)
    if not raw.strip():
        raise ValidationError("request body is empty; a JSON object is expected")
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValidationError(f"request body is not valid JSON: {_short(exc)}") from None
    if not isinstance(data, dict):
        raise ValidationError("request body must be a JSON object")
    return data


async def _read_body(request: web.Request, max_bytes: int) -> bytes:
    """The whole body, however many reads it takes (``read(n)`` returns what has arrived).

    A client that goes away before the end raises ``ConnectionResetError``.
    """
    chunks: list[bytes] = []
    size = 0
    while chunk := await request.content.read(max_bytes + 1 - size):
        chunks.append(chunk)
        size += len(chunk)
        if size > max_bytes:
            raise PayloadTooLarge(f"request body is over {max_bytes} bytes")
    return b"".join(chunks)


def _short(exc: Exception) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at line {exc.lineno} column {exc.colno}"
    return "not UTF-8"
