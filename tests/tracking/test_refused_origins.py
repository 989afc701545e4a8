"""A page whose origin the site does not allow gets a 403 its script can read, and why.

Over HTTP on SQLite and PostgreSQL. The site's owner sees the reason in the browser's
console (the snippet prints the message) instead of a bare CORS error; the origin is
echoed only as a header, and only when it is shaped like an origin.
"""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from callpool.app import create_app
from callpool.db.engine import transaction
from callpool.db.tables import Session
from callpool.settings import load_settings
from tests.seed import ORIGIN, make_catalog

OTHER = "https://www.shop.example"
# A browser, not a bot: its visits are recorded.
CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0 Safari/537.36"
)


@pytest.fixture
async def client(aiohttp_client: Any, database_url: str) -> TestClient[Any, Any]:
    app = create_app(load_settings(database_url=database_url))
    return await aiohttp_client(app, headers={"User-Agent": CHROME})  # type: ignore[no-any-return]


async def post(
    client: TestClient[Any, Any], key: str, action: str, origin: str, body: dict[str, Any]
) -> Any:
    return await client.post(f"/api/v1/t/{key}/{action}", json=body, headers={"Origin": origin})


async def sessions(engine: AsyncEngine) -> int:
    async with transaction(engine) as session:
        return int(await session.scalar(select(func.count()).select_from(Session)) or 0)


async def test_a_site_without_origins_refuses_with_a_readable_reason(
    client: TestClient[Any, Any], engine: AsyncEngine
) -> None:
    catalog = await make_catalog(engine, allowed_origins=[])
    resp = await post(client, catalog.key, "visit", ORIGIN, {"url": f"{ORIGIN}/"})
    assert resp.status == 403
    assert resp.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert resp.headers["Vary"] == "Origin"
    text = await resp.text()
    body = await resp.json()
    assert body["error"] == "origin_not_allowed"
    assert body["message"] == (
        "this page's origin is not allowed for site 'shop' (the site allows no origin yet); "
        "allowed origins are given with --origin at `callpool site add`"
    )
    assert ORIGIN not in text  # echoed as a header only
    assert await sessions(engine) == 0


async def test_another_origin_is_refused_readably_without_naming_the_allowed_ones(
    client: TestClient[Any, Any], engine: AsyncEngine
) -> None:
    catalog = await make_catalog(engine)
    resp = await post(client, catalog.key, "visit", OTHER, {"url": f"{OTHER}/"})
    assert resp.status == 403
    assert resp.headers["Access-Control-Allow-Origin"] == OTHER
    body = await resp.json()
    assert body["error"] == "origin_not_allowed"
    assert "not allowed for site 'shop'" in body["message"]
    assert "no origin yet" not in body["message"]
    assert "shop.example" not in await resp.text()
    # The site's own origin is still answered as before.
    ok = await post(client, catalog.key, "visit", ORIGIN, {"url": f"{ORIGIN}/"})
    assert ok.status == 200 and ok.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert await sessions(engine) == 1


@pytest.mark.parametrize(
    "origin",
    [
        "null",
        "javascript:alert(1)",
        "https://evil.example/<script>alert(1)</script>",
        'https://evil.example" onload="x',
        "https://evil.example, https://shop.example",
        "https://shop.example:123456",
        "ftp://shop.example",
        "https://" + "a" * 300 + ".example",
    ],
)
async def test_a_malformed_origin_is_refused_and_never_echoed(
    client: TestClient[Any, Any], engine: AsyncEngine, origin: str
) -> None:
    catalog = await make_catalog(engine)
    resp = await post(client, catalog.key, "visit", origin, {"url": f"{ORIGIN}/"})
    assert resp.status == 403
    assert "Access-Control-Allow-Origin" not in resp.headers
    assert (await resp.json())["error"] == "origin_not_allowed"
    assert origin not in await resp.text()


async def test_errors_for_an_allowed_origin_are_readable_too(
    client: TestClient[Any, Any], engine: AsyncEngine
) -> None:
    catalog = await make_catalog(engine)
    # The lease is gone: the snippet must see the 404 to ask for a new visit.
    gone = await post(
        client,
        catalog.key,
        "heartbeat",
        ORIGIN,
        {"session_id": "00000000-0000-4000-8000-000000000000"},
    )
    assert gone.status == 404
    assert gone.headers["Access-Control-Allow-Origin"] == ORIGIN
    bad = await post(client, catalog.key, "visit", ORIGIN, {"url": 5})
    assert bad.status == 400
    assert bad.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert (await bad.json())["message"] == "url: must be a string"
