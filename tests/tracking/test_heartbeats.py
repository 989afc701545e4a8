"""Heartbeats against the real store: a cache miss is one transaction, a hit is none."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from callpool.db.engine import connection
from callpool.db.tables import Lease, Session, Site, TrackingNumber, Visitor
from callpool.tracking.heartbeats import LEASELESS_HOLD, HeartbeatCache, renewed_expiry
from callpool.tracking.leases import SqlLeaseStore
from tests.seed import make_catalog

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
HOLD = timedelta(seconds=300)
SESSION = "00000000-0000-4000-8000-000000000001"


@contextmanager
def transactions(engine: AsyncEngine) -> Iterator[list[object]]:
    begun: list[object] = []

    def record(conn: Any) -> None:
        begun.append(conn)

    event.listen(engine.sync_engine, "begin", record)
    try:
        yield begun
    finally:
        event.remove(engine.sync_engine, "begin", record)


async def _session(engine: AsyncEngine, *, leased_until: datetime | None) -> tuple[int, int]:
    """(site id, number id): a session, with a lease on the pool's number unless None."""
    await make_catalog(engine, pool_size=1, hold=int(HOLD.total_seconds()))
    async with connection(engine) as conn:
        site_id = int(await conn.scalar(select(Site.id)) or 0)
        number_id, campaign_id = (
            await conn.execute(
                select(TrackingNumber.id, TrackingNumber.campaign_id).where(
                    TrackingNumber.channel_id.is_(None)
                )
            )
        ).one()
        await conn.execute(
            insert(Visitor).values(id=SESSION, site_id=site_id, first_seen_at=NOW, last_seen_at=NOW)
        )
        await conn.execute(
            insert(Session).values(
                id=SESSION, visitor_id=SESSION, site_id=site_id, started_at=NOW, last_seen_at=NOW
            )
        )
        if leased_until is not None:
            await conn.execute(
                insert(Lease).values(
                    number_id=number_id,
                    session_id=SESSION,
                    visitor_id=SESSION,
                    campaign_id=campaign_id,
                    leased_at=NOW,
                    expires_at=leased_until,
                )
            )
    return site_id, number_id


async def _stored(engine: AsyncEngine) -> tuple[datetime, datetime | None]:
    async with connection(engine) as conn:
        query = select(Lease.expires_at, TrackingNumber.leased_until).join(
            TrackingNumber, TrackingNumber.id == Lease.number_id
        )
        expires_at, leased_until = (await conn.execute(query)).one()
    return expires_at, leased_until


async def test_first_heartbeat_reads_and_extends_the_lease_in_one_transaction(
    engine: AsyncEngine,
) -> None:
    site_id, _ = await _session(engine, leased_until=NOW + HOLD)
    beats = HeartbeatCache(SqlLeaseStore(engine))  # as after a restart: nothing cached
    now = NOW + timedelta(seconds=30)
    with transactions(engine) as begun:
        assert await beats.beat(site_id, SESSION, now) == HOLD
    assert len(begun) == 1
    extended = renewed_expiry(NOW + HOLD, HOLD, now)
    assert extended is not None and await _stored(engine) == (extended, extended)
    with transactions(engine) as begun:  # a hit: the stored expiry runs ahead
        assert await beats.beat(site_id, SESSION, now + timedelta(seconds=30)) == HOLD
    assert begun == []


async def test_heartbeat_of_a_session_without_a_lease_keeps_nothing_alive(
    engine: AsyncEngine,
) -> None:
    site_id, _ = await _session(engine, leased_until=None)
    beats = HeartbeatCache(SqlLeaseStore(engine))
    with transactions(engine) as begun:
        assert await beats.beat(site_id, SESSION, NOW) == LEASELESS_HOLD
        assert await beats.beat(site_id, SESSION, NOW + timedelta(seconds=30)) == LEASELESS_HOLD
    assert len(begun) == 1


async def test_heartbeat_after_the_lease_ended_is_none(engine: AsyncEngine) -> None:
    site_id, _ = await _session(engine, leased_until=NOW + HOLD)
    async with connection(engine) as conn:
        await conn.execute(update(Lease).values(released_at=NOW + timedelta(seconds=10)))
    beats = HeartbeatCache(SqlLeaseStore(engine))
    assert await beats.beat(site_id, SESSION, NOW + timedelta(seconds=20)) is None
    # An expired lease that was not released yet cannot be renewed either.
    async with connection(engine) as conn:
        await conn.execute(update(Lease).values(released_at=None))
    assert await beats.beat(site_id, SESSION, NOW + HOLD + timedelta(seconds=1)) is None
    assert await beats.beat(site_id + 1, SESSION, NOW) is None  # another site's key
