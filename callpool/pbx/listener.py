"""The AMI listener of one PBX: link → journal → call assembly → database, losing nothing.

Per event, in the AMI connection's consumer task and in arrival order:

1. events the assembly does not fold (``VarSet``, ``Newexten``... over half the stream)
   are counted and dropped;
2. the event is appended to the journal (durable within the journal's flush interval);
3. it is fed to the :class:`CallAssembler`; the calls it finishes and the raw event are
   queued for the writer.

The writer saves what is queued every ``write_interval`` seconds in a few statements.
When the database is unreachable (or busy) it keeps the queue and retries with backoff:
the journal holds the same events meanwhile. After a write, the journal is committed up
to the last event that no call still held by the assembler needs: ``min(last written
seq, first seq of the oldest held call - 1)``. On start the journal is replayed from its
checkpoint through the same path, so a killed listener rebuilds the calls it had open
and re-writes, idempotently, whatever may not have reached the database.

After a reconnect the listener recovers what the gap hid: it asks Asterisk which
channels are still up (``CoreShowChannels``) and hangs up, at the moment the link was
lost, the channels of open calls that are gone; if the PBX's ``cdr_csv_path`` is set, the
CDRs Asterisk wrote to ``Master.csv`` meanwhile are fed in as ``Cdr`` events, and calls
that began and ended entirely inside the gap are built from them and stored.

A process listens to a PBX only while it holds that PBX's lock (:mod:`pbx_lock`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from callpool.db.engine import connection
from callpool.db.tables import AmiEvent, Call
from callpool.errors import StoreUnavailable
from callpool.pbx.ami import AmiConfig, AmiConnection, AmiHealth, Headers
from callpool.pbx.assembly import names as n
from callpool.pbx.assembly.call_state import AssembledCall
from callpool.pbx.assembly.calls import CallAssembler
from callpool.pbx.assembly.cdr import CdrRecord
from callpool.pbx.assembly.cdr_csv import calls_from_cdrs, read_master_csv
from callpool.pbx.assembly.dialplan import PbxDialplan
from callpool.pbx.assembly.events import AmiMessage
from callpool.pbx.assembly.folds import FOLDS
from callpool.pbx.call_store import RawEvent, SqlCallStore
from callpool.pbx.journal import Journal
from callpool.pbx.pbx_lock import PbxLock
from callpool.settings import PbxSettings

log = logging.getLogger("callpool.ami")

MATTERS = frozenset(FOLDS)
_TRANSIENT = (StoreUnavailable, OperationalError, OSError, TimeoutError)


@dataclass
class ListenerStats:
    """Counters for ``/healthz`` and logs."""

    events: int = 0  # received from the link
    ignored: int = 0  # events the assembly does not use (not journalled)
    journalled: int = 0
    replayed: int = 0  # journal records fed again at start
    events_written: int = 0
    calls_written: int = 0
    rejected: int = 0  # rows the database refused for good (logged, dropped)
    write_failures: int = 0  # writes that failed and will be retried
    recovered_hangups: int = 0  # channels found gone after a reconnect
    recovered_cdrs: int = 0  # Master.csv rows read after a reconnect
    recovered_calls: int = 0  # calls seen only in Master.csv, stored from it
    database: str = "ok"  # or "unavailable"
    last_write_error: str | None = None


def dialplan_for(pbx: PbxSettings) -> PbxDialplan:
    return PbxDialplan(
        pbx=pbx.name,
        inbound_contexts=frozenset(pbx.inbound_contexts),
        internal_contexts=frozenset(pbx.internal_contexts),
        agent_channel_patterns=pbx.agent_channel_patterns,
        device_channel_patterns=pbx.device_channel_patterns,
    )


def ami_config_for(pbx: PbxSettings, **overrides: Any) -> AmiConfig:
    values: dict[str, Any] = {"ping_interval": pbx.ping_interval} | overrides
    return AmiConfig(pbx.name, pbx.host, pbx.port, pbx.username, pbx.secret, **values)


def to_message(headers: Headers) -> AmiMessage:
    """The connection's header dict as an :class:`AmiMessage` (repeated headers kept)."""
    if list not in map(type, headers.values()):  # the C-level form of any(isinstance)
        return AmiMessage(headers)  # type: ignore[arg-type]  # no lists: all str
    pairs: list[tuple[str, str]] = []
    for key, value in headers.items():
        if isinstance(value, list):
            pairs.extend((key, item) for item in value)
        else:
            pairs.append((key, value))
    return AmiMessage(pairs)


