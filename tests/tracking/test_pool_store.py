"""The SQL pool against the pure rules, under concurrency, and its status and upkeep."""

from __future__ import annotations

import asyncio
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from callpool.db import migrate
from callpool.db.engine import connection, create_engine
from callpool.db.tables import Campaign, Lease, Session, TrackingNumber, Visitor
from callpool.errors import NotFound, PoolExhausted
from callpool.tracking.capacity import erlang_b
from callpool.tracking.expiry import expire_leases
from callpool.tracking.leases import release_expired
from callpool.tracking.pool import LiveLease, PoolNumber, choose_number
from callpool.tracking.pool_status import pool_status, retire_numbers
from callpool.tracking.visit_sql import free_number_query, take_free_number_statement
from tests.conftest import empty_tables
from tests.seed import make_catalog

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]


async def _scenario(
    engine: AsyncEngine, rng: random.Random
) -> tuple[list[PoolNumber], list[LiveLease], int]:
    """Random last releases and open leases (live or expired) on a fresh 8-number pool."""
    async with connection(engine) as conn:
        await conn.execute(update(Lease).values(released_at=NOW - timedelta(days=1)))
        campaign_id = await conn.scalar(select(TrackingNumber.campaign_id).limit(1))
        rows = (
            await conn.execute(
                select(TrackingNumber.id, TrackingNumber.e164)
                .where(TrackingNumber.channel_id.is_(None))
                .order_by(TrackingNumber.id)
            )
        ).all()
        numbers, leases = [], []
        for number_id, e164 in rows:
            released = None if rng.random() < 0.3 else NOW - timedelta(seconds=rng.randint(1, 600))
            retiring = rng.random() < 0.1
            await conn.execute(
                update(TrackingNumber)
                .where(TrackingNumber.id == number_id)
                .values(last_released_at=released, retiring=retiring)
            )
            numbers.append(PoolNumber(number_id, e164, released, True, retiring))
            if rng.random() < 0.4:
                expires = NOW + timedelta(seconds=rng.randint(-300, 300))
                session_id = f"00000000-0000-4000-8000-{rng.randrange(16**12):012x}"
                await _session(conn, session_id)
                await conn.execute(
                    insert(Lease).values(
                        number_id=number_id,
                        session_id=session_id,
                        visitor_id=session_id,
                        campaign_id=campaign_id,
                        leased_at=NOW - timedelta(hours=1),
                        expires_at=expires,
                    )
                )
                leases.append(LiveLease(number_id, session_id, session_id, expires))
    return numbers, leases, int(campaign_id or 0)


async def _session(conn: AsyncConnection, session_id: str) -> None:
    site_id = await conn.scalar(select(Campaign.site_id).limit(1))
    await conn.execute(
        insert(Visitor).values(id=session_id, site_id=site_id, first_seen_at=NOW, last_seen_at=NOW)
    )
    await conn.execute(
        insert(Session).values(
            id=session_id, visitor_id=session_id, site_id=site_id, started_at=NOW, last_seen_at=NOW
        )
    )


async def test_sql_pick_agrees_with_the_pure_rules(engine: AsyncEngine) -> None:
    await make_catalog(engine, pool_size=8)
    rng = random.Random(7)
    for _ in range(25):
        numbers, leases, campaign_id = await _scenario(engine, rng)
        cooldown = timedelta(seconds=rng.choice([0, 60, 300]))
        try:
            expected: str | None = choose_number(numbers, leases, NOW, cooldown).e164
        except PoolExhausted:
            expected = None
        async with connection(engine) as conn:
            await release_expired(conn, NOW, campaign_id)
            row = (await conn.execute(free_number_query(campaign_id, cooldown, NOW))).first()
        assert (row[1] if row else None) == expected


