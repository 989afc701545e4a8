"""An in-process callpool (the whole app) with the seeded world, on both databases."""

from __future__ import annotations

import re
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from callpool.app import create_app
from callpool.db.engine import create_engine
from callpool.settings import load_settings
from tests.reports.dashboard.seed import PASSWORD, World, make_world

Client = TestClient[Any, Any]


@pytest.fixture
async def world(database_url: str) -> World:
    engine = create_engine(database_url)
    try:
        return await make_world(engine)
    finally:
        await engine.dispose()


@pytest.fixture
async def client(aiohttp_client: Any, database_url: str, world: World) -> Client:
    return await aiohttp_client(create_app(load_settings(database_url=database_url)))  # type: ignore[no-any-return]


def csrf_of(html: str) -> str:
    found = re.search(r'name="_csrf" value="([^"]+)"', html)
    assert found, "the page has no CSRF field"
    return found.group(1)


async def log_in(client: Client, username: str, password: str = PASSWORD) -> str:
    """Signs in; returns the CSRF token of the session (from the page it lands on)."""
    form = await (await client.get("/app/login")).text()
    response = await client.post(
        "/app/login",
        data={"username": username, "password": password, "_csrf": csrf_of(form)},
        allow_redirects=False,
    )
    assert response.status == 302, await response.text()
    page = await client.get("/app/pools")
    assert page.status == 200
    return csrf_of(await page.text())
