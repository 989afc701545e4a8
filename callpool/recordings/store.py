"""SQL for recordings: named and found files, serving look-ups, retention, the audit log.

Recordings are keyed like calls, by (pbx, linkedid), plus the file's name: naming the
same recording again (a call written twice, a journal replay) inserts nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from callpool.db.engine import connection
from callpool.db.tables import Call, CallRecording, Campaign, RecordingAccess, Site
from callpool.pbx.assembly.call_state import AssembledCall
from callpool.recordings.naming import recording_names

R = CallRecording


def _insert(conn: AsyncConnection) -> Any:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(R)


async def note_named(
    conn: AsyncConnection, pbx: str, names: Mapping[str, Sequence[str]], now: datetime
) -> None:
    """Record the files the calls' CDRs name (``linkedid -> names``), pending until found."""
    rows = [
        {"pbx": pbx, "linkedid": linkedid, "name": name[:512], "source": "cdr",
         "state": "pending", "created_at": now}
        for linkedid, found in names.items()
        for name in found
    ]  # fmt: skip
    if rows:
        statement = _insert(conn).on_conflict_do_nothing(index_elements=["pbx", "linkedid", "name"])
        await conn.execute(statement, rows)


async def note_recordings(
    conn: AsyncConnection, calls: Sequence[AssembledCall], now: datetime
) -> None:
    """The recordings the calls' CDRs name, noted as the calls are saved (same transaction)."""
    for pbx in {call.pbx for call in calls}:
        named = {c.linkedid: recording_names(c.cdrs) for c in calls if c.pbx == pbx}
        await note_named(conn, pbx, named, now)


@dataclass(frozen=True, slots=True)
class PendingRecording:
    id: int
    linkedid: str
    uniqueid: str
    name: str
    started_at: datetime
    ended_at: datetime


async def pending(engine: AsyncEngine, pbx: str, limit: int = 500) -> list[PendingRecording]:
    """Named recordings of ``pbx`` not found yet, with their calls' times."""
    query = (
        select(R.id, R.linkedid, Call.uniqueid, R.name, Call.started_at, Call.ended_at)
        .join(Call, and_(Call.pbx == R.pbx, Call.linkedid == R.linkedid))
        .where(R.pbx == pbx, R.state == "pending")
        .order_by(R.id)
        .limit(limit)
    )
    async with connection(engine) as conn:
        return [PendingRecording(*row) for row in (await conn.execute(query)).all()]


async def calls_without_recordings(
    engine: AsyncEngine, pbx: str, since: datetime, limit: int = 500
) -> list[PendingRecording]:
    """Calls of ``pbx`` that ended since ``since`` with no recording named or found yet
    (id 0, name empty): the file pattern is tried for them."""
    named = exists().where(R.pbx == Call.pbx, R.linkedid == Call.linkedid)
    query = (
        select(Call.linkedid, Call.uniqueid, Call.started_at, Call.ended_at)
        .where(Call.pbx == pbx, Call.ended_at >= since, ~named)
        .order_by(Call.ended_at)
        .limit(limit)
    )
    async with connection(engine) as conn:
        rows = (await conn.execute(query)).all()
    return [PendingRecording(0, lid, uid, "", start, end) for lid, uid, start, end in rows]


@dataclass(frozen=True, slots=True)
class FoundFile:
    path: str
    size_bytes: int
    sha256: str


async def mark_found(
    engine: AsyncEngine, recording_id: int, found: FoundFile, now: datetime
) -> None:
    async with connection(engine) as conn:
        await conn.execute(
            update(R)
            .where(R.id == recording_id)
            .values(state="present", path=found.path, size_bytes=found.size_bytes,
                    sha256=found.sha256, found_at=now)
        )  # fmt: skip


async def add_found(
    engine: AsyncEngine, pbx: str, linkedid: str, name: str, found: FoundFile, now: datetime
) -> None:
    """A file the pattern found: present at once (nothing if already known)."""
    async with connection(engine) as conn:
        await conn.execute(
            _insert(conn).on_conflict_do_nothing(index_elements=["pbx", "linkedid", "name"]),
            [{"pbx": pbx, "linkedid": linkedid, "name": name[:512], "source": "pattern",
              "state": "present", "path": found.path, "size_bytes": found.size_bytes,
              "sha256": found.sha256, "created_at": now, "found_at": now}],
        )  # fmt: skip


async def mark_missing(engine: AsyncEngine, ids: Iterable[int]) -> None:
    ids = list(ids)
    if ids:
        async with connection(engine) as conn:
            await conn.execute(update(R).where(R.id.in_(ids)).values(state="missing"))


@dataclass(frozen=True, slots=True)
class KeptRecording:
    """A present recording of a site with a retention rule, and what the rule asks."""

    id: int
    path: str
    sha256: str | None
    site: str
    retention_days: int | None
    keep_target_only: bool
    ended_at: datetime
    direction: str
    disposition: str
    talk_seconds: int
    target_seconds: int


