"""The report's figures in SQL, from the roll-ups and the call facts.

Additive figures come from ``metric_rollups``; what is not additive is counted over
``metric_call_facts`` for the whole period at once: distinct callers per row (first
grouped per caller, then counted, so each caller is one row whatever their calls), and
the histograms of wait, talk and call-back delay that medians need (histograms add up,
so the total's are the rows' summed). The total's distinct counts are their own query.
On PostgreSQL, ``report_pass`` reads the facts for all of these in two ``GROUPING
SETS`` statements instead. The result is one ``Tally`` per row, turned into figures by
the pure ``definitions.figures``, so both paths share every formula.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import case, func, literal, select
from sqlalchemy.ext.asyncio import AsyncConnection

from callpool.db.tables import (
    AdSpend,
    Call,
    MetricAgentMiss,
    MetricCallFacts,
    MetricRollup,
    PageView,
    Session,
)
from callpool.metrics.campaigns import CampaignMetrics
from callpool.metrics.definitions import (
    AgentTally,
    Report,
    agent_report,
    assemble_report,
    cause_class,
    channel_extras,
    channel_spend,
    period_bounds,
)
from callpool.metrics.model import CALLER_ROWS, Grouping, RowExtras, Tally
from callpool.metrics.report_pass import one_pass
from callpool.metrics.rollups import ROLLUP_COUNTS

F = MetricCallFacts
R = MetricRollup
TOTAL = ("total",)


def _flag(condition: Any) -> Any:
    return case((condition, 1), else_=0)


# Groupings by what the roll-ups do not keep: their sums are taken over the facts.
FACT_ONLY: frozenset[str] = frozenset({"callers", "region", "line_type"})


def _fact_keys(grouping: Grouping) -> list[Any]:
    if grouping == "channel":
        return [F.kind, F.channel_id]
    return [
        {
            "day": F.local_day,
            "hour": F.hour,
            "weekday": F.weekday,
            "callers": F.first_time,
            "region": F.caller_region,
            "line_type": F.line_type,
        }[grouping]
    ]


def _rollup_keys(grouping: Grouping) -> list[Any]:
    if grouping == "channel":
        return [R.kind, R.channel_key]
    return [{"day": R.local_day, "hour": R.hour, "weekday": R.weekday}[grouping]]


def _fact_sums() -> list[Any]:
    """``ROLLUP_COUNTS`` and revenue summed over facts (as ``rollups.rollup_rows`` does)."""
    missed = F.status != "answered"
    sums = {
        "calls": func.count(),
        "first_time_calls": func.sum(_flag(F.first_time)),
        "answered": func.sum(_flag(~missed)),
        "no_answer": func.sum(_flag(F.status == "no_answer")),
        "busy": func.sum(_flag(F.status == "busy")),
        "failed": func.sum(_flag(F.status == "failed")),
        "abandoned": func.sum(_flag((F.status == "abandoned") & ~F.short_abandon)),
        "short_abandons": func.sum(_flag(F.short_abandon)),
        "target_calls": func.sum(_flag(F.target)),
        "answered_in_sl": func.sum(_flag(F.answered_in_sl)),
        "successful_calls": func.sum(_flag(F.successful)),
        "billed_minutes": func.sum(F.billed_minutes),
        "known_missed_calls": func.sum(_flag(missed & F.customer.is_not(None))),
    }
    return [sums[name] for name in ROLLUP_COUNTS] + [func.sum(F.value)]


def _key(grouping: Grouping, values: Sequence[Any]) -> Any:
    if grouping == "channel":
        kind, channel = values
        return (kind, channel or None)
    value = values[0]
    if grouping == "callers":
        return CALLER_ROWS[0] if value else CALLER_ROWS[1]
    if grouping == "day" and isinstance(value, str):  # SQLite in a derived table
        return date.fromisoformat(value)
    return value


async def period_tallies(
    conn: AsyncConnection, campaign_id: int, grouping: Grouping, start: date, end: date
) -> tuple[dict[Any, Tally], Tally]:
    """One tally per row of the grouping, and the total's."""
    tallies: dict[Any, Tally] = defaultdict(Tally)
    total = Tally()
    in_period_r = (R.campaign_id == campaign_id, R.local_day >= start, R.local_day <= end)
    in_period = (F.campaign_id == campaign_id, F.local_day >= start, F.local_day <= end)
    if grouping in FACT_ONLY:
        keys = _fact_keys(grouping)
        query = select(*keys, *_fact_sums()).where(*in_period)
    else:
        keys = _rollup_keys(grouping)
        sums = [func.sum(getattr(R, name)) for name in ROLLUP_COUNTS]
        query = select(*keys, *sums, func.sum(R.revenue)).where(*in_period_r)
    rows = await conn.execute(query.group_by(*keys))
    width = len(keys)
    for row in rows:
        for tally in (tallies[_key(grouping, row[:width])], total):
            for name, value in zip(ROLLUP_COUNTS, row[width:], strict=False):
                setattr(tally, name, getattr(tally, name) + int(value or 0))
            tally.revenue += Decimal(str(row[-1] or 0)).quantize(Decimal("0.01"))
    if conn.dialect.name == "postgresql":
        await one_pass(
            conn, _fact_keys(grouping), in_period,
            lambda values: tallies[_key(grouping, values)], total,
        )  # fmt: skip
    else:
        await _distinct_callers(conn, grouping, in_period, tallies, total)
        await _histograms(conn, grouping, in_period, tallies, total)
    return dict(tallies), total


