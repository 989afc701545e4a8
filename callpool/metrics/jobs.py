"""The metrics jobs: keep the roll-ups fresh, and recompute yesterday in full each night.

``roll_up`` (every ``metrics_interval`` seconds) rebuilds, per campaign, today and every
local day touched since its last run:

- the days of calls written or changed since then (``calls.updated_at``: late calls
  after a database outage or a journal replay, re-attribution, outcomes and values),
  including the day a re-attributed call left;
- the days of the same numbers' calls that such a call can change: a call-back credits
  earlier misses, an earlier call makes later calls not first-time;
- the days marked in ``metric_dirty_days`` by whoever changes something else.

Spend and visits are read when a report runs, and settings apply from the next roll-up
of today, so neither needs marking. ``recompute_yesterday`` rebuilds each campaign's
yesterday once per local day (at its first run after the local midnight).

Each run of consecutive days (at most a month) is rebuilt in one transaction
(``rollups.rebuild_days``), so a run killed half-way leaves every day either as it was
or rebuilt, and the next run does the rest
again: the change watermark only moves once every day is done. Rebuilding is
idempotent, so a repeated run changes nothing. On PostgreSQL the jobs take one
session-level advisory lock: with several processes on one database, one runs at a
time and the others skip their turn (``callpool report`` waits for it instead). SQLite
is one process.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from callpool.db.engine import connection
from callpool.db.tables import Call, MetricCallFacts, MetricDirtyDay, MetricState
from callpool.metrics.campaigns import CampaignMetrics, all_campaign_ids, load_campaign
from callpool.metrics.report_query import ROLLUP_JOB
from callpool.metrics.rollups import day_runs, group_days, rebuild_day, rebuild_days

log = logging.getLogger("callpool.jobs")

# A call written by a transaction that committed after a later one's call was seen is
# still picked up: the watermark looks back this far (rebuilding twice is harmless).
OVERLAP = timedelta(minutes=2)
NIGHTLY_JOB = "metrics_nightly"


def lock_key(name: str) -> int:
    digest = hashlib.sha256(f"callpool:metrics:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextlib.asynccontextmanager
async def metrics_lock(engine: AsyncEngine, *, wait: bool = False) -> AsyncIterator[bool]:
    """Whether this process may run a metrics job now (always, on SQLite)."""
    if engine.dialect.name != "postgresql":
        yield True
        return
    key = lock_key("jobs")
    conn = await engine.connect()
    try:
        if wait:
            await conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
            held = True
        else:
            got = await conn.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": key})
            held = bool(got)
        await conn.commit()  # end the implicit transaction; the session keeps the lock
        try:
            yield held
        finally:
            if held:
                await conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                await conn.commit()
    finally:
        await conn.close()


@dataclass(frozen=True, slots=True)
class RollupRun:
    ran: bool
    days: dict[int, list[date]]  # rebuilt, per campaign


async def roll_up(engine: AsyncEngine, now: datetime, *, wait: bool = False) -> RollupRun:
    """Rebuild today and every day touched since the last run, for every campaign."""
    async with metrics_lock(engine, wait=wait) as held:
        if not held:
            log.debug("metrics roll-up: another process is running it")
            return RollupRun(False, {})
        return await _roll_up(engine, now)


async def _roll_up(engine: AsyncEngine, now: datetime) -> RollupRun:
    async with connection(engine) as conn:
        watermark = await conn.scalar(
            select(MetricState.watermark).where(MetricState.name == ROLLUP_JOB)
        )
        campaigns = [await load_campaign(conn, c) for c in await all_campaign_ids(conn)]
    pairs = {(c.id, c.today(now)) for c in campaigns}
    changed_since = None if watermark is None else watermark - OVERLAP
    touched, seen = await _touched_days(engine, campaigns, changed_since)
    pairs |= touched
    async with connection(engine) as conn:
        marked = await conn.execute(select(MetricDirtyDay.campaign_id, MetricDirtyDay.local_day))
        pairs |= {(c, d) for c, d in marked}
    known = {c.id for c in campaigns}
    days = group_days((c, d) for c, d in pairs if c in known)
    by_id = {c.id: c for c in campaigns}
    for campaign_id, campaign_days in days.items():
        for run in day_runs(campaign_days):
            await rebuild_days(
                engine,
                campaign_id,
                run[0],
                run[-1],
                clear_marks_before=now,
                campaign=by_id[campaign_id],
            )
    latest = [t for t in (watermark, seen) if t is not None]
    await _save_state(engine, ROLLUP_JOB, max(latest) if latest else None, now)
    if touched:
        log.info("metrics roll-up: %d days rebuilt", sum(len(d) for d in days.values()))
    return RollupRun(True, days)


async def _touched_days(
    engine: AsyncEngine, campaigns: list[CampaignMetrics], since: datetime | None
) -> tuple[set[tuple[int, date]], datetime | None]:
    """(campaign, day) pairs that calls changed since ``since`` affect, and the latest
    ``updated_at`` seen. ``since`` None: every call (the first run)."""
    pairs: set[tuple[int, date]] = set()
    query = select(
        Call.id, Call.direction, Call.caller_number, Call.called_number,
        Call.started_at, Call.campaign_id, Call.updated_at,
    )  # fmt: skip
    if since is not None:
        query = query.where(Call.updated_at > since)
    by_id = {c.id: c for c in campaigns}
    by_line: dict[str, list[CampaignMetrics]] = {}
    for c in campaigns:
        for number in c.settings.site_numbers:
            by_line.setdefault(number, []).append(c)
    customers: set[str] = set()
    earliest: datetime | None = None
    seen: datetime | None = None
    call_ids: list[int] = []
    async with connection(engine) as conn:
        for row in await conn.execute(query):
            seen = row.updated_at if seen is None else max(seen, row.updated_at)
            call_ids.append(row.id)
            earliest = row.started_at if earliest is None else min(earliest, row.started_at)
            inbound = row.direction == "inbound"
            customer = row.caller_number if inbound else row.called_number
            if customer and customer.startswith("+"):
                customers.add(customer)
            if not inbound:
                continue
            owners = [by_id[row.campaign_id]] if row.campaign_id in by_id else []
            if row.campaign_id is None:
                owners = by_line.get(row.called_number or "", [])
            pairs |= {(c.id, c.today(row.started_at)) for c in owners}
        if earliest is None:
            return pairs, seen
        # The day a re-attributed call left.
        for chunk in _chunks(call_ids):
            rows = await conn.execute(
                select(MetricCallFacts.campaign_id, MetricCallFacts.local_day)
                .where(MetricCallFacts.call_id.in_(chunk))
                .distinct()
            )
            pairs |= {(c, d) for c, d in rows}
        # Earlier misses (call-backs) and later calls (first-time) of the same numbers.
        window = max((c.settings.callback_window_days for c in campaigns), default=7)
        since_day = (earliest - timedelta(days=window + 1)).date()
        for chunk in _chunks(sorted(customers)):
            rows = await conn.execute(
                select(MetricCallFacts.campaign_id, MetricCallFacts.local_day)
                .where(
                    MetricCallFacts.customer.in_(chunk),
                    MetricCallFacts.local_day >= since_day,
                )
                .distinct()
            )
            pairs |= {(c, d) for c, d in rows}
    return pairs, seen


def _chunks(items: Sequence[Any], size: int = 500) -> list[list[Any]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


async def _save_state(
    engine: AsyncEngine, name: str, watermark: datetime | None, fresh_at: datetime
) -> None:
    async with connection(engine) as conn:
        await conn.execute(delete(MetricState).where(MetricState.name == name))
        await conn.execute(
            insert(MetricState).values(name=name, watermark=watermark, fresh_at=fresh_at)
        )


async def recompute_yesterday(engine: AsyncEngine, now: datetime) -> RollupRun:
    """Each campaign's yesterday rebuilt in full, once per local day."""
    async with metrics_lock(engine) as held:
        if not held:
            return RollupRun(False, {})
        done: dict[int, list[date]] = {}
        async with connection(engine) as conn:
            campaigns = [await load_campaign(conn, c) for c in await all_campaign_ids(conn)]
        for campaign in campaigns:
            name = f"{NIGHTLY_JOB}:{campaign.id}"
            async with connection(engine) as conn:
                last = await conn.scalar(
                    select(MetricState.fresh_at).where(MetricState.name == name)
                )
            today = campaign.today(now)
            if last is not None and campaign.today(last) >= today:
                continue
            yesterday = today - timedelta(days=1)
            await rebuild_day(engine, campaign.id, yesterday)
            await _save_state(engine, name, None, now.astimezone(UTC))
            done[campaign.id] = [yesterday]
        return RollupRun(True, done)
