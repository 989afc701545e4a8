"""The whole app in process, with the report API's world, on both databases."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from callpool.app import create_app
from callpool.db.engine import create_engine
from callpool.settings import load_settings
from tests.reports.api.seed import World, make_world

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
    app = create_app(load_settings(database_url=database_url, admin_token="bootstrap-token-1"))
    return await aiohttp_client(app)  # type: ignore[no-any-return]


def auth(world: World, user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {world.tokens[user]}"}
