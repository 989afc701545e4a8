"""SQL for visits, sessions and leases: the number pool's adapter.

One visit is one transaction. The choice of a free number is the SQL form of
``pool.choose_number`` (``visit_sql.TAKE_FREE_NUMBER``: one probe of the partial index
``ix_tracking_numbers_pick``, locking and marking the number), so that on PostgreSQL
``FOR UPDATE SKIP LOCKED`` lets concurrent visits take different numbers; the partial
unique index ``uq_leases_open_number`` (one open lease a number) is the guarantee behind
it: a visit that loses a race retries. A test checks the SQL pick against
``choose_number`` on random pools. A new visitor's visit to a pool campaign, the one every
new session makes, is written by ``first_visits`` on the driver's connection (one
statement on PostgreSQL, group commit on SQLite); every other visit runs step by step
below.

``tracking_numbers.leased_until`` keeps leased numbers out of the pick's index: set (by
the pick) while a lease is open, cleared when the lease is released. The pick's row lock
re-checks it, so a number leased by a concurrent visit is skipped, not picked twice.

A lease is open until ``released_at`` is set. Expired leases are released lazily (when a
pick finds nothing free) and by the scheduled ``release_expired`` job, with
``released_at = expires_at``: the moment the number really became free.

Past 400 lines because the visit, the heartbeat and the release all work on the same few
rows through shared private helpers; the statements a visit runs are in ``visit_sql``.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    and_,
    bindparam,
    case,
    exists,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from callpool.db.engine import connection
from callpool.db.tables import (
    Campaign,
    Lease,
    PageView,
    PoolCounter,
    Session,
    TrackingNumber,
    Visitor,
)
from callpool.tracking.classify import VisitSource
from callpool.tracking.first_visits import FirstVisits, first_visits_for
from callpool.tracking.visit_sql import (
    INSERT_LEASE,
    INSERT_SESSION,
    INSERT_VISITOR,
    TAKE_FREE_NUMBER,
    first_visit_params,
    pick_params,
)
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
class SessionLease:
    """What a heartbeat keeps alive: the session's open lease, or nothing (``lease_id``
    None) for a session shown a static or own number."""

    lease_id: int | None
    expires_at: datetime | None
    hold_seconds: int | None


# (stored expiry, hold, now) -> the expiry to store, or None when the stored one will do.
Renewal = Callable[[datetime, timedelta, datetime], datetime | None]


@dataclass(frozen=True, slots=True)
class VisitResult:
    visitor_id: str | None
    session_id: str | None
    # The tracking number shown; None means the site's own numbers stay.
    number: str | None
    expires_at: datetime | None
    exhausted: bool = False


def new_id() -> str:
    """A visitor or session id: a time-ordered UUID (version 7).

    New rows then land at the end of each index on these ids instead of on a random page:
    a batch of visits dirties a page or two an index, not one each. With random ids,
    writing SQLite's WAL was most of a visit's cost (10 ms a commit of 50 visits against
    1.3 ms). All 74 bits after the millisecond timestamp are random (RFC 9562 allows a
    counter there; we want no id guessable from another one), so it is built here.
    """
    millis = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (
        (millis & _MILLIS_MASK) << 80
        | 0x7 << 76  # version 7
        | (rand >> 62 & 0xFFF) << 64
        | 0b10 << 62  # RFC 9562 variant
        | rand & _LOW_62
    )
    return str(uuid.UUID(int=value))


_MILLIS_MASK = (1 << 48) - 1
_LOW_62 = (1 << 62) - 1


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
        self._first_visits: FirstVisits = first_visits_for(engine)

    async def close(self) -> None:
        """Finish the first visits still queued (SQLite's group commit)."""
        await self._first_visits.close()

    async def record_visit(self, req: VisitRequest, now: datetime) -> VisitResult:
        for attempt in range(ATTEMPTS):
            try:
                if _is_first_pool_visit(req):
                    return await self._first_visit(req, now)
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
        return await _pool_visit(
            conn, req, req.campaign, visitor_id, session_id, now, known_session, known_visitor
        )

    async def _first_visit(self, req: VisitRequest, now: datetime) -> VisitResult:
        """A new visitor's visit to a pool campaign: visitor, session, number and lease
        written by ``first_visits`` (see there)."""
        campaign = req.campaign
        assert campaign is not None
        visitor_id, session_id = new_id(), new_id()
        expires = now + campaign.hold
        params = first_visit_params(
            _visitor_row(req, visitor_id, now),
            _session_row(req, visitor_id, session_id, now),
            _lease_row(session_id, visitor_id, campaign.id, now, expires),
            pick_params(campaign.id, campaign.cooldown, now, expires),
        )
        row = await self._first_visits.write(params)
        if row is not None:
            return VisitResult(visitor_id, session_id, row[1], expires)
        # Nothing free at the pick. The visitor and session are written;
        # the lease goes the long way (pick, release expired leases, pick again).
        async with connection(self._engine) as conn:
            return await _pool_visit(conn, req, campaign, visitor_id, session_id, now, False, False)

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

    async def renew_session_lease(
        self, site_id: int, session_id: str, now: datetime, renewal: Renewal
    ) -> SessionLease | None:
        """A heartbeat's lookup and extension in one transaction (a heartbeat cache miss).

        The session's open lease, extended to ``renewal(stored expiry, hold, now)`` unless
        that is None; a ``SessionLease`` without a lease for a session of the site that
        never had one (shown a static or own number); None when the session is unknown
        or its lease has ended.
        """
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
            if row is None:
                if await _is_leaseless_session(conn, site_id, session_id):
                    return SessionLease(None, None, None)
                return None
            lease_id, expires_at, hold_seconds = row[0], _aware(row[1]), row[2]
            renewed = renewal(expires_at, timedelta(seconds=hold_seconds), now)
            if renewed is not None:
                if not await _extend_lease(conn, lease_id, session_id, renewed, now):
                    return None
                expires_at = renewed
            return SessionLease(lease_id, expires_at, hold_seconds)

    async def extend_lease(
        self, lease_id: int, session_id: str, expires_at: datetime, now: datetime
    ) -> bool:
        """Push an open lease's expiry; False when it was released meanwhile."""
        async with connection(self._engine) as conn:
            return await _extend_lease(conn, lease_id, session_id, expires_at, now)


async def _is_leaseless_session(conn: AsyncConnection, site_id: int, session_id: str) -> bool:
    had_lease = exists().where(Lease.session_id == Session.id)
    query = select(Session.id).where(
        Session.id == session_id, Session.site_id == site_id, ~had_lease
    )
    return await conn.scalar(query) is not None


async def _extend_lease(
    conn: AsyncConnection, lease_id: int, session_id: str, expires_at: datetime, now: datetime
) -> bool:
    result = await conn.execute(
        update(Lease)
        .where(Lease.id == lease_id, Lease.released_at.is_(None), Lease.expires_at > now)
        .values(expires_at=expires_at)
        .returning(Lease.number_id)
    )
    extended = result.first()
    if extended is not None:
        await _mark_number(conn, extended[0], expires_at)
    await conn.execute(update(Session).where(Session.id == session_id).values(last_seen_at=now))
    return extended is not None


def _is_first_pool_visit(req: VisitRequest) -> bool:
    """A tracked visit to a pool campaign by a visitor without an id: all rows are new."""
    return (
        req.track
        and req.plan.kind == "pool"
        and req.campaign is not None
        and not is_valid_id(req.visitor_id)
    )


async def _pool_visit(
    conn: AsyncConnection,
    req: VisitRequest,
    campaign: CampaignConfig,
    visitor_id: str,
    session_id: str,
    now: datetime,
    known_session: bool,
    known_visitor: bool,
) -> VisitResult:
    number, expires = await _lease_for(
        conn, campaign, session_id, visitor_id, now, known_session, known_visitor
    )
    if number is None:
        await count(conn, req.site_id, campaign.id, "exhausted", now)
        return VisitResult(visitor_id, session_id, campaign.fallback_number, None, True)
    return VisitResult(visitor_id, session_id, number, expires)


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
    await conn.execute(INSERT_VISITOR, _visitor_row(req, visitor_id, now))
    return visitor_id


def _visitor_row(req: VisitRequest, visitor_id: str, now: datetime) -> dict[str, Any]:
    return {
        "id": visitor_id,
        "site_id": req.site_id,
        "client_id": req.client_id,
        "first_seen_at": now,
        "last_seen_at": now,
    }


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
    session_id = new_id()
    await conn.execute(INSERT_SESSION, _session_row(req, visitor_id, session_id, now))
    return session_id


def _session_row(
    req: VisitRequest, visitor_id: str, session_id: str, now: datetime
) -> dict[str, Any]:
    source = req.source
    click_ids = dict(source.click_ids)
    return {
        "id": session_id,
        "visitor_id": visitor_id,
        "site_id": req.site_id,
        "campaign_id": req.plan.campaign_id,
        "channel_id": req.plan.channel_id,
        "source": source.fallback,
        "utm_source": source.utm_source,
        "utm_medium": source.utm_medium,
        "utm_campaign": source.utm_campaign,
        "utm_content": source.utm_content,
        "utm_term": source.utm_term,
        "referrer": _cut(req.referrer, 2048),
        "landing_url": _cut(req.url, 2048),
        "gclid": click_ids.get("gclid"),
        "yclid": click_ids.get("yclid"),
        "fbclid": click_ids.get("fbclid"),
        "msclkid": click_ids.get("msclkid"),
        "click_ids": click_ids,
        "client_id": req.client_id,
        "user_agent": _cut(req.user_agent, 512),
        "ip": req.ip,
        "started_at": now,
        "last_seen_at": now,
    }


def _lease_row(
    session_id: str, visitor_id: str, campaign_id: int, now: datetime, expires: datetime
) -> dict[str, Any]:
    return {
        "session_id": session_id,
        "visitor_id": visitor_id,
        "campaign_id": campaign_id,
        "leased_at": now,
        "expires_at": expires,
    }


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
        return await _mark_number(conn, held[0], expires), expires
    kept = await _visitors_live_lease(conn, campaign.id, visitor_id, now) if known_visitor else None
    if kept is not None:
        lease_id, number_id, e164 = kept
        # The same visitor keeps the number: hand it from the old session to the new one.
        await conn.execute(update(Lease).where(Lease.id == lease_id).values(released_at=now))
        await _insert_lease(conn, number_id, session_id, visitor_id, campaign.id, now, expires)
        await _mark_number(conn, number_id, expires)
        return e164, expires
    picked = await _take_free_number(conn, campaign, now, expires)
    if picked is None and await release_expired(conn, now, campaign.id):
        picked = await _take_free_number(conn, campaign, now, expires)
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


async def _take_free_number(
    conn: AsyncConnection, campaign: CampaignConfig, now: datetime, leased_until: datetime
) -> tuple[int, str] | None:
    params = pick_params(campaign.id, campaign.cooldown, now, leased_until)
    row = (await conn.execute(TAKE_FREE_NUMBER, params)).first()
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
    row = _lease_row(session_id, visitor_id, campaign_id, now, expires)
    await conn.execute(INSERT_LEASE, {"number_id": number_id, **row})


async def _mark_number(conn: AsyncConnection, number_id: int, leased_until: datetime) -> str:
    """Store the open lease's expiry on its number; returns the number's E.164."""
    result = await conn.execute(
        update(TrackingNumber)
        .where(TrackingNumber.id == number_id)
        .values(leased_until=leased_until)
        .returning(TrackingNumber.e164)
    )
    return str(result.scalar_one())


async def release_expired(conn: AsyncConnection, now: datetime, campaign_id: int | None) -> int:
    """Release leases past their expiry (at their expiry) and stamp their numbers.

    A released number gets ``leased_until`` cleared (a number has at most one open lease,
    so it has none left) and ``last_released_at`` moved forward to the release, never back.
    """
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
    if not latest:
        return 0
    released_at = bindparam("released_at", type_=TrackingNumber.last_released_at.type)
    later = TrackingNumber.last_released_at.is_(None) | (
        TrackingNumber.last_released_at < released_at
    )
    await conn.execute(
        update(TrackingNumber)
        .where(TrackingNumber.id == bindparam("number_id"))
        .values(
            leased_until=None,
            last_released_at=case((later, released_at), else_=TrackingNumber.last_released_at),
        ),
        [{"number_id": k, "released_at": v} for k, v in sorted(latest.items())],
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
