"""SQL for visits, sessions and leases: the number pool's adapter.

One visit is one transaction. The choice of a free number is the SQL form of
``pool.choose_number`` (free = active, not retiring, no open lease, released at least the
cool-down ago; least recently released first, then by E.164), so the pick can take a row
lock: on PostgreSQL ``FOR UPDATE SKIP LOCKED`` lets concurrent visits take different
numbers, and the partial unique index ``uq_leases_open_number`` (one open lease a number)
is the guarantee behind it: a visit that loses a race retries. A test checks the SQL pick
against ``choose_number`` on random pools.

A lease is open until ``released_at`` is set. Expired leases are released lazily (when a
pick finds nothing free) and by the scheduled ``release_expired`` job, with
``released_at = expires_at``: the moment the number really became free.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from callpool.db.engine import connection
from callpool.db.tables import Lease, PageView, PoolCounter, Session, TrackingNumber, Visitor
from callpool.tracking.classify import VisitSource
from callpool.tracking.visits import CampaignConfig, VisitPlan, is_new_source

ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class VisitRequest:
    site_id: int
    visitor_id: str | None
    session_id: str | None
    url: str | None
    referrer: str | None
    client_id: str | None
    user_agent: str | None
    ip: str | None
    source: VisitSource
    plan: VisitPlan
    campaign: CampaignConfig | None
    track: bool = True


@dataclass(frozen=True, slots=True)
class VisitResult:
    visitor_id: str | None
    session_id: str | None
    # The tracking number shown; None means the site's own numbers stay.
    number: str | None
    expires_at: datetime | None
    exhausted: bool = False


def new_id() -> str:
    return str(uuid.uuid4())


def is_valid_id(value: str | None) -> bool:
    if not value or len(value) != 36:
        return False
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


class SqlLeaseStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def record_visit(self, req: VisitRequest, now: datetime) -> VisitResult:
        for attempt in range(ATTEMPTS):
            try:
                async with connection(self._engine) as conn:
                    return await self._visit(conn, req, now)
            except IntegrityError:
                # Another process took the number between our pick and our insert.
                if attempt == ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    async def _visit(self, conn: AsyncConnection, req: VisitRequest, now: datetime) -> VisitResult:
        if not req.track:
            return VisitResult(None, None, req.plan.number, None)
        visitor_id = await _upsert_visitor(conn, req, now)
        known_visitor = visitor_id == req.visitor_id
        session_id = await _continued_session(conn, req, visitor_id, now) if known_visitor else None
        known_session = session_id is not None
        if session_id is None:
            session_id = await _insert_session(conn, req, visitor_id, now)
        if req.plan.kind != "pool" or req.campaign is None:
            return VisitResult(visitor_id, session_id, req.plan.number, None)
        number, expires = await _lease_for(
            conn, req.campaign, session_id, visitor_id, now, known_session, known_visitor
        )
        if number is None:
            await count(conn, req.site_id, req.campaign.id, "exhausted", now)
            return VisitResult(visitor_id, session_id, req.campaign.fallback_number, None, True)
        return VisitResult(visitor_id, session_id, number, expires)

    async def release_expired(self, now: datetime, campaign_id: int | None = None) -> int:
        async with connection(self._engine) as conn:
            return await release_expired(conn, now, campaign_id)

    async def page_view(
        self, site_id: int, session_id: str, url: str, title: str | None, now: datetime
    ) -> bool:
        async with connection(self._engine) as conn:
            query = select(Session.id).where(Session.id == session_id, Session.site_id == site_id)
            found = await conn.scalar(query)
            if found is None:
                return False
            await conn.execute(
                insert(PageView).values(session_id=session_id, url=url, title=title, viewed_at=now)
            )
            return True

    async def count(self, site_id: int, campaign_id: int | None, kind: str, now: datetime) -> None:
        async with connection(self._engine) as conn:
            await count(conn, site_id, campaign_id, kind, now)

    async def open_lease(self, site_id: int, session_id: str) -> tuple[int, datetime, int] | None:
        """(lease id, stored expiry, hold seconds) of a session's open lease."""
        from callpool.db.tables import Campaign

        query = (
            select(Lease.id, Lease.expires_at, Campaign.hold_seconds)
            .join(Campaign, Campaign.id == Lease.campaign_id)
            .where(
                Lease.session_id == session_id,
                Lease.released_at.is_(None),
                Campaign.site_id == site_id,
            )
        )
        async with connection(self._engine) as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else (row[0], row[1], row[2])

    async def is_leaseless_session(self, site_id: int, session_id: str) -> bool:
        """A session of the site that never had a lease (shown a static or own number)."""
        had_lease = exists().where(Lease.session_id == Session.id)
        query = select(Session.id).where(
            Session.id == session_id, Session.site_id == site_id, ~had_lease
        )
        async with connection(self._engine) as conn:
            return await conn.scalar(query) is not None

    async def extend_lease(
        self, lease_id: int, session_id: str, expires_at: datetime, now: datetime
    ) -> bool:
        """Push an open lease's expiry; False when it was released meanwhile."""
        async with connection(self._engine) as conn:
            result = await conn.execute(
                update(Lease)
                .where(Lease.id == lease_id, Lease.released_at.is_(None), Lease.expires_at > now)
                .values(expires_at=expires_at)
                .returning(Lease.number_id)
            )
            extended = result.first()
            if extended is not None:
                await _mark_number(conn, extended[0], expires_at)
            await conn.execute(
                update(Session).where(Session.id == session_id).values(last_seen_at=now)
            )
            return extended is not None


