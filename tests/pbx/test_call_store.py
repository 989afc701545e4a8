"""Calls from real captures written to both databases: attributed, idempotent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from callpool.db.engine import connection
from callpool.db.tables import AmiEvent, Call, Campaign, Lease, Session, TrackingNumber, Visitor
from callpool.pbx.assembly.calls import assemble_calls
from callpool.pbx.call_store import RawEvent, SqlCallStore
from tests.pbx.captures import load_capture
from tests.seed import make_catalog

NOW = datetime(2026, 12, 1, tzinfo=UTC)


async def _lease(
    engine: AsyncEngine, visitor: str, e164: str, start: datetime, end: datetime
) -> None:
    async with connection(engine) as conn:
        site_id, campaign_id = (await conn.execute(select(Campaign.site_id, Campaign.id))).one()
        number_id = await conn.scalar(select(TrackingNumber.id).where(TrackingNumber.e164 == e164))
        await conn.execute(
            insert(Visitor).values(
                id=visitor, site_id=site_id, first_seen_at=start, last_seen_at=start
            )
        )
        await conn.execute(
            insert(Session).values(
                id=visitor,
                visitor_id=visitor,
                site_id=site_id,
                campaign_id=campaign_id,
                started_at=start,
                last_seen_at=start,
            )
        )
        await conn.execute(
            insert(Lease).values(
                number_id=number_id,
                session_id=visitor,
                visitor_id=visitor,
                campaign_id=campaign_id,
                leased_at=start,
                expires_at=end,
                released_at=end,
            )
        )


async def _calls(engine: AsyncEngine) -> list[Call]:
    async with connection(engine) as conn:
        return list((await conn.execute(select(Call).order_by(Call.started_at))).all())  # type: ignore[arg-type]


async def test_inbound_call_is_credited_to_the_live_lease_and_written_once(
    engine: AsyncEngine,
) -> None:
    await make_catalog(engine, pool_size=3)
    capture = load_capture("answered")
    [call] = assemble_calls(capture.events)
    visitor = "00000000-0000-4000-8000-00000000000a"
    await _lease(
        engine,
        visitor,
        "+74950000001",
        call.started_at - timedelta(minutes=3),
        call.started_at + timedelta(minutes=12),
    )
    store = SqlCallStore(engine, "RU")
    await store.save_calls([call], NOW)
    await store.save_calls([call], NOW)  # a replay: still one row
    [row] = await _calls(engine)
    assert (row.direction, row.caller_number, row.called_number) == (
        "inbound",
        "+79161110001",
        "+74950000001",
    )
    assert (row.attribution, row.session_id, row.visitor_id) == ("lease", visitor, visitor)
    assert (row.disposition, row.talk_seconds, row.answered_by) == ("answered", 20, "201")
    assert row.raw_cdrs[0]["billsec"] == 20


@pytest.mark.parametrize("one_batch", [False, True], ids=["one-by-one", "one-batch"])
async def test_repeat_caller_is_credited_to_the_first_visitor(
    engine: AsyncEngine, one_batch: bool
) -> None:
    await make_catalog(engine, pool_size=3)
    first, second = sorted(
        assemble_calls(load_capture("repeat-caller").events), key=lambda c: c.started_at
    )
    v, stranger = "00000000-0000-4000-8000-0000000000a1", "00000000-0000-4000-8000-0000000000b2"
    await _lease(engine, v, "+74950000001", first.started_at - timedelta(minutes=5), first.ended_at)
    await _lease(
        engine,
        stranger,
        "+74950000001",
        second.started_at - timedelta(seconds=1),
        second.started_at + timedelta(minutes=15),
    )
    store = SqlCallStore(engine, "RU")
    if one_batch:  # the second call sees the first, written earlier in the same batch
        await store.save_calls([first, second], NOW)
    else:
        await store.save_calls([first], NOW)
        await store.save_calls([second], NOW)
    rows = await _calls(engine)
    assert [(r.attribution, r.visitor_id) for r in rows] == [("lease", v), ("repeat_caller", v)]
    assert [r.disposition for r in rows] == ["abandoned", "answered"]


async def test_callback_and_unknown_numbers_are_not_credited_to_visits(engine: AsyncEngine) -> None:
    await make_catalog(engine, pool_size=3)
    store = SqlCallStore(engine, "RU")
    [callback] = assemble_calls(load_capture("callback").events)
    [queue] = assemble_calls(load_capture("queue-answered").events)  # DID 006: not in our pool
    await store.save_calls([callback, queue], NOW)
    rows = {r.direction: r for r in await _calls(engine)}
    assert rows["outbound"].called_number == "+79161110001" and rows["outbound"].attribution is None
    assert rows["inbound"].attribution == "unknown_number"


async def test_pool_call_without_any_lease_is_unattributed_to_the_campaign(
    engine: AsyncEngine,
) -> None:
    await make_catalog(engine, pool_size=3)
    [call] = assemble_calls(load_capture("answered").events)
    await SqlCallStore(engine, "RU").save_calls([call], NOW)
    [row] = await _calls(engine)
    assert (
        row.attribution == "unattributed" and row.campaign_id is not None and row.session_id is None
    )


async def test_raw_events_are_kept_once_per_journal_sequence(engine: AsyncEngine) -> None:
    capture = load_capture("answered")
    events = [
        RawEvent(i, at, msg.event, msg.get("Linkedid") or None, msg.raw.decode())
        for i, (msg, at) in enumerate(capture.events)
    ]
    store = SqlCallStore(engine, "RU")
    await store.save_events("pbx1", events)
    await store.save_events("pbx1", events[:10])
    async with connection(engine) as conn:
        assert await conn.scalar(select(func.count()).select_from(AmiEvent)) == len(events)


async def test_hangup_cause_is_written_and_an_outcome_survives_the_call_written_again(
    engine: AsyncEngine,
) -> None:
    await make_catalog(engine, pool_size=3)
    [call] = assemble_calls(load_capture("busy").events)
    store = SqlCallStore(engine, "RU")
    await store.save_calls([call], NOW)
    async with connection(engine) as conn:
        await conn.execute(update(Call).values(outcome="lead", value=Decimal("12.50")))
    await store.save_calls([call], NOW + timedelta(seconds=1))  # a late CDR, a replay
    [row] = await _calls(engine)
    assert (row.disposition, row.hangup_cause) == ("busy", 17)
    assert (row.outcome, row.value) == ("lead", Decimal("12.50"))


async def test_the_agents_who_rang_but_missed_are_stored(engine: AsyncEngine) -> None:
    await make_catalog(engine, pool_size=3)
    [call] = assemble_calls(load_capture("queue-answered").events)
    await SqlCallStore(engine, "RU").save_calls([call], NOW)
    [row] = await _calls(engine)
    assert (row.answered_by, row.missed_by) == ("202", ["201"])