def frame_text(msg: AmiMessage) -> str:
    """The event as AMI text, for the raw-event table (NUL bytes dropped: PostgreSQL)."""
    text = "\r\n".join(map(": ".join, msg.pairs()))
    return text.replace("\x00", "") if "\x00" in text else text


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
    ) -> None:
        self.pbx = pbx
        self.name = pbx.name
        self._engine = engine
        self._dir = journal_dir / pbx.name
        self._store = SqlCallStore(engine, region, credit_repeat_callers=credit_repeat_callers)
        self._tz = ZoneInfo(pbx.timezone)
        self._write_interval = write_interval
        self._retry_max = retry_max
        self._journal_flush_interval = journal_flush_interval
        self._ami_config = ami_config_for(pbx, **(ami_overrides or {}))
        self._lock = PbxLock(pbx.name, engine, self._dir, poll_interval=lock_poll)
        self.stats = ListenerStats()
        self.assembler = self._new_assembler()
        self.journal: Journal | None = None
        self._ami: AmiConnection | None = None
        self._events: list[RawEvent] = []
        self._calls: dict[str, AssembledCall] = {}
        self._fed_seq = 0
        self._last_received: float | None = None
        self._logins = 0
        self._role = "standby"
        self._supervisor: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._flush_lock = asyncio.Lock()

    def _new_assembler(self) -> CallAssembler:
        return CallAssembler(dialplan_for(self.pbx), cdr_tz=self._tz)

    # --- lifecycle ---------------------------------------------------------------------
    async def start(self) -> None:
        if self._supervisor is None:
            self._supervisor = asyncio.create_task(self._run(), name=f"listener-{self.name}")

    async def close(self) -> None:
        """Stop listening; write what the database takes, the rest stays journalled."""
        task, self._supervisor = self._supervisor, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    @property
    def role(self) -> str:
        """``listening``, ``standby`` (another process has the lock) or ``stopped``."""
        return self._role

    def health(self) -> dict[str, Any]:
        ami: AmiHealth | None = self._ami.health() if self._ami else None
        return {
            "role": self._role,
            "ami": ami.state if ami else None,
            "ami_error": ami.last_error if ami else None,
            "connected_since": ami.connected_since.isoformat()
            if ami and ami.connected_since
            else None,
            "reconnects": ami.reconnects if ami else 0,
            "events": self.stats.events,
            "journal_pending": self._fed_seq - (self.journal.committed_seq if self.journal else 0),
            "open_calls": self.assembler.open_calls,
            "calls_written": self.stats.calls_written,
            "bad_events": self.assembler.stats.bad_events,
            "database": self.stats.database,
        }

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
        self.journal = Journal(self._dir, flush_interval=self._journal_flush_interval)
        await self._number_after_database()
        self.assembler = self._new_assembler()
        self._replay()
        self.journal.start()
        self._ami = AmiConnection(
            self._ami_config,
            self.on_event,
            on_login=self._after_login,
            wanted=MATTERS,
            on_skipped=self._skipped,
        )
        await self._ami.start()
        writer = asyncio.create_task(self._write_loop(), name=f"listener-{self.name}-writer")
        try:
            while True:
                await asyncio.sleep(self._lock._poll)
                if await self._lock.check() == "lost":
                    log.warning("AMI %s: another process took over; stopping", self.name)
                    return
        finally:
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer

    async def _stop_listening(self) -> None:
        ami, self._ami = self._ami, None
        if ami is not None:
            await ami.close(drain_timeout=1.0)
        if self.journal is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.flush(), 5.0)
            await self.journal.close()
            self.journal = None

    async def _number_after_database(self) -> None:
        """Never reuse a sequence number the database already holds for this PBX."""
        assert self.journal is not None
        try:
            async with connection(self._engine) as conn:
                highest = await conn.scalar(
                    select(func.max(AmiEvent.seq)).where(AmiEvent.pbx == self.name)
                )
        except Exception as exc:
            log.warning("AMI %s: cannot read the last event number (%s)", self.name, _brief(exc))
            return
        if highest and highest > self.journal.last_seq:
            log.warning(
                "AMI %s: journal behind the database (%d < %d); numbering after it",
                self.name,
                self.journal.last_seq,
                highest,
            )
            self.journal.skip_to(int(highest))

    def _replay(self) -> None:
        assert self.journal is not None
        for record in self.journal.replay():
            if record.pbx != self.name:
                continue
            self._fold(record.headers, record.received_at, record.seq)
            self.stats.replayed += 1
        self._fed_seq = max(self._fed_seq, self.journal.last_seq)
        if self.stats.replayed:
            log.info("AMI %s: replayed %d journalled events", self.name, self.stats.replayed)

    # --- events ------------------------------------------------------------------------
    def _skipped(self, received_at: float) -> None:
        """An event the assembly does not use, left out by the connection itself."""
        self.stats.events += 1
        self.stats.ignored += 1
        self._last_received = received_at

    async def on_event(self, headers: Headers, received_at: float) -> None:
        """The AMI connection's handler: journal, assemble, queue. Never awaits."""
        self.stats.events += 1
        # A skipped event read after this one (queued) may have set a later time already.
        self._last_received = max(self._last_received or received_at, received_at)
        if headers.get(n.EVENT) not in MATTERS:
            self.stats.ignored += 1
            return
        assert self.journal is not None
        seq = self.journal.append(self.name, received_at, headers)
        self.stats.journalled += 1
        self._fold(headers, received_at, seq)

    def _fold(self, headers: Headers, received_at: float, seq: int) -> None:
        msg = to_message(headers)
        at = datetime.fromtimestamp(received_at, UTC)
        for call in self.assembler.feed(msg, at, seq):
            self._calls[call.linkedid] = call
        name = msg.get(n.EVENT, "")
        self._events.append(RawEvent(seq, at, name[:64], msg.get(n.LINKEDID), frame_text(msg)))
        self._fed_seq = seq
        if len(self._events) >= 5000:
            self._wake.set()

    # --- writing -----------------------------------------------------------------------
    async def _write_loop(self) -> None:
        delay = self._write_interval
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)
            self._wake.clear()
            ok = await self.flush()
            delay = self._write_interval if ok else min(self._retry_max, max(0.5, delay * 2))

    async def flush(self, *, now: datetime | None = None) -> bool:
        """Finish due calls and write everything queued; False if the database refused."""
        async with self._flush_lock:
            for call in self.assembler.flush(now or datetime.now(UTC)):
                self._calls[call.linkedid] = call
            upto = self._fed_seq
            oldest = self.assembler.oldest_seq()
            safe = upto if oldest is None else min(upto, oldest - 1)
            if not self._events and not self._calls:
                self._commit(safe)
                return True
            events, self._events = self._events, []
            calls, self._calls = self._calls, {}
            try:
                await self._save(events, calls)
            except BaseException as exc:
                # Put the batch back, also when cancelled mid-write (close() cancels the
                # writer): the last flush writes it again (idempotent) instead of
                # committing the journal past rows that never reached the database.
                self._events = events + self._events
                for linkedid, call in calls.items():
                    self._calls.setdefault(linkedid, call)  # a newer version wins
                if not isinstance(exc, _TRANSIENT):
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

    async def _save(self, events: list[RawEvent], calls: dict[str, AssembledCall]) -> None:
        now = datetime.now(UTC)
        try:
            for start in range(0, len(events), 2000):
                await self._store.save_events(self.name, events[start : start + 2000])
            await self._store.save_calls(list(calls.values()), now)
        except _TRANSIENT:
            raise
        except Exception as exc:
            # Something in the batch the database refuses for good: write row by row and
            # drop (with a log line) only what it refuses, so nothing after it is blocked.
            log.error("AMI %s: batch refused (%s); writing row by row", self.name, _brief(exc))
            for event in events:
                await self._save_one(self._store.save_events(self.name, [event]), event.event)
            for call in calls.values():
                await self._save_one(self._store.save_calls([call], now), call.linkedid)

    async def _save_one(self, write: Any, what: str) -> None:
        try:
            await write
        except _TRANSIENT:
            raise
        except Exception as exc:
            self.stats.rejected += 1
            log.error("AMI %s: the database refused %s: %s", self.name, what, _brief(exc))

    def _write_failed(self, exc: BaseException) -> None:
        self.stats.write_failures += 1
        self.stats.last_write_error = _brief(exc)
        if self.stats.database == "ok":
            log.warning(
                "AMI %s: database unavailable (%s); calls wait in the journal",
                self.name,
                self.stats.last_write_error,
            )
        self.stats.database = "unavailable"

    def _commit(self, seq: int) -> None:
        if self.journal is not None and seq > self.journal.committed_seq:
            self.journal.commit(seq)

    # --- after a reconnect -------------------------------------------------------------
    async def _after_login(self) -> None:
        self._logins += 1
        if self._logins == 1 and self.stats.replayed == 0:
            return  # a fresh start: nothing was missed that we could know of
        lost_at = self._last_received
        if lost_at is None:
            return
        since = datetime.fromtimestamp(lost_at, UTC)
        cdrs = await self._read_cdr_csv(since)
        ended: dict[str, datetime] = {}
        for cdr in cdrs:
            if cdr.linkedid:
                ended[cdr.linkedid] = max(cdr.end, ended.get(cdr.linkedid, cdr.end))
        still_up = await self._recover_hangups(since, ended)
        # A call with a channel still up is not over, whatever its rows so far say.
        await self._recover_unseen_calls(tuple(c for c in cdrs if c.linkedid not in still_up))
        self._wake.set()

    async def _read_cdr_csv(self, since: datetime) -> tuple[CdrRecord, ...]:
        """The Master.csv rows of calls that ended since the link was lost (if configured)."""
        path = self.pbx.cdr_csv_path
        if path is None:
            return ()
        try:
            batch = await asyncio.to_thread(
                read_master_csv, path, since - timedelta(seconds=2), datetime.now(UTC), self._tz
            )
        except OSError as exc:
            log.warning("AMI %s: cannot read %s: %s", self.name, path, _brief(exc))
            return ()
        if batch.bad_rows:
            first = batch.bad_rows[0]
            log.warning(
                "AMI %s: skipped %d unusable rows of %s (line %d: %s)",
                self.name,
                len(batch.bad_rows),
                path,
                first.line,
                first.reason,
            )
        self.stats.recovered_cdrs += len(batch.cdrs)
        return batch.cdrs

    async def _recover_hangups(self, lost_at: datetime, ended: dict[str, datetime]) -> set[str]:
        """Hang up the channels of open calls that Asterisk no longer has; the linkedids
        of the calls it still has up."""
        ami = self._ami
        if ami is None:
            return set()
        replies = await ami.send_action({"Action": "CoreShowChannels"})
        if not replies or replies[0].get("Response") != "Success":
            # Without the list we cannot tell a gone channel from a live one: leave them.
            reason = replies[0].get("Message") if replies else "no answer"
            log.warning(
                "AMI %s: CoreShowChannels refused (%s); calls open across the gap end "
                "when their events arrive or go stale (grant write=reporting)",
                self.name,
                reason,
            )
            return set(ended)  # unknown: recover nothing from Master.csv either
        channels = [r for r in replies if r.get(n.EVENT) == "CoreShowChannel"]
        live = {str(r.get(n.UNIQUEID)) for r in channels}
        before = self.assembler.stats.recovered_hangups
        for call in self.assembler.hang_up_missing(live, lost_at, ended):
            self._calls[call.linkedid] = call
        gone = self.assembler.stats.recovered_hangups - before
        self.stats.recovered_hangups += gone
        if gone:
            log.info("AMI %s: %d channels ended while the link was down", self.name, gone)
        return {str(r.get(n.LINKEDID)) for r in channels}

    async def _recover_unseen_calls(self, cdrs: tuple[CdrRecord, ...]) -> None:
        """Calls that began and ended inside the gap: built from their CDRs, stored if new."""
        held = self.assembler.index.calls
        unseen = [cdr for cdr in cdrs if cdr.linkedid and cdr.linkedid not in held]
        if not unseen:
            return
        found = calls_from_cdrs(unseen, dialplan_for(self.pbx))
        linkedids = [call.linkedid for call in found.calls]
        try:
            async with connection(self._engine) as conn:
                stored = set(
                    (
                        await conn.scalars(
                            select(Call.linkedid).where(
                                Call.pbx == self.name, Call.linkedid.in_(linkedids)
                            )
                        )
                    ).all()
                )
        except Exception as exc:
            log.warning(
                "AMI %s: cannot check recovered calls against the database (%s); "
                "not recovering them now",
                self.name,
                _brief(exc),
            )
            return
        new = [call for call in found.calls if call.linkedid not in stored]
        for call in new:
            self._calls.setdefault(call.linkedid, call)
        self.stats.recovered_calls += len(new)
        if new:
            log.info(
                "AMI %s: recovered %d calls from %s", self.name, len(new), self.pbx.cdr_csv_path
            )


def _brief(exc: BaseException) -> str:
    """An error in one line, without the URL or password a driver may put in it."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    for marker in ("postgresql://", "postgresql+asyncpg://", "password="):
        if marker in text:
            text = text.split(marker)[0] + "…"
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__
