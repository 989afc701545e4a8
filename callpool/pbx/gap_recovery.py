"""The recovery side of a listener: what a gap in the AMI link hid, after a reconnect.

AMI has no replay. After a reconnect :class:`GapRecovery` asks Asterisk which channels
are still up (``CoreShowChannels``) and hangs up, at the moment the link was lost, the
channels of open calls that are gone; if the PBX's ``cdr_csv_path`` is set, the CDRs
Asterisk wrote to ``Master.csv`` meanwhile give those calls their real end times, and
calls that began and ended entirely inside the gap are built from them and stored.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from callpool.db.engine import connection
from callpool.db.tables import Call
from callpool.pbx.ami import AmiConnection
from callpool.pbx.assembly import names as n
from callpool.pbx.assembly.cdr import CdrRecord
from callpool.pbx.assembly.cdr_csv import calls_from_cdrs, read_master_csv
from callpool.pbx.call_feed import CallFeed
from callpool.pbx.listener_stats import ListenerStats, brief
from callpool.settings import PbxSettings

log = logging.getLogger("callpool.ami")


class GapRecovery:
    def __init__(
        self, pbx: PbxSettings, engine: AsyncEngine, feed: CallFeed, stats: ListenerStats
    ) -> None:
        self.pbx = pbx
        self.name = pbx.name
        self._engine = engine
        self._feed = feed
        self.stats = stats

    async def recover(self, ami: AmiConnection | None, lost_at: datetime) -> None:
        """Recover the gap that began at ``lost_at`` (the last moment the link was seen up)."""
        cdrs = await self._read_cdr_csv(lost_at)
        ended: dict[str, datetime] = {}
        for cdr in cdrs:
            if cdr.linkedid:
                ended[cdr.linkedid] = max(cdr.end, ended.get(cdr.linkedid, cdr.end))
        still_up = await self._recover_hangups(ami, lost_at, ended)
        # A call with a channel still up is not over, whatever its rows so far say.
        await self._recover_unseen_calls(tuple(c for c in cdrs if c.linkedid not in still_up))

    async def _read_cdr_csv(self, since: datetime) -> tuple[CdrRecord, ...]:
        """The Master.csv rows of calls that ended since the link was lost (if configured)."""
        path = self.pbx.cdr_csv_path
        if path is None:
            return ()
        try:
            batch = await asyncio.to_thread(
                read_master_csv,
                path,
                since - timedelta(seconds=2),
                datetime.now(UTC),
                self._feed.tz,
            )
        except OSError as exc:
            log.warning("AMI %s: cannot read %s: %s", self.name, path, brief(exc))
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

    async def _recover_hangups(
        self, ami: AmiConnection | None, lost_at: datetime, ended: dict[str, datetime]
    ) -> set[str]:
        """Hang up the channels of open calls that Asterisk no longer has; the linkedids
        of the calls it still has up."""
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
        assembler = self._feed.assembler
        before = assembler.stats.recovered_hangups
        self._feed.add_calls(assembler.hang_up_missing(live, lost_at, ended))
        gone = assembler.stats.recovered_hangups - before
        self.stats.recovered_hangups += gone
        if gone:
            log.info("AMI %s: %d channels ended while the link was down", self.name, gone)
        return {str(r.get(n.LINKEDID)) for r in channels}

    async def _recover_unseen_calls(self, cdrs: tuple[CdrRecord, ...]) -> None:
        """Calls that began and ended inside the gap: built from their CDRs, stored if new."""
        held = self._feed.assembler.index.calls
        unseen = [cdr for cdr in cdrs if cdr.linkedid and cdr.linkedid not in held]
        if not unseen:
            return
        found = calls_from_cdrs(unseen, self._feed.dialplan)
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
                brief(exc),
            )
            return
        new = [call for call in found.calls if call.linkedid not in stored]
        self._feed.add_calls(new, keep_newer=True)
        self.stats.recovered_calls += len(new)
        if new:
            log.info(
                "AMI %s: recovered %d calls from %s", self.name, len(new), self.pbx.cdr_csv_path
            )
