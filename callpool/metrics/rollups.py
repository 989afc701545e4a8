"""Roll-ups in SQL: a campaign's local day of calls judged into facts and hourly sums.

``rebuild_day`` reads the day's inbound calls of the campaign (and of its site's main
line), the calls the flags look at (each number's latest earlier call, the call-backs
after a miss), judges them with the pure ``definitions.judge_calls`` and replaces the
day's rows of ``metric_call_facts`` and ``metric_rollups`` in one transaction: running
it twice is running it once, and a run killed half-way leaves the previous rows.

The facts are what exact counting over any period needs (distinct callers, medians);
the roll-ups are the additive figures per campaign, row, local day and hour. Both can be
dropped and rebuilt from the calls (``rebuild_campaign``).
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import ARRAY, String, and_, any_, bindparam, delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from callpool.db.engine import connection
from callpool.db.tables import (
    Call,
    MetricAgentMiss,
    MetricCallFacts,
    MetricDirtyDay,
    MetricRollup,
)
from callpool.metrics.campaigns import CampaignMetrics, load_campaign
from callpool.metrics.definitions import days_between, judge_calls, period_bounds
from callpool.metrics.model import CallFacts, CallRecord

_IN_CHUNK = 2000
# Days rebuilt in one transaction: about a month keeps the statements few and the
# memory of one run (the calls and facts of the month) small.
RUN_DAYS = 31
_CALL_COLUMNS = (
    Call.id,
    Call.direction,
    Call.caller_number,
    Call.called_number,
    Call.started_at,
    Call.ended_at,
    Call.wait_seconds,
    Call.talk_seconds,
    Call.disposition,
    Call.answered_by,
    Call.hangup_cause,
    Call.campaign_id,
    Call.channel_id,
    Call.outcome,
    Call.value,
    Call.missed_by,
)


def _record(row: Any) -> CallRecord:
    data = dict(row._mapping)
    value = data.pop("value")
    if value is not None:  # SQLite hands back a float
        value = Decimal(str(value)).quantize(Decimal("0.01"))
    missed_by = tuple(data.pop("missed_by") or ())
    return CallRecord(**data, value=value, missed_by=missed_by)


def _chunks(values: Iterable[str], dialect: str) -> Iterable[list[str]]:
    items = sorted(values)
    if dialect == "postgresql":  # one array parameter (``_among``), however many
        yield items
        return
    for start in range(0, len(items), _IN_CHUNK):
        yield items[start : start + _IN_CHUNK]


def _among(column: Any, values: list[str], dialect: str) -> Any:
    """``column IN values``; on PostgreSQL ``= ANY(array)``: one statement text (and one
    prepared plan) whatever the count, where an expanded IN list is a new one each time."""
    if dialect == "postgresql":
        return column == any_(bindparam(None, values, type_=ARRAY(String)))
    return column.in_(values)


def scope_filter(campaign: CampaignMetrics) -> list[Any]:
    """Inbound calls of the campaign's report: its own, and its site's main line."""
    clauses: list[Any] = [Call.campaign_id == campaign.id]
    if campaign.settings.site_numbers:
        clauses.append(
            and_(
                Call.campaign_id.is_(None),
                Call.called_number.in_(sorted(campaign.settings.site_numbers)),
            )
        )
    return clauses


async def range_calls(
    conn: AsyncConnection, campaign: CampaignMetrics, start: date, end: date
) -> tuple[list[CallRecord], list[CallRecord]]:
    """The subject calls of local days ``[start, end]``, and the history their flags need
    (subjects included): a handful of statements however many days the range holds."""
    settings = campaign.settings
    first, after = period_bounds(start, end, settings.timezone)
    subjects: dict[int, CallRecord] = {}
    for clause in scope_filter(campaign):  # one index range each, no OR
        rows = await conn.execute(
            select(*_CALL_COLUMNS).where(
                clause,
                Call.direction == "inbound",
                Call.started_at >= first,
                Call.started_at < after,
            )
        )
        subjects.update((row.id, _record(row)) for row in rows)
    history = dict(subjects)
    customers = {c for call in subjects.values() if (c := call.customer) is not None}
    missed = {
        c for call in subjects.values() if not call.answered and (c := call.customer) is not None
    }
    until = after + timedelta(days=settings.callback_window_days + 1)  # a superset
    stub_ids = itertools.count(-1, -1)  # earlier calls stand in under ids no call has
    dialect = conn.dialect.name
    for chunk in _chunks(customers, dialect):
        for clause in scope_filter(campaign):
            # Each number's latest earlier call in the scope: enough for first-time.
            rows = await conn.execute(
                select(
                    Call.caller_number,
                    Call.called_number,
                    Call.campaign_id,
                    func.max(Call.started_at).label("latest"),
                )
                .where(
                    clause,
                    Call.direction == "inbound",
                    _among(Call.caller_number, chunk, dialect),
                    Call.started_at < first,
                )
                .group_by(Call.caller_number, Call.called_number, Call.campaign_id)
            )
            for row in rows:
                stub = next(stub_ids)
                history[stub] = CallRecord(
                    stub,
                    "inbound",
                    row.caller_number,
                    row.called_number,
                    row.latest,
                    row.latest,
                    disposition="failed",  # never counts as a later answered call
                    campaign_id=row.campaign_id,
                )
    for chunk in _chunks(missed, dialect):
        later = [
            (Call.direction == "outbound") & _among(Call.called_number, chunk, dialect),
            (Call.direction == "inbound")
            & (Call.disposition == "answered")
            & _among(Call.caller_number, chunk, dialect),
        ]
        for clause in later:
            rows = await conn.execute(
                select(*_CALL_COLUMNS).where(
                    clause, Call.started_at >= first, Call.started_at < until
                )
            )
            history.update((row.id, _record(row)) for row in rows if row.id not in history)
    return list(subjects.values()), list(history.values())


async def day_calls(
    conn: AsyncConnection, campaign: CampaignMetrics, day: date
) -> tuple[list[CallRecord], list[CallRecord]]:
    """The day's subject calls, and the history their flags need (subjects included)."""
    return await range_calls(conn, campaign, day, day)


