"""The one data function of each report: a parsed query in, a ``ReportDoc`` out.

Every figure comes from the metrics engine (``run_report``) or, for the lists of calls
and callers, from its call facts (``metric_call_facts``), so the API, the exports and
the dashboard count the same calls by the same definitions. Renderers never query.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import phonenumbers
from phonenumbers import geocoder
from sqlalchemy import Integer, cast, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from callpool.accounts.access import Access
from callpool.db.engine import connection
from callpool.db.tables import Campaign, MetricCallFacts, MetricState, Site
from callpool.errors import NotFound
from callpool.metrics.model import Grouping
from callpool.metrics.report_query import ROLLUP_JOB, Period, ReportQuery, run_report
from callpool.reports import call_feed
from callpool.reports.call_list import mask_number, missed_work_list
from callpool.reports.rows import (
    Column,
    ReportDoc,
    ReportMeta,
    Table,
    campaigns_table,
    grouped_table,
    periods_table,
    reasons_table,
    status_table,
)

F = MetricCallFacts


@dataclass(frozen=True, slots=True)
class Scope:
    """A campaign a caller of the API may see, with what rendering its data needs."""

    site_id: int
    site: str
    campaign_id: int
    campaign: str
    timezone: str
    mask_callers: bool  # for this caller: a viewer of a site that masks its callers
    outcomes: tuple[str, ...]

    def today(self, now: datetime) -> date:
        return now.astimezone(ZoneInfo(self.timezone)).date()

    def resolve(self, period: Period, now: datetime) -> tuple[date, date]:
        return period.resolve(self.today(now))


async def campaign_scope(engine: AsyncEngine, access: Access, site: str, campaign: str) -> Scope:
    """The campaign, if ``access`` sees its site; another customer's site is not found."""
    async with connection(engine) as conn:
        found = (
            await conn.execute(select(Site.id, Site.mask_callers).where(Site.name == site))
        ).first()
        if found is None or not access.can_see_site(found[0]):
            raise NotFound(f"no site named {site!r}")
        row = (
            await conn.execute(
                select(Campaign.id, Campaign.timezone, Campaign.outcomes).where(
                    Campaign.site_id == found[0], Campaign.name == campaign
                )
            )
        ).first()
    if row is None:
        raise NotFound(f"no campaign {campaign!r} in site {site!r}")
    masked = bool(found[1]) and not access.is_admin
    return Scope(found[0], site, row[0], campaign, row[1], masked, tuple(row[2] or ()))


async def fresh_at(engine: AsyncEngine) -> datetime | None:
    async with connection(engine) as conn:
        return await conn.scalar(select(MetricState.fresh_at).where(MetricState.name == ROLLUP_JOB))


def _meta(
    report: str, title: str, scope: Scope, start: date, end: date, fresh: datetime | None,
    now: datetime,
) -> ReportMeta:  # fmt: skip
    return ReportMeta(
        report, title, scope.site, scope.campaign, scope.timezone, start, end, fresh, now
    )


async def _grouped(
    engine: AsyncEngine, query: ReportQuery, grouping: Grouping, now: datetime
) -> Table:
    result = await run_report(engine, replace(query, grouping=grouping, compare=None), now)
    return grouped_table(result)


async def grouped_report(
    engine: AsyncEngine, query: ReportQuery, now: datetime, *, full: bool = False
) -> ReportDoc:
    """The report grouped as the query asks (channel, day, hour, weekday, agent). With
    ``full`` (the shareable workbook and PDF of the channel report) every other table
    follows: daily trend, hourly, weekdays, status, failure reasons, agents."""
    result = await run_report(engine, replace(query, compare=None), now)
    table = grouped_table(result)
    tables = [table]
    if full:
        for grouping in ("day", "hour", "weekday"):
            tables.append(await _grouped(engine, query, grouping, now))
        tables += [status_table(result.report.total), reasons_table(result.report.total)]
        tables.append(await _grouped(engine, query, "agent", now))
    meta = ReportMeta(
        query.grouping,
        table.title,
        result.site,
        result.campaign,
        result.timezone,
        result.start,
        result.end,
        result.fresh_at,
        now,
    )
    return ReportDoc(meta, tuple(tables))


async def status_report(
    engine: AsyncEngine, scope: Scope, query: ReportQuery, now: datetime
) -> ReportDoc:
    """Calls by status and missed calls by failure reason."""
    result = await run_report(engine, replace(query, grouping="channel", compare=None), now)
    total = result.report.total
    meta = _meta("status", "Status breakdown", scope, result.start, result.end,
                 result.fresh_at, now)  # fmt: skip
    return ReportDoc(meta, (status_table(total), reasons_table(total)))


async def periods_report(
    engine: AsyncEngine, scope: Scope, query: ReportQuery, now: datetime
) -> ReportDoc:
    """One campaign in two periods; without a base period, the one just before."""
    if query.compare is None:
        start, end = scope.resolve(query.period, now)
        days = (end - start).days + 1
        before = Period(start - timedelta(days=days), start - timedelta(days=1))
        query = replace(query, compare=before)
    result = await run_report(engine, replace(query, grouping="channel"), now)
    assert result.compare is not None
    meta = _meta("periods", "Two periods compared", scope, result.start, result.end,
                 result.fresh_at, now)  # fmt: skip
    extra = {"compare_from": result.compare.start, "compare_to": result.compare.end}
    return ReportDoc(meta, (periods_table(result),), extra)


