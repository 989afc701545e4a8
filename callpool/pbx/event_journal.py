"""The journal side of a listener: open a PBX's journal, number it, replay it, append.

The file format and durability are :mod:`callpool.pbx.journal`'s. Here is what the
listener does with it: number new records after the highest sequence number the database
already holds for the PBX (a lost journal directory, or another machine's listener,
must never make two events share a number), give back what was journalled but not
committed as messages, and append each event the assembly uses.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
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

    async def open(self) -> None:
        """Number after the database; call before replaying or appending."""
        try:
            async with connection(self._engine) as conn:
                highest = await conn.scalar(
                    select(func.max(AmiEvent.seq)).where(AmiEvent.pbx == self.pbx)
                )
        except Exception as exc:
            log.warning("AMI %s: cannot read the last event number (%s)", self.pbx, brief(exc))
            return
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
                yield message_from_headers(record.headers), record.received_at, record.seq

    def append(self, msg: AmiMessage, received_at: float) -> int:
        """Journal one event; its sequence number (durable with the next flush)."""
        return self.journal.append(self.pbx, received_at, msg.as_headers())

    def start(self) -> None:
        self.journal.start()

    async def close(self) -> None:
        await self.journal.close()
