"""Call outcomes from users and CRMs: which calls became leads or sales, and their value.

Setting an outcome is idempotent (the same outcome and value again changes nothing and
writes nothing). A change moves ``calls.updated_at``, which is how the metrics roll-up
finds the call's day to rebuild (``metrics.jobs``): successful calls, conversion,
revenue and ROI follow at its next run. A CRM that does not know callpool's call id
names the caller's number and when the call started; the call nearest that time within
``MATCH_WINDOW`` is the one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from callpool.accounts.access import Access
from callpool.db.engine import connection
from callpool.db.tables import Call, Campaign, Site
from callpool.errors import NotFound, ValidationError
from callpool.phone import normalize_e164

MATCH_WINDOW = timedelta(minutes=15)


@dataclass(frozen=True, slots=True)
class OutcomeSet:
    call_id: int
    campaign: str
    outcome: str | None
    value: Decimal | None
    changed: bool


async def set_outcome(
    engine: AsyncEngine,
    access: Access,
    call_id: int,
    outcome: str | None,
    value: Decimal | None,
    now: datetime,
) -> OutcomeSet:
    """Set a call's outcome (one of its campaign's) and value; an admin of its site only."""
    async with connection(engine) as conn:
        row = (
            await conn.execute(
                select(Campaign.site_id, Campaign.name, Campaign.outcomes, Call.outcome, Call.value)
                .join(Call, Call.campaign_id == Campaign.id)
                .where(Call.id == call_id)
            )
        ).first()
        if row is None or not access.can_see_site(row.site_id):
            raise NotFound(f"no call with id {call_id} in a campaign")
        access.require_edit(row.site_id, "")
        if outcome is not None and outcome not in row.outcomes:
            raise ValidationError(
                f"outcome: must be one of {', '.join(row.outcomes)} (or null to clear it)"
            )
        value = None if value is None else value.quantize(Decimal("0.01"))
        stored = None if row.value is None else Decimal(str(row.value)).quantize(Decimal("0.01"))
        changed = (outcome, value) != (row.outcome, stored)
        if changed:
            await conn.execute(
                update(Call)
                .where(Call.id == call_id)
                .values(outcome=outcome, value=value, updated_at=now)
            )
    return OutcomeSet(call_id, row.name, outcome, value, changed)


async def find_call(
    engine: AsyncEngine,
    access: Access,
    caller: str,
    at: datetime,
    region: str,
    site: str | None = None,
) -> int:
    """The id of the inbound call from ``caller`` that started nearest ``at`` (within
    ``MATCH_WINDOW``) in a campaign of a site ``access`` sees."""
    if at.tzinfo is None:
        raise ValidationError("at: give the time with its UTC offset (2026-12-01T10:00:00+03:00)")
    number = normalize_e164(caller, region, strict=False)
    query = (
        select(Call.id, Call.started_at, Campaign.site_id)
        .join(Campaign, Campaign.id == Call.campaign_id)
        .where(
            Call.direction == "inbound",
            Call.caller_number == number,
            Call.started_at >= at - MATCH_WINDOW,
            Call.started_at <= at + MATCH_WINDOW,
        )
        .order_by(Call.id)
    )
    if site is not None:
        query = query.join(Site, Site.id == Campaign.site_id).where(Site.name == site)
    async with connection(engine) as conn:
        rows = [r for r in (await conn.execute(query)).all() if access.can_see_site(r.site_id)]
    if not rows:
        raise NotFound(f"no call from {number} within {MATCH_WINDOW} of {at.isoformat()}")
    best = min(rows, key=lambda r: (abs((r.started_at - at).total_seconds()), r.id))
    return int(best.id)
