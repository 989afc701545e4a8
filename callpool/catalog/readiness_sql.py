"""SQL for ``readiness``: a site's facts (campaigns, channels, live numbers), read at once."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from callpool.catalog.number_roles import tracking_owners
from callpool.catalog.readiness import CampaignFacts, ChannelFacts, SiteFacts
from callpool.db.engine import transaction
from callpool.db.tables import Campaign, Channel, Site, TrackingNumber
from callpool.errors import NotFound


async def site_facts(engine: AsyncEngine, name: str) -> SiteFacts:
    """What ``readiness.check_site`` needs to know about a site, read in one transaction."""
    async with transaction(engine) as session:
        site = await session.scalar(select(Site).where(Site.name == name))
        if site is None:
            raise NotFound(f"no site named {name!r}")
        campaigns = (
            await session.scalars(
                select(Campaign).where(Campaign.site_id == site.id).order_by(Campaign.id)
            )
        ).all()
        ids = [c.id for c in campaigns]
        channels = (
            await session.scalars(
                select(Channel)
                .where(Channel.campaign_id.in_(ids))
                .order_by(Channel.priority, Channel.name)
            )
        ).all()
        live = (
            TrackingNumber.campaign_id.in_(ids),
            TrackingNumber.active.is_(True),
            TrackingNumber.retiring.is_(False),
        )
        count = func.count(TrackingNumber.id)
        pool_rows = await session.execute(
            select(TrackingNumber.campaign_id, count)
            .where(*live, TrackingNumber.channel_id.is_(None))
            .group_by(TrackingNumber.campaign_id)
        )
        pools: dict[int, int] = {campaign: n for campaign, n in pool_rows.all()}
        static_rows = await session.execute(
            select(TrackingNumber.channel_id, count)
            .where(*live, TrackingNumber.channel_id.is_not(None))
            .group_by(TrackingNumber.channel_id)
        )
        statics: dict[int | None, int] = {channel: n for channel, n in static_rows.all()}
        tracking = await tracking_owners(session, site.own_numbers)
    return SiteFacts(
        name=site.name,
        key=site.public_key,
        allowed_origins=tuple(site.allowed_origins),
        own_numbers=tuple(site.own_numbers),
        campaigns=tuple(
            CampaignFacts(
                name=campaign.name,
                fallback_number=campaign.fallback_number,
                pool_numbers=pools.get(campaign.id, 0),
                channels=tuple(
                    ChannelFacts(channel.name, channel.kind, statics.get(channel.id, 0))
                    for channel in channels
                    if channel.campaign_id == campaign.id
                ),
            )
            for campaign in campaigns
        ),
        own_numbers_tracking=tuple(
            (number, tracking[number]) for number in site.own_numbers if number in tracking
        ),
    )
