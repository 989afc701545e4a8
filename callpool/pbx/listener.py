"""The AMI listener of one PBX: link → journal → call assembly → database, losing nothing.

:class:`PbxListener` is the composition of one job per module, and owns the connection:

- the lock (:mod:`pbx_lock`): a process listens to a PBX only while it holds it;
- the AMI connection (:mod:`ami`), which hands over each event, in arrival order;
- the journal (:mod:`event_journal`): every event the assembly folds is appended before
  it counts as received; at start it is replayed, so a killed listener rebuilds the
  calls it had open and re-writes, idempotently, whatever may not have reached the
  database;
- the assembly (:mod:`call_feed`): events into calls, and what waits for the writer;
- the writer (:mod:`call_writer`): batches, retries while the database is away, and
  commits the journal behind what is stored;
- recovery at every start and after every reconnect (:mod:`gap_recovery`), from the
  last event durably seen to now;
- the reconciliation sweep against the PBX's CDRs (:mod:`cdr_sweep`), run by the
  scheduler's jobs for the listeners of this process.

``health()`` carries ``warnings``: a call open longer than the PBX's
``max_call_seconds``, a gap that recovery could not look into (no CDR source, a source
that failed, ``CoreShowChannels`` refused).

Per event, in the connection's consumer task: events the assembly does not fold
(``VarSet``, ``Newexten``... over half the stream) are counted and dropped (most of them
inside the connection already); the others are journalled and folded. Nothing here
awaits per event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncEngine

from callpool.pbx.ami import AmiConfig, AmiConnection, AmiHealth
from callpool.pbx.assembly import names as n
from callpool.pbx.assembly.calls import CallAssembler
from callpool.pbx.assembly.events import AmiMessage
from callpool.pbx.assembly.folds import FOLDS
from callpool.pbx.call_feed import CallFeed, dialplan_for
from callpool.pbx.call_store import CallsSaved, SqlCallStore
from callpool.pbx.call_writer import CallWriter
from callpool.pbx.cdr_source import cdr_sources_for
from callpool.pbx.cdr_sweep import SWEEPERS, Sweep, sweep_calls
from callpool.pbx.event_journal import EventJournal
from callpool.pbx.gap_recovery import GapRecovery
from callpool.pbx.journal import Journal
from callpool.pbx.listener_stats import ListenerStats, brief
from callpool.pbx.live_store import SqlLiveStore
from callpool.pbx.pbx_lock import PbxLock
from callpool.settings import PbxSettings

__all__ = ["MATTERS", "ListenerStats", "PbxListener", "ami_config_for", "dialplan_for"]

log = logging.getLogger("callpool.ami")

MATTERS = frozenset(FOLDS)


def ami_config_for(pbx: PbxSettings, **overrides: Any) -> AmiConfig:
    values: dict[str, Any] = {"ping_interval": pbx.ping_interval} | overrides
    return AmiConfig(pbx.name, pbx.host, pbx.port, pbx.username, pbx.secret, **values)


class PbxListener:
    """Listens to one PBX while holding its lock. ``await start()``; ``await close()``."""

    def __init__(
        self,
        pbx: PbxSettings,
        engine: AsyncEngine,
        journal_dir: Path,
        *,
        region: str,
        credit_repeat_callers: bool = True,
        write_interval: float = 0.25,
        retry_max: float = 10.0,
        lock_poll: float = 2.0,
        journal_flush_interval: float = 0.2,
        ami_overrides: dict[str, Any] | None = None,
        after_save: Sequence[CallsSaved] = (),
    ) -> None:
        self.pbx = pbx
        self.name = pbx.name
        self._engine = engine
        self._dir = journal_dir / pbx.name
        self._journal_flush_interval = journal_flush_interval
        self._ami_config = ami_config_for(pbx, **(ami_overrides or {}))
        self._lock_poll = lock_poll
        self._lock = PbxLock(pbx.name, engine, self._dir, poll_interval=lock_poll)
        self.stats = ListenerStats()
        store = SqlCallStore(
            engine, region, credit_repeat_callers=credit_repeat_callers, after_save=after_save
        )
        self.feed = CallFeed(pbx, self._wake_writer)
        self._live_store = SqlLiveStore(engine, region)
        self.writer = CallWriter(
            self.name,
            store,
            self._live_store,
            self.feed,
            lambda: self.journal,
            self.stats,
            write_interval=write_interval,
            retry_max=retry_max,
        )
        self._store = store
        self._sources = cdr_sources_for(pbx)
        self.recovery = GapRecovery(pbx, engine, self.feed, self.stats, self._sources)
        self.last_sweep: Sweep | None = None
        self._fresh_session = False
        self._journal: EventJournal | None = None
        self._ami: AmiConnection | None = None
        self._last_received: float | None = None
        self.logins = 0
        self._role = "standby"
        self._supervisor: asyncio.Task[None] | None = None

    def _wake_writer(self) -> None:
        self.writer.wake()

    @property
    def assembler(self) -> CallAssembler:
        return self.feed.assembler

    @property
    def journal(self) -> Journal | None:
        """The journal while listening (None otherwise)."""
        return self._journal.journal if self._journal is not None else None

    # --- lifecycle ---------------------------------------------------------------------
    async def start(self) -> None:
        if self._supervisor is None:
            self._supervisor = asyncio.create_task(self._run(), name=f"listener-{self.name}")
            SWEEPERS.add(self)

    async def close(self) -> None:
        """Stop listening; write what the database takes, the rest stays journalled."""
        task, self._supervisor = self._supervisor, None
        SWEEPERS.discard(self)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def flush(self, *, now: datetime | None = None) -> bool:
        """Finish due calls and write everything queued; False if the database refused."""
        return await self.writer.flush(now=now)

    @property
    def role(self) -> str:
        """``listening``, ``standby`` (another process has the lock) or ``stopped``."""
        return self._role

    def health(self) -> dict[str, Any]:
        ami: AmiHealth | None = self._ami.health() if self._ami else None
        journal = self.journal
        return {
            "role": self._role,
            "ami": ami.state if ami else None,
            "ami_error": ami.last_error if ami else None,
            "connected_since": ami.connected_since.isoformat()
            if ami and ami.connected_since
            else None,
            "reconnects": ami.reconnects if ami else 0,
            "events": self.stats.events,
            "journal_pending": self.feed.fed_seq - (journal.committed_seq if journal else 0),
            "open_calls": self.assembler.open_calls,
            "calls_written": self.stats.calls_written,
            "bad_events": self.assembler.stats.bad_events,
            "database": self.stats.database,
            "recoveries": self.stats.recoveries,
            "recovered_calls": self.stats.recovered_calls,
            "recovered_hangups": self.stats.recovered_hangups,
            "last_recovery": self.recovery.last.as_dict() if self.recovery.last else None,
            "sweeps": self.stats.sweeps,
            "swept_missing": self.stats.swept_missing,
            "swept_corrected": self.stats.swept_corrected,
            "last_sweep": self.last_sweep.as_dict() if self.last_sweep else None,
            "warnings": self.warnings(),
        }

    def warnings(self, now: datetime | None = None) -> list[str]:
        """What ``/healthz`` should not call ``ok``, one line each."""
        now = now or datetime.now(UTC)
        found: list[str] = []
        oldest = self.assembler.oldest_open_start()
        limit = timedelta(seconds=self.pbx.max_call_seconds)
        if oldest is not None and now - oldest > limit:
            found.append(
                f"a call open for {(now - oldest).total_seconds():.0f} s, longer than any "
                f"real call (max_call_seconds = {self.pbx.max_call_seconds})"
            )
        last = self.recovery.last
        if last is not None and last.problems:
            found.append(
                f"a gap of {last.gap_seconds:.0f} s since {last.gap_from} was not fully "
                f"recovered: {'; '.join(last.problems)}"
            )
        return found

    @property
    def timezone(self) -> ZoneInfo:
        return self.feed.tz

    async def reconcile(self, since: datetime, until: datetime) -> Sweep:
        """Sweep ``[since, until)`` against the CDRs (see :mod:`cdr_sweep`); counted, logged."""
        held = set(self.assembler.index.calls) | set(self.feed.calls)
        run = await sweep_calls(
            self._engine,
            self._store,
            self.name,
            self.feed.dialplan,
            self._sources,
            since,
            until,
            held=held,
        )
        self.last_sweep = run
        self.stats.sweeps += 1
        self.stats.swept_missing += run.missing
        self.stats.swept_corrected += run.corrected
        level = logging.WARNING if run.missing or run.corrected or run.problems else logging.INFO
        log.log(
            level,
            "AMI %s: sweep %s..%s: %d CDRs, %d calls, %d missing stored, %d ends corrected%s",
            self.name,
            run.since,
            run.until,
            run.cdrs,
            run.calls,
            run.missing,
            run.corrected,
            f"; problems: {'; '.join(run.problems)}" if run.problems else "",
        )
        return run

    async def _run(self) -> None:
        try:
            while True:
                await self._lock.acquire()
                try:
                    await self._listen()
                finally:
                    await self._stop_listening()
                    await self._lock.release()
                    self._role = "standby"
        finally:
            self._role = "stopped"

    async def _listen(self) -> None:
        """Listen until the lock is lost (or the task is cancelled)."""
        self._role = "listening"
        self._journal = journal = EventJournal(
            self.name, self._engine, self._dir, flush_interval=self._journal_flush_interval
        )
        await journal.open()
        self.feed.reset()
        await self._clear_live()
        self._replay(journal)
        journal.start()
        journal.touch_alive()
        self._fresh_session = True
        self._ami = AmiConnection(
            self._ami_config,
            self.on_event,
            on_login=self._after_login,
            wanted=MATTERS,
            on_skipped=self._skipped,
            on_session=self.feed.start_session,
        )
        await self._ami.start()
        writer = asyncio.create_task(self.writer.run(), name=f"listener-{self.name}-writer")
        try:
            while True:
                await asyncio.sleep(self._lock_poll)
                journal.touch_alive()
                if await self._lock.check() == "lost":
                    log.warning("AMI %s: another process took over; stopping", self.name)
                    self.feed.live.forget_all()  # its calls are the new owner's to publish
                    return
        finally:
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer

    async def _stop_listening(self) -> None:
        ami, self._ami = self._ami, None
        if ami is not None:
            await ami.close(drain_timeout=1.0)
        if self._journal is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.flush(), 5.0)
            await self._journal.close()
            self._journal = None
            if self.feed.live.published:
                await self._clear_live()

    async def _clear_live(self) -> None:
        """Calls another session published are not known to be up: the replay and the
        stream publish again what is."""
        self.feed.live.forget_all()
        try:
            await asyncio.wait_for(self._live_store.clear(self.name), 5.0)
        except Exception as exc:
            log.warning("AMI %s: live calls not cleared: %s", self.name, brief(exc))

    def _replay(self, journal: EventJournal) -> None:
        for msg, received_at, seq in journal.replay():
            self.feed.fold(msg, received_at, seq)
            self.stats.replayed += 1
        self.feed.fed_seq = max(self.feed.fed_seq, journal.journal.last_seq)
        if self.stats.replayed:
            log.info("AMI %s: replayed %d journalled events", self.name, self.stats.replayed)

    # --- events ------------------------------------------------------------------------
    def _skipped(self, received_at: float) -> None:
        """An event the assembly does not use, left out by the connection itself."""
        self.stats.events += 1
        self.stats.ignored += 1
        self._last_received = received_at

    async def on_event(self, msg: AmiMessage, received_at: float) -> None:
        """The AMI connection's handler: journal, assemble, queue. Never awaits."""
        self.stats.events += 1
        # A skipped event read after this one (queued) may have set a later time already.
        self._last_received = max(self._last_received or received_at, received_at)
        if msg.get(n.EVENT) not in MATTERS:
            self.stats.ignored += 1
            return
        assert self._journal is not None
        seq = self._journal.append(msg, received_at)
        self.stats.journalled += 1
        self.feed.fold(msg, received_at, seq)

    # --- after a start or a reconnect ----------------------------------------------------
    async def _after_login(self) -> None:
        """Recover the gap: since the last event durably seen (a start), or since the link
        was last known up (a reconnect)."""
        self.logins += 1
        ami, journal = self._ami, self._journal
        if ami is None or journal is None:
            return
        if self._fresh_session:
            self._fresh_session = False
            # The last event durably seen; with none, the last time a listener was alive.
            gap_from = journal.last_event_at or journal.alive_at
            if gap_from is None:
                return  # never listened to this PBX before: no gap to speak of
            lost_at = max(gap_from, journal.alive_at or gap_from)
        else:
            lost = ami.alive_at_loss or self._last_received
            if lost is None:
                return
            gap_from = lost_at = lost
        await self.recovery.recover(
            ami,
            datetime.fromtimestamp(gap_from, UTC),
            datetime.fromtimestamp(lost_at, UTC),
        )
        self.stats.recoveries += 1
        self.writer.wake()
