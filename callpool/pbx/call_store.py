"""SQL for calls and raw AMI events: idempotent writes, attribution at write time.

A call is keyed by (pbx, linkedid): writing it again (a late CDR, a journal replay, a
reconnect) updates the one row. Raw events are keyed by (pbx, journal seq) and inserted
with "do nothing" on conflict, so replaying the journal writes nothing twice.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from callpool.attribution import Attribution, CallFacts, LeaseFacts, NumberFacts, attribute_call
from callpool.db.engine import connection
from callpool.db.tables import AmiEvent, Call, Campaign, Lease, Session, TrackingNumber
from callpool.errors import InvalidPhoneNumber
from callpool.pbx.call_state import AssembledCall
from callpool.pbx.cdr import CdrRecord
from callpool.phone import normalize_e164

DISPOSITION = {
    "answered": "answered",
    "no_answer": "no answer",
    "busy": "busy",
    "abandoned": "abandoned",
    "failed": "failed",
}


@dataclasses.dataclass(frozen=True, slots=True)
class RawEvent:
    seq: int
    received_at: datetime
    event: str
    linkedid: str | None
    frame: str


def phone_or_raw(number: str, region: str) -> str:
    """E.164 where the number is one (so calls and call-backs match), else as dialled."""
    if not number or len(number) < 5 or not number.lstrip("+").isdigit():
        return number
    try:
        return normalize_e164(number, region, strict=False)
    except InvalidPhoneNumber:
        return number


class SqlCallStore:
    def __init__(self, engine: AsyncEngine, region: str, *, credit_repeat_callers: bool = True):
        self._engine = engine
        self._region = region
        self._repeat = credit_repeat_callers

    def _insert(self, conn: AsyncConnection, table: Any) -> Any:
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        return dialect.insert(table)

    async def save_events(self, pbx: str, events: Sequence[RawEvent]) -> None:
        if not events:
            return
        rows = [{"pbx": pbx, **dataclasses.asdict(event)} for event in events]
        async with connection(self._engine) as conn:
            statement = self._insert(conn, AmiEvent).on_conflict_do_nothing(
                index_elements=["pbx", "seq"]
            )
            await conn.execute(statement, rows)

    async def save_calls(self, calls: Sequence[AssembledCall], now: datetime) -> None:
        async with connection(self._engine) as conn:
            for call in calls:
                await self._save(conn, call, now)

    async def _save(self, conn: AsyncConnection, call: AssembledCall, now: datetime) -> None:
        caller = phone_or_raw(call.caller_number, self._region)
        called = phone_or_raw(call.dialled_number, self._region)
        credit = await self._attribute(conn, call, caller, called)
        values = {
            "pbx": call.pbx,
            "linkedid": call.linkedid,
            "uniqueid": call.uniqueid,
            "direction": call.direction,
            "caller_number": caller[:32],
            "called_number": called[:32],
            "started_at": call.started_at,
            "answered_at": call.answered_at,
            "ended_at": call.ended_at,
            "wait_seconds": max(0, call.wait_seconds),
            "talk_seconds": max(0, call.talk_seconds),
            "disposition": DISPOSITION[call.outcome],
            "answered_by": call.answered_by,
            "transfers": list(call.transfers),
            "tracking_number_id": credit.number_id if credit else None,
            "campaign_id": credit.campaign_id if credit else None,
            "channel_id": credit.channel_id if credit else None,
            "session_id": credit.session_id if credit else None,
            "visitor_id": credit.visitor_id if credit else None,
            "attribution": credit.method if credit else None,
            "raw_cdrs": [cdr_dict(cdr) for cdr in call.cdrs],
            "updated_at": now,
        }
        statement = self._insert(conn, Call).values(created_at=now, **values)
        await conn.execute(
            statement.on_conflict_do_update(index_elements=["pbx", "linkedid"], set_=values)
        )

    async def _attribute(
        self, conn: AsyncConnection, call: AssembledCall, caller: str, called: str
    ) -> Attribution | None:
        facts = CallFacts(call.linkedid, call.direction, caller, called, call.started_at)
        if call.direction != "inbound":
            return None
        row = (
            await conn.execute(
                select(
                    TrackingNumber.id,
                    TrackingNumber.campaign_id,
                    TrackingNumber.channel_id,
                    Campaign.attribution_grace_seconds,
                )
                .join(Campaign, Campaign.id == TrackingNumber.campaign_id)
                .where(TrackingNumber.e164 == called)
            )
        ).first()
        if row is None:
            return attribute_call(facts, None, [])
        number_id, campaign_id, static_channel_id, grace_seconds = row
        grace = timedelta(seconds=grace_seconds)
        facts_number = NumberFacts(number_id, called, campaign_id, static_channel_id, grace)
        leases = (
            await conn.execute(
                select(
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
                    Lease.number_id == number_id,
                    Lease.leased_at <= call.started_at,
                    func.coalesce(Lease.released_at, Lease.expires_at) >= call.started_at - grace,
                )
            )
        ).all()
        lease_facts = [LeaseFacts(number_id, *lease) for lease in leases]
        prior = await self._prior_credit(conn, call, caller) if self._repeat else None
        return attribute_call(
            facts, facts_number, lease_facts, prior, credit_repeat_callers=self._repeat
        )

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


def cdr_dict(cdr: CdrRecord) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for field in dataclasses.fields(cdr):
        value = getattr(cdr, field.name)
        out[field.name] = (
            value.astimezone(UTC).isoformat() if isinstance(value, datetime) else value
        )
    return out
