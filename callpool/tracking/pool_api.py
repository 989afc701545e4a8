"""The admin API of the number pools: status and sizing, and retiring numbers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aiohttp import web

from callpool.errors import ValidationError
from callpool.tracking.pool_status import pool_status, retire_numbers
from callpool.web.auth import require_role
from callpool.web.body import read_json_object
from callpool.web.keys import ENGINE, SETTINGS

routes = web.RouteTableDef()


@routes.get("/api/v1/admin/pool")
async def pool(request: web.Request) -> web.Response:
    """Pool status of a campaign: ?site=&campaign=[&days=7][&target=0.01]."""
    await require_role(request, "viewer")
    site, campaign = request.query.get("site"), request.query.get("campaign")
    if not site or not campaign:
        raise ValidationError("query parameters site and campaign are required")
    days = _number_param(request, "days", 7.0, 1 / 24, 366)
    target = _number_param(request, "target", 0.01, 0.0001, 0.5)
    status = await pool_status(
        request.app[ENGINE], site, campaign, datetime.now(UTC), timedelta(days=days), target
    )
    return web.json_response(status.as_dict())


@routes.post("/api/v1/admin/numbers/retire")
async def retire(request: web.Request) -> web.Response:
    """Body: {"numbers": ["+7...", ...]}: each finishes its live lease, then leaves the pool."""
    await require_role(request, "admin")
    body = await read_json_object(request, request.app[SETTINGS].max_body_bytes)
    numbers = body.get("numbers")
    if (
        set(body) != {"numbers"}
        or not isinstance(numbers, list)
        or not all(isinstance(n, str) for n in numbers)
    ):
        raise ValidationError('body must be {"numbers": ["+7...", ...]}')
    count = await retire_numbers(request.app[ENGINE], numbers, request.app[SETTINGS].default_region)
    return web.json_response({"retiring": count})


def _number_param(
    request: web.Request, name: str, default: float, low: float, high: float
) -> float:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValidationError(f"{name}: must be a number") from None
    if not low <= value <= high:
        raise ValidationError(f"{name}: must be between {low:g} and {high:g}")
    return value
