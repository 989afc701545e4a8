"""``/healthz`` status levels: ok, warning (200) and unhealthy (503)."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from callpool.web import health
from callpool.web.keys import ENGINE, LISTENERS


class FakeListener:
    """A listener as health sees it (the ListenerHealth port)."""

    def __init__(self, name: str, **state: Any) -> None:
        self.name = name
        self.state = {"role": "listening", "ami": "logged_in", "database": "ok"} | state

    def health(self) -> dict[str, Any]:
        return dict(self.state)


async def _get(aiohttp_client: Any, engine: AsyncEngine, *listeners: FakeListener) -> Any:
    app = web.Application()
    app[ENGINE] = engine
    app[LISTENERS] = listeners
    app.add_routes(health.routes)
    client = await aiohttp_client(app)
    return await client.get("/healthz")


@pytest.mark.parametrize(
    ("state", "http", "status"),
    [
        ({"warnings": []}, 200, "ok"),
        ({"warnings": ["call 1.2 open for 5 h, longer than any real call"]}, 200, "warning"),
        ({"ami": "disconnected", "warnings": ["gap not recovered"]}, 503, "unhealthy"),
        ({"role": "standby", "ami": "idle"}, 200, "ok"),
    ],
)
async def test_healthz_reports_warnings_apart_from_failures(
    aiohttp_client: Any, engine: AsyncEngine, state: dict[str, Any], http: int, status: str
) -> None:
    resp = await _get(aiohttp_client, engine, FakeListener("pbx1", **state))
    body = await resp.json()
    assert (resp.status, body["status"]) == (http, status)
    assert body["checks"]["ami:pbx1"].get("warnings", []) == state.get("warnings", [])