async def campaigns_report(
    engine: AsyncEngine, scopes: Sequence[Scope], queries: Sequence[ReportQuery], now: datetime
) -> ReportDoc:
    """Two to five campaigns side by side (each over the period in its own time zone)."""
    results = [
        await run_report(engine, replace(q, grouping="channel", compare=None), now) for q in queries
    ]
    first = results[0]
    joined = replace(scopes[0], campaign=", ".join(s.campaign for s in scopes))
    meta = _meta("campaigns", "Campaigns compared", joined, first.start, first.end,
                 first.fresh_at, now)  # fmt: skip
    return ReportDoc(meta, (campaigns_table(results),))


# --------------------------------------------------------------------------- callers

CALLER_COLUMNS = (
    Column("region", "Region", "text"),
    Column("callers", "Callers", "count"),
    Column("new_callers", "New callers", "count"),
    Column("returning_callers", "Returning callers", "count"),
    Column("calls", "Calls", "count"),
    Column("first_time_calls", "First-time calls", "count"),
    Column("returning_calls", "Returning calls", "count"),
)
HIDDEN = "hidden caller id"


def _int(flag: Any) -> Any:
    return cast(flag, Integer)


def caller_region(number: str) -> str:
    """Where a number is from, as precisely as its numbering plan tells (a city for
    landlines, a country for mobiles)."""
    try:
        parsed = phonenumbers.parse(number)
    except phonenumbers.NumberParseException:
        return "unknown"
    return (
        geocoder.description_for_number(parsed, "en")
        or geocoder.country_name_for_number(parsed, "en")
        or "unknown"
    )


async def callers_report(
    engine: AsyncEngine, scope: Scope, period: Period, now: datetime
) -> ReportDoc:
    """Callers by region: new (a first-time call in the period) and returning. A hidden
    caller id is a caller of its own per call, as in every distinct count."""
    start, end = scope.resolve(period, now)
    where = (F.campaign_id == scope.campaign_id, F.local_day >= start, F.local_day <= end)
    per_caller = (
        select(F.customer, func.count(), func.max(_int(F.first_time)), func.sum(_int(F.first_time)))
        .where(*where)
        .group_by(F.customer)
    )
    # region -> [callers, new callers, calls, first-time calls]
    by_region: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    async with connection(engine) as conn:
        for customer, calls, any_first, first_calls in await conn.execute(per_caller):
            hidden = customer is None
            bucket = by_region[HIDDEN if hidden else caller_region(customer)]
            bucket[0] += calls if hidden else 1
            bucket[1] += int(first_calls or 0) if hidden else int(any_first or 0)
            bucket[2] += calls
            bucket[3] += int(first_calls or 0)
    rows = [_caller_row(region, counts) for region, counts in sorted(
        by_region.items(), key=lambda item: (-item[1][2], item[0]))]  # fmt: skip
    totals = [sum(r[i] for r in by_region.values()) for i in range(4)]
    total = _caller_row("Total", totals)
    del total["region"]
    meta = _meta("callers", "Callers by region", scope, start, end, await fresh_at(engine), now)
    table = Table("Callers", "Callers by region", CALLER_COLUMNS, rows, total, ("region", "calls"))
    return ReportDoc(meta, (table,))


def _caller_row(region: str, counts: Sequence[int]) -> dict[str, object]:
    callers, new, calls, first_calls = counts
    return {
        "region": region,
        "callers": callers,
        "new_callers": new,
        "returning_callers": callers - new,
        "calls": calls,
        "first_time_calls": first_calls,
        "returning_calls": calls - first_calls,
    }


# --------------------------------------------------------------------------- lists


MISSED_COLUMNS = (
    Column("caller", "Caller", "text"),
    Column("channel", "Channel", "text"),
    Column("kind", "Row", "text"),
    Column("missed_calls", "Times tried", "count"),
    Column("first_missed_at", "First missed", "datetime"),
    Column("last_missed_at", "Last missed", "datetime"),
    Column("attempted", "Attempted", "flag"),
)


async def missed_report(
    engine: AsyncEngine, scope: Scope, period: Period, now: datetime
) -> ReportDoc:
    """Missed callers nobody has reached yet, oldest first."""
    start, end = scope.resolve(period, now)
    zone = ZoneInfo(scope.timezone)
    callers = await missed_work_list(engine, scope.campaign_id, start, end, limit=10_000)
    rows = [
        {
            "caller": mask_number(c.customer) if scope.mask_callers else c.customer,
            "channel": c.channel,
            "kind": c.kind,
            "missed_calls": c.missed_calls,
            "first_missed_at": c.first_missed_at.astimezone(zone),
            "last_missed_at": c.last_missed_at.astimezone(zone),
            "attempted": c.attempted,
        }
        for c in callers
    ]
    meta = _meta("missed", "Missed and never reached", scope, start, end,
                 await fresh_at(engine), now)  # fmt: skip
    return ReportDoc(meta, (Table("Missed", meta.title, MISSED_COLUMNS, rows),))


async def calls_report(
    engine: AsyncEngine, scope: Scope, query: call_feed.CallQuery, now: datetime, *, stream: bool
) -> ReportDoc:
    """The calls behind a figure: one page (JSON, with the next cursor), or every call
    from the cursor on, streamed page by page (files)."""
    meta = _meta("calls", "Calls", scope, query.start, query.end, await fresh_at(engine), now)
    if stream:
        rows = call_feed.stream_calls(engine, scope, query)
        return ReportDoc(meta, (Table("Calls", "Calls", call_feed.CALL_COLUMNS, rows),))
    page = await call_feed.call_page(engine, scope, query)
    table = Table("Calls", "Calls", call_feed.CALL_COLUMNS, page.rows)
    return ReportDoc(meta, (table,), {"next_cursor": page.next_cursor})
