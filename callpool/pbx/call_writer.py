"""The writing side of a listener: batches to the database, retries, journal commit points.

A :class:`CallWriter` saves what the :class:`~callpool.pbx.call_feed.CallFeed` queued every
``write_interval`` seconds (sooner when woken) in a few statements. When the database is
unreachable or busy it puts the batch back and retries with backoff (doubling up to
``retry_max``): the journal holds the same events meanwhile. A batch the database
refuses for good is written row by row, so only the rows it refuses are dropped (logged
and counted). After every successful write the journal is committed up to the feed's
commit point.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

from callpool.pbx.assembly.call_state import AssembledCall
from callpool.pbx.assembly.live import LiveChanges
from callpool.pbx.call_feed import CallFeed
from callpool.pbx.call_store import RawEvent, SqlCallStore
from callpool.pbx.journal import Journal
from callpool.pbx.listener_stats import TRANSIENT, ListenerStats, brief
from callpool.pbx.live_store import SqlLiveStore

log = logging.getLogger("callpool.ami")

EVENTS_PER_STATEMENT = 2000
MIN_GAP = 0.1  # seconds between the starts of two writes


class CallWriter:
    def __init__(
        self,
        name: str,
        store: SqlCallStore,
        live_store: SqlLiveStore,
        feed: CallFeed,
        journal: Callable[[], Journal | None],
        stats: ListenerStats,
        *,
        write_interval: float,
        retry_max: float,
    ) -> None:
        self.name = name
        self._store = store
        self._live_store = live_store
        self._feed = feed
        self._journal = journal
        self.stats = stats
        self._write_interval = write_interval
        self._retry_max = retry_max
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()

    def wake(self) -> None:
        """Write now rather than at the next interval."""
        self._wake.set()

    @property
    def woken(self) -> bool:
        """A write was asked for and has not started yet."""
        return self._wake.is_set()

    async def run(self) -> None:
        delay = self._write_interval
        loop = asyncio.get_running_loop()
        started = -MIN_GAP
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)
            # Woken often (every call that rings or is answered wakes it), the writer still
            # writes at most every MIN_GAP: a busy PBX gets batches, not a write per call.
            gap = started + MIN_GAP - loop.time()
            if gap > 0:
                await asyncio.sleep(gap)
            self._wake.clear()
            started = loop.time()
            ok = await self.flush()
            delay = self._write_interval if ok else min(self._retry_max, max(0.5, delay * 2))

    async def flush(self, *, now: datetime | None = None) -> bool:
        """Finish due calls and write everything queued; False if the database refused."""
        async with self._lock:
            feed = self._feed
            feed.finish_due(now or datetime.now(UTC))
            safe = feed.commit_point()
            live = feed.live_changes()
            if not feed.events and not feed.calls and not live:
                self._commit(safe)
                return True
            events, calls = feed.take()
            try:
                await self._save_live(live)
                await self._save(events, calls)
            except BaseException as exc:
                # Put the batch back, also when cancelled mid-write (close() cancels the
                # writer): the last flush writes it again (idempotent) instead of
                # committing the journal past rows that never reached the database.
                feed.put_back(events, calls)
                feed.live.put_back(live)
                if not isinstance(exc, TRANSIENT):
                    raise
                self._write_failed(exc)
                return False
            if self.stats.database != "ok":
                log.warning("AMI %s: database back; queued calls written", self.name)
            self.stats.database = "ok"
            self.stats.events_written += len(events)
            self.stats.calls_written += len(calls)
            self._commit(safe)
            return True

    async def _save_live(self, changes: LiveChanges) -> None:
        if not changes:
            return
        try:
            await self._live_store.publish(self.name, changes, datetime.now(UTC))
        except TRANSIENT:
            raise
        except Exception as exc:
            # Only the live page suffers: the calls themselves are in the journal and the
            # batch below. The next change of each call publishes it again.
            self.stats.rejected += 1
            log.error("AMI %s: live calls not published: %s", self.name, brief(exc))
        self._feed.live.confirm(changes)

    async def _save(self, events: list[RawEvent], calls: dict[str, AssembledCall]) -> None:
        now = datetime.now(UTC)
        try:
            for start in range(0, len(events), EVENTS_PER_STATEMENT):
                batch = events[start : start + EVENTS_PER_STATEMENT]
                await self._store.save_events(self.name, batch)
            await self._store.save_calls(list(calls.values()), now)
        except TRANSIENT:
            raise
        except Exception as exc:
            # Something in the batch the database refuses for good: write row by row and
            # drop (with a log line) only what it refuses, so nothing after it is blocked.
            log.error("AMI %s: batch refused (%s); writing row by row", self.name, brief(exc))
            for event in events:
                await self._save_one(self._store.save_events(self.name, [event]), event.event)
            for call in calls.values():
                await self._save_one(self._store.save_calls([call], now), call.linkedid)

    async def _save_one(self, write: Coroutine[Any, Any, None], what: str) -> None:
        try:
            await write
        except TRANSIENT:
            raise
        except Exception as exc:
            self.stats.rejected += 1
            log.error("AMI %s: the database refused %s: %s", self.name, what, brief(exc))

    def _write_failed(self, exc: BaseException) -> None:
        self.stats.write_failures += 1
        self.stats.last_write_error = brief(exc)
        if self.stats.database == "ok":
            log.warning(
                "AMI %s: database unavailable (%s); calls wait in the journal",
                self.name,
                self.stats.last_write_error,
            )
        self.stats.database = "unavailable"

    def _commit(self, seq: int) -> None:
        journal = self._journal()
        if journal is not None and seq > journal.committed_seq:
            journal.commit(seq)
