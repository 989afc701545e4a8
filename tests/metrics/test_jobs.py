"""The metrics jobs on both databases: run twice = once, killed half-way then rerun =
once, two at once = once; late calls and call-backs reach the days they change."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from callpool.db.engine import connection, create_engine
from callpool.db.tables import Call, MetricCallFacts, MetricDirtyDay, MetricRollup, MetricState
from callpool.metrics import jobs
from callpool.metrics.campaigns import load_campaign
from callpool.metrics.definitions import compute_channel_metrics
from callpool.metrics.jobs import metrics_lock, recompute_yesterday, roll_up
from callpool.metrics.model import CallRecord, ChannelInfo, MetricSettings
from callpool.metrics.report_sql import campaign_report
from tests.metrics import test_definitions_golden as golden
from tests.metrics.history import History, _call_row, write_history

CHANNEL_IDS = {golden.GOOGLE: 1, golden.RADIO: 2}
SETTINGS = dataclasses.replace(golden.SETTINGS, site_numbers=frozenset({golden.MAIN_LINE}))
CALLS = tuple(
    dataclasses.replace(c, channel_id=CHANNEL_IDS.get(c.channel_id, c.channel_id))  # type: ignore[arg-type]
    for c in golden.CALLS
)
NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)  # 12:00 in Moscow, the day after
HISTORY = History(
    SETTINGS,
    (
        ChannelInfo(1, "google", Decimal("100.00"), date(2026, 1, 1)),
        ChannelInfo(2, "radio", Decimal("0.00"), date(2026, 1, 1)),
    ),
    CALLS,
    (),
    (),
    (),
    golden.DAY,
    golden.DAY,
    NOW,
)


async def _snapshot(engine: AsyncEngine) -> tuple[list[Any], list[Any]]:
    async with connection(engine) as conn:
        facts = (
            await conn.execute(
                select(MetricCallFacts).order_by(
                    MetricCallFacts.campaign_id, MetricCallFacts.call_id
                )
            )
        ).all()
        columns = [c for c in MetricRollup.__table__.columns if c.name != "id"]
        rollups = (await conn.execute(select(*columns).order_by(*columns[:5]))).all()
    return [tuple(r) for r in facts], [tuple(r) for r in rollups]


async def _reset_derived(engine: AsyncEngine) -> None:
    async with connection(engine) as conn:
        for table in (MetricCallFacts, MetricRollup, MetricState, MetricDirtyDay):
            await conn.execute(delete(table))


async def _report_matches_definitions(engine: AsyncEngine, calls: list[CallRecord]) -> None:
    async with connection(engine) as conn:
        campaign = await load_campaign(conn, 1)
        sql = await campaign_report(conn, campaign, "channel", golden.DAY, golden.DAY, golden.DAY)
    pure = compute_channel_metrics(
        calls, SETTINGS, list(HISTORY.channels), golden.DAY, golden.DAY, today=golden.DAY
    )
    assert sql == pure


async def test_roll_up_twice_is_roll_up_once(engine: AsyncEngine) -> None:
    await write_history(engine, HISTORY)
    first = await roll_up(engine, NOW)
    assert first.ran and golden.DAY in first.days[1]
    once = await _snapshot(engine)
    # Campaign 1: 11 calls on 12-01, 3 on other days; campaign 2: its own call and the
    # site's main-line call, which both campaigns of the site report as untracked.
    assert len(once[0]) == 16
    await roll_up(engine, NOW)
    assert await _snapshot(engine) == once
    await _report_matches_definitions(engine, list(CALLS))


async def test_killed_half_way_then_rerun_is_run_once(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    await write_history(engine, HISTORY)
    await roll_up(engine, NOW)
    once = await _snapshot(engine)
    await _reset_derived(engine)
    real = jobs.rebuild_days
    done: list[date] = []

    async def dies_after_two_runs(*args: Any, **kwargs: Any) -> int:
        if len(done) == 2:
            raise asyncio.CancelledError  # the process is killed here
        done.append(args[2])
        return await real(*args, **kwargs)

    monkeypatch.setattr(jobs, "rebuild_days", dies_after_two_runs)
    with pytest.raises(asyncio.CancelledError):
        await roll_up(engine, NOW)
    monkeypatch.setattr(jobs, "rebuild_days", real)
    async with connection(engine) as conn:
        assert await conn.scalar(select(MetricState.watermark)) is None  # nothing claimed done
    await roll_up(engine, NOW)
    assert await _snapshot(engine) == once


async def test_two_processes_at_once_are_run_once(engine: AsyncEngine, database_url: str) -> None:
    await write_history(engine, HISTORY)
    await roll_up(engine, NOW)
    once = await _snapshot(engine)
    await _reset_derived(engine)
    other = create_engine(database_url)
    try:
        runs = await asyncio.gather(roll_up(engine, NOW), roll_up(other, NOW))
        assert any(run.ran for run in runs)
        assert await _snapshot(engine) == once
        # While one process holds the jobs' lock, another skips its turn (PostgreSQL).
        async with metrics_lock(other) as held:
            assert held
            skipped = await roll_up(engine, NOW)
            assert skipped.ran is (engine.dialect.name != "postgresql")
    finally:
        await other.dispose()


async def test_a_late_call_back_reaches_the_day_of_the_miss(engine: AsyncEngine) -> None:
    calls = [c for c in CALLS if c.id != 4]  # B's miss at 10:00 without our call-back
    await write_history(engine, dataclasses.replace(HISTORY, calls=tuple(calls)))
    await roll_up(engine, NOW)
    async with connection(engine) as conn:
        campaign = await load_campaign(conn, 1)
        before = await campaign_report(
            conn, campaign, "channel", golden.DAY, golden.DAY, golden.DAY
        )
    assert before.rows[0].figures["called_back_by_us"] == 0
    # The call-back arrives late (a journal replay), written an hour after the first run.
    late = next(c for c in CALLS if c.id == 4)
    row = _call_row(late) | {"updated_at": NOW + timedelta(hours=1)}
    async with connection(engine) as conn:
        await conn.execute(insert(Call), [row])
    run = await roll_up(engine, NOW + timedelta(hours=1))
    assert golden.DAY in run.days[1]
    await _report_matches_definitions(engine, list(CALLS))


async def test_a_marked_day_is_rebuilt_and_its_mark_cleared(engine: AsyncEngine) -> None:
    await write_history(engine, HISTORY)
    await roll_up(engine, NOW)
    day = date(2026, 11, 15)
    async with connection(engine) as conn:
        await conn.execute(
            insert(MetricDirtyDay).values(campaign_id=1, local_day=day, marked_at=NOW)
        )
    run = await roll_up(engine, NOW + timedelta(minutes=1))
    assert day in run.days[1]
    async with connection(engine) as conn:
        assert (await conn.execute(select(MetricDirtyDay))).all() == []


async def test_yesterday_is_recomputed_once_per_local_day(engine: AsyncEngine) -> None:
    await write_history(engine, HISTORY)
    first = await recompute_yesterday(engine, NOW)
    assert first.days == {1: [golden.DAY], 2: [date(2026, 12, 1)]}
    assert (await recompute_yesterday(engine, NOW + timedelta(hours=1))).days == {}
    async with connection(engine) as conn:
        campaign = await load_campaign(conn, 1)
        report = await campaign_report(
            conn, campaign, "channel", golden.DAY, golden.DAY, golden.DAY
        )
    assert report.total["calls"] == 11


def test_settings_of_the_golden_day_are_the_campaigns() -> None:
    assert isinstance(SETTINGS, MetricSettings)