async def _distinct_callers(
    conn: AsyncConnection,
    grouping: Grouping,
    in_period: tuple[Any, ...],
    tallies: dict[Any, Tally],
    total: Tally,
) -> None:
    missed = F.status != "answered"
    per_caller = [
        func.max(_flag(F.target)).label("t"),
        func.max(_flag(missed)).label("m"),
        func.max(_flag(F.called_back_by_us | F.called_back_by_themselves)).label("b"),
        func.max(_flag(F.called_back_by_us)).label("u"),
        func.max(_flag(F.called_back_by_themselves)).label("s"),
        func.max(_flag(F.attempted)).label("a"),
    ]
    fields = (
        "unique_calls",
        "unique_target_calls",
        "missed_callers",
        "called_back",
        "called_back_by_us",
        "called_back_by_themselves",
        "attempted_callers",
    )
    for keys, target in ((_fact_keys(grouping), None), ([], total)):
        labelled = [k.label(f"k{i}") for i, k in enumerate(keys)]
        inner = (
            select(*labelled, F.customer, *per_caller)
            .where(*in_period, F.customer.is_not(None))
            .group_by(*keys, F.customer)
            .subquery()
        )
        outer_keys = [inner.c[f"k{i}"] for i in range(len(keys))]
        counts = [func.count()] + [func.sum(inner.c[c]) for c in "tmbusa"]
        for row in await conn.execute(select(*outer_keys, *counts).group_by(*outer_keys)):
            tally = target or tallies[_key(grouping, row[: len(keys)])]
            for name, value in zip(fields, row[len(keys) :], strict=True):
                setattr(tally, name, int(value or 0))
    # A hidden caller id is a caller of its own per call.
    keys = _fact_keys(grouping)
    hidden = await conn.execute(
        select(*keys, func.count(), func.sum(_flag(F.target)), func.sum(_flag(missed)))
        .where(*in_period, F.customer.is_(None))
        .group_by(*keys)
    )
    for row in hidden:
        calls, target_calls, missed_calls = (int(v or 0) for v in row[len(keys) :])
        for tally in (tallies[_key(grouping, row[: len(keys)])], total):
            tally.unique_calls += calls
            tally.unique_target_calls += target_calls
            tally.missed_callers += missed_calls


async def _histograms(
    conn: AsyncConnection,
    grouping: Grouping,
    in_period: tuple[Any, ...],
    tallies: dict[Any, Tally],
    total: Tally,
) -> None:
    keys = _fact_keys(grouping)
    parts = [
        ("wait_hist", F.wait_seconds, F.status == "answered"),
        ("talk_hist", F.talk_seconds, F.status == "answered"),
        ("delay_hist", F.attempt_delay, F.attempt_delay.is_not(None)),
        ("causes", F.hangup_cause, F.status != "answered"),
    ]
    for name, column, condition in parts:
        rows = await conn.execute(
            select(*keys, column, func.count()).where(*in_period, condition).group_by(*keys, column)
        )
        for row in rows:
            value, count = row[len(keys)], int(row[len(keys) + 1])
            bucket = cause_class(value) if name == "causes" else value
            for tally in (tallies[_key(grouping, row[: len(keys)])], total):
                hist = getattr(tally, name)
                hist[bucket] = hist.get(bucket, 0) + count


