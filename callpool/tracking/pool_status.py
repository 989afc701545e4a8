"""Pool status per campaign: size, live leases, peaks, exhaustions and a recommended size.

The recommendation follows Erlang B (``capacity.recommended_pool_size``) from measured
traffic over a window (7 days by default): the peak hour's new pool sessions and the
mean visit length, plus the campaign's hold and cool-down. It is shown beside the
industry rule of thumb (one number per 20 daily visitors) so the difference is visible.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from callpool.db.engine import connection
from callpool.db.tables import Campaign, Lease, PoolCounter, Session, Site, TrackingNumber
from callpool.errors import NotFound, ValidationError
from callpool.phone import normalize_e164
from callpool.tracking.capacity import (
    peak_concurrency,
    recommended_pool_size,
    rule_of_thumb_pool_size,
)

HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class PoolStatus:
    site: str
    campaign: str
    size: int
    retiring: int
    live_leases: int
    peak_concurrent: int
    exhaustions: int
    refusals: dict[str, int]
    peak_new_sessions_per_hour: int
    mean_visit_seconds: float
    daily_visitors: float
    recommended_size: int
    rule_of_thumb_size: int
    target_blocking: float
    window_days: float
    peak_by_hour: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


async def pool_status(
    engine: AsyncEngine,
    site: str,
    campaign: str,
    now: datetime,
    window: timedelta = timedelta(days=7),
    target_blocking: float = 0.01,
) -> PoolStatus:
    since = now - window
    async with connection(engine) as conn:
        found = (
            await conn.execute(
                select(Campaign)
                .join(Site, Site.id == Campaign.site_id)
                .where(Site.name == site, Campaign.name == campaign)
            )
        ).first()
        if found is None:
            raise NotFound(f"no campaign {campaign!r} in site {site!r}")
        pool = (
            TrackingNumber.campaign_id == found.id,
            TrackingNumber.channel_id.is_(None),
            TrackingNumber.active.is_(True),
        )
        size = await conn.scalar(select(func.count()).where(*pool)) or 0
        retiring = (
            await conn.scalar(select(func.count()).where(*pool, TrackingNumber.retiring.is_(True)))
            or 0
        )
        live = (
            await conn.scalar(
                select(func.count()).where(
                    Lease.campaign_id == found.id,
                    Lease.released_at.is_(None),
                    Lease.expires_at > now,
                )
            )
            or 0
        )
        intervals = (
            await conn.execute(
                select(Lease.leased_at, func.coalesce(Lease.released_at, Lease.expires_at)).where(
                    Lease.campaign_id == found.id, Lease.expires_at > since
                )
            )
        ).all()
        sessions = (
            await conn.execute(
                select(Session.started_at, Session.last_seen_at, Session.visitor_id).where(
                    Session.campaign_id == found.id, Session.started_at >= since
                )
            )
        ).all()
        counters = (
            await conn.execute(
                select(PoolCounter.kind, func.sum(PoolCounter.count))
                .where(PoolCounter.campaign_id == found.id, PoolCounter.hour >= since)
                .group_by(PoolCounter.kind)
            )
        ).all()
    return _summarise(
        site,
        campaign,
        found,
        size,
        retiring,
        live,
        intervals,
        sessions,
        counters,
        now,
        window,
        target_blocking,
    )


def _summarise(
    site: str,
    campaign: str,
    found: Any,
    size: int,
    retiring: int,
    live: int,
    intervals: Any,
    sessions: Any,
    counters: Any,
    now: datetime,
    window: timedelta,
    target_blocking: float,
) -> PoolStatus:
    clipped = [(start, min(end, now)) for start, end in intervals if min(end, now) >= start]
    peaks = peak_concurrency(clipped, HOUR)
    per_hour: dict[datetime, int] = {}
    for started, _last, _visitor in sessions:
        hour = started.replace(minute=0, second=0, microsecond=0)
        per_hour[hour] = per_hour.get(hour, 0) + 1
    lengths = [(last - started).total_seconds() for started, last, _v in sessions]
    mean_visit = sum(lengths) / len(lengths) if lengths else 0.0
    days = max(window / timedelta(days=1), 1.0)
    daily_visitors = len({visitor for _s, _l, visitor in sessions}) / days
    counts = {kind: int(total or 0) for kind, total in counters}
    peak_new = max(per_hour.values(), default=0)
    return PoolStatus(
        site=site,
        campaign=campaign,
        size=int(size),
        retiring=int(retiring),
        live_leases=int(live),
        peak_concurrent=max(peaks.values(), default=0),
        exhaustions=counts.pop("exhausted", 0),
        refusals=counts,
        peak_new_sessions_per_hour=peak_new,
        mean_visit_seconds=round(mean_visit, 1),
        daily_visitors=round(daily_visitors, 1),
        recommended_size=recommended_pool_size(
            peak_new,
            mean_visit,
            found.hold_seconds,
            target_blocking,
            cooldown_seconds=found.cooldown_seconds,
        ),
        rule_of_thumb_size=rule_of_thumb_pool_size(round(daily_visitors)),
        target_blocking=target_blocking,
        window_days=window / timedelta(days=1),
        peak_by_hour={hour.isoformat(): peak for hour, peak in peaks.items() if peak},
    )


async def retire_numbers(engine: AsyncEngine, numbers: list[str], region: str) -> int:
    """Mark numbers retiring: each finishes its live lease, then leaves the pool."""
    if not numbers:
        raise ValidationError("numbers: give at least one number")
    e164s = [normalize_e164(number, region) for number in numbers]
    async with connection(engine) as conn:
        known = set(
            (
                await conn.scalars(
                    select(TrackingNumber.e164).where(TrackingNumber.e164.in_(e164s))
                )
            ).all()
        )
        missing = [n for n in e164s if n not in known]
        if missing:
            raise NotFound(f"not tracking numbers: {', '.join(missing[:5])}")
        await conn.execute(
            update(TrackingNumber).where(TrackingNumber.e164.in_(e164s)).values(retiring=True)
        )
    return len(e164s)


async def deactivate_drained(engine: AsyncEngine, now: datetime) -> int:
    """Retiring numbers with no live lease are switched off."""
    open_lease = (
        select(Lease.id)
        .where(Lease.number_id == TrackingNumber.id, Lease.released_at.is_(None))
        .exists()
    )
    async with connection(engine) as conn:
        result = await conn.execute(
            update(TrackingNumber)
            .where(TrackingNumber.retiring.is_(True), TrackingNumber.active.is_(True), ~open_lease)
            .values(active=False)
        )
    return int(result.rowcount or 0)