async def retention_candidates(engine: AsyncEngine) -> list[KeptRecording]:
    query = (
        select(
            R.id, R.path, R.sha256, Site.name, Site.recording_retention_days,
            Site.recording_keep_target_only, Call.ended_at, Call.direction, Call.disposition,
            Call.talk_seconds, Campaign.target_seconds,
        )
        .join(Call, and_(Call.pbx == R.pbx, Call.linkedid == R.linkedid))
        .join(Campaign, Campaign.id == Call.campaign_id)
        .join(Site, Site.id == Campaign.site_id)
        .where(
            R.state == "present",
            (Site.recording_retention_days.is_not(None))
            | Site.recording_keep_target_only.is_(True),
        )
        .order_by(R.id)
    )  # fmt: skip
    async with connection(engine) as conn:
        return [KeptRecording(*row) for row in (await conn.execute(query)).all()]  # type: ignore[arg-type]


async def mark_deleted(engine: AsyncEngine, recording_id: int, now: datetime) -> None:
    async with connection(engine) as conn:
        await conn.execute(
            update(R).where(R.id == recording_id).values(state="deleted", deleted_at=now)
        )


@dataclass(frozen=True, slots=True)
class ServedRecording:
    """A recording with what deciding who may hear it needs."""

    id: int
    state: str
    path: str | None
    name: str
    sha256: str | None
    call_id: int
    site_id: int | None
    recordings_enabled: bool
    recordings_for_viewers: bool
    mask_callers: bool
    caller_number: str | None
    called_number: str | None
    started_at: datetime
    timezone: str | None


_SERVED = (
    select(
        R.id, R.state, R.path, R.name, R.sha256, Call.id, Site.id, Site.recordings_enabled,
        Site.recordings_for_viewers, Site.mask_callers, Call.caller_number, Call.called_number,
        Call.started_at, Campaign.timezone,
    )
    .join(Call, and_(Call.pbx == R.pbx, Call.linkedid == R.linkedid))
    .outerjoin(Campaign, Campaign.id == Call.campaign_id)
    .outerjoin(Site, Site.id == Campaign.site_id)
)  # fmt: skip


def _served(row: Any) -> ServedRecording:
    values = list(row)
    # A call of no campaign belongs to no site: links on, viewers allowed, no masking.
    for index, default in ((7, True), (8, True), (9, False)):
        if values[index] is None:
            values[index] = default
    return ServedRecording(*values)


async def recording(engine: AsyncEngine, recording_id: int) -> ServedRecording | None:
    async with connection(engine) as conn:
        row = (await conn.execute(_SERVED.where(R.id == recording_id))).first()
    return _served(row) if row is not None else None


async def recordings_of_calls(
    engine: AsyncEngine, call_ids: Sequence[int]
) -> dict[int, list[ServedRecording]]:
    """Each call's recordings (every state), oldest first."""
    if not call_ids:
        return {}
    query = _SERVED.where(Call.id.in_(list(call_ids))).order_by(R.id)
    out: dict[int, list[ServedRecording]] = {}
    async with connection(engine) as conn:
        for row in (await conn.execute(query)).all():
            served = _served(row)
            out.setdefault(served.call_id, []).append(served)
    return out


def has_recording_clause() -> Any:
    """SQL: the call (``calls`` in the query) has a playable recording."""
    return exists().where(R.pbx == Call.pbx, R.linkedid == Call.linkedid, R.state == "present")


async def audit(
    engine: AsyncEngine,
    *,
    user_id: int | None,
    username: str,
    recording_id: int,
    call_id: int,
    action: str,
    now: datetime,
) -> None:
    async with connection(engine) as conn:
        await conn.execute(
            insert(RecordingAccess),
            [{"at": now, "user_id": user_id, "username": username[:64],
              "recording_id": recording_id, "call_id": call_id, "action": action}],
        )  # fmt: skip


async def audit_log(engine: AsyncEngine, limit: int = 200) -> list[dict[str, Any]]:
    """The latest plays and downloads, newest first."""
    A = RecordingAccess
    query = (
        select(A.at, A.user_id, A.username, A.recording_id, A.call_id, A.action)
        .order_by(A.id.desc())
        .limit(limit)
    )
    async with connection(engine) as conn:
        return [dict(row._mapping) for row in (await conn.execute(query)).all()]


@dataclass(frozen=True, slots=True)
class CallSummary:
    id: int
    site_id: int | None
    mask_callers: bool
    caller_number: str | None
    called_number: str | None
    started_at: datetime
    talk_seconds: int
    disposition: str
    timezone: str | None


async def call_summary(engine: AsyncEngine, call_id: int) -> CallSummary | None:
    """What the player page shows of the call."""
    query = (
        select(
            Call.id, Site.id, Site.mask_callers, Call.caller_number, Call.called_number,
            Call.started_at, Call.talk_seconds, Call.disposition, Campaign.timezone,
        )
        .outerjoin(Campaign, Campaign.id == Call.campaign_id)
        .outerjoin(Site, Site.id == Campaign.site_id)
        .where(Call.id == call_id)
    )  # fmt: skip
    async with connection(engine) as conn:
        row = (await conn.execute(query)).first()
    if row is None:
        return None
    cid, site_id, mask, caller, called, started, talk, disposition, tz = row
    return CallSummary(cid, site_id, bool(mask), caller, called, started, talk, disposition, tz)