async def test_processes_never_lease_one_number_twice(pg_migrated_url: str) -> None:
    """Several processes on one PostgreSQL (the production set-up): K numbers, N > K sessions."""
    await empty_tables(pg_migrated_url)
    engine = create_engine(pg_migrated_url)
    try:
        catalog = await make_catalog(engine, pool_size=10)
        start_at = time.time() + 3
        args = ["-m", "tests.tracking.alloc_worker", pg_migrated_url, catalog.key, "15"]
        workers = [
            await asyncio.create_subprocess_exec(
                sys.executable, *args, str(start_at), cwd=ROOT, stdout=asyncio.subprocess.PIPE
            )
            for _ in range(4)
        ]
        outputs = [await asyncio.wait_for(worker.communicate(), 120) for worker in workers]
        assert all(worker.returncode == 0 for worker in workers)
        leased = [int(out.decode().strip()) for out, _ in outputs]
        assert sum(leased) == 10  # 60 sessions, 10 numbers: exactly 10 got one
        async with connection(engine) as conn:
            query = (
                select(Lease.number_id, func.count())
                .where(Lease.released_at.is_(None))
                .group_by(Lease.number_id)
            )
            per_number = (await conn.execute(query)).all()
        assert len(per_number) == 10 and all(count == 1 for _, count in per_number)
    finally:
        await engine.dispose()


async def test_pool_status_recommends_a_size_from_traffic(engine: AsyncEngine) -> None:
    catalog = await make_catalog(engine, pool_size=3, hold=900, cooldown=0)
    async with connection(engine) as conn:
        campaign_id = await conn.scalar(select(TrackingNumber.campaign_id).limit(1))
        number_ids = (
            await conn.scalars(select(TrackingNumber.id).where(TrackingNumber.channel_id.is_(None)))
        ).all()
    # 120 sessions in the peak hour, each 3 minutes long, spread over the hour.
    async with connection(engine) as conn:
        for i in range(120):
            session_id = f"00000000-0000-4000-8000-{i:012x}"
            await _session(conn, session_id)
            start = NOW - timedelta(hours=2) + timedelta(seconds=30 * i)
            await conn.execute(
                update(Session)
                .where(Session.id == session_id)
                .values(
                    campaign_id=campaign_id,
                    started_at=start,
                    last_seen_at=start + timedelta(minutes=3),
                )
            )
            if i < 3:
                await conn.execute(
                    insert(Lease).values(
                        number_id=number_ids[i],
                        session_id=session_id,
                        visitor_id=session_id,
                        campaign_id=campaign_id,
                        leased_at=NOW - timedelta(minutes=1),
                        expires_at=NOW + timedelta(minutes=10),
                    )
                )
    status = await pool_status(engine, "shop", "main", NOW)
    assert (status.size, status.live_leases, status.peak_concurrent) == (3, 3, 3)
    assert status.peak_new_sessions_per_hour == 120
    assert status.mean_visit_seconds == 180.0
    # A = 120/h x (180 + 900) s = 36 erlangs: B(47) = 1.30 % > 1 % >= B(48) = 0.96 %.
    assert erlang_b(47, 36.0) > 0.01 >= erlang_b(48, 36.0)
    assert status.recommended_size == 48
    assert status.rule_of_thumb_size == 1  # 120 visitors over 7 days: ~17 a day
    assert catalog.key


async def test_retired_number_finishes_its_lease_then_leaves(engine: AsyncEngine) -> None:
    catalog = await make_catalog(engine, pool_size=2)
    async with connection(engine) as conn:
        number_id = await conn.scalar(
            select(TrackingNumber.id).where(TrackingNumber.e164 == catalog.pool[0])
        )
        campaign_id = await conn.scalar(select(TrackingNumber.campaign_id).limit(1))
        await _session(conn, "00000000-0000-4000-8000-000000000001")
        await conn.execute(
            insert(Lease).values(
                number_id=number_id,
                session_id="00000000-0000-4000-8000-000000000001",
                visitor_id="00000000-0000-4000-8000-000000000001",
                campaign_id=campaign_id,
                leased_at=NOW,
                expires_at=NOW + timedelta(minutes=15),
            )
        )
    assert await retire_numbers(engine, [catalog.pool[0]], "RU") == 1
    assert await expire_leases(engine, NOW + timedelta(minutes=1)) == (0, 0)
    async with connection(engine) as conn:
        assert await conn.scalar(
            select(TrackingNumber.active).where(TrackingNumber.id == number_id)
        )
    assert await expire_leases(engine, NOW + timedelta(minutes=16)) == (1, 1)
    assert await expire_leases(engine, NOW + timedelta(minutes=17)) == (0, 0)
    async with connection(engine) as conn:
        assert not await conn.scalar(
            select(TrackingNumber.active).where(TrackingNumber.id == number_id)
        )
    with pytest.raises(NotFound, match=r"\+74959999999"):
        await retire_numbers(engine, ["+74959999999"], "RU")


