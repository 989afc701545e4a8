"""A campaign as the metrics see it, read from the catalog: settings, channels, site lines."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import RowMapping, select
from sqlalchemy.ext.asyncio import AsyncConnection

from callpool.db.tables import Campaign, Channel, Site
from callpool.errors import NotFound
from callpool.metrics.model import ChannelInfo, MetricSettings


@dataclass(frozen=True, slots=True)
class CampaignMetrics:
    id: int
    name: str
    site_id: int
    site: str
    settings: MetricSettings
    channels: tuple[ChannelInfo, ...]

    @property
    def timezone(self) -> str:
        return self.settings.timezone

    def today(self, now: datetime) -> date:
        return now.astimezone(ZoneInfo(self.settings.timezone)).date()


_CAMPAIGN = select(
    Campaign.__table__, Site.name.label("site_name"), Site.own_numbers.label("site_numbers")
).join(Site, Site.id == Campaign.site_id)


async def load_campaign(conn: AsyncConnection, campaign_id: int) -> CampaignMetrics:
    row = (await conn.execute(_CAMPAIGN.where(Campaign.id == campaign_id))).one_or_none()
    if row is None:
        raise NotFound(f"no campaign with id {campaign_id}")
    return await _build(conn, row._mapping)


async def find_campaign(conn: AsyncConnection, site: str, campaign: str) -> CampaignMetrics:
    row = (
        await conn.execute(_CAMPAIGN.where(Site.name == site, Campaign.name == campaign))
    ).one_or_none()
    if row is None:
        raise NotFound(f"no campaign {campaign!r} in site {site!r}")
    return await _build(conn, row._mapping)


async def all_campaign_ids(conn: AsyncConnection) -> list[int]:
    return list((await conn.scalars(select(Campaign.id).order_by(Campaign.id))).all())


async def _build(conn: AsyncConnection, c: RowMapping) -> CampaignMetrics:
    settings = MetricSettings(
        campaign_id=c["id"],
        site_numbers=frozenset(c["site_numbers"]),
        timezone=c["timezone"],
        target_seconds=c["target_seconds"],
        short_abandon_seconds=c["short_abandon_seconds"],
        service_level_seconds=c["service_level_seconds"],
        callback_window_days=c["callback_window_days"],
        self_callback_same_day=bool(c["self_callback_same_day"]),
        first_time_lookback_days=c["first_time_lookback_days"],
        successful_outcomes=frozenset(c["successful_outcomes"]),
        telephony_cost_per_minute=Decimal(str(c["telephony_cost_per_minute"])),
    )
    zone = ZoneInfo(c["timezone"])
    rows = await conn.execute(
        select(Channel.id, Channel.name, Channel.ad_spend_per_day, Channel.created_at)
        .where(Channel.campaign_id == c["id"])
        .order_by(Channel.id)
    )
    channels = tuple(
        ChannelInfo(id_, name, Decimal(str(spend)), created.astimezone(zone).date())
        for id_, name, spend, created in rows
    )
    return CampaignMetrics(c["id"], c["name"], c["site_id"], c["site_name"], settings, channels)
