"""The calls list of the report API and its exports: keyset pages, every visit field.

The filter is the dashboard's ``CallFilter`` (row, figure, status over the metrics
engine's call facts) plus what a CRM or BI tool filters by (target, caller, outcome).
Pages are keyed by (start time, id), newest first: a cursor stays valid while new calls
arrive, and an export walks every page without an OFFSET that grows with the file.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from callpool.db.engine import connection
from callpool.db.tables import Call, Channel, MetricCallFacts, Session
from callpool.errors import ValidationError
from callpool.reports.call_list import CallFilter, filter_conditions, mask_number
from callpool.reports.rows import Column, Row

if TYPE_CHECKING:
    from callpool.reports.data import Scope

F = MetricCallFacts
EXPORT_PAGE = 1000
MAX_LIMIT = 200

CALL_COLUMNS = (
    Column("id", "Call id", "count"),
    Column("started_at", "Started", "datetime"),
    Column("caller", "Caller", "text"),
    Column("called", "Number dialled", "text"),
    Column("kind", "Row", "text"),
    Column("channel", "Channel", "text"),
    Column("status", "Status", "text"),
    Column("short_abandon", "Short abandon", "flag"),
    Column("target", "Target", "flag"),
    Column("first_time", "First time", "flag"),
    Column("wait_seconds", "Wait", "seconds"),
    Column("talk_seconds", "Talk", "seconds"),
    Column("answered_by", "Answered by", "text"),
    Column("outcome", "Outcome", "text"),
    Column("value", "Value", "money"),
    Column("attribution", "Attributed by", "text"),
    Column("utm_source", "utm_source", "text"),
    Column("utm_medium", "utm_medium", "text"),
    Column("utm_campaign", "utm_campaign", "text"),
    Column("utm_content", "utm_content", "text"),
    Column("utm_term", "utm_term", "text"),
    Column("referrer", "Referrer", "text"),
    Column("landing_url", "Landing page", "text"),
    Column("gclid", "gclid", "text"),
    Column("yclid", "yclid", "text"),
    Column("fbclid", "fbclid", "text"),
    Column("msclkid", "msclkid", "text"),
    Column("click_ids", "Other click ids", "text"),
)
_FLAGS = ("short_abandon", "target", "first_time")


@dataclass(frozen=True, slots=True)
class CallQuery:
    """Which calls, from where, how many. ``cursor`` is the last (start, id) seen."""

    filter: CallFilter
    target: bool | None = None
    caller: str | None = None
    outcome: str | None = None  # "" for calls without an outcome
    after: tuple[datetime, int] | None = None
    limit: int = 100

    @property
    def start(self) -> date:
        return self.filter.start

    @property
    def end(self) -> date:
        return self.filter.end


def encode_cursor(started_at: datetime, call_id: int) -> str:
    raw = f"{started_at.isoformat()}|{call_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, _, call_id = raw.partition("|")
        started = datetime.fromisoformat(at)
        if started.tzinfo is None:
            raise ValueError
        return started, int(call_id)
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise ValidationError("cursor: not a cursor this API handed out") from None


def _where(query: CallQuery) -> list[ColumnElement[bool]]:
    where = filter_conditions(query.filter)
    if query.target is not None:
        where.append(F.target.is_(query.target))
    if query.caller is not None:
        where.append(F.customer == query.caller)
    if query.outcome == "":
        where.append(Call.outcome.is_(None))
    elif query.outcome is not None:
        where.append(Call.outcome == query.outcome)
    if query.after is not None:
        at, call_id = query.after
        where.append(or_(Call.started_at < at, and_(Call.started_at == at, Call.id < call_id)))
    return where


_SELECT = select(
    Call.id,
    Call.started_at,
    Call.caller_number.label("caller"),
    Call.called_number.label("called"),
    F.kind,
    Channel.name.label("channel"),
    F.status,
    F.short_abandon,
    F.target,
    F.first_time,
    F.wait_seconds,
    F.talk_seconds,
    Call.answered_by,
    Call.outcome,
    Call.value,
    Call.attribution,
    Session.utm_source,
    Session.utm_medium,
    Session.utm_campaign,
    Session.utm_content,
    Session.utm_term,
    Session.referrer,
    Session.landing_url,
    Session.gclid,
    Session.yclid,
    Session.fbclid,
    Session.msclkid,
    Session.click_ids,
)


@dataclass(frozen=True, slots=True)
class CallPage:
    rows: Sequence[Row]
    next_cursor: str | None


async def call_page(engine: AsyncEngine, scope: Scope, query: CallQuery) -> CallPage:
    """One page of the query's calls, newest first, and the cursor of the next page."""
    statement = (
        _SELECT.select_from(F)
        .join(Call, Call.id == F.call_id)
        .outerjoin(Channel, Channel.id == F.channel_id)
        .outerjoin(Session, Session.id == Call.session_id)
        .where(*_where(query))
        .order_by(Call.started_at.desc(), Call.id.desc())
        .limit(query.limit + 1)
    )
    async with connection(engine) as conn:
        found = (await conn.execute(statement)).all()
    zone = ZoneInfo(scope.timezone)
    rows = [_row(r._mapping, zone, scope.mask_callers) for r in found[: query.limit]]
    more = len(found) > query.limit
    last = found[query.limit - 1] if more else None
    cursor = encode_cursor(last.started_at, last.id) if last is not None else None
    return CallPage(rows, cursor)


def _row(data: Any, zone: ZoneInfo, masked: bool) -> dict[str, Any]:
    row = dict(data)
    row["started_at"] = row["started_at"].astimezone(zone)
    if masked:
        row["caller"] = mask_number(row["caller"])
    for flag in _FLAGS:
        row[flag] = bool(row[flag])
    row["click_ids"] = row["click_ids"] or None
    return row


async def stream_calls(engine: AsyncEngine, scope: Scope, query: CallQuery) -> AsyncIterator[Row]:
    """Every call of the query from its cursor on, a page at a time (bounded memory)."""
    query = replace(query, limit=EXPORT_PAGE)
    while True:
        page = await call_page(engine, scope, query)
        for row in page.rows:
            yield row
        if page.next_cursor is None:
            return
        query = replace(query, after=decode_cursor(page.next_cursor))
