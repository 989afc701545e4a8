"""Sites, campaigns, channels and numbers on both databases; batches land whole or not at all."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from callpool.accounts import store as accounts_store
from callpool.catalog import store as catalog_store
from callpool.catalog.spec import CampaignSpec, ChannelSpec, NumberSpec, SiteSpec, parse_spec
from callpool.db.engine import transaction
from callpool.db.tables import TrackingNumber
from callpool.errors import AuthError, Conflict, InvalidPhoneNumber, NotFound, ValidationError


async def _site_and_campaign(engine: AsyncEngine) -> None:
    site = SiteSpec(
        name="shop", own_numbers=("+7 (495) 123-45-67",), allowed_origins=("https://Shop.example/",)
    )
    await catalog_store.add_site(engine, site, "RU")
    await catalog_store.add_campaign(engine, CampaignSpec(site="shop", name="autumn"), "RU")


async def _count_numbers(engine: AsyncEngine) -> int:
    async with transaction(engine) as session:
        return int(await session.scalar(select(func.count()).select_from(TrackingNumber)) or 0)


async def test_site_campaign_channel_and_numbers_are_created(engine: AsyncEngine) -> None:
    await _site_and_campaign(engine)
    await catalog_store.add_channel(
        engine,
        ChannelSpec(
            site="shop",
            campaign="autumn",
            name="google ads",
            utm_source="google",
            utm_medium="cpc",
            priority=10,
        ),
    )
    await catalog_store.add_channel(
        engine, ChannelSpec(site="shop", campaign="autumn", name="billboard", kind="static")
    )
    added = await catalog_store.import_numbers(
        engine,
        [
            NumberSpec(number="8 495 000-00-01", site="shop", campaign="autumn"),
            NumberSpec(number="+74950000002", site="shop", campaign="autumn"),
            NumberSpec(number="74950000009", site="shop", campaign="autumn", channel="billboard"),
        ],
        "RU",
    )
    assert [n.e164 for n in added] == ["+74950000001", "+74950000002", "+74950000009"]
    assert added[2].channel_id is not None and added[0].channel_id is None

    sites = await catalog_store.list_sites(engine)
    assert sites[0].own_numbers == ["+74951234567"]
    assert sites[0].allowed_origins == ["https://shop.example"]
    assert len(sites[0].public_key) >= 16
    campaigns = await catalog_store.list_campaigns(engine, "shop")
    assert campaigns[0]["target_seconds"] == 10 and campaigns[0]["hold_seconds"] == 900
    channels = await catalog_store.list_channels(engine, "shop", "autumn")
    assert [c.name for c in channels] == ["google ads", "billboard"]


async def test_duplicate_site_is_a_conflict(engine: AsyncEngine) -> None:
    await _site_and_campaign(engine)
    with pytest.raises(Conflict, match="already exists"):
        await catalog_store.add_site(engine, SiteSpec(name="shop"), "RU")


async def test_campaign_of_unknown_site_is_not_found(engine: AsyncEngine) -> None:
    with pytest.raises(NotFound, match="no site named 'nowhere'"):
        await catalog_store.add_campaign(engine, CampaignSpec(site="nowhere", name="x"), "RU")


@pytest.mark.parametrize(
    ("rows", "error", "message"),
    [
        ([("+74950000001", None), ("not a number", None)], InvalidPhoneNumber, "row 2"),
        ([("+74950000001", None), ("+74950000001", None)], ValidationError, "already in row 1"),
        ([("+74950000001", None), ("+74950000002", "no-such")], NotFound, "no channel"),
        (
            [("+74950000003", None), ("+74950000005", "pool-ch")],
            ValidationError,
            "is a pool channel",
        ),
    ],
)
async def test_a_bad_row_aborts_the_whole_import(
    engine: AsyncEngine, rows: list[tuple[str, str | None]], error: type[Exception], message: str
) -> None:
    await _site_and_campaign(engine)
    await catalog_store.add_channel(
        engine, ChannelSpec(site="shop", campaign="autumn", name="pool-ch")
    )
    specs = [NumberSpec(number=n, site="shop", campaign="autumn", channel=c) for n, c in rows]
    with pytest.raises(error, match=message):
        await catalog_store.import_numbers(engine, specs, "RU")
    assert await _count_numbers(engine) == 0


async def test_importing_an_existing_number_names_it_and_writes_nothing(
    engine: AsyncEngine,
) -> None:
    await _site_and_campaign(engine)
    first = [NumberSpec(number="+74950000001", site="shop", campaign="autumn")]
    await catalog_store.import_numbers(engine, first, "RU")
    again = [NumberSpec(number="+74950000002", site="shop", campaign="autumn"), *first]
    with pytest.raises(Conflict, match=r"\+74950000001"):
        await catalog_store.import_numbers(engine, again, "RU")
    assert await _count_numbers(engine) == 1


async def test_token_maps_to_its_users_role(engine: AsyncEngine) -> None:
    await accounts_store.add_user(engine, "ann", "correct horse battery", "admin")
    new = await accounts_store.create_token(engine, "ann", "ci")
    assert await accounts_store.role_for_token(engine, new.token) == "admin"
    assert new.token not in repr(new)
    with pytest.raises(AuthError):
        await accounts_store.role_for_token(engine, new.token + "x")


async def test_user_password_is_hashed_with_argon2(engine: AsyncEngine) -> None:
    user = await accounts_store.add_user(engine, "bob", "correct horse battery", "viewer")
    assert user.password_hash.startswith("$argon2id$")
    assert "correct horse" not in user.password_hash


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "x", "colour": "red"}, "colour: unknown field"),
        ({"name": "x", "allowed_origins": ["javascript:alert(1)"]}, "must look like https"),
        ({"name": "x", "blocked_cidrs": ["10.0.0.0/33"]}, "blocked_cidrs"),
        ({"name": "<script>"}, "name"),
        ({"name": ""}, "name"),
    ],
)
def test_bad_site_input_names_the_field(data: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        parse_spec(SiteSpec, data)


def test_unknown_timezone_is_refused() -> None:
    with pytest.raises(ValidationError, match="unknown time zone"):
        parse_spec(CampaignSpec, {"site": "s", "name": "c", "timezone": "Mars/Olympus"})
