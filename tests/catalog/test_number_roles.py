"""A site's own numbers and a campaign's fallback are never tracking numbers, both ways round.

On both databases; every refusal names the number and writes nothing.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from callpool.catalog import store as catalog_store
from callpool.catalog.number_roles import lock_number_roles
from callpool.catalog.spec import CampaignSpec, ChannelSpec, NumberSpec, SiteSpec
from callpool.db.engine import create_engine, transaction
from callpool.db.tables import Campaign, Site, TrackingNumber
from callpool.errors import Conflict

OWN = "+74951234567"
FALLBACK = "+74957654321"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


async def _catalog(engine: AsyncEngine) -> None:
    await catalog_store.add_site(engine, SiteSpec(name="shop", own_numbers=(OWN,)), "RU")
    campaign = CampaignSpec(site="shop", name="autumn", fallback_number=FALLBACK)
    await catalog_store.add_campaign(engine, campaign, "RU")
    channel = ChannelSpec(site="shop", campaign="autumn", name="print", kind="static")
    await catalog_store.add_channel(engine, channel)
    numbers = [NumberSpec(number="+74950000001", site="shop", campaign="autumn")]
    await catalog_store.import_numbers(engine, numbers, "RU")


async def _count(engine: AsyncEngine, table: type[object]) -> int:
    async with transaction(engine) as session:
        return int(await session.scalar(select(func.count()).select_from(table)) or 0)


@pytest.mark.parametrize(
    ("number", "channel", "role"),
    [
        ("8 (495) 123-45-67", None, "an own number of site 'shop'"),
        ("+7 495 123 45 67", "print", "an own number of site 'shop'"),
        ("+74957654321", None, "the fallback number of campaign 'autumn' of site 'shop'"),
    ],
)
async def test_a_published_number_is_never_imported_as_a_tracking_number(
    engine: AsyncEngine, number: str, channel: str | None, role: str
) -> None:
    await _catalog(engine)
    rows = [
        NumberSpec(number="+74950000002", site="shop", campaign="autumn"),
        NumberSpec(number=number, site="shop", campaign="autumn", channel=channel),
    ]
    with pytest.raises(Conflict) as refused:
        await catalog_store.import_numbers(engine, rows, "RU")
    e164 = OWN if "own" in role else FALLBACK
    assert str(refused.value) == (
        f'row 2, column "number": {e164} is {role}; it cannot be a tracking number as well'
    )
    assert await _count(engine, TrackingNumber) == 1


async def test_another_sites_own_number_is_refused_too(engine: AsyncEngine) -> None:
    await _catalog(engine)
    await catalog_store.add_site(engine, SiteSpec(name="blog", own_numbers=("+74991112233",)), "RU")
    rows = [NumberSpec(number="+74991112233", site="shop", campaign="autumn")]
    with pytest.raises(Conflict, match=r"\+74991112233 is an own number of site 'blog'"):
        await catalog_store.import_numbers(engine, rows, "RU")


async def test_a_tracking_number_is_never_a_sites_own_number(engine: AsyncEngine) -> None:
    await _catalog(engine)
    spec = SiteSpec(name="blog", own_numbers=("+74991112233", "8 495 000-00-01"))
    with pytest.raises(Conflict) as refused:
        await catalog_store.add_site(engine, spec, "RU")
    assert str(refused.value) == (
        "own_numbers: +74950000001 is a tracking number of campaign 'autumn' of site 'shop'; "
        "it cannot be an own number as well"
    )
    assert await _count(engine, Site) == 1


async def test_a_tracking_number_is_never_a_fallback_number(engine: AsyncEngine) -> None:
    await _catalog(engine)
    spec = CampaignSpec(site="shop", name="winter", fallback_number="+7 495 000-00-01")
    with pytest.raises(Conflict) as refused:
        await catalog_store.add_campaign(engine, spec, "RU")
    assert str(refused.value) == (
        "fallback_number: +74950000001 is a tracking number of campaign 'autumn' of site "
        "'shop'; it cannot be a fallback number as well"
    )
    assert await _count(engine, Campaign) == 1


async def test_the_sites_own_number_may_be_its_campaigns_fallback(engine: AsyncEngine) -> None:
    # Showing the main line when the pool runs out is what a fallback is for.
    await _catalog(engine)
    spec = CampaignSpec(site="shop", name="winter", fallback_number=OWN)
    campaign = await catalog_store.add_campaign(engine, spec, "RU")
    assert campaign.fallback_number == OWN


async def test_a_concurrent_writer_waits_and_then_sees_the_number(
    engine: AsyncEngine, database_url: str
) -> None:
    # Two processes: one imports +74950000002 and has not committed yet while the other
    # adds a site with it as its own number. The second must wait, then refuse.
    await _catalog(engine)
    other = create_engine(database_url)
    try:
        async with transaction(engine) as session:
            await lock_number_roles(session)
            campaign_id = await session.scalar(select(Campaign.id))
            session.add(
                TrackingNumber(e164="+74950000002", campaign_id=campaign_id, created_at=NOW)
            )
            await session.flush()
            spec = SiteSpec(name="blog", own_numbers=("+74950000002",))
            adding = asyncio.create_task(catalog_store.add_site(other, spec, "RU"))
            await asyncio.sleep(0.5)
            assert not adding.done()  # held by the lock, not deciding on a stale read
        with pytest.raises(Conflict, match=r"\+74950000002 is a tracking number"):
            await adding
    finally:
        await other.dispose()
    assert await _count(engine, Site) == 1
