"""A new visitor's first visit on the driver's connection: what it writes, SQLite's group
commit (batches, a failing visit failing alone, close), PostgreSQL's dead connections and
generic plans, and the time-ordered ids."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from callpool.db.driver_sql import compile_for, converted
from callpool.db.engine import create_engine
from callpool.db.tables import Lease, Session, TrackingNumber, Visitor
from callpool.errors import StoreUnavailable
from callpool.tracking.classify import classify_visit
from callpool.tracking.directory import SiteDirectory
from callpool.tracking.first_visits import SqliteFirstVisits, first_visits_for
from callpool.tracking.leases import (
    SqlLeaseStore,
    VisitRequest,
    _lease_row,
    _session_row,
    _visitor_row,
    new_id,
)
from callpool.tracking.visit_sql import TAKE_FREE_NUMBER, first_visit_params, pick_params
from callpool.tracking.visits import SiteConfig, plan_visit
from tests.conftest import _migrate, empty_tables
from tests.seed import make_catalog

NOW = datetime(2026, 11, 23, 12, 0, 0, 123456, tzinfo=UTC)
LANDING = "https://shop.example/?utm_source=bing&utm_medium=cpc&utm_campaign=winter&gclid=abc"


async def _site(engine: AsyncEngine, pool_size: int = 3) -> SiteConfig:
    catalog = await make_catalog(engine, pool_size=pool_size)
    return await SiteDirectory(engine).get(catalog.key)


def _request(site: SiteConfig, url: str = LANDING) -> VisitRequest:
    source = classify_visit(url, "https://www.bing.com/", site.hosts, site.rules)
    plan = plan_visit(site, source, is_bot=False, is_blocked=False, consent_declined=False)
    assert plan.kind == "pool" and plan.campaign_id is not None
    campaign = site.campaign(plan.campaign_id)
    return VisitRequest(
        site.id, None, None, url, "https://www.bing.com/", "GA1.2.3", "Mozilla/5.0", "10.0.0.7",
        source, plan, campaign,
    )  # fmt: skip


def _values(req: VisitRequest, visitor_id: str | None = None) -> dict[str, Any]:
    """``first_visit_params`` for ``req`` at NOW, as ``SqlLeaseStore`` builds them."""
    campaign = req.campaign
    assert campaign is not None
    visitor_id = visitor_id or new_id()
    session_id = new_id()
    expires = NOW + campaign.hold
    return first_visit_params(
        _visitor_row(req, visitor_id, NOW),
        _session_row(req, visitor_id, session_id, NOW),
        _lease_row(session_id, visitor_id, campaign.id, NOW, expires),
        pick_params(campaign.id, campaign.cooldown, NOW, expires),
    )


@pytest.fixture
async def sqlite_engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """Group commit is SQLite's: these tests have no PostgreSQL twin."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'callpool.db'}"
    await _migrate(url)
    engine = create_engine(url)
    yield engine
    await engine.dispose()


async def _count(engine: AsyncEngine, table: Any) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(table)) or 0)


async def test_first_visit_rows_read_back_as_written(engine: AsyncEngine) -> None:
    site = await _site(engine)
    store = SqlLeaseStore(engine)
    result = await store.record_visit(_request(site), NOW)
    await store.close()
    assert result.number is not None and result.expires_at == NOW + timedelta(seconds=900)
    async with engine.connect() as conn:
        visitor = (await conn.execute(select(Visitor))).one()
        session = (await conn.execute(select(Session))).one()
        lease = (await conn.execute(select(Lease))).one()
        number = (
            await conn.execute(select(TrackingNumber).where(TrackingNumber.e164 == result.number))
        ).one()
    assert (visitor.id, visitor.site_id, visitor.client_id) == (
        result.visitor_id,
        site.id,
        "GA1.2.3",
    )
    assert visitor.first_seen_at == NOW and visitor.last_seen_at == NOW
    assert session.id == result.session_id and session.visitor_id == visitor.id
    assert (session.utm_source, session.utm_medium, session.utm_campaign) == (
        "bing",
        "cpc",
        "winter",
    )
    assert session.gclid == "abc" and session.click_ids == {"gclid": "abc"}
    assert session.source == "paid" and session.referrer == "https://www.bing.com/"
    assert session.started_at == NOW and session.ip == "10.0.0.7"
    assert (lease.number_id, lease.session_id, lease.visitor_id) == (
        number.id,
        session.id,
        visitor.id,
    )
    assert lease.leased_at == NOW and lease.expires_at == NOW + timedelta(seconds=900)
    assert lease.released_at is None and number.leased_until == lease.expires_at


