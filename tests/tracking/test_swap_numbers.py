"""A campaign's swap numbers: which of its site's own numbers it replaces, on both databases.

Set through the catalog store, the CLI (``campaign add --swap-number``) and the admin
API; each swap number must be one of the site's own numbers, or nothing is written.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from click.testing import CliRunner
from sqlalchemy import JSON, bindparam, text
from sqlalchemy.ext.asyncio import AsyncEngine

from callpool.app import create_app
from callpool.catalog import store as catalog_store
from callpool.catalog.spec import CampaignSpec, SiteSpec
from callpool.cli import main
from callpool.db import migrate
from callpool.db.engine import create_engine
from callpool.db.types import UtcDateTime
from callpool.errors import InvalidPhoneNumber, ValidationError
from callpool.settings import load_settings
from callpool.tracking.visits import CampaignConfig, SiteConfig, numbers_to_show
from tests.conftest import empty_tables

SALES = "+74951234567"
SERVICE = "+74959876543"
ADMIN = {"Authorization": "Bearer bootstrap-admin-token-123"}


async def _site(engine: AsyncEngine) -> None:
    spec = SiteSpec(name="shop", own_numbers=(SALES, "8 (495) 987-65-43"))
    await catalog_store.add_site(engine, spec, "RU")


async def test_swap_numbers_are_stored_as_e164(engine: AsyncEngine) -> None:
    await _site(engine)
    spec = CampaignSpec(site="shop", name="sales", swap_numbers=("8 495 123-45-67", SALES))
    campaign = await catalog_store.add_campaign(engine, spec, "RU")
    assert campaign.swap_numbers == [SALES]
    await catalog_store.add_campaign(engine, CampaignSpec(site="shop", name="all"), "RU")
    listed = {c["name"]: c["swap_numbers"] for c in await catalog_store.list_campaigns(engine)}
    assert listed == {"sales": [SALES], "all": []}


@pytest.mark.parametrize(
    ("number", "error", "message"),
    [
        ("+74950000001", ValidationError, "swap_numbers: +74950000001 is not a number of site"),
        ("12ab", InvalidPhoneNumber, "swap_numbers: not a phone number"),
    ],
)
async def test_a_swap_number_the_site_does_not_have_is_refused_and_nothing_is_written(
    engine: AsyncEngine, number: str, error: type[Exception], message: str
) -> None:
    await _site(engine)
    spec = CampaignSpec(site="shop", name="sales", swap_numbers=(SALES, number))
    with pytest.raises(error, match=re.escape(message)) as caught:
        await catalog_store.add_campaign(engine, spec, "RU")
    if error is ValidationError:
        assert f"(it has: {SALES}, {SERVICE})" in str(caught.value)
    assert await catalog_store.list_campaigns(engine) == []


def _cli(database_url: str, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["--database-url", database_url, *args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_cli_campaign_add_takes_repeatable_swap_numbers(database_url: str) -> None:
    site = ("site", "add", "shop", "--number", SALES, "--number", SERVICE)
    assert _cli(database_url, *site)[0] == 0
    code, _, err = _cli(
        database_url, "campaign", "add", "shop", "c", "--swap-number", "+7 495 000-00-01"
    )
    assert code == 2
    assert err.strip() == (
        f"error: swap_numbers: +74950000001 is not a number of site 'shop' "
        f"(it has: {SALES}, {SERVICE})"
    )
    args = ("campaign", "add", "shop", "sales", "--swap-number", "8 495 123 45 67")
    assert _cli(database_url, *args)[0] == 0
    both = ("--swap-number", SALES, "--swap-number", SERVICE)
    assert _cli(database_url, "campaign", "add", "shop", "both", *both)[0] == 0
    code, out, _ = _cli(database_url, "campaign", "list", "--json")
    assert code == 0
    assert {c["name"]: c["swap_numbers"] for c in json.loads(out)} == {
        "sales": [SALES],
        "both": [SALES, SERVICE],
    }


@pytest.fixture
async def admin(aiohttp_client: Any, database_url: str) -> TestClient[Any, Any]:
    settings = load_settings(database_url=database_url, admin_token="bootstrap-admin-token-123")
    return await aiohttp_client(create_app(settings))  # type: ignore[no-any-return]


async def test_admin_api_campaign_create_takes_swap_numbers(
    admin: TestClient[Any, Any],
) -> None:
    site = {"name": "shop", "own_numbers": [SALES, SERVICE]}
    assert (await admin.post("/api/v1/admin/sites", json=site, headers=ADMIN)).status == 201
    bad = {"site": "shop", "name": "sales", "swap_numbers": ["+74950000001"]}
    resp = await admin.post("/api/v1/admin/campaigns", json=bad, headers=ADMIN)
    assert resp.status == 400
    assert (await resp.json())["error"] == "invalid_input"
    good = {"site": "shop", "name": "sales", "swap_numbers": ["8 495 987-65-43"]}
    resp = await admin.post("/api/v1/admin/campaigns", json=good, headers=ADMIN)
    assert resp.status == 201
    assert (await resp.json())["swap_numbers"] == [SERVICE]
    listed = await (await admin.get("/api/v1/admin/campaigns", headers=ADMIN)).json()
    assert [(c["name"], c["swap_numbers"]) for c in listed["campaigns"]] == [("sales", [SERVICE])]


async def test_migration_0005_gives_existing_campaigns_every_number(database_url: str) -> None:
    engine = create_engine(database_url)
    now = bindparam("now", datetime(2026, 11, 24, tzinfo=UTC), type_=UtcDateTime())
    own = bindparam("own", [SALES, SERVICE], type_=JSON())
    try:
        await migrate.downgrade(engine, "0004")
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO sites (name, public_key, allowed_origins, own_numbers, "
                    "blocked_cidrs, consent_required, created_at) "
                    "VALUES ('shop', 'k1', '[]', :own, '[]', false, :now)"
                ).bindparams(own, now)
            )
            await conn.execute(
                text(
                    "INSERT INTO campaigns (site_id, name, timezone, target_seconds, "
                    "hold_seconds, cooldown_seconds, attribution_grace_seconds, created_at) "
                    "SELECT id, 'old', 'UTC', 10, 900, 60, 1800, :now FROM sites"
                ).bindparams(now)
            )
        await migrate.upgrade(engine, "0005")
        # Plain SQL: the model has columns that later migrations add.
        async with engine.connect() as conn:
            [(name, swap)] = (
                await conn.execute(text("SELECT name, swap_numbers FROM campaigns"))
            ).all()
        assert (name, json.loads(swap) if isinstance(swap, str) else swap) == ("old", [])
    finally:
        await migrate.upgrade(engine)
        await engine.dispose()
        await empty_tables(database_url)


def _site_config(*campaigns: CampaignConfig) -> SiteConfig:
    return SiteConfig(
        id=1,
        key="k",
        allowed_origins=frozenset(),
        own_numbers=(SALES, SERVICE),
        blocked_networks=(),
        consent_required=False,
        consent_cookie=None,
        campaigns=campaigns,
        rules=(),
    )


@pytest.mark.parametrize(
    ("swap", "number", "expected"),
    [
        ((), "+74950000001", {SALES: "+74950000001", SERVICE: "+74950000001"}),
        ((SALES,), "+74950000001", {SALES: "+74950000001", SERVICE: SERVICE}),
        ((SERVICE,), "+74950000001", {SALES: SALES, SERVICE: "+74950000001"}),
        ((SALES,), None, {SALES: SALES, SERVICE: SERVICE}),
        (None, "+74950000001", {SALES: "+74950000001", SERVICE: "+74950000001"}),
    ],
)
def test_numbers_to_show_swaps_the_campaigns_numbers_only(
    swap: tuple[str, ...] | None, number: str | None, expected: dict[str, str]
) -> None:
    hour = timedelta(hours=1)
    campaign = None if swap is None else CampaignConfig(1, hour, hour, None, swap)
    site = _site_config(*([campaign] if campaign else []))
    assert dict(numbers_to_show(site, campaign, number)) == expected
