"""Reading the recordings' audit log (``recording_access``) for the admins' page.

Each row is scoped through its call: a play of a call of site A is shown only to those
granted site A; a call of no campaign belongs to no site, so only users granted every
site see its rows (as :mod:`callpool.recordings.policy` decides for the recording itself).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from callpool.accounts.access import Access
from callpool.db.engine import connection
from callpool.db.tables import Call, Campaign, RecordingAccess, Site

__all__ = ["AuditPage", "AuditRow", "audit_page"]

PER_PAGE = 50


@dataclass(frozen=True, slots=True)
class AuditRow:
    at: datetime
    username: str
    action: str  # play or download
    recording_id: int
    call_id: int | None
    call_started_at: datetime | None
    site: str | None
    timezone: str | None


@dataclass(frozen=True, slots=True)
class AuditPage:
    rows: tuple[AuditRow, ...]
    page: int
    has_next: bool


async def audit_page(
    engine: AsyncEngine, access: Access, page: int = 1, per_page: int = PER_PAGE
) -> AuditPage:
    """Page ``page`` (from 1) of the plays and downloads ``access`` may see, newest first."""
    page = max(1, page)
    A = RecordingAccess
    query = (
        select(
            A.at, A.username, A.action, A.recording_id, A.call_id, Call.started_at,
            Site.name, Campaign.timezone,
        )
        .outerjoin(Call, Call.id == A.call_id)
        .outerjoin(Campaign, Campaign.id == Call.campaign_id)
        .outerjoin(Site, Site.id == Campaign.site_id)
        .order_by(A.at.desc(), A.id.desc())
        .offset((page - 1) * per_page)
        .limit(per_page + 1)
    )  # fmt: skip
    if not access.all_sites:
        query = query.where(Site.id.in_(sorted(access.site_ids)))
    async with connection(engine) as conn:
        rows = [AuditRow(*row) for row in (await conn.execute(query)).all()]
    return AuditPage(tuple(rows[:per_page]), page, len(rows) > per_page)