async def test_concurrent_first_visits_take_distinct_numbers(engine: AsyncEngine) -> None:
    site = await _site(engine, pool_size=40)
    store = SqlLeaseStore(engine)
    results = await asyncio.gather(*(store.record_visit(_request(site), NOW) for _ in range(40)))
    await store.close()
    numbers = [r.number for r in results]
    assert None not in numbers and len(set(numbers)) == 40
    assert await _count(engine, Lease) == 40
    # Group commit: the 40 visits went in far fewer transactions.
    assert store._first_visits.written == 40
    assert store._first_visits.batches < 10


async def test_a_failing_visit_fails_alone(engine: AsyncEngine) -> None:
    # Room to spare: on PostgreSQL the failing visit holds a number's row lock until it
    # rolls back, and SKIP LOCKED passes that number by.
    site = await _site(engine, pool_size=8)
    writer = first_visits_for(engine)
    req = _request(site)
    first = await writer.write(_values(req))
    assert first is not None
    async with engine.connect() as conn:
        taken_visitor = await conn.scalar(select(Visitor.id))
    # Five visits at once; the third reuses a visitor id that exists: a primary key clash.
    values = [_values(req) for _ in range(5)]
    values[2] = _values(req, visitor_id=taken_visitor)
    outcomes = await asyncio.gather(*(writer.write(v) for v in values), return_exceptions=True)
    await writer.close()
    assert writer.batches == 2  # the five went as one batch, which failed, then alone
    assert isinstance(outcomes[2], IntegrityError)
    good = [o for i, o in enumerate(outcomes) if i != 2]
    assert all(isinstance(o, tuple) for o in good), outcomes
    assert len({o[1] for o in good if isinstance(o, tuple)} | {first[1]}) == 5
    assert await _count(engine, Session) == 5  # the failing visit wrote nothing
    assert await _count(engine, Lease) == 5


async def test_no_free_number_writes_the_visit_and_returns_none(engine: AsyncEngine) -> None:
    site = await _site(engine, pool_size=1)
    writer = first_visits_for(engine)
    req = _request(site)
    assert await writer.write(_values(req)) is not None
    assert await writer.write(_values(req)) is None
    await writer.close()
    assert await _count(engine, Session) == 2
    assert await _count(engine, Lease) == 1


async def test_store_falls_back_to_the_fallback_number_when_exhausted(engine: AsyncEngine) -> None:
    site = await _site(engine, pool_size=1)
    store = SqlLeaseStore(engine)
    taken = await store.record_visit(_request(site), NOW)
    fallback = await store.record_visit(_request(site), NOW)
    await store.close()
    assert taken.number is not None and not taken.exhausted
    assert fallback.exhausted and fallback.number == "+74957654321"
    assert fallback.session_id is not None


async def test_sqlite_close_finishes_queued_visits_then_refuses(sqlite_engine: AsyncEngine) -> None:
    engine = sqlite_engine
    site = await _site(engine, pool_size=10)
    writer = SqliteFirstVisits(engine, max_batch=3)
    req = _request(site)
    pending = [asyncio.ensure_future(writer.write(_values(req))) for _ in range(10)]
    await asyncio.sleep(0)  # all ten queued, the first batch under way
    await writer.close()
    assert all(p.done() and isinstance(p.result(), tuple) for p in pending)
    assert writer.batches == 4  # 3 + 3 + 3 + 1
    with pytest.raises(RuntimeError, match="closed"):
        await writer.write(_values(req))


