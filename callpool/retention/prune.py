"""The pruning job: deletes what each site's retention lets go, in small batches.

Each kind's table is walked oldest first along the index on its time column, keyset by
``(time, id)``, from the oldest row to the newest cutoff any site has. A batch reads
``batch`` rows with their site, deletes those older than their own site's cutoff
(:func:`policy.expired`), and commits: one short transaction. Between batches the job
sleeps ``pause`` seconds, so on SQLite, where the whole process shares one connection,
the AMI listener and the visit API get the database between every two batches, and on
PostgreSQL no lock is held for longer than a batch. A row a longer-keeping site keeps is
read again at the next run, not deleted.

Idempotent, and safe to run from several processes at once: a row two of them pick is
deleted once, and the other's delete finds nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, exists, literal, select, tuple_
from sqlalchemy.ext.asyncio import AsyncEngine

from callpool.db.engine import connection
from callpool.db.tables import AmiEvent, Call, Campaign, Lease, PageView, Session, Site
from callpool.retention.policy import KINDS, Kind, RetentionPolicy, SiteRetention, expired

log = logging.getLogger("callpool.jobs")

BATCH = 1000
PAUSE = 0.05


@dataclass
class PruneReport:
    deleted: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    batches: int = 0
    longest_batch_seconds: float = 0.0


async def load_policy(engine: AsyncEngine) -> RetentionPolicy:
    query = select(
        Site.id,
        Site.raw_events_retention_days,
        Site.page_views_retention_days,
        Site.sessions_retention_days,
    )
    async with connection(engine) as conn:
        rows = (await conn.execute(query)).all()
    return RetentionPolicy({row[0]: SiteRetention(row[1], row[2], row[3]) for row in rows})


def _candidates(
    kind: Kind, before: datetime, after: tuple[Any, Any] | None, limit: int
) -> Select[Any]:
    """``(id, order time, age time, site id)`` of the next ``limit`` rows older than
    ``before`` after the keyset position ``after``."""
    query: Select[Any]
    if kind == "raw_events":
        at: Any = AmiEvent.received_at
        key: Any = AmiEvent.id
        query = (
            select(AmiEvent.id, at, at, Campaign.site_id)
            .outerjoin(Call, (Call.pbx == AmiEvent.pbx) & (Call.linkedid == AmiEvent.linkedid))
            .outerjoin(Campaign, Campaign.id == Call.campaign_id)
        )
    elif kind == "page_views":
        at, key = PageView.viewed_at, PageView.id
        query = select(PageView.id, at, at, Session.site_id).join(
            Session, Session.id == PageView.session_id
        )
    else:
        at, key = Session.started_at, Session.id
        open_lease = exists().where(Lease.session_id == Session.id, Lease.released_at.is_(None))
        query = select(Session.id, at, Session.last_seen_at, Session.site_id).where(~open_lease)
    query = query.where(at < before)
    if after is not None:
        # Typed binds: a bare datetime would not be stored as the column stores it.
        position = tuple_(literal(after[0], at.type), literal(after[1], key.type))
        query = query.where(tuple_(at, key) > position)
    return query.order_by(at, key).limit(limit)


TABLES = {"raw_events": AmiEvent, "page_views": PageView, "sessions": Session}


async def prune(
    engine: AsyncEngine,
    now: datetime,
    *,
    policy: RetentionPolicy | None = None,
    batch: int = BATCH,
    pause: float = PAUSE,
) -> PruneReport:
    """Delete every raw event, page view and session older than its site keeps them."""
    policy = policy or await load_policy(engine)
    report = PruneReport()
    for kind in KINDS:
        before = policy.newest_cutoff(kind, now)
        if before is None:
            continue
        table: Any = TABLES[kind]
        after: tuple[Any, Any] | None = None
        while True:
            started = time.perf_counter()
            async with connection(engine) as conn:
                rows = (await conn.execute(_candidates(kind, before, after, batch))).all()
                gone = expired(((r[0], r[2], r[3]) for r in rows), policy, kind, now)
                if gone:
                    await conn.execute(delete(table).where(table.id.in_(gone)))
            report.batches += 1
            report.longest_batch_seconds = max(
                report.longest_batch_seconds, time.perf_counter() - started
            )
            report.deleted[kind] += len(gone)
            if len(rows) < batch:
                break
            after = (rows[-1][1], rows[-1][0])
            await asyncio.sleep(pause)
    return report


async def prune_job(engine: AsyncEngine, now: datetime) -> PruneReport:
    """The scheduled job (``scheduler.JOBS``): prune and log what went."""
    report = await prune(engine, now)
    if any(report.deleted.values()):
        log.info(
            "retention: deleted %d raw events, %d page views, %d sessions in %d batches "
            "(longest %.3f s)",
            report.deleted["raw_events"],
            report.deleted["page_views"],
            report.deleted["sessions"],
            report.batches,
            report.longest_batch_seconds,
        )
    return report
