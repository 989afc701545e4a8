"""SQL for calls and raw AMI events: idempotent writes, attribution at write time.

A call is keyed by (pbx, linkedid): writing it again (a late CDR, a journal replay, a
reconnect) updates the one row. Raw events are keyed by (pbx, journal seq) and inserted
with "do nothing" on conflict, so replaying the journal writes nothing twice.

``save_calls`` works per batch, not per call (a call costs ~2.5 ms of CPU one by one,
mostly building and compiling four statements): the dialled numbers are read in one
query, their leases in one (filtered here per call with the per-call conditions), and
the rows are upserted with one executemany. A caller's earlier credit (repeat callers)
is still read per call, and only for callers who have one; the rows before it in the
batch are written first, so each call sees the calls before it as one by one.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from callpool.attribution import Attribution, CallFacts, LeaseFacts, NumberFacts, attribute_call
from callpool.db.engine import connection
from callpool.db.tables import AmiEvent, Call, Campaign, Lease, Session, TrackingNumber
from callpool.errors import InvalidPhoneNumber
from callpool.pbx.assembly.call_state import AssembledCall
from callpool.pbx.assembly.cdr import CdrRecord
from callpool.phone import normalize_e164

DISPOSITION = {
    "answered": "answered",
    "no_answer": "no answer",
    "busy": "busy",
    "abandoned": "abandoned",
    "failed": "failed",
}
# Bound parameters per IN (...) list: far below every SQLite and PostgreSQL limit.
_IN_CHUNK = 500


@dataclasses.dataclass(frozen=True, slots=True)
class RawEvent:
    seq: int
    received_at: datetime
    event: str
    linkedid: str | None
    frame: str


@functools.lru_cache(maxsize=4096)
def phone_or_raw(number: str, region: str) -> str:
    """E.164 where the number is one (so calls and call-backs match), else as dialled."""
    if not number or len(number) < 5 or not number.lstrip("+").isdigit():
        return number
    try:
        return normalize_e164(number, region, strict=False)
    except InvalidPhoneNumber:
        return number


def _chunks(values: Iterable[Any]) -> Iterable[list[Any]]:
    items = list(values)
    for start in range(0, len(items), _IN_CHUNK):
        yield items[start : start + _IN_CHUNK]


# Runs in the transaction that saved the calls: another room's rows that must land with
# them (the recordings their CDRs name). Handed in by the composition root, so that the
# PBX room imports no other room's store.
CallsSaved = Callable[[AsyncConnection, Sequence[AssembledCall], datetime], Awaitable[None]]


class SqlCallStore:
    def __init__(
        self,
        engine: AsyncEngine,
        region: str,
        *,
        credit_repeat_callers: bool = True,
        after_save: Sequence[CallsSaved] = (),
    ):
        self._engine = engine
        self._after_save = tuple(after_save)
        self._region = region
        self._repeat = credit_repeat_callers
        self._upserts: dict[str, Any] = {}  # by dialect name, built once

    def _insert(self, conn: AsyncConnection, table: Any) -> Any:
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        return dialect.insert(table)

    async def save_events(self, pbx: str, events: Sequence[RawEvent]) -> None:
        if not events:
            return
        rows = [
            {
                "pbx": pbx,
                "seq": e.seq,
                "received_at": e.received_at,
                "event": e.event,
                "linkedid": e.linkedid,
                "frame": e.frame,
            }
            for e in events
        ]
        async with connection(self._engine) as conn:
            statement = self._insert(conn, AmiEvent).on_conflict_do_nothing(
                index_elements=["pbx", "seq"]
            )
            await conn.execute(statement, rows)

    async def save_calls(self, calls: Sequence[AssembledCall], now: datetime) -> None:
        if not calls:
            return
        async with connection(self._engine) as conn:
            await _CallBatch(self, conn, now).save(calls)
            for hook in self._after_save:
                await hook(conn, calls, now)

    def _upsert(self, conn: AsyncConnection) -> Any:
        """INSERT ... ON CONFLICT (pbx, linkedid) DO UPDATE every column but created_at."""
        statement = self._upserts.get(conn.dialect.name)
        if statement is None:
            insert = self._insert(conn, Call)
            # outcome and value are set later by users or a CRM: a call written again keeps them.
            kept = ("id", "created_at", "outcome", "value")
            columns = [c.name for c in Call.__table__.columns if c.name not in kept]
            statement = insert.on_conflict_do_update(
                index_elements=["pbx", "linkedid"],
                set_={name: insert.excluded[name] for name in columns},
            )
            self._upserts[conn.dialect.name] = statement
        return statement

    async def _prior_credit(
        self, conn: AsyncConnection, call: AssembledCall, caller: str
    ) -> Attribution | None:
        row = (
            await conn.execute(
                select(
                    Call.session_id,
                    Call.visitor_id,
                    Call.channel_id,
                    Call.campaign_id,
                    Call.attribution,
                )
                .where(
                    Call.caller_number == caller,
                    Call.visitor_id.is_not(None),
                    Call.started_at < call.started_at,
                    Call.linkedid != call.linkedid,
                )
                .order_by(Call.started_at.desc())
                .limit(1)
            )
        ).first()
        if row is None:
            return None
        return Attribution(
            row.attribution, None, row.campaign_id, row.channel_id, row.session_id, row.visitor_id
        )


class _CallBatch:
    """One ``save_calls``: what the batch needs read up front, then the calls in order."""

    def __init__(self, store: SqlCallStore, conn: AsyncConnection, now: datetime) -> None:
        self.store = store
        self.conn = conn
        self.now = now
        self.pending: dict[tuple[str, str], dict[str, Any]] = {}  # upserts not yet sent

    async def save(self, calls: Sequence[AssembledCall]) -> None:
        region = self.store._region
        numbered = [
            (
                call,
                phone_or_raw(call.caller_number, region),
                phone_or_raw(call.dialled_number, region),
            )
            for call in calls
        ]
        inbound = [
            (call, caller, called)
            for call, caller, called in numbered
            if call.direction == "inbound"
        ]
        numbers = await self._numbers({called for _, _, called in inbound})
        in_pool = [
            (call, caller, numbers[called]) for call, caller, called in inbound if called in numbers
        ]
        leases = await self._leases(in_pool)
        credited: set[str] = set()
        if self.store._repeat:
            credited = await self._credited_callers({caller for _, caller, _ in in_pool})
        for call, caller, called in numbered:
            credit = await self._attribute(call, caller, called, numbers, leases, credited)
            if credit is not None and credit.visitor_id is not None:
                credited.add(caller)
            self.pending[(call.pbx, call.linkedid)] = _call_row(
                call, caller, called, credit, self.now
            )
        await self._flush()

    async def _attribute(
        self,
        call: AssembledCall,
        caller: str,
        called: str,
        numbers: dict[str, NumberFacts],
        leases: dict[int, list[LeaseFacts]],
        credited: set[str],
    ) -> Attribution | None:
        facts = CallFacts(call.linkedid, call.direction, caller, called, call.started_at)
        if call.direction != "inbound":
            return None
        number = numbers.get(called)
        if number is None:
            return attribute_call(facts, None, [])
        start, grace = call.started_at, number.grace
        live = [
            lease
            for lease in leases.get(number.id, ())
            if lease.leased_at <= start
            and (lease.released_at if lease.released_at is not None else lease.expires_at)
            >= start - grace
        ]
        prior = None
        if self.store._repeat and caller in credited:
            await self._flush()  # the calls before this one, as one by one
            prior = await self.store._prior_credit(self.conn, call, caller)
        return attribute_call(facts, number, live, prior, credit_repeat_callers=self.store._repeat)

    async def _flush(self) -> None:
        if self.pending:
            rows, self.pending = list(self.pending.values()), {}
            await self.conn.execute(self.store._upsert(self.conn), rows)

    async def _numbers(self, e164s: set[str]) -> dict[str, NumberFacts]:
        found: dict[str, NumberFacts] = {}
        for chunk in _chunks(sorted(e164s)):
            rows = await self.conn.execute(
                select(
                    TrackingNumber.e164,
                    TrackingNumber.id,
                    TrackingNumber.campaign_id,
                    TrackingNumber.channel_id,
                    Campaign.attribution_grace_seconds,
                )
                .join(Campaign, Campaign.id == TrackingNumber.campaign_id)
                .where(TrackingNumber.e164.in_(chunk))
            )
            for e164, number_id, campaign_id, channel_id, grace_seconds in rows:
                grace = timedelta(seconds=grace_seconds)
                found.setdefault(e164, NumberFacts(number_id, e164, campaign_id, channel_id, grace))
        return found

    async def _leases(
        self, calls: Sequence[tuple[AssembledCall, str, NumberFacts]]
    ) -> dict[int, list[LeaseFacts]]:
        """Every lease any call of the batch could be credited to, by number id."""
        if not calls:
            return {}
        latest = max(call.started_at for call, _, _ in calls)
        earliest = min(call.started_at - number.grace for call, _, number in calls)
        by_number: dict[int, list[LeaseFacts]] = {}
        for chunk in _chunks(sorted({number.id for _, _, number in calls})):
            rows = await self.conn.execute(
                select(
                    Lease.number_id,
                    Lease.session_id,
                    Lease.visitor_id,
                    Lease.campaign_id,
                    Session.channel_id,
                    Lease.leased_at,
                    Lease.expires_at,
                    Lease.released_at,
                )
                .join(Session, Session.id == Lease.session_id)
                .where(
                    Lease.number_id.in_(chunk),
                    Lease.leased_at <= latest,
                    func.coalesce(Lease.released_at, Lease.expires_at) >= earliest,
                )
            )
            for row in rows:
                by_number.setdefault(row[0], []).append(LeaseFacts(*row))
        return by_number

    async def _credited_callers(self, callers: set[str]) -> set[str]:
        """The callers with an earlier call credited to a visitor (repeat-caller candidates)."""
        found: set[str] = set()
        for chunk in _chunks(sorted(callers)):
            rows = await self.conn.execute(
                select(Call.caller_number)
                .where(Call.caller_number.in_(chunk), Call.visitor_id.is_not(None))
                .distinct()
            )
            found.update(caller for (caller,) in rows if caller is not None)
        return found


def _call_row(
    call: AssembledCall, caller: str, called: str, credit: Attribution | None, now: datetime
) -> dict[str, Any]:
    return {
        "pbx": call.pbx,
        "linkedid": call.linkedid,
        "uniqueid": call.uniqueid,
        "direction": call.direction,
        "caller_number": caller[:32],
        "called_number": called[:32],
        "started_at": call.started_at,
        "answered_at": call.answered_at,
        "ended_at": call.ended_at,
        "end_estimated": call.end_estimated,
        "end_reason": call.end_reason,
        "wait_seconds": max(0, call.wait_seconds),
        "talk_seconds": max(0, call.talk_seconds),
        "disposition": DISPOSITION[call.outcome],
        "answered_by": call.answered_by,
        "transfers": list(call.transfers),
        "missed_by": list(call.missed_by),
        "tracking_number_id": credit.number_id if credit else None,
        "campaign_id": credit.campaign_id if credit else None,
        "channel_id": credit.channel_id if credit else None,
        "session_id": credit.session_id if credit else None,
        "visitor_id": credit.visitor_id if credit else None,
        "attribution": credit.method if credit else None,
        "raw_cdrs": [cdr_dict(cdr) for cdr in call.cdrs],
        "hangup_cause": call.hangup_cause,
        "created_at": now,
        "updated_at": now,
    }


def cdr_dict(cdr: CdrRecord) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for field in dataclasses.fields(cdr):
        value = getattr(cdr, field.name)
        out[field.name] = (
            value.astimezone(UTC).isoformat() if isinstance(value, datetime) else value
        )
    return out
