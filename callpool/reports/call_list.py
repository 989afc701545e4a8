"""The calls behind a report's figures: one filtered, paged list, and the missed work list.

Both read ``metric_call_facts``, the metrics engine's judgement of each inbound call (its
row, status, target, first-time and call-back flags), joined to the call and its visit:
so "the 12 target calls of Google Ads" lists exactly the calls the report counted, by
the same definitions. The dashboard renders these rows; the report API and exports can
take the same ``CallFilter``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import ColumnElement, Integer, and_, cast, func, not_, or_, select, true
from sqlalchemy.ext.asyncio import AsyncEngine

from callpool.db.engine import connection
from callpool.db.tables import Call, Channel, MetricCallFacts, Session
from callpool.errors import ValidationError
from callpool.recordings.store import has_recording_clause

F = MetricCallFacts
KINDS = ("channel", "unattributed", "untracked")
STATUSES = ("answered", "no_answer", "busy", "failed", "abandoned")
MAX_PER_PAGE = 200

_missed = F.status != "answered"
_called_back = or_(F.called_back_by_us.is_(True), F.called_back_by_themselves.is_(True))

# A figure of the report -> which of the row's calls it counts. Distinct counts (unique,
# missed callers...) list the calls of those callers; the page says so.
FIGURE_CALLS: Mapping[str, Callable[[], ColumnElement[bool]]] = {
    "calls": lambda: true(),
    "unique_calls": lambda: true(),
    "first_time_calls": lambda: F.first_time.is_(True),
    "returning_calls": lambda: not_(F.first_time),
    "answered": lambda: F.status == "answered",
    "missed": lambda: _missed,
    "no_answer": lambda: F.status == "no_answer",
    "busy": lambda: F.status == "busy",
    "failed": lambda: F.status == "failed",
    "abandoned": lambda: and_(F.status == "abandoned", not_(F.short_abandon)),
    "short_abandons": lambda: F.short_abandon.is_(True),
    "target_calls": lambda: F.target.is_(True),
    "unique_target_calls": lambda: F.target.is_(True),
    "missed_callers": lambda: _missed,
    "called_back": lambda: and_(_missed, _called_back),
    "called_back_by_us": lambda: and_(_missed, F.called_back_by_us.is_(True)),
    "called_back_by_themselves": lambda: and_(_missed, F.called_back_by_themselves.is_(True)),
    "never_attempted": lambda: and_(_missed, not_(F.attempted)),
    "successful_calls": lambda: F.successful.is_(True),
}


@dataclass(frozen=True, slots=True)
class CallFilter:
    campaign_id: int
    start: date
    end: date
    kind: str | None = None
    channel_id: int | None = None
    figure: str | None = None
    status: str | None = None
    page: int = 1
    per_page: int = 50
    # Only calls with a playable recording.
    with_recording: bool = False

    def __post_init__(self) -> None:
        if self.kind is not None and self.kind not in KINDS:
            raise ValidationError(f"row: must be one of {', '.join(KINDS)}")
        if self.figure is not None and self.figure not in FIGURE_CALLS:
            raise ValidationError(f"figure: no list of calls for {self.figure[:40]!r}")
        if self.status is not None and self.status not in STATUSES:
            raise ValidationError(f"status: must be one of {', '.join(STATUSES)}")
        if self.page < 1 or not 1 <= self.per_page <= MAX_PER_PAGE:
            raise ValidationError(f"page: pages start at 1, at most {MAX_PER_PAGE} rows each")


@dataclass(frozen=True, slots=True)
class CallRow:
    id: int
    started_at: datetime
    caller: str | None
    called: str | None
    kind: str
    channel: str | None
    utm_source: str | None
    utm_medium: str | None
    utm_campaign: str | None
    landing_url: str | None
    wait_seconds: int
    talk_seconds: int
    status: str
    short_abandon: bool
    target: bool
    first_time: bool
    outcome: str | None
    value: Decimal | None


@dataclass(frozen=True, slots=True)
class CallPage:
    rows: list[CallRow]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def _conditions(f: CallFilter) -> list[ColumnElement[bool]]:
    where = [F.campaign_id == f.campaign_id, F.local_day >= f.start, F.local_day <= f.end]
    if f.kind is not None:
        where.append(F.kind == f.kind)
    if f.kind == "channel" and f.channel_id is not None:
        where.append(F.channel_id == f.channel_id)
    if f.figure is not None:
        where.append(FIGURE_CALLS[f.figure]())
    if f.status is not None:
        where.append(F.status == f.status)
    if f.with_recording:
        where.append(has_recording_clause())
    return where


async def list_calls(engine: AsyncEngine, f: CallFilter) -> CallPage:
    """The filter's calls, newest first, one page of them, and how many there are."""
    where = _conditions(f)
    query = (
        select(
            Call.id,
            Call.started_at,
            Call.caller_number,
            Call.called_number,
            F.kind,
            Channel.name,
            Session.utm_source,
            Session.utm_medium,
            Session.utm_campaign,
            Session.landing_url,
            F.wait_seconds,
            F.talk_seconds,
            F.status,
            F.short_abandon,
            F.target,
            F.first_time,
            Call.outcome,
            Call.value,
        )
        .select_from(F)
        .join(Call, Call.id == F.call_id)
        .outerjoin(Channel, Channel.id == F.channel_id)
        .outerjoin(Session, Session.id == Call.session_id)
        .where(*where)
        .order_by(Call.started_at.desc(), Call.id.desc())
        .limit(f.per_page)
        .offset((f.page - 1) * f.per_page)
    )
    async with connection(engine) as conn:
        counted = select(func.count()).select_from(F).join(Call, Call.id == F.call_id)
        total = await conn.scalar(counted.where(*where)) or 0
        rows = [CallRow(*row) for row in (await conn.execute(query)).all()]  # type: ignore[call-arg]
    return CallPage(rows, int(total), f.page, f.per_page)