async def test_sqlite_a_cancelled_request_does_not_lose_its_batch(
    sqlite_engine: AsyncEngine,
) -> None:
    engine = sqlite_engine
    site = await _site(engine, pool_size=10)
    writer = SqliteFirstVisits(engine)
    req = _request(site)
    pending = [asyncio.ensure_future(writer.write(_values(req))) for _ in range(6)]
    await asyncio.sleep(0)
    pending[0].cancel()  # the request that started the flush goes away
    done = await asyncio.gather(*pending[1:])
    await writer.close()
    assert all(isinstance(d, tuple) for d in done)
    # The cancelled visit was written with its batch: its lease simply runs out.
    assert await _count(engine, Lease) == 6


async def test_postgresql_killed_connections_fail_one_first_visit(pg_migrated_url: str) -> None:
    await empty_tables(pg_migrated_url)
    setup = create_engine(pg_migrated_url)
    try:
        site = await _site(setup, pool_size=10)
    finally:
        await setup.dispose()
    engine = create_engine(pg_migrated_url, pool_size=3)
    store = SqlLeaseStore(engine)

    async def visit() -> str | None:
        return (await store.record_visit(_request(site), datetime.now(UTC))).number

    try:
        assert None not in await asyncio.gather(*(visit() for _ in range(3)))
        dsn = make_url(pg_migrated_url).set(drivername="postgresql")
        admin = await asyncpg.connect(dsn.render_as_string(hide_password=False))
        try:
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        finally:
            await admin.close()
        await asyncio.sleep(0.2)
        with pytest.raises(StoreUnavailable):
            await visit()
        # The pool dropped every connection opened before: the next visits all work.
        assert None not in await asyncio.gather(*(visit() for _ in range(3)))
    finally:
        await store.close()
        await engine.dispose()


async def test_postgresql_generic_plan_of_the_pick_uses_the_pick_index(
    pg_migrated_url: str,
) -> None:
    await empty_tables(pg_migrated_url)
    engine = create_engine(pg_migrated_url)
    try:
        site = await _site(engine, pool_size=3)
        statement = compile_for(TAKE_FREE_NUMBER, engine.dialect)
        campaign = site.campaigns[0]
        values = pick_params(campaign.id, campaign.cooldown, NOW, NOW + campaign.hold)
        async with engine.connect() as conn:
            assert await conn.scalar(text("SHOW plan_cache_mode")) == "force_generic_plan"
            raw = (await conn.get_raw_connection()).driver_connection
            assert raw is not None
            await raw.execute(f"PREPARE pick AS {statement.sql}")
            literals = ", ".join(_literal(v) for v in statement.args(values))
            plan = "\n".join(r[0] for r in await raw.fetch(f"EXPLAIN EXECUTE pick({literals})"))
            await raw.execute("DEALLOCATE pick")
        assert "$" in plan  # the generic plan: parameters left as parameters
        assert "ix_tracking_numbers_pick" in plan and "Sort" not in plan
        # The open-lease check probes the index per number, whatever the statistics say.
        assert "SubPlan" in plan and "Anti Join" not in plan and "Materialize" not in plan
    finally:
        await engine.dispose()


def _literal(value: object) -> str:
    if isinstance(value, datetime):
        return f"'{value.isoformat()}'"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def test_ids_are_version_7_time_ordered_and_random() -> None:
    ids = [new_id() for _ in range(2000)]
    parsed = [uuid.UUID(i) for i in ids]
    assert all(u.version == 7 and u.variant == uuid.RFC_4122 for u in parsed)
    assert len(set(ids)) == 2000
    millis = [u.int >> 80 for u in parsed]
    assert millis == sorted(millis)
    assert abs(millis[-1] - datetime.now(UTC).timestamp() * 1000) < 5000
    # No counter: the 74 bits after the timestamp differ even within one millisecond.
    low = [(u.int >> 64 & 0xFFF, u.int & ((1 << 62) - 1)) for u in parsed]
    assert len({a for a, _ in low}) > 1000 and len({b for _, b in low}) == 2000


def test_converted_processes_each_name_with_its_own_processor() -> None:
    value = datetime(2026, 1, 1, tzinfo=UTC)

    def iso(v: datetime) -> str:
        return v.isoformat()

    def year(v: datetime) -> int:
        return v.year

    out = converted(
        {"a": value, "b": value, "c": value, "d": None}, {"a": iso, "b": year, "c": iso, "d": iso}
    )
    assert out == {"a": value.isoformat(), "b": 2026, "c": value.isoformat(), "d": None}