async def _upsert_visitor(conn: AsyncConnection, req: VisitRequest, now: datetime) -> str:
    if is_valid_id(req.visitor_id):
        assert req.visitor_id is not None
        updated = await conn.execute(
            update(Visitor)
            .where(Visitor.id == req.visitor_id, Visitor.site_id == req.site_id)
            .values(last_seen_at=now)
        )
        if updated.rowcount:
            return req.visitor_id
    # An unknown or foreign id is not adopted: ids are ours to mint.
    visitor_id = new_id()
    await conn.execute(
        insert(Visitor).values(
            id=visitor_id,
            site_id=req.site_id,
            client_id=req.client_id,
            first_seen_at=now,
            last_seen_at=now,
        )
    )
    return visitor_id


async def _continued_session(
    conn: AsyncConnection, req: VisitRequest, visitor_id: str, now: datetime
) -> str | None:
    """The visit's live session, unless the visit arrived from a new source."""
    if not is_valid_id(req.session_id) or is_new_source(req.source):
        return None
    hold = req.campaign.hold if req.campaign else timedelta(minutes=30)
    updated = await conn.execute(
        update(Session)
        .where(
            Session.id == req.session_id,
            Session.visitor_id == visitor_id,
            Session.last_seen_at > now - hold,
        )
        .values(last_seen_at=now)
    )
    return req.session_id if updated.rowcount else None


async def _insert_session(
    conn: AsyncConnection, req: VisitRequest, visitor_id: str, now: datetime
) -> str:
    source = req.source
    click_ids = dict(source.click_ids)
    session_id = new_id()
    await conn.execute(
        insert(Session).values(
            id=session_id,
            visitor_id=visitor_id,
            site_id=req.site_id,
            campaign_id=req.plan.campaign_id,
            channel_id=req.plan.channel_id,
            source=source.fallback,
            utm_source=source.utm_source,
            utm_medium=source.utm_medium,
            utm_campaign=source.utm_campaign,
            utm_content=source.utm_content,
            utm_term=source.utm_term,
            referrer=_cut(req.referrer, 2048),
            landing_url=_cut(req.url, 2048),
            gclid=click_ids.get("gclid"),
            yclid=click_ids.get("yclid"),
            fbclid=click_ids.get("fbclid"),
            msclkid=click_ids.get("msclkid"),
            click_ids=click_ids,
            client_id=req.client_id,
            user_agent=_cut(req.user_agent, 512),
            ip=req.ip,
            started_at=now,
            last_seen_at=now,
        )
    )
    return session_id


async def _lease_for(
    conn: AsyncConnection,
    campaign: CampaignConfig,
    session_id: str,
    visitor_id: str,
    now: datetime,
    known_session: bool,
    known_visitor: bool,
) -> tuple[str | None, datetime | None]:
    """The session's number: its own live lease, its visitor's, or a free one.

    A session or visitor minted in this very visit has no lease yet, so those lookups are
    skipped: a new visitor's visit goes straight to the pick.
    """
    expires = now + campaign.hold
    held = None
    if known_session:
        current = await conn.execute(
            update(Lease)
            .where(
                Lease.session_id == session_id, Lease.released_at.is_(None), Lease.expires_at > now
            )
            .values(expires_at=expires)
            .returning(Lease.number_id)
        )
        held = current.first()
    if held is not None:
        await _mark_number(conn, held[0], expires)
        return await conn.scalar(
            select(TrackingNumber.e164).where(TrackingNumber.id == held[0])
        ), expires
    kept = await _visitors_live_lease(conn, campaign.id, visitor_id, now) if known_visitor else None
    if kept is not None:
        lease_id, number_id, e164 = kept
        # The same visitor keeps the number: hand it from the old session to the new one.
        await conn.execute(update(Lease).where(Lease.id == lease_id).values(released_at=now))
        await _insert_lease(conn, number_id, session_id, visitor_id, campaign.id, now, expires)
        return e164, expires
    picked = await _pick_free_number(conn, campaign, now)
    if picked is None and await release_expired(conn, now, campaign.id):
        picked = await _pick_free_number(conn, campaign, now)
    if picked is None:
        return None, None
    await _insert_lease(conn, picked[0], session_id, visitor_id, campaign.id, now, expires)
    return picked[1], expires