@dataclass(frozen=True, slots=True)
class MissedCaller:
    """A caller with missed calls in the period whom nobody has reached yet."""

    customer: str
    first_missed_at: datetime
    last_missed_at: datetime
    missed_calls: int
    channel: str | None
    kind: str
    attempted: bool


async def missed_work_list(
    engine: AsyncEngine, campaign_id: int, start: date, end: date, limit: int = 500
) -> list[MissedCaller]:
    """Missed callers not called back (by us or by themselves), oldest miss first.

    A caller leaves the list when the metrics job records a call-back on their missed
    calls. Hidden caller ids cannot be called back and are left out.
    """
    reached = (
        select(F.customer)
        .where(
            F.campaign_id == campaign_id,
            F.local_day >= start,
            F.local_day <= end,
            _missed,
            _called_back,
        )
        .scalar_subquery()
    )
    query = (
        select(
            F.customer,
            func.min(Call.started_at),
            func.max(Call.started_at),
            func.count(),
            func.min(Channel.name),
            func.min(F.kind),
            func.max(cast(F.attempted, Integer)),
        )
        .select_from(F)
        .join(Call, Call.id == F.call_id)
        .outerjoin(Channel, Channel.id == F.channel_id)
        .where(
            F.campaign_id == campaign_id,
            F.local_day >= start,
            F.local_day <= end,
            _missed,
            F.customer.is_not(None),
            F.customer.not_in(reached),
        )
        .group_by(F.customer)
        .order_by(func.min(Call.started_at))
        .limit(limit)
    )
    async with connection(engine) as conn:
        rows = (await conn.execute(query)).all()
    return [
        MissedCaller(str(c), first, last, int(n), channel, str(kind), bool(att))
        for c, first, last, n, channel, kind, att in rows
    ]


def mask_number(number: str | None) -> str | None:
    """``+74951234567`` -> ``+7495*****67``: enough to tell callers apart, not to dial."""
    if not number or len(number) < 8:
        return number
    keep_head = 5 if number.startswith("+") else 4
    return number[:keep_head] + "*" * (len(number) - keep_head - 2) + number[-2:]


def filter_conditions(f: CallFilter) -> list[ColumnElement[bool]]:
    """The WHERE of a filter's calls, for other lists of them (the report API's pages)."""
    return _conditions(f)
