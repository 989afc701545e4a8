"""SQL for the catalog: sites, campaigns, channels and tracking numbers.

Each public function is one transaction: a batch either lands whole or not at all.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from callpool.accounts.access import Access
from callpool.catalog.number_roles import (
    chunks,
    lock_number_roles,
    published_numbers,
    tracking_owners,
)
from callpool.catalog.spec import (
    RECORDING_FIELDS,
    CampaignSpec,
    ChannelSpec,
    NumberSpec,
    SiteAdditions,
    SiteRecordings,
    SiteSpec,
    at_row,
    normalize_numbers,
)
from callpool.db.engine import flush_or_conflict, transaction
from callpool.db.tables import Campaign, Channel, Site, TrackingNumber
from callpool.errors import Conflict, InvalidPhoneNumber, NotFound, ValidationError
from callpool.phone import normalize_e164


def _now() -> datetime:
    return datetime.now(UTC)


async def add_site(engine: AsyncEngine, spec: SiteSpec, region: str) -> Site:
    site = Site(
        name=spec.name,
        public_key=secrets.token_urlsafe(12),
        allowed_origins=list(spec.allowed_origins),
        own_numbers=list(normalize_numbers(spec.own_numbers, region)),
        blocked_cidrs=list(spec.blocked_cidrs),
        consent_required=spec.consent_required,
        consent_cookie=spec.consent_cookie,
        mask_callers=spec.mask_callers,
        raw_events_retention_days=spec.raw_events_retention_days,
        page_views_retention_days=spec.page_views_retention_days,
        sessions_retention_days=spec.sessions_retention_days,
        **{name: getattr(spec, name) for name in RECORDING_FIELDS},
        created_at=_now(),
    )
    async with transaction(engine) as session:
        await lock_number_roles(session)
        await _refuse_tracking_numbers(session, site.own_numbers, "own_numbers", "an own number")
        session.add(site)
        await flush_or_conflict(session, f"a site named {spec.name!r} already exists")
    return site


async def _refuse_tracking_numbers(
    session: AsyncSession, numbers: Sequence[str], field: str, role: str
) -> None:
    """A number the business publishes is never also a tracking number (see number_roles)."""
    owners = await tracking_owners(session, numbers)
    for number in numbers:
        if number in owners:
            raise Conflict(f"{field}: {number} is {owners[number]}; it cannot be {role} as well")


async def extend_site(engine: AsyncEngine, spec: SiteAdditions, region: str) -> Site:
    """Add origins and own numbers to a site (those it has already are kept once)."""
    numbers = list(normalize_numbers(spec.own_numbers, region))
    async with transaction(engine) as session:
        # First, also without numbers: two updates of one site must not lose each other's.
        await lock_number_roles(session)
        site = await _site(session, spec.name)
        await _refuse_tracking_numbers(session, numbers, "own_numbers", "an own number")
        site.allowed_origins = list(dict.fromkeys([*site.allowed_origins, *spec.allowed_origins]))
        site.own_numbers = list(dict.fromkeys([*site.own_numbers, *numbers]))
    return site


async def set_site_recordings(
    engine: AsyncEngine, name: str, spec: SiteRecordings, access: Access | None = None
) -> Site:
    """Change the recording settings ``spec`` was given; ``access``: who asks (None: the CLI).

    An admin of other sites gets NotFound, as if the site did not exist.
    """
    async with transaction(engine) as session:
        site = await _site(session, name)
        if access is not None:
            access.require_edit(site.id, name)
        for column, value in spec.changes().items():
            setattr(site, column, value)
    return site


async def list_sites(engine: AsyncEngine) -> Sequence[Site]:
    async with transaction(engine) as session:
        return (await session.scalars(select(Site).order_by(Site.name))).all()


async def add_campaign(engine: AsyncEngine, spec: CampaignSpec, region: str) -> Campaign:
    fallback = normalize_e164(spec.fallback_number, region) if spec.fallback_number else None
    async with transaction(engine) as session:
        if fallback is not None:
            await lock_number_roles(session)
            await _refuse_tracking_numbers(
                session, [fallback], "fallback_number", "a fallback number"
            )
        site = await _site(session, spec.site)
        campaign = Campaign(
            site_id=site.id,
            name=spec.name,
            timezone=spec.timezone,
            target_seconds=spec.target_seconds,
            hold_seconds=spec.hold_seconds,
            cooldown_seconds=spec.cooldown_seconds,
            attribution_grace_seconds=spec.attribution_grace_seconds,
            fallback_number=fallback,
            swap_numbers=_swap_numbers(spec.swap_numbers, site, region),
            created_at=_now(),
        )
        session.add(campaign)
        await flush_or_conflict(
            session, f"campaign {spec.name!r} already exists in site {spec.site!r}"
        )
    return campaign


def _swap_numbers(numbers: tuple[str, ...], site: Site, region: str) -> list[str]:
    """The campaign's swap numbers as E.164, each one of the site's own numbers."""
    try:
        swap = normalize_numbers(numbers, region)
    except InvalidPhoneNumber as exc:
        raise InvalidPhoneNumber(f"swap_numbers: {exc}") from None
    for number in swap:
        if number not in site.own_numbers:
            own = ", ".join(site.own_numbers) or "none"
            raise ValidationError(
                f"swap_numbers: {number} is not a number of site {site.name!r} (it has: {own})"
            )
    return list(swap)


async def list_campaigns(engine: AsyncEngine, site: str | None = None) -> list[dict[str, Any]]:
    query = select(Campaign, Site.name).join(Site, Site.id == Campaign.site_id)
    if site is not None:
        query = query.where(Site.name == site)
    async with transaction(engine) as session:
        rows = (await session.execute(query.order_by(Site.name, Campaign.name))).all()
    return [{"site": site_name, **campaign_dict(campaign)} for campaign, site_name in rows]


async def add_channel(engine: AsyncEngine, spec: ChannelSpec) -> Channel:
    async with transaction(engine) as session:
        campaign = await _campaign(session, spec.site, spec.campaign)
        fields = spec.model_dump(exclude={"site", "campaign"})
        channel = Channel(campaign_id=campaign.id, created_at=_now(), **fields)
        session.add(channel)
        await flush_or_conflict(
            session, f"channel {spec.name!r} already exists in {spec.campaign!r}"
        )
    return channel


async def list_channels(engine: AsyncEngine, site: str, campaign: str) -> Sequence[Channel]:
    async with transaction(engine) as session:
        found = await _campaign(session, site, campaign)
        query = select(Channel).where(Channel.campaign_id == found.id)
        return (await session.scalars(query.order_by(Channel.priority, Channel.name))).all()


async def list_numbers(engine: AsyncEngine, site: str, campaign: str) -> list[dict[str, Any]]:
    """A campaign's numbers with their static channel's name (None: the pool)."""
    async with transaction(engine) as session:
        found = await _campaign(session, site, campaign)
        query = (
            select(TrackingNumber, Channel.name)
            .outerjoin(Channel, Channel.id == TrackingNumber.channel_id)
            .where(TrackingNumber.campaign_id == found.id)
            .order_by(Channel.name.is_not(None), Channel.name, TrackingNumber.e164)
        )
        rows = (await session.execute(query)).all()
    return [{**number_dict(number), "channel": channel} for number, channel in rows]


async def import_numbers(
    engine: AsyncEngine, specs: Sequence[NumberSpec], region: str
) -> list[TrackingNumber]:
    """Add numbers in one transaction; the first bad row aborts the whole import.

    Each (site, campaign) and (campaign, channel) the rows name is looked up once, and
    the rows go in as one bulk INSERT, so 20,000 rows take about a second. Every error
    names the row (counted from 1, the header not counted) and the column.
    """
    e164s = [_row_number(spec.number, region, line) for line, spec in enumerate(specs, start=1)]
    first_row: dict[str, int] = {}
    for line, e164 in enumerate(e164s, start=1):
        if e164 in first_row:
            raise ValidationError(
                f"{at_row(line, 'number')}: {e164} is already in row {first_row[e164]}"
            )
        first_row[e164] = line
    async with transaction(engine) as session:
        await lock_number_roles(session)
        published = await published_numbers(session)
        owners = await tracking_owners(session, e164s)
        for line, e164 in enumerate(e164s, start=1):
            where = at_row(line, "number")
            if e164 in published:
                raise Conflict(
                    f"{where}: {e164} is {published[e164]}; it cannot be a tracking number as well"
                )
            if e164 in owners:
                raise Conflict(f"{where}: {e164} is already {owners[e164]}")
        campaigns: dict[tuple[str, str], int] = {}
        channels: dict[tuple[int, str], int] = {}
        now = _now()
        rows: list[dict[str, Any]] = []
        for line, (spec, e164) in enumerate(zip(specs, e164s, strict=True), start=1):
            campaign_id = campaigns.get((spec.site, spec.campaign))
            if campaign_id is None:
                campaign_id = await _row_campaign(session, spec, line)
                campaigns[spec.site, spec.campaign] = campaign_id
            channel_id = None
            if spec.channel:
                channel_id = channels.get((campaign_id, spec.channel))
                if channel_id is None:
                    channel_id = (await _channel(session, campaign_id, spec.channel, line)).id
                    channels[campaign_id, spec.channel] = channel_id
            rows.append(
                {
                    "e164": e164,
                    "campaign_id": campaign_id,
                    "channel_id": channel_id,
                    "created_at": now,
                }
            )
        try:
            await session.execute(insert(TrackingNumber), rows)
        except IntegrityError:
            raise Conflict("one of the numbers is already a tracking number") from None
        added: dict[str, TrackingNumber] = {}
        for chunk in chunks(e164s):
            rows_in_chunk = select(TrackingNumber).where(TrackingNumber.e164.in_(chunk))
            added.update((n.e164, n) for n in await session.scalars(rows_in_chunk))
    return [added[e164] for e164 in e164s]


def _row_number(raw: str, region: str, line: int) -> str:
    try:
        return normalize_e164(raw, region)
    except InvalidPhoneNumber as exc:
        raise InvalidPhoneNumber(f"{at_row(line, 'number')}: {exc}") from None


async def _row_campaign(session: AsyncSession, spec: NumberSpec, line: int) -> int:
    """The id of the campaign a row names; the error says whether the site or it is unknown."""
    site = await session.scalar(select(Site.id).where(Site.name == spec.site))
    if site is None:
        raise NotFound(f"{at_row(line, 'site')}: no site named {spec.site!r}")
    query = select(Campaign.id).where(Campaign.site_id == site, Campaign.name == spec.campaign)
    campaign = await session.scalar(query)
    if campaign is None:
        raise NotFound(
            f"{at_row(line, 'campaign')}: no campaign {spec.campaign!r} in site {spec.site!r}"
        )
    return campaign


async def _site(session: AsyncSession, name: str) -> Site:
    site = await session.scalar(select(Site).where(Site.name == name))
    if site is None:
        raise NotFound(f"no site named {name!r}")
    return site


async def _campaign(session: AsyncSession, site: str, name: str) -> Campaign:
    query = (
        select(Campaign)
        .join(Site, Site.id == Campaign.site_id)
        .where(Site.name == site, Campaign.name == name)
    )
    campaign = await session.scalar(query)
    if campaign is None:
        raise NotFound(f"no campaign {name!r} in site {site!r}")
    return campaign


async def _channel(session: AsyncSession, campaign_id: int, name: str, line: int) -> Channel:
    query = select(Channel).where(Channel.campaign_id == campaign_id, Channel.name == name)
    channel = await session.scalar(query)
    if channel is None:
        raise NotFound(f"{at_row(line, 'channel')}: no channel named {name!r} in that campaign")
    if channel.kind != "static":
        raise ValidationError(
            f"{at_row(line, 'channel')}: {name!r} is a pool channel; only a static channel "
            "has numbers of its own (leave the column empty for the campaign's pool)"
        )
    return channel


def site_dict(site: Site) -> dict[str, Any]:
    return {
        "id": site.id,
        "name": site.name,
        "public_key": site.public_key,
        "allowed_origins": site.allowed_origins,
        "own_numbers": site.own_numbers,
        "blocked_cidrs": site.blocked_cidrs,
        "consent_required": site.consent_required,
        "consent_cookie": site.consent_cookie,
        "mask_callers": site.mask_callers,
        "raw_events_retention_days": site.raw_events_retention_days,
        "page_views_retention_days": site.page_views_retention_days,
        "sessions_retention_days": site.sessions_retention_days,
        **{name: getattr(site, name) for name in RECORDING_FIELDS},
    }


def campaign_dict(campaign: Campaign) -> dict[str, Any]:
    return {
        "id": campaign.id,
        "name": campaign.name,
        "timezone": campaign.timezone,
        "target_seconds": campaign.target_seconds,
        "hold_seconds": campaign.hold_seconds,
        "cooldown_seconds": campaign.cooldown_seconds,
        "attribution_grace_seconds": campaign.attribution_grace_seconds,
        "fallback_number": campaign.fallback_number,
        "swap_numbers": campaign.swap_numbers,
    }


def channel_dict(channel: Channel) -> dict[str, Any]:
    return {
        "id": channel.id,
        "name": channel.name,
        "kind": channel.kind,
        "utm_source": channel.utm_source,
        "utm_medium": channel.utm_medium,
        "utm_campaign": channel.utm_campaign,
        "referrer_host": channel.referrer_host,
        "click_id_param": channel.click_id_param,
        "priority": channel.priority,
        "ad_spend_per_day": str(channel.ad_spend_per_day),
    }


def number_dict(number: TrackingNumber) -> dict[str, Any]:
    return {
        "id": number.id,
        "e164": number.e164,
        "campaign_id": number.campaign_id,
        "channel_id": number.channel_id,
        "active": number.active,
        "retiring": number.retiring,
    }