async def _visitors_live_lease(
    conn: AsyncConnection, campaign_id: int, visitor_id: str, now: datetime
) -> tuple[int, int, str] | None:
    query = (
        select(Lease.id, Lease.number_id, TrackingNumber.e164)
        .join(TrackingNumber, TrackingNumber.id == Lease.number_id)
        .where(
            Lease.visitor_id == visitor_id,
            Lease.campaign_id == campaign_id,
            Lease.released_at.is_(None),
            Lease.expires_at > now,
            TrackingNumber.active.is_(True),
            TrackingNumber.retiring.is_(False),
        )
        .order_by(Lease.expires_at.desc(), Lease.number_id)
        .limit(1)
    )
    row = (await conn.execute(query)).first()
    return None if row is None else (row[0], row[1], row[2])


def free_number_query(campaign_id: int, cooldown: timedelta, now: datetime) -> Any:
    """The SQL form of ``pool.choose_number``: the least recently released free number."""
    open_lease = exists().where(Lease.number_id == TrackingNumber.id, Lease.released_at.is_(None))
    cooled = now - cooldown
    return (
        select(TrackingNumber.id, TrackingNumber.e164)
        .where(
            TrackingNumber.campaign_id == campaign_id,
            TrackingNumber.channel_id.is_(None),
            TrackingNumber.active.is_(True),
            TrackingNumber.retiring.is_(False),
            (TrackingNumber.last_released_at.is_(None))
            | (TrackingNumber.last_released_at <= cooled),
            (TrackingNumber.leased_until.is_(None)) | (TrackingNumber.leased_until <= now),
            ~open_lease,
        )
        .order_by(
            TrackingNumber.last_released_at.is_not(None),
            TrackingNumber.last_released_at,
            TrackingNumber.e164,
        )
        .limit(1)
        .with_for_update(skip_locked=True, of=TrackingNumber)
    )


async def _pick_free_number(
    conn: AsyncConnection, campaign: CampaignConfig, now: datetime
) -> tuple[int, str] | None:
    row = (await conn.execute(free_number_query(campaign.id, campaign.cooldown, now))).first()
    return None if row is None else (row[0], row[1])


async def _insert_lease(
    conn: AsyncConnection,
    number_id: int,
    session_id: str,
    visitor_id: str,
    campaign_id: int,
    now: datetime,
    expires: datetime,
) -> None:
    await conn.execute(
        insert(Lease).values(
            number_id=number_id,
            session_id=session_id,
            visitor_id=visitor_id,
            campaign_id=campaign_id,
            leased_at=now,
            expires_at=expires,
        )
    )
    await _mark_number(conn, number_id, expires)


async def _mark_number(conn: AsyncConnection, number_id: int, leased_until: datetime) -> None:
    await conn.execute(
        update(TrackingNumber)
        .where(TrackingNumber.id == number_id)
        .values(leased_until=leased_until)
    )


async def release_expired(conn: AsyncConnection, now: datetime, campaign_id: int | None) -> int:
    """Release leases past their expiry (at their expiry) and stamp their numbers."""
    condition = and_(Lease.released_at.is_(None), Lease.expires_at <= now)
    if campaign_id is not None:
        condition = and_(condition, Lease.campaign_id == campaign_id)
    released = await conn.execute(
        update(Lease)
        .where(condition)
        .values(released_at=Lease.expires_at)
        .returning(Lease.number_id, Lease.expires_at)
    )
    latest: dict[int, datetime] = {}
    for number_id, expired_at in released.all():
        expired_at = _aware(expired_at)
        latest[number_id] = max(latest.get(number_id, expired_at), expired_at)
    for number_id, released_at in latest.items():
        await conn.execute(
            update(TrackingNumber)
            .where(TrackingNumber.id == number_id)
            .values(last_released_at=func.coalesce(TrackingNumber.last_released_at, released_at))
        )
        await conn.execute(
            update(TrackingNumber)
            .where(TrackingNumber.id == number_id, TrackingNumber.last_released_at < released_at)
            .values(last_released_at=released_at)
        )
    return len(latest)


async def count(
    conn: AsyncConnection, site_id: int, campaign_id: int | None, kind: str, now: datetime
) -> None:
    hour = now.replace(minute=0, second=0, microsecond=0)
    values = {
        "site_id": site_id,
        "campaign_id": campaign_id or 0,
        "hour": hour,
        "kind": kind,
        "count": 1,
    }
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(PoolCounter).values(**values)
    await conn.execute(
        statement.on_conflict_do_update(
            index_elements=["site_id", "campaign_id", "hour", "kind"],
            set_={"count": PoolCounter.count + 1},
        )
    )


def _cut(value: str | None, limit: int) -> str | None:
    return None if value is None else value[:limit]


def _aware(value: datetime) -> datetime:
    # RETURNING bypasses the column type on some drivers; SQLite hands back naive UTC.
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)
