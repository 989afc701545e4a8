"""The journal side of a listener: open a PBX's journal, number it, replay it, append.

The file format and durability are :mod:`callpool.pbx.journal`'s. Here is what the
listener does with it: number new records after the highest sequence number the database
already holds for the PBX (a lost journal directory, or another machine's listener,
must never make two events share a number), give back what was journalled but not
committed as messages, and append each event the assembly uses.

It also knows when callpool last listened, for the recovery at start:
:attr:`EventJournal.last_event_at` is the ``received_at`` of the last event durably
seen (the journal's newest record, or the database's newest raw event of the PBX), and
:attr:`alive_at` the last time a listener of this directory was known to be running
(``alive``, touched by :meth:`touch_alive` every few seconds; a crash leaves its last
value).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from callpool.db.engine import connection
from callpool.db.tables import AmiEvent
from callpool.pbx.assembly.events import AmiMessage, message_from_headers
from callpool.pbx.journal import Journal
from callpool.pbx.listener_stats import brief

log = logging.getLogger("callpool.ami")


class EventJournal:
    """The journal of one PBX while it is listened to. ``await open()``; ``await close()``."""

    def __init__(
        self, pbx: str, engine: AsyncEngine, directory: Path, *, flush_interval: float
    ) -> None:
        self.pbx = pbx
        self._engine = engine
        self.journal = Journal(directory, flush_interval=flush_interval)
        self._alive = Path(directory) / "alive"
        self.last_event_at: float | None = None
        self.alive_at: float | None = None
        with contextlib.suppress(FileNotFoundError):
            self.alive_at = self._alive.stat().st_mtime

    async def open(self) -> None:
        """Number after the database; call before replaying or appending."""
        try:
            async with connection(self._engine) as conn:
                highest, newest = (
                    await conn.execute(
                        select(func.max(AmiEvent.seq), func.max(AmiEvent.received_at)).where(
                            AmiEvent.pbx == self.pbx
                        )
                    )
                ).one()
        except Exception as exc:
            log.warning("AMI %s: cannot read the last event number (%s)", self.pbx, brief(exc))
            return
        if newest is not None:
            self.last_event_at = _later(self.last_event_at, _timestamp(newest))
        if highest and highest > self.journal.last_seq:
            log.warning(
                "AMI %s: journal behind the database (%d < %d); numbering after it",
                self.pbx,
                self.journal.last_seq,
                highest,
            )
            self.journal.skip_to(int(highest))

    def replay(self) -> Iterator[tuple[AmiMessage, float, int]]:
        """The journalled, uncommitted events of this PBX: (message, received_at, seq)."""
        for record in self.journal.replay():
            if record.pbx == self.pbx:
                self.last_event_at = _later(self.last_event_at, record.received_at)
                yield message_from_headers(record.headers), record.received_at, record.seq

    def touch_alive(self) -> None:
        """Record that this listener is running now (its mtime; no fsync: a hint)."""
        try:
            self._alive.touch()
            os.utime(self._alive, (time.time(), time.time()))
        except OSError as exc:
            log.debug("AMI %s: cannot touch %s: %s", self.pbx, self._alive, exc)

    def append(self, msg: AmiMessage, received_at: float) -> int:
        """Journal one event; its sequence number (durable with the next flush)."""
        return self.journal.append(self.pbx, received_at, msg.as_headers())

    def start(self) -> None:
        self.journal.start()

    async def close(self) -> None:
        await self.journal.close()


def _later(known: float | None, value: float) -> float:
    return value if known is None else max(known, value)


def _timestamp(value: object) -> float:
    """A database time as seconds since the epoch (SQLite gives it back without a zone)."""
    assert isinstance(value, datetime)
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