async def rebuild_day(
    engine: AsyncEngine, campaign_id: int, day: date, *, clear_marks_before: datetime | None = None
) -> int:
    """Replace one local day's facts and roll-ups of a campaign; returns the facts written."""
    return await rebuild_days(engine, campaign_id, day, day, clear_marks_before=clear_marks_before)


async def rebuild_days(
    engine: AsyncEngine,
    campaign_id: int,
    start: date,
    end: date,
    *,
    clear_marks_before: datetime | None = None,
    campaign: CampaignMetrics | None = None,
) -> int:
    """Replace the facts and roll-ups of a campaign's local days ``[start, end]`` in one
    transaction; returns the facts written.

    With ``clear_marks_before``, the days' ``metric_dirty_days`` marks go in the same
    transaction, unless made after that moment (then the day is rebuilt again).
    """
    async with connection(engine) as conn:
        if campaign is None:
            campaign = await load_campaign(conn, campaign_id)
        subjects, history = await range_calls(conn, campaign, start, end)
        facts = judge_calls(subjects, history, campaign.settings)
        await write_days(conn, campaign_id, start, end, facts)
        if clear_marks_before is not None:
            await conn.execute(
                delete(MetricDirtyDay).where(
                    MetricDirtyDay.campaign_id == campaign_id,
                    MetricDirtyDay.local_day >= start,
                    MetricDirtyDay.local_day <= end,
                    MetricDirtyDay.marked_at <= clear_marks_before,
                )
            )
    return len(facts)


async def write_day(
    conn: AsyncConnection, campaign_id: int, day: date, facts: Sequence[CallFacts]
) -> None:
    await write_days(conn, campaign_id, day, day, facts)


async def write_days(
    conn: AsyncConnection, campaign_id: int, start: date, end: date, facts: Sequence[CallFacts]
) -> None:
    for table in (MetricCallFacts, MetricRollup, MetricAgentMiss):
        await conn.execute(
            delete(table).where(
                table.campaign_id == campaign_id, table.local_day >= start, table.local_day <= end
            )
        )
    if not facts:
        return
    await insert_rows(conn, MetricCallFacts, [_fact_row(campaign_id, f) for f in facts])
    await insert_rows(conn, MetricRollup, rollup_rows(campaign_id, facts))
    misses = [
        {"campaign_id": campaign_id, "call_id": f.call_id, "agent": agent, "local_day": f.local_day}
        for f in facts
        for agent in f.missed_by
    ]
    if misses:
        await insert_rows(conn, MetricAgentMiss, misses)


