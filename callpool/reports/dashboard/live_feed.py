"""The web process's view of the calls in progress, kept fresh from the ``live_calls`` table.

The AMI listener may run in another process (or on another host), so the table is the
meeting point. One :class:`LiveFeed` per web process reads it and wakes every live page
of that process when it changed:

- on PostgreSQL it ``LISTEN``s on the listener's ``NOTIFY callpool_live`` (one
  connection of its own, outside the pool) and reads the table when told, plus every
  ``fallback_interval`` in case a notification was lost with a dropped connection;
- on SQLite (one host, no notifications) it reads the table every ``poll_interval``:
  a few rows, by primary key order; the web process's own connection is shared, so the
  read is one short statement.

Each call is credited to its campaign and channel with the same pure function as a
finished call (:func:`callpool.attribution.attribute_call`: the tracking number, and for
a pool number the visit that held it when the call started), once per call. The repeat
caller rule is left out: a call in progress shows the visit that holds the number now.

The feed runs only while someone watches: it starts with the first subscriber and stops
``idle_after`` seconds after the last one left.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from callpool.attribution import CallFacts, LeaseFacts, NumberFacts, attribute_call
from callpool.db.engine import connection
from callpool.db.tables import Campaign, Lease, Session, TrackingNumber
from callpool.db.tables import LiveCall as LiveCallRow
from callpool.pbx.live_store import NOTIFY_CHANNEL

log = logging.getLogger("callpool.dashboard.live")

Credit = tuple[int | None, int | None]  # (campaign id, channel id)


@dataclass(frozen=True, slots=True)
class LiveEntry:
    """A call in progress with the campaign and channel it is credited to (None: neither)."""

    pbx: str
    linkedid: str
    direction: str
    state: str
    caller_number: str
    dialled_number: str
    agent: str | None
    started_at: datetime
    answered_at: datetime | None
    campaign_id: int | None
    channel_id: int | None


class LiveFeed:
    def __init__(
        self,
        *,
        poll_interval: float = 0.2,
        fallback_interval: float = 5.0,
        idle_after: float = 30.0,
    ) -> None:
        self._engine: AsyncEngine | None = None  # the app's, given by the first subscriber
        self._poll = poll_interval
        self._fallback = fallback_interval
        self._idle_after = idle_after
        self.entries: tuple[LiveEntry, ...] = ()
        self.version = 0
        self.loaded = asyncio.Event()
        self._changed = asyncio.Condition()
        self._nudge = asyncio.Event()
        self._credit: dict[tuple[str, str], Credit] = {}
        self._seen: tuple[Any, ...] | None = None
        self._subscribers = 0
        self._idle_since = time.monotonic()
        self._task: asyncio.Task[None] | None = None
        self.listening = False  # PostgreSQL LISTEN is up

    # --- subscribers ---------------------------------------------------------------------
    def subscribe(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._subscribers += 1
        if self._task is None or self._task.done():
            self.loaded.clear()
            self._task = asyncio.get_running_loop().create_task(self._run(), name="live-feed")

    def unsubscribe(self) -> None:
        self._subscribers -= 1
        if self._subscribers == 0:
            self._idle_since = time.monotonic()

    async def wait_newer(self, seen: int, within: float) -> int:
        """The version after ``seen`` (``seen`` itself after ``within`` seconds with no change)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within), self._changed:
                await self._changed.wait_for(lambda: self.version != seen)
        return self.version

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # --- the loop ------------------------------------------------------------------------
    async def _run(self) -> None:
        assert self._engine is not None
        listener: Any = None
        try:
            while self._subscribers > 0 or time.monotonic() - self._idle_since < self._idle_after:
                if listener is None and self._engine.dialect.name == "postgresql":
                    listener = await self._listen()
                self.listening = listener is not None and not listener.is_closed()
                try:
                    await self._refresh()
                except Exception as exc:  # the database went away: keep the last view
                    log.warning("live calls not read: %s", type(exc).__name__)
                self.loaded.set()  # read or not: a page shows what is known
                wait = self._fallback if self.listening else self._poll
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        await self._nudge.wait()
                self._nudge.clear()
                if listener is not None and listener.is_closed():
                    listener = None
        finally:
            if listener is not None:
                with contextlib.suppress(Exception):
                    await listener.close(timeout=2)

    async def _listen(self) -> Any:
        """A connection of its own that LISTENs (None when it cannot: then we poll)."""
        import asyncpg

        assert self._engine is not None
        url = self._engine.url.set(drivername="postgresql")
        try:
            conn = await asyncpg.connect(url.render_as_string(hide_password=False), timeout=5)
            await conn.add_listener(NOTIFY_CHANNEL, lambda *_args: self._nudge.set())
        except Exception as exc:  # any failure to LISTEN: polling still works
            log.warning("live calls: LISTEN failed (%s); polling", type(exc).__name__)
            return None
        return conn

    async def _refresh(self) -> None:
        assert self._engine is not None
        async with connection(self._engine) as conn:
            rows = (
                await conn.execute(
                    select(LiveCallRow).order_by(LiveCallRow.started_at, LiveCallRow.linkedid)
                )
            ).all()
            seen = tuple((r.pbx, r.linkedid, r.state, r.agent, r.updated_at) for r in rows)
            if seen != self._seen:
                new = [r for r in rows if (r.pbx, r.linkedid) not in self._credit]
                if new:
                    self._credit.update(await _credit(conn, new))
                keys = {(r.pbx, r.linkedid) for r in rows}
                self._credit = {k: v for k, v in self._credit.items() if k in keys}
                entries = tuple(
                    LiveEntry(
                        r.pbx,
                        r.linkedid,
                        r.direction,
                        r.state,
                        r.caller_number,
                        r.dialled_number,
                        r.agent,
                        r.started_at,
                        r.answered_at,
                        *self._credit[(r.pbx, r.linkedid)],
                    )
                    for r in rows
                )
                self._seen = seen
                async with self._changed:
                    self.entries = entries
                    self.version += 1
                    self._changed.notify_all()