async def test_the_pick_is_one_probe_of_the_pick_index(engine: AsyncEngine) -> None:
    """No scan of the pool and no sort: the pick walks ix_tracking_numbers_pick."""
    await make_catalog(engine, pool_size=50)
    async with connection(engine) as conn:
        campaign_id = await conn.scalar(select(TrackingNumber.campaign_id).limit(1))
        statement = take_free_number_statement(int(campaign_id), timedelta(seconds=60), NOW, NOW)
        sql = str(statement.compile(conn.sync_connection, compile_kwargs={"literal_binds": True}))
        if engine.dialect.name == "sqlite":
            plan = [row[-1] for row in await conn.execute(text(f"EXPLAIN QUERY PLAN {sql}"))]
            numbers = [step for step in plan if "tracking_numbers" in step]
            assert all("ix_tracking_numbers_pick" in s or "PRIMARY KEY" in s for s in numbers)
            assert not [step for step in plan if "TEMP B-TREE" in step]
        else:
            # A 50-row table is cheaper to scan and sort: ask whether the index can serve.
            for setting in ("enable_seqscan", "enable_bitmapscan", "enable_sort"):
                await conn.execute(text(f"SET LOCAL {setting} = off"))
            plan = [row[0] for row in await conn.execute(text(f"EXPLAIN {sql}"))]
            assert any("ix_tracking_numbers_pick" in step for step in plan)
            assert not [step for step in plan if "Sort" in step or "Seq Scan on tracking" in step]
        assert len([step for step in plan if "ix_tracking_numbers_pick" in step]) == 2


async def test_a_released_number_loses_its_lease_mark_and_can_be_picked_again(
    engine: AsyncEngine,
) -> None:
    await make_catalog(engine, pool_size=1, cooldown=0)
    session_id = "00000000-0000-4000-8000-000000000001"
    async with connection(engine) as conn:
        campaign_id = int(await conn.scalar(select(TrackingNumber.campaign_id).limit(1)) or 0)
        await _session(conn, session_id)
        expires = NOW + timedelta(minutes=15)
        picked = (
            await conn.execute(take_free_number_statement(campaign_id, timedelta(0), NOW, expires))
        ).one()
        await conn.execute(
            insert(Lease).values(
                number_id=picked.id,
                session_id=session_id,
                visitor_id=session_id,
                campaign_id=campaign_id,
                leased_at=NOW,
                expires_at=expires,
            )
        )
        leased = select(TrackingNumber.leased_until).where(TrackingNumber.id == picked.id)
        assert await conn.scalar(leased) == expires
        taken = take_free_number_statement(campaign_id, timedelta(0), NOW, expires)
        assert (await conn.execute(taken)).first() is None
    later = expires + timedelta(seconds=1)
    async with connection(engine) as conn:
        assert await release_expired(conn, later, campaign_id) == 1
        assert await conn.scalar(leased) is None
        row = (await conn.execute(free_number_query(campaign_id, timedelta(0), later))).one()
        assert row.id == picked.id


async def test_migration_0006_clears_the_mark_of_numbers_without_an_open_lease(
    engine: AsyncEngine,
) -> None:
    await make_catalog(engine, pool_size=2)
    session_id = "00000000-0000-4000-8000-000000000001"
    stale = NOW - timedelta(hours=1)
    async with connection(engine) as conn:
        first, second = (
            await conn.scalars(
                select(TrackingNumber.id)
                .where(TrackingNumber.channel_id.is_(None))
                .order_by(TrackingNumber.id)
            )
        ).all()
        campaign_id = await conn.scalar(select(TrackingNumber.campaign_id).limit(1))
        await _session(conn, session_id)
        await conn.execute(
            insert(Lease).values(
                number_id=second,
                session_id=session_id,
                visitor_id=session_id,
                campaign_id=campaign_id,
                leased_at=NOW,
                expires_at=NOW + timedelta(minutes=15),
            )
        )
    await migrate.downgrade(engine, "0005")
    try:
        # As 0004 to 0005 left them: a released number keeps its last lease's expiry.
        async with connection(engine) as conn:
            await conn.execute(update(TrackingNumber).values(leased_until=stale))
    finally:
        await migrate.upgrade(engine)
    async with connection(engine) as conn:
        marks = dict(
            (await conn.execute(select(TrackingNumber.id, TrackingNumber.leased_until))).all()
        )
    assert marks[first] is None and marks[second] == stale
