"""A report request, parsed once at the edge, and the one function that answers it.

``ReportQuery`` is a frozen value: site, campaign, period (local dates or a named
period), grouping and an optional comparison period. ``parse_report_query`` builds it
from strings (CLI options, query parameters) and raises ``ValidationError`` with one
line. ``run_report(engine, query, now)`` is the entry point of every consumer (CLI,
report API, dashboard, exports): it resolves named periods in the campaign's time zone
and returns a ``ReportResult`` (rows, total, ``fresh_at``, and the comparison's).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal, get_args

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from callpool.db.engine import connection
from callpool.db.tables import MetricState
from callpool.errors import ValidationError
from callpool.metrics.campaigns import find_campaign
from callpool.metrics.definitions import Report
from callpool.metrics.model import Grouping
from callpool.metrics.report_sql import campaign_report

NamedPeriod = Literal[
    "today", "yesterday", "last_7_days", "last_30_days", "this_month", "last_month"
]
NAMED_PERIODS: tuple[str, ...] = get_args(NamedPeriod)
GROUPINGS: tuple[str, ...] = get_args(Grouping)
ROLLUP_JOB = "metrics_rollup"  # its metric_state row says how fresh the figures are


@dataclass(frozen=True, slots=True)
class Period:
    """Local days ``[start, end]``, or a named period resolved against the local today."""

    start: date | None = None
    end: date | None = None
    named: NamedPeriod | None = None

    def resolve(self, today: date) -> tuple[date, date]:
        if self.named is None:
            assert self.start is not None and self.end is not None
            return self.start, self.end
        return resolve_named(self.named, today)

    def __str__(self) -> str:
        return self.named or f"{self.start}..{self.end}"


def resolve_named(name: NamedPeriod, today: date) -> tuple[date, date]:
    if name == "today":
        return today, today
    if name == "yesterday":
        day = today - timedelta(days=1)
        return day, day
    if name == "last_7_days":
        return today - timedelta(days=6), today
    if name == "last_30_days":
        return today - timedelta(days=29), today
    first = today.replace(day=1)
    if name == "this_month":
        return first, today
    last = first - timedelta(days=1)
    return last.replace(day=1), last


@dataclass(frozen=True, slots=True)
class ReportQuery:
    site: str
    campaign: str
    period: Period
    grouping: Grouping = "channel"
    compare: Period | None = None


def parse_date(value: str, what: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationError(
            f"{what} must be a date like 2026-12-01 (got {value[:20]!r})"
        ) from None


def parse_period(value: str, what: str) -> Period:
    """``2026-12-01..2026-12-31``, a single date, or a named period."""
    if value in NAMED_PERIODS:
        return Period(named=value)  # type: ignore[arg-type]
    start, sep, end = value.partition("..")
    first = parse_date(start, what)
    last = parse_date(end, what) if sep else first
    return _checked(first, last, what)


def _checked(start: date, end: date, what: str) -> Period:
    if end < start:
        raise ValidationError(f"{what}: the end {end} is before the start {start}")
    if (end - start).days > 3660:
        raise ValidationError(f"{what}: at most ten years at once")
    return Period(start, end)


def parse_report_query(
    site: str,
    campaign: str,
    *,
    period: str | None = None,
    start: str | None = None,
    end: str | None = None,
    by: str = "channel",
    compare_to: str | None = None,
) -> ReportQuery:
    """A report request from strings; ``period`` (a named period or D..D) or ``start``/``end``."""
    if by not in GROUPINGS:
        raise ValidationError(f"--by must be one of {', '.join(GROUPINGS)} (got {by[:20]!r})")
    if period is not None:
        parsed = parse_period(period, "period")
    elif start is not None:
        first = parse_date(start, "--from")
        parsed = _checked(first, parse_date(end, "--to") if end else first, "period")
    else:
        raise ValidationError(f"give --from (and --to) or a period: {', '.join(NAMED_PERIODS)}")
    compare = parse_period(compare_to, "--compare-to") if compare_to else None
    return ReportQuery(site, campaign, parsed, by, compare)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class ReportResult:
    campaign: str
    site: str
    timezone: str
    grouping: Grouping
    start: date
    end: date
    fresh_at: datetime | None
    report: Report
    compare: ReportResult | None = None


async def run_report(engine: AsyncEngine, query: ReportQuery, now: datetime) -> ReportResult:
    """The report a query asks for, from the roll-ups as of their last run (``fresh_at``)."""
    async with connection(engine) as conn:
        campaign = await find_campaign(conn, query.site, query.campaign)
        today = campaign.today(now)
        fresh_at = await conn.scalar(
            select(MetricState.fresh_at).where(MetricState.name == ROLLUP_JOB)
        )
        results: list[ReportResult] = []
        for period in (query.period, query.compare):
            if period is None:
                continue
            start, end = period.resolve(today)
            report = await campaign_report(conn, campaign, query.grouping, start, end, today)
            results.append(
                ReportResult(
                    campaign.name,
                    campaign.site,
                    campaign.timezone,
                    query.grouping,
                    start,
                    end,
                    fresh_at,
                    report,
                )
            )
    main = results[0]
    if len(results) == 2:
        return ReportResult(**{**_fields(main), "compare": results[1]})
    return main


def _fields(result: ReportResult) -> dict[str, Any]:
    return {name: getattr(result, name) for name in ReportResult.__slots__}