async def _credit(conn: Any, rows: Sequence[Any]) -> dict[tuple[str, str], Credit]:
    """(campaign id, channel id) of each new call, as ``attribute_call`` credits it."""
    dialled = {r.dialled_number for r in rows if r.direction == "inbound"}
    numbers: dict[str, NumberFacts] = {}
    if dialled:
        found = await conn.execute(
            select(
                TrackingNumber.e164,
                TrackingNumber.id,
                TrackingNumber.campaign_id,
                TrackingNumber.channel_id,
                Campaign.attribution_grace_seconds,
            )
            .join(Campaign, Campaign.id == TrackingNumber.campaign_id)
            .where(TrackingNumber.e164.in_(sorted(dialled)))
        )
        for e164, number_id, campaign_id, channel_id, grace in found:
            numbers.setdefault(
                e164,
                NumberFacts(number_id, e164, campaign_id, channel_id, timedelta(seconds=grace)),
            )
    leases: dict[int, list[LeaseFacts]] = {}
    if numbers:
        earliest = min(r.started_at for r in rows) - max(n.grace for n in numbers.values())
        found = await conn.execute(
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
                Lease.number_id.in_(sorted({n.id for n in numbers.values()})),
                func.coalesce(Lease.released_at, Lease.expires_at) >= earliest,
            )
        )
        for row in found:
            leases.setdefault(row[0], []).append(LeaseFacts(*row))
    credit: dict[tuple[str, str], Credit] = {}
    for r in rows:
        number = numbers.get(r.dialled_number) if r.direction == "inbound" else None
        if number is None:
            credit[(r.pbx, r.linkedid)] = (None, None)
            continue
        facts = CallFacts(r.linkedid, r.direction, r.caller_number, r.dialled_number, r.started_at)
        held = [lease for lease in leases.get(number.id, ()) if lease.leased_at <= r.started_at]
        found = attribute_call(facts, number, held, credit_repeat_callers=False)
        channel_id = found.channel_id if found is not None else None
        credit[(r.pbx, r.linkedid)] = (number.campaign_id, channel_id)
    return credit
