"""Loads a site's configuration by its public key, cached for a few seconds.

The visit API reads it on every request; the catalog changes rarely, so a short cache
takes the catalog queries off the hot path. Changes show within ``ttl`` seconds.
"""

from __future__ import annotations

import time
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from callpool.db.engine import connection
from callpool.db.tables import Campaign, Channel, Site, TrackingNumber
from callpool.errors import NotFound
from callpool.tracking.classify import ChannelRule
from callpool.tracking.guard import parse_networks
from callpool.tracking.visits import CampaignConfig, SiteConfig


class SiteDirectory:
    def __init__(self, engine: AsyncEngine, ttl: float = 10.0) -> None:
        self._engine = engine
        self._ttl = ttl
        self._cache: dict[str, tuple[float, SiteConfig | None]] = {}

    async def get(self, key: str) -> SiteConfig:
        now = time.monotonic()
        cached = self._cache.get(key)
        if cached is None or cached[0] < now:
            if len(self._cache) > 10_000:
                self._cache.clear()
            cached = (now + self._ttl, await self._load(key))
            self._cache[key] = cached
        if cached[1] is None:
            raise NotFound("unknown site key")
        return cached[1]

    def invalidate(self) -> None:
        self._cache.clear()

    async def _load(self, key: str) -> SiteConfig | None:
        if not key or len(key) > 64:
            return None
        async with connection(self._engine) as conn:
            site = (await conn.execute(select(Site).where(Site.public_key == key))).first()
            if site is None:
                return None
            campaigns = (
                await conn.execute(
                    select(Campaign).where(Campaign.site_id == site.id).order_by(Campaign.id)
                )
            ).all()
            campaign_ids = [c.id for c in campaigns]
            channels = (
                await conn.execute(select(Channel).where(Channel.campaign_id.in_(campaign_ids)))
            ).all()
            statics = (
                await conn.execute(
                    select(TrackingNumber.channel_id, TrackingNumber.e164)
                    .where(
                        TrackingNumber.campaign_id.in_(campaign_ids),
                        TrackingNumber.channel_id.is_not(None),
                        TrackingNumber.active.is_(True),
                    )
                    .order_by(TrackingNumber.id)
                )
            ).all()
        static_numbers: dict[int, str] = {}
        for channel_id, e164 in statics:
            if channel_id is not None:
                static_numbers.setdefault(channel_id, e164)
        return SiteConfig(
            id=site.id,
            key=site.public_key,
            allowed_origins=frozenset(site.allowed_origins),
            own_numbers=tuple(site.own_numbers),
            blocked_networks=parse_networks(site.blocked_cidrs),
            consent_required=site.consent_required,
            consent_cookie=site.consent_cookie,
            campaigns=tuple(
                CampaignConfig(
                    id=c.id,
                    hold=timedelta(seconds=c.hold_seconds),
                    cooldown=timedelta(seconds=c.cooldown_seconds),
                    fallback_number=c.fallback_number,
                    swap_numbers=tuple(c.swap_numbers),
                )
                for c in campaigns
            ),
            rules=tuple(
                ChannelRule(
                    channel_id=ch.id,
                    priority=ch.priority,
                    utm_source=ch.utm_source,
                    utm_medium=ch.utm_medium,
                    utm_campaign=ch.utm_campaign,
                    referrer_host=ch.referrer_host,
                    click_id_param=ch.click_id_param,
                )
                for ch in channels
                if any(
                    (
                        ch.utm_source,
                        ch.utm_medium,
                        ch.utm_campaign,
                        ch.referrer_host,
                        ch.click_id_param,
                    )
                )
            ),
            channel_campaign={ch.id: ch.campaign_id for ch in channels},
            static_numbers={
                k: v
                for k, v in static_numbers.items()
                if any(ch.id == k and ch.kind == "static" for ch in channels)
            },
        )
