"""A site's four recording settings, set through the CLI and the admin API, on both databases.

A bad value is one line and writes nothing; an admin of another site cannot change them.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from click.testing import CliRunner

from callpool.accounts import store as accounts_store
from callpool.accounts.access import Access
from callpool.app import create_app
from callpool.catalog import store as catalog_store
from callpool.catalog.spec import SiteRecordings, SiteSpec, parse_spec
from callpool.cli import main
from callpool.db.engine import create_engine
from callpool.errors import NotFound, ValidationError
from callpool.settings import load_settings

ADMIN = {"Authorization": "Bearer bootstrap-admin-token-123"}
FIELDS = (
    "recordings_enabled",
    "recordings_for_viewers",
    "recording_retention_days",
    "recording_keep_target_only",
)
DEFAULTS = (True, True, None, False)


def _cli(database_url: str, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["--database-url", database_url, *args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def _settings(database_url: str, site: str) -> tuple[Any, ...]:
    rows = json.loads(_cli(database_url, "site", "list", "--json")[1])
    (row,) = [r for r in rows if r["name"] == site]
    return tuple(row[field] for field in FIELDS)


# --- the spec -----------------------------------------------------------------------------
def test_site_spec_defaults_keep_recordings_on_for_everyone_forever() -> None:
    spec = SiteSpec(name="shop")
    assert tuple(getattr(spec, f) for f in FIELDS) == DEFAULTS


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"recording_retention_days": 0}, "recording_retention_days: must be at least 1"),
        ({"recording_retention_days": "ten"}, "recording_retention_days: must be a whole number"),
        ({"recordings_enabled": "maybe"}, "recordings_enabled: must be true or false"),
        ({"recording_days": 3}, "recording_days: unknown field"),
    ],
)
def test_a_bad_recording_setting_is_one_line(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_spec(SiteRecordings, data)
    assert str(caught.value) == message


def test_a_change_sets_only_the_fields_it_was_given() -> None:
    spec = parse_spec(SiteRecordings, {"recording_retention_days": None})
    assert spec.changes() == {"recording_retention_days": None}


# --- the CLI ------------------------------------------------------------------------------
def test_cli_sets_recording_settings_on_add_and_update(database_url: str) -> None:
    code, _, err = _cli(
        database_url, "site", "add", "shop", "--origin", "https://shop.example",
        "--recordings", "on", "--recordings-for-viewers", "no",
        "--recording-retention-days", "90", "--recording-keep-target-only",
    )  # fmt: skip
    assert code == 0, err
    assert _settings(database_url, "shop") == (True, False, 90, True)
    _cli(database_url, "site", "add", "blog", "--origin", "https://blog.example")
    assert _settings(database_url, "blog") == DEFAULTS

    code, out, err = _cli(
        database_url, "site", "update", "shop", "--recordings", "OFF",
        "--recording-retention-days", "forever", "--recording-keep-all",
    )  # fmt: skip
    assert code == 0, err
    assert out.splitlines()[1] == "  recordings: off, admins only, kept forever, every call"
    assert _settings(database_url, "shop") == (False, False, None, False)
    # Only what is given changes.
    _cli(database_url, "site", "update", "shop", "--recordings-for-viewers", "yes")
    assert _settings(database_url, "shop") == (False, True, None, False)
    assert _settings(database_url, "blog") == DEFAULTS


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (("--recordings", "maybe"), "error: --recordings: must be on or off, not 'maybe'\n"),
        (
            ("--recordings-for-viewers", "on"),
            "error: --recordings-for-viewers: must be yes or no, not 'on'\n",
        ),
        (
            ("--recording-retention-days", "0"),
            "error: recording_retention_days: must be at least 1\n",
        ),
        (
            ("--recording-retention-days", "a week"),
            "error: recording_retention_days: must be a whole number\n",
        ),
    ],
)
def test_cli_bad_recording_value_is_one_line_and_writes_nothing(
    database_url: str, args: tuple[str, ...], error: str
) -> None:
    _cli(database_url, "site", "add", "shop", "--origin", "https://shop.example")
    # With a good change beside the bad one: neither lands.
    code, out, err = _cli(
        database_url, "site", "update", "shop", "--recording-keep-target-only",
        "--add-origin", "https://www.shop.example", *args,
    )  # fmt: skip
    assert (code, out, err) == (2, "", error)
    assert _settings(database_url, "shop") == DEFAULTS
    rows = json.loads(_cli(database_url, "site", "list", "--json")[1])
    assert rows[0]["allowed_origins"] == ["https://shop.example"]
    # On add, no site is created.
    code, _, err = _cli(database_url, "site", "add", "blog", *args)
    assert (code, err) == (2, error)
    assert [r["name"] for r in json.loads(_cli(database_url, "site", "list", "--json")[1])] == [
        "shop"
    ]


def test_cli_update_of_an_unknown_site_is_one_line(database_url: str) -> None:
    code, _, err = _cli(database_url, "site", "update", "nowhere", "--recordings", "off")
    assert (code, err) == (2, "error: no site named 'nowhere'\n")


def test_cli_update_with_nothing_to_change_says_what_to_give(database_url: str) -> None:
    code, _, err = _cli(database_url, "site", "update", "shop")
    assert code == 2
    assert err == (
        "error: nothing to change: give --add-origin, --add-number or a recording option\n"
    )


# --- the admin API ------------------------------------------------------------------------
@pytest.fixture
async def client(aiohttp_client: Any, database_url: str) -> TestClient[Any, Any]:
    settings = load_settings(database_url=database_url, admin_token="bootstrap-admin-token-123")
    return await aiohttp_client(create_app(settings))  # type: ignore[no-any-return]


async def _sites(client: TestClient[Any, Any]) -> dict[str, tuple[Any, ...]]:
    body = await (await client.get("/api/v1/admin/sites", headers=ADMIN)).json()
    return {s["name"]: tuple(s[f] for f in FIELDS) for s in body["sites"]}


async def test_api_sets_recording_settings_on_post_and_patch(
    client: TestClient[Any, Any],
) -> None:
    site = {"name": "shop", "recordings_for_viewers": False, "recording_retention_days": 30}
    resp = await client.post("/api/v1/admin/sites", json=site, headers=ADMIN)
    assert resp.status == 201, await resp.text()
    body = await resp.json()
    assert tuple(body[f] for f in FIELDS) == (True, False, 30, False)

    change = {"recording_keep_target_only": True, "recording_retention_days": None}
    resp = await client.patch("/api/v1/admin/sites/shop", json=change, headers=ADMIN)
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert tuple(body[f] for f in FIELDS) == (True, False, None, True)
    assert await _sites(client) == {"shop": (True, False, None, True)}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"recordings_enabled": False, "recording_retention_days": -1},
            "recording_retention_days: must be at least 1",
        ),
        ({"recordings_enabled": "perhaps"}, "recordings_enabled: must be true or false"),
        ({"name": "renamed"}, "name: unknown field"),
        ({}, "body: give at least one recording setting to change"),
    ],
)
async def test_api_bad_recording_value_is_400_one_line_and_writes_nothing(
    client: TestClient[Any, Any], body: dict[str, Any], message: str
) -> None:
    await client.post("/api/v1/admin/sites", json={"name": "shop"}, headers=ADMIN)
    resp = await client.patch("/api/v1/admin/sites/shop", json=body, headers=ADMIN)
    assert resp.status == 400
    answer = await resp.json()
    assert answer["message"] == message and "\n" not in answer["message"]
    assert await _sites(client) == {"shop": DEFAULTS}
    if body and "name" not in body:  # a bad value: no new site either
        bad = await client.post("/api/v1/admin/sites", json={"name": "blog", **body}, headers=ADMIN)
        assert (bad.status, (await bad.json())["message"]) == (400, message)
        assert "blog" not in await _sites(client)


async def test_api_patch_needs_an_admin_of_that_site(
    client: TestClient[Any, Any], database_url: str
) -> None:
    for name in ("shop", "other"):
        await client.post("/api/v1/admin/sites", json={"name": name}, headers=ADMIN)
    engine = create_engine(database_url)
    try:
        await accounts_store.add_user(engine, "bob", "a long enough password", "admin", ["other"])
        await accounts_store.add_user(engine, "val", "a long enough password", "viewer")
        bob = await accounts_store.create_token(engine, "bob", "api")
        val = await accounts_store.create_token(engine, "val", "api")
    finally:
        await engine.dispose()
    off = {"recordings_enabled": False}
    as_bob = {"Authorization": f"Bearer {bob.token}"}
    assert (await client.patch("/api/v1/admin/sites/shop", json=off, headers=as_bob)).status == 404
    as_val = {"Authorization": f"Bearer {val.token}"}
    assert (await client.patch("/api/v1/admin/sites/other", json=off, headers=as_val)).status == 403
    assert (await client.patch("/api/v1/admin/sites/other", json=off, headers=as_bob)).status == 200
    assert await _sites(client) == {
        "other": (False, True, None, False),
        "shop": DEFAULTS,
    }
    missing = await client.patch("/api/v1/admin/sites/nowhere", json=off, headers=ADMIN)
    assert missing.status == 404


async def test_store_refuses_an_admin_of_another_site(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        shop = await catalog_store.add_site(engine, SiteSpec(name="shop"), "RU")
        change = parse_spec(SiteRecordings, {"recordings_enabled": False})
        bob = Access(user_id=7, username="bob", role="admin", all_sites=False)
        with pytest.raises(NotFound, match="no site named 'shop'"):
            await catalog_store.set_site_recordings(engine, "shop", change, bob)
        own = Access(7, "bob", "admin", False, frozenset({shop.id}))
        site = await catalog_store.set_site_recordings(engine, "shop", change, own)
        assert site.recordings_enabled is False
    finally:
        await engine.dispose()
