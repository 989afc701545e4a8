"""The admin API over real HTTP, on both databases."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from callpool.app import create_app
from callpool.settings import load_settings

ADMIN = {"Authorization": "Bearer bootstrap-admin-token-123"}


@pytest.fixture
async def client(aiohttp_client: Any, database_url: str) -> TestClient[Any, Any]:
    settings = load_settings(database_url=database_url, admin_token="bootstrap-admin-token-123")
    return await aiohttp_client(create_app(settings))  # type: ignore[no-any-return]


async def _setup(client: TestClient[Any, Any]) -> None:
    site = {
        "name": "shop",
        "own_numbers": ["+7 495 123-45-67"],
        "allowed_origins": ["https://shop.example"],
    }
    assert (await client.post("/api/v1/admin/sites", json=site, headers=ADMIN)).status == 201
    campaign = {"site": "shop", "name": "autumn", "timezone": "Europe/Moscow"}
    assert (
        await client.post("/api/v1/admin/campaigns", json=campaign, headers=ADMIN)
    ).status == 201
    channel = {"site": "shop", "campaign": "autumn", "name": "print", "kind": "static"}
    assert (await client.post("/api/v1/admin/channels", json=channel, headers=ADMIN)).status == 201


async def test_admin_creates_site_campaign_channel_and_numbers(
    client: TestClient[Any, Any],
) -> None:
    await _setup(client)
    rows = [
        {"number": "+74950000001", "site": "shop", "campaign": "autumn"},
        {"number": "8 (495) 000-00-02", "site": "shop", "campaign": "autumn", "channel": "print"},
    ]
    resp = await client.post("/api/v1/admin/numbers", json={"numbers": rows}, headers=ADMIN)
    assert resp.status == 201, await resp.text()
    body = await resp.json()
    assert [n["e164"] for n in body["numbers"]] == ["+74950000001", "+74950000002"]

    sites = await (await client.get("/api/v1/admin/sites", headers=ADMIN)).json()
    assert sites["sites"][0]["own_numbers"] == ["+74951234567"]
    campaigns = await (await client.get("/api/v1/admin/campaigns?site=shop", headers=ADMIN)).json()
    assert campaigns["campaigns"][0]["timezone"] == "Europe/Moscow"
    channels = await client.get("/api/v1/admin/channels?site=shop&campaign=autumn", headers=ADMIN)
    assert (await channels.json())["channels"][0]["kind"] == "static"


@pytest.mark.parametrize(
    ("headers", "status", "error"),
    [
        ({}, 401, "unauthorized"),
        ({"Authorization": "Bearer wrong"}, 401, "unauthorized"),
        ({"Authorization": "Basic abc"}, 401, "unauthorized"),
    ],
)
async def test_admin_api_needs_a_valid_token(
    client: TestClient[Any, Any], headers: dict[str, str], status: int, error: str
) -> None:
    resp = await client.post("/api/v1/admin/sites", json={"name": "x"}, headers=headers)
    assert resp.status == status
    assert (await resp.json())["error"] == error


async def test_viewer_token_cannot_write(client: TestClient[Any, Any], database_url: str) -> None:
    from callpool.accounts import store as accounts_store
    from callpool.db.engine import create_engine

    engine = create_engine(database_url)
    try:
        await accounts_store.add_user(engine, "val", "a long enough password", "viewer")
        token = (await accounts_store.create_token(engine, "val", "read")).token
    finally:
        await engine.dispose()
    viewer = {"Authorization": f"Bearer {token}"}
    assert (await client.get("/api/v1/admin/sites", headers=viewer)).status == 200
    resp = await client.post("/api/v1/admin/sites", json={"name": "x"}, headers=viewer)
    assert resp.status == 403
    assert (await resp.json())["error"] == "forbidden"


@pytest.mark.parametrize(
    ("body", "status", "error", "message"),
    [
        (b"{not json", 400, "invalid_input", "not valid JSON"),
        (b"[1, 2]", 400, "invalid_input", "JSON object"),
        (b"", 400, "invalid_input", "empty"),
        (b'{"name": "x", "evil": 1}', 400, "invalid_input", "evil: unknown field"),
        (b'{"name": "x", "own_numbers": ["12"]}', 400, "invalid_phone_number", "12"),
        (b'{"name": "' + b"a" * 20000 + b'"}', 413, "payload_too_large", "over"),
    ],
)
async def test_bad_bodies_get_a_clear_error_and_write_nothing(
    client: TestClient[Any, Any], body: bytes, status: int, error: str, message: str
) -> None:
    resp = await client.post("/api/v1/admin/sites", data=body, headers=ADMIN)
    assert resp.status == status
    payload = await resp.json()
    assert payload["error"] == error
    assert message in payload["message"]
    sites = await (await client.get("/api/v1/admin/sites", headers=ADMIN)).json()
    assert sites["sites"] == []


async def test_number_import_is_all_or_nothing(client: TestClient[Any, Any]) -> None:
    await _setup(client)
    rows = [
        {"number": "+74950000001", "site": "shop", "campaign": "autumn"},
        {"number": "+74950000002", "site": "shop", "campaign": "autumn", "color": "red"},
    ]
    resp = await client.post("/api/v1/admin/numbers", json={"numbers": rows}, headers=ADMIN)
    assert resp.status == 400
    assert (await resp.json())["message"] == 'row 2, column "color": unknown field'
    rows[1].pop("color")
    rows[1]["campaign"] = "missing"
    resp = await client.post("/api/v1/admin/numbers", json={"numbers": rows}, headers=ADMIN)
    assert resp.status == 404
    message = (await resp.json())["message"]
    assert message == "row 2, column \"campaign\": no campaign 'missing' in site 'shop'"
    ok = await client.post("/api/v1/admin/numbers", json={"numbers": rows[:1]}, headers=ADMIN)
    assert ok.status == 201


async def test_hostile_strings_are_stored_as_data_not_markup(client: TestClient[Any, Any]) -> None:
    await _setup(client)
    channel = {
        "site": "shop",
        "campaign": "autumn",
        "name": "=cmd|' /C calc'!A0",
        "utm_source": "<img src=x onerror=alert(1)>",
    }
    resp = await client.post("/api/v1/admin/channels", json=channel, headers=ADMIN)
    assert resp.status == 201
    assert resp.content_type == "application/json"
    assert (await resp.json())["utm_source"] == "<img src=x onerror=alert(1)>"


async def test_healthz_reports_the_database(client: TestClient[Any, Any]) -> None:
    resp = await client.get("/healthz")
    assert resp.status == 200
    body = await resp.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"]["schema_current"] is True


async def test_unknown_route_is_a_json_404(client: TestClient[Any, Any]) -> None:
    resp = await client.get("/no/such/page")
    assert resp.status == 404
    assert (await resp.json())["error"] == "http_error"


async def test_healthz_is_503_when_the_database_is_unreachable(aiohttp_client: Any) -> None:
    settings = load_settings(database_url="postgresql+asyncpg://nobody:pw@127.0.0.1:1/none")
    client = await aiohttp_client(create_app(settings))
    resp = await client.get("/healthz")
    assert resp.status == 503
    body = await resp.json()
    assert body["checks"]["database"] == {"ok": False, "error": "unreachable"}
    assert "pw" not in await resp.text()


async def test_pool_status_and_retire_over_the_api(client: TestClient[Any, Any]) -> None:
    await _setup(client)
    rows = [{"number": f"+7495000000{i}", "site": "shop", "campaign": "autumn"} for i in (1, 2)]
    await client.post("/api/v1/admin/numbers", json={"numbers": rows}, headers=ADMIN)
    resp = await client.get("/api/v1/admin/pool?site=shop&campaign=autumn&days=1", headers=ADMIN)
    assert resp.status == 200
    status = await resp.json()
    assert (status["size"], status["live_leases"], status["recommended_size"]) == (2, 0, 1)
    bad = await client.get("/api/v1/admin/pool?site=shop&campaign=autumn&days=x", headers=ADMIN)
    assert bad.status == 400
    retire = await client.post(
        "/api/v1/admin/numbers/retire", json={"numbers": ["+74950000001"]}, headers=ADMIN
    )
    assert (await retire.json()) == {"retiring": 1}
    missing = await client.get("/api/v1/admin/pool?site=shop&campaign=nope", headers=ADMIN)
    assert missing.status == 404


async def test_own_and_tracking_numbers_are_refused_both_ways(
    client: TestClient[Any, Any],
) -> None:
    await _setup(client)
    own_row = {"number": "8 495 123-45-67", "site": "shop", "campaign": "autumn"}
    rows = [{"number": "+74950000001", "site": "shop", "campaign": "autumn"}, own_row]
    resp = await client.post("/api/v1/admin/numbers", json={"numbers": rows}, headers=ADMIN)
    assert resp.status == 409
    assert (await resp.json())["message"] == (
        "row 2, column \"number\": +74951234567 is an own number of site 'shop'; "
        "it cannot be a tracking number as well"
    )
    ok = await client.post("/api/v1/admin/numbers", json={"numbers": rows[:1]}, headers=ADMIN)
    assert ok.status == 201

    site = {"name": "blog", "own_numbers": ["+7 495 000-00-01"]}
    resp = await client.post("/api/v1/admin/sites", json=site, headers=ADMIN)
    assert resp.status == 409
    assert (
        "+74950000001 is a tracking number of campaign 'autumn'" in (await resp.json())["message"]
    )
    campaign = {"site": "shop", "name": "winter", "fallback_number": "+74950000001"}
    resp = await client.post("/api/v1/admin/campaigns", json=campaign, headers=ADMIN)
    assert resp.status == 409
    assert (await resp.json())["message"].startswith("fallback_number: +74950000001 is a tracking")
    sites = await (await client.get("/api/v1/admin/sites", headers=ADMIN)).json()
    assert [s["name"] for s in sites["sites"]] == ["shop"]


async def test_sites_come_with_the_line_their_pages_embed(client: TestClient[Any, Any]) -> None:
    await _setup(client)
    site = (await (await client.get("/api/v1/admin/sites", headers=ADMIN)).json())["sites"][0]
    snippet = client.make_url(f"/s/{site['public_key']}.js")
    assert site["embed"] == f'<script async src="{snippet}"></script>'
    # The line works: it loads the snippet.
    assert (await client.get(f"/s/{site['public_key']}.js")).status == 200