async def channel_figures_extras(
    conn: AsyncConnection, campaign: CampaignMetrics, start: date, end: date, today: date
) -> tuple[dict[Any, RowExtras], RowExtras]:
    """Visits and spend of the channel grouping."""
    first, after = period_bounds(start, end, campaign.timezone)
    visits: dict[int | None, list[int]] = defaultdict(lambda: [0, 0])
    sessions = await conn.execute(
        select(Session.channel_id, func.count())
        .where(
            Session.campaign_id == campaign.id,
            Session.started_at >= first,
            Session.started_at < after,
        )
        .group_by(Session.channel_id)
    )
    for channel_id, count in sessions:
        visits[channel_id][1] += count
    views = await conn.execute(
        select(Session.channel_id, func.count())
        .select_from(PageView)
        .join(Session, Session.id == PageView.session_id)
        .where(
            Session.campaign_id == campaign.id,
            PageView.viewed_at >= first,
            PageView.viewed_at < after,
        )
        .group_by(Session.channel_id)
    )
    for channel_id, count in views:
        visits[channel_id][0] += count
    imported: dict[int, dict[date, Decimal]] = defaultdict(dict)
    spend_rows = await conn.execute(
        select(AdSpend.channel_id, AdSpend.day, AdSpend.amount).where(
            AdSpend.campaign_id == campaign.id, AdSpend.day >= start, AdSpend.day <= end
        )
    )
    for channel_id, day, amount in spend_rows:
        imported[channel_id][day] = Decimal(str(amount)).quantize(Decimal("0.01"))
    money = {
        c.id: channel_spend(c, imported.get(c.id, {}), start, end, today) for c in campaign.channels
    }
    found = {key: (v[0], v[1]) for key, v in visits.items()}
    return channel_extras(campaign.channels, found, money)


async def campaign_report(
    conn: AsyncConnection,
    campaign: CampaignMetrics,
    grouping: Grouping,
    start: date,
    end: date,
    today: date,
) -> Report:
    """The report of one campaign over local days ``[start, end]``."""
    if grouping == "agent":
        return await _agent_report(conn, campaign, start, end)
    tallies, total = await period_tallies(conn, campaign.id, grouping, start, end)
    extras: dict[Any, RowExtras] = {}
    total_extras = RowExtras()
    if grouping == "channel":
        extras, total_extras = await channel_figures_extras(conn, campaign, start, end, today)
    return assemble_report(
        grouping,
        tallies,
        total,
        extras,
        total_extras,
        campaign.settings,
        campaign.channels,
        start,
        end,
    )


async def _agent_report(
    conn: AsyncConnection, campaign: CampaignMetrics, start: date, end: date
) -> Report:
    tallies: dict[str, AgentTally] = defaultdict(AgentTally)
    inbound = await conn.execute(
        select(
            F.answered_by,
            func.count(),
            func.sum(F.wait_seconds),
            func.sum(F.talk_seconds),
            func.sum(_flag(F.target)),
        )
        .where(
            F.campaign_id == campaign.id,
            F.local_day >= start,
            F.local_day <= end,
            F.answered_by.is_not(None),
            F.answered_by != "",
        )
        .group_by(F.answered_by)
    )
    for agent, answered, wait, talk, target in inbound:
        t = tallies[agent]
        t.answered, t.wait_sum, t.talk_sum, t.target_calls = (
            int(answered),
            int(wait),
            int(talk),
            int(target),
        )
    misses = await conn.execute(
        select(MetricAgentMiss.agent, func.count())
        .where(
            MetricAgentMiss.campaign_id == campaign.id,
            MetricAgentMiss.local_day >= start,
            MetricAgentMiss.local_day <= end,
        )
        .group_by(MetricAgentMiss.agent)
    )
    for agent, count in misses:
        tallies[agent].rang_but_missed = int(count)
    first, after = period_bounds(start, end, campaign.timezone)
    reached = Call.disposition == "answered"
    outbound = await conn.execute(
        select(
            Call.caller_number,
            func.count(),
            func.sum(_flag(reached)),
            func.sum(case((reached, Call.talk_seconds), else_=literal(0))),
        )
        .where(
            Call.direction == "outbound",
            Call.caller_number.is_not(None),
            Call.caller_number != "",
            Call.started_at >= first,
            Call.started_at < after,
        )
        .group_by(Call.caller_number)
    )
    for agent, attempts, reached_count, talk in outbound:
        t = tallies[agent]
        t.outbound_attempts, t.outbound_reached, t.outbound_talk_sum = (
            int(attempts),
            int(reached_count),
            int(talk),
        )
    return agent_report(tallies)
