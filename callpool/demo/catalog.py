"""The demo's site, campaign, channels, number pool and log-in, created once per database.

``ensure_demo_catalog`` is idempotent: a second ``callpool demo`` on the same database
finds the site and keeps it (new origins are not added; the pool is what the first run
sized). The demo user's password is set anew each run and printed, so it is never
written anywhere but the terminal.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from callpool.accounts import store as accounts
from callpool.accounts.credentials import hash_password
from callpool.catalog import store as catalog
from callpool.catalog.spec import CampaignSpec, ChannelSpec, NumberSpec, SiteSpec
from callpool.db.engine import connection
from callpool.db.tables import Campaign, Channel, Site, TrackingNumber, User
from callpool.demo.pool_run import PoolConfig
from callpool.demo.traffic import STATIC_CHANNEL, TrafficShape
from callpool.tracking.capacity import recommended_pool_size, rule_of_thumb_pool_size

SITE = "demo"
CAMPAIGN = "plumbing"
USERNAME = "demo"
OWN_NUMBER = "+74951230000"
STATIC_NUMBER = "+74951239999"
TIMEZONE = "Europe/Moscow"
HOLD_SECONDS = 60
COOLDOWN_SECONDS = 10
GRACE_SECONDS = 1800
TARGET_SECONDS = 10

# name -> the channel's rule (first match by ascending priority); "direct" catches the rest.
CHANNEL_RULES: dict[str, dict[str, object]] = {
    "paid-search": {"utm_medium": "cpc", "priority": 10, "ad_spend_per_day": "1500"},
    "e-mail": {"utm_medium": "email", "priority": 20, "ad_spend_per_day": "200"},
    "organic-search": {"referrer_host": "google.com", "priority": 30},
    "social": {"referrer_host": "vk.com", "priority": 40, "ad_spend_per_day": "500"},
    "referral": {"referrer_host": "partner-blog.example", "priority": 50},
    "direct": {"priority": 1000},
    STATIC_CHANNEL: {"kind": "static", "utm_source": "print", "priority": 5},
}


@dataclass(frozen=True, slots=True)
class DemoCatalog:
    key: str
    site_id: int
    campaign_id: int
    channel_ids: dict[str, int]
    pool: tuple[str, ...]
    created: bool
    rule_of_thumb: int

    def pool_config(self) -> PoolConfig:
        return PoolConfig(
            self.pool,
            hold=timedelta(seconds=HOLD_SECONDS),
            cooldown=timedelta(seconds=COOLDOWN_SECONDS),
            grace=timedelta(seconds=GRACE_SECONDS),
            own_number=OWN_NUMBER,
            static_number=STATIC_NUMBER,
            campaign_id=self.campaign_id,
        )


def demo_pool_size(shape: TrafficShape) -> tuple[int, int]:
    """The Erlang-B size for the shape's peak hour, and the rule of thumb's."""
    peak_share = (
        max(shape.hourly)
        / sum(shape.hourly)
        * max(shape.weekly)
        / (sum(shape.weekly) / len(shape.weekly))
    )
    peak_per_hour = shape.visitors_per_day * peak_share
    size = recommended_pool_size(
        peak_per_hour,
        shape.mean_session_seconds,
        HOLD_SECONDS,
        cooldown_seconds=COOLDOWN_SECONDS,
    )
    return size, rule_of_thumb_pool_size(round(shape.visitors_per_day))


async def ensure_demo_catalog(
    engine: AsyncEngine, origins: list[str], pool_size: int, rule_of_thumb: int, region: str
) -> DemoCatalog:
    async with connection(engine) as conn:
        site = (await conn.execute(select(Site.id).where(Site.name == SITE))).first()
    created = site is None
    if created:
        await _create(engine, origins, pool_size, region)
    return await _load(engine, created, rule_of_thumb)


async def _create(engine: AsyncEngine, origins: list[str], pool_size: int, region: str) -> None:
    site = SiteSpec(name=SITE, allowed_origins=tuple(origins), own_numbers=(OWN_NUMBER,))
    await catalog.add_site(engine, site, region)
    campaign = CampaignSpec(
        site=SITE,
        name=CAMPAIGN,
        timezone=TIMEZONE,
        target_seconds=TARGET_SECONDS,
        hold_seconds=HOLD_SECONDS,
        cooldown_seconds=COOLDOWN_SECONDS,
        attribution_grace_seconds=GRACE_SECONDS,
    )
    await catalog.add_campaign(engine, campaign, region)
    for name, rule in CHANNEL_RULES.items():
        spec = ChannelSpec.model_validate(
            {"site": SITE, "campaign": CAMPAIGN, "name": name, **rule}
        )
        await catalog.add_channel(engine, spec)
    rows = [NumberSpec(number=n, site=SITE, campaign=CAMPAIGN) for n in pool_numbers(pool_size)]
    rows.append(NumberSpec(number=STATIC_NUMBER, site=SITE, campaign=CAMPAIGN, channel="print"))
    await catalog.import_numbers(engine, rows, region)


def pool_numbers(size: int) -> list[str]:
    return [f"+7495555{n:04d}" for n in range(1, size + 1)]


async def _load(engine: AsyncEngine, created: bool, rule_of_thumb: int) -> DemoCatalog:
    async with connection(engine) as conn:
        site_id, key = (
            await conn.execute(select(Site.id, Site.public_key).where(Site.name == SITE))
        ).one()
        campaign_id = await conn.scalar(
            select(Campaign.id).where(Campaign.site_id == site_id, Campaign.name == CAMPAIGN)
        )
        assert campaign_id is not None
        channels = (
            await conn.execute(
                select(Channel.name, Channel.id).where(Channel.campaign_id == campaign_id)
            )
        ).all()
        pool = (
            await conn.scalars(
                select(TrackingNumber.e164)
                .where(
                    TrackingNumber.campaign_id == campaign_id,
                    TrackingNumber.channel_id.is_(None),
                )
                .order_by(TrackingNumber.e164)
            )
        ).all()
    return DemoCatalog(
        key, site_id, campaign_id, {n: i for n, i in channels}, tuple(pool), created, rule_of_thumb
    )


async def reset_demo_login(engine: AsyncEngine) -> str:
    """The demo user (an admin of every site) with a fresh password, which is returned."""
    password = secrets.token_urlsafe(9)
    async with connection(engine) as conn:
        exists = await conn.scalar(select(User.id).where(User.username == USERNAME))
        if exists is not None:
            await conn.execute(
                update(User)
                .where(User.id == exists)
                .values(password_hash=hash_password(password), active=True)
            )
            return password
    await accounts.add_user(engine, USERNAME, password, "admin")
    return password