async def insert_rows(conn: AsyncConnection, table: Any, rows: list[dict[str, Any]]) -> None:
    """Many rows at once: COPY on PostgreSQL (a year of facts in seconds), else executemany."""
    if conn.dialect.name != "postgresql":
        await conn.execute(insert(table), rows)
        return
    columns = list(rows[0])
    raw = await conn.get_raw_connection()
    driver: Any = raw.driver_connection
    await driver.copy_records_to_table(
        table.__tablename__, records=[tuple(r[c] for c in columns) for r in rows], columns=columns
    )


_FACT_COLUMNS = tuple(name for name in CallFacts.__slots__ if name != "missed_by")


def _fact_row(campaign_id: int, fact: CallFacts) -> dict[str, Any]:
    row = {name: getattr(fact, name) for name in _FACT_COLUMNS}
    row["campaign_id"] = campaign_id
    return row


ROLLUP_COUNTS = (
    "calls",
    "first_time_calls",
    "answered",
    "no_answer",
    "busy",
    "failed",
    "abandoned",
    "short_abandons",
    "target_calls",
    "answered_in_sl",
    "successful_calls",
    "billed_minutes",
    "known_missed_calls",
)


def rollup_rows(campaign_id: int, facts: Iterable[CallFacts]) -> list[dict[str, Any]]:
    """The additive figures of facts per local day, row and hour."""
    groups: dict[tuple[date, str, int, int, int], dict[str, Any]] = {}
    for f in facts:
        key = (f.local_day, f.kind, f.channel_id or 0, f.hour, f.weekday)
        row = groups.get(key)
        if row is None:
            row = groups[key] = dict.fromkeys(ROLLUP_COUNTS, 0) | {"revenue": Decimal("0")}
        row["calls"] += 1
        row["first_time_calls"] += f.first_time
        row["target_calls"] += f.target
        row["answered_in_sl"] += f.answered_in_sl
        row["successful_calls"] += f.successful
        row["billed_minutes"] += f.billed_minutes
        if f.value is not None:
            row["revenue"] += f.value
        if f.status == "answered":
            row["answered"] += 1
            continue
        row["known_missed_calls"] += f.customer is not None
        bucket = "short_abandons" if f.short_abandon else f.status
        row[bucket] += 1
    return [
        {
            "campaign_id": campaign_id,
            "local_day": day,
            "kind": kind,
            "channel_key": channel_key,
            "hour": hour,
            "weekday": weekday,
            **counts,
        }
        for (day, kind, channel_key, hour, weekday), counts in groups.items()
    ]


async def first_call_day(engine: AsyncEngine, campaign: CampaignMetrics) -> date | None:
    """The local day of the campaign's (or its main line's) first inbound call."""
    earliest: datetime | None = None
    async with connection(engine) as conn:
        for clause in scope_filter(campaign):
            found = await conn.scalar(
                select(func.min(Call.started_at)).where(clause, Call.direction == "inbound")
            )
            if found is not None and (earliest is None or found < earliest):
                earliest = found
    if earliest is None:
        return None
    return campaign.today(earliest.astimezone(UTC))


async def rebuild_campaign(
    engine: AsyncEngine, campaign_id: int, now: datetime, since: date | None = None
) -> list[date]:
    """Rebuild every day of a campaign from ``since`` (default: its first call) to today,
    with today's settings. Returns the days rebuilt."""
    async with connection(engine) as conn:
        campaign = await load_campaign(conn, campaign_id)
    start = since or await first_call_day(engine, campaign)
    today = campaign.today(now)
    if start is None or start > today:
        return []
    days = days_between(start, today)
    for run in day_runs(days):
        await rebuild_days(engine, campaign_id, run[0], run[-1], campaign=campaign)
    return days


def day_runs(days: Sequence[date], most: int = RUN_DAYS) -> list[list[date]]:
    """Sorted days cut into runs of consecutive days, each at most ``most`` long."""
    runs: list[list[date]] = []
    for day in sorted(set(days)):
        if runs and day - runs[-1][-1] == timedelta(days=1) and len(runs[-1]) < most:
            runs[-1].append(day)
        else:
            runs.append([day])
    return runs


def group_days(pairs: Iterable[tuple[int, date]]) -> dict[int, list[date]]:
    by_campaign: dict[int, set[date]] = defaultdict(set)
    for campaign_id, day in pairs:
        by_campaign[campaign_id].add(day)
    return {c: sorted(days) for c, days in sorted(by_campaign.items())}
