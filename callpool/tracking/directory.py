"""Loads a site's configuration by its public key, cached for a few seconds.

The visit API reads it on every request; the catalog changes rarely, so a short cache
takes the catalog queries off the hot path. Changes show within ``ttl`` seconds (plus the
time one reload takes).

One load runs at a time per key (single flight): requests for a key that is not cached
yet all wait for the same load, and once an entry is older than ``ttl`` one reload starts
in the background while requests go on being answered from the old entry. A reload that
fails keeps the old entry, and the next request tries again.
"""

from __future__ import annotations

import asyncio
import logging
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

log = logging.getLogger("callpool.tracking")

MAX_ENTRIES = 10_000


class SiteDirectory:
    def __init__(self, engine: AsyncEngine, ttl: float = 10.0) -> None:
        self._engine = engine
        self._ttl = ttl
        # key -> (monotonic time it goes stale, the site or None for an unknown key)
        self._cache: dict[str, tuple[float, SiteConfig | None]] = {}
        # The one load in flight per key; kept here until it is done.
        self._loads: dict[str, asyncio.Task[SiteConfig | None]] = {}
        # Bumped by invalidate(): a load started before it does not fill the cache.
        self._generation = 0

    async def get(self, key: str) -> SiteConfig:
        cached = self._cache.get(key)
        if cached is None:
            # Nothing to serve meanwhile: wait for the (shared) load. A request that
            # goes away does not cancel the load the others wait for.
            config = await asyncio.shield(self._start_load(key))
        else:
            stale_at, config = cached
            if stale_at < time.monotonic():
                self._start_load(key)
        if config is None:
            raise NotFound("unknown site key")
        return config

    def invalidate(self) -> None:
        self._cache.clear()
        self._generation += 1

    def _start_load(self, key: str) -> asyncio.Task[SiteConfig | None]:
        """The load of ``key`` in flight, started if there is none."""
        task = self._loads.get(key)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._load_into_cache(key))
            self._loads[key] = task
            task.add_done_callback(lambda done: self._load_done(key, done))
        return task

    async def _load_into_cache(self, key: str) -> SiteConfig | None:
        generation = self._generation
        config = await self._load(key)
        if generation == self._generation:
            if len(self._cache) >= MAX_ENTRIES and key not in self._cache:
                self._cache.clear()
            self._cache[key] = (time.monotonic() + self._ttl, config)
        return config

    def _load_done(self, key: str, task: asyncio.Task[SiteConfig | None]) -> None:
        if self._loads.get(key) is task:
            del self._loads[key]
        if not task.cancelled() and task.exception() is not None and key in self._cache:
            # A background reload: nobody awaits it, the stale entry stays in use.
            log.warning("site reload failed, serving the cached entry: %r", task.exception())

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
            # From the static channels to their numbers (a few rows), not through the
            # campaign's whole pool.
            statics = (
                await conn.execute(
                    select(TrackingNumber.channel_id, TrackingNumber.e164)
                    .join(Channel, Channel.id == TrackingNumber.channel_id)
                    .where(
                        Channel.campaign_id.in_(campaign_ids),
                        Channel.kind == "static",
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
            name=site.name,
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
                # A pool channel with no field is a catch-all (classify's docstring); a
                # static channel is reached by its number, not by a rule, unless it has one.
                if ch.kind == "pool"
                or any(
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
