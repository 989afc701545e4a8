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

from sqlalchemy import and_, delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from callpool.db.engine import connection
from callpool.db.tables import Call, MetricCallFacts, MetricDirtyDay, MetricRollup
from callpool.metrics.campaigns import CampaignMetrics, load_campaign
from callpool.metrics.definitions import days_between, judge_calls, period_bounds
from callpool.metrics.model import CallFacts, CallRecord

_IN_CHUNK = 500
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
)


def _record(row: Any) -> CallRecord:
    data = dict(row._mapping)
    value = data.pop("value")
    if value is not None:  # SQLite hands back a float
        value = Decimal(str(value)).quantize(Decimal("0.01"))
    return CallRecord(**data, value=value)


def _chunks(values: Iterable[str]) -> Iterable[list[str]]:
    items = sorted(values)
    for start in range(0, len(items), _IN_CHUNK):
        yield items[start : start + _IN_CHUNK]


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


async def day_calls(
    conn: AsyncConnection, campaign: CampaignMetrics, day: date
) -> tuple[list[CallRecord], list[CallRecord]]:
    """The day's subject calls, and the history their flags need (subjects included)."""
    settings = campaign.settings
    first, after = period_bounds(day, day, settings.timezone)
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
    for chunk in _chunks(customers):
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
                    Call.caller_number.in_(chunk),
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
    for chunk in _chunks(missed):
        later = [
            (Call.direction == "outbound") & Call.called_number.in_(chunk),
            (Call.direction == "inbound")
            & (Call.disposition == "answered")
            & Call.caller_number.in_(chunk),
        ]
        for clause in later:
            rows = await conn.execute(
                select(*_CALL_COLUMNS).where(
                    clause, Call.started_at >= first, Call.started_at < until
                )
            )
            history.update((row.id, _record(row)) for row in rows)
    return list(subjects.values()), list(history.values())


async def rebuild_day(
    engine: AsyncEngine, campaign_id: int, day: date, *, clear_marks_before: datetime | None = None
) -> int:
    """Replace one local day's facts and roll-ups of a campaign; returns the facts written.

    With ``clear_marks_before``, the day's ``metric_dirty_days`` mark goes in the same
    transaction, unless it was made after that moment (then it is rebuilt again).
    """
    async with connection(engine) as conn:
        campaign = await load_campaign(conn, campaign_id)
        subjects, history = await day_calls(conn, campaign, day)
        facts = judge_calls(subjects, history, campaign.settings)
        await write_day(conn, campaign_id, day, facts)
        if clear_marks_before is not None:
            await conn.execute(
                delete(MetricDirtyDay).where(
                    MetricDirtyDay.campaign_id == campaign_id,
                    MetricDirtyDay.local_day == day,
                    MetricDirtyDay.marked_at <= clear_marks_before,
                )
            )
    return len(facts)


async def write_day(
    conn: AsyncConnection, campaign_id: int, day: date, facts: Sequence[CallFacts]
) -> None:
    for table in (MetricCallFacts, MetricRollup):
        await conn.execute(
            delete(table).where(table.campaign_id == campaign_id, table.local_day == day)
        )
    if not facts:
        return
    await conn.execute(insert(MetricCallFacts), [_fact_row(campaign_id, f) for f in facts])
    await conn.execute(insert(MetricRollup), rollup_rows(campaign_id, day, facts))


def _fact_row(campaign_id: int, fact: CallFacts) -> dict[str, Any]:
    row = {name: getattr(fact, name) for name in CallFacts.__slots__}
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


def rollup_rows(campaign_id: int, day: date, facts: Iterable[CallFacts]) -> list[dict[str, Any]]:
    """The additive figures of a day's facts per row and hour."""
    groups: dict[tuple[str, int, int, int], dict[str, Any]] = {}
    for f in facts:
        key = (f.kind, f.channel_id or 0, f.hour, f.weekday)
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
        for (kind, channel_key, hour, weekday), counts in groups.items()
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
    for day in days:
        await rebuild_day(engine, campaign_id, day)
    return days


def group_days(pairs: Iterable[tuple[int, date]]) -> dict[int, list[date]]:
    by_campaign: dict[int, set[date]] = defaultdict(set)
    for campaign_id, day in pairs:
        by_campaign[campaign_id].add(day)
    return {c: sorted(days) for c, days in sorted(by_campaign.items())}
