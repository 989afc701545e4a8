"""The recovery side of a listener: what callpool missed while it was not listening.

AMI has no replay. At every start and after every reconnect :class:`GapRecovery` looks at
the gap, from the last event callpool durably saw to now:

1. whether the PBX itself went down meanwhile (``CoreStatus``: Asterisk started after
   the link was lost): then the calls it had up ended with it, and it wrote no CDR;
2. the CDRs of the calls that ended in the gap, from every configured source
   (:mod:`cdr_source`: Master.csv, a CDR table);
3. which channels are still up (``CoreShowChannels``): the channels of open calls that
   are gone are hung up at their CDR end, or else at the moment the link was lost,
   marked ``pbx_lost`` (the PBX went down) or ``listener_down``; a channel still up
   means its call is not over, whatever its CDRs so far say. Only channels known from
   before the gap can be gone: events keep streaming while Asterisk lists its channels,
   so before reading the list every event received until its answer is folded, and a
   channel named by any event of the new session (a ``Newchannel`` after the login, or
   a ``Hangup``) is left to its own events, whatever the list says;
4. calls that began and ended inside the gap (in the CDRs, not held, not stored) are
   built from their CDRs and stored.

Each run is summed up in :attr:`GapRecovery.last` for ``/healthz``: a gap that could not be
looked at (no CDR source, a source that failed, the channel list refused) is a warning.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from callpool.db.engine import connection
from callpool.db.tables import Call
from callpool.pbx.ami import AmiConnection
from callpool.pbx.assembly import names as n
from callpool.pbx.assembly.call_state import EndReason
from callpool.pbx.assembly.cdr import CdrRecord
from callpool.pbx.assembly.cdr_csv import calls_from_cdrs
from callpool.pbx.call_feed import CallFeed
from callpool.pbx.cdr_source import CdrSource, read_cdrs
from callpool.pbx.listener_stats import ListenerStats, brief
from callpool.settings import PbxSettings

log = logging.getLogger("callpool.ami")

# Master.csv has whole seconds: read a little before the gap.
_SLACK = timedelta(seconds=2)


@dataclass
class Recovery:
    """One recovery: the gap it covered and what it found."""

    at: str
    gap_from: str
    gap_seconds: float
    reason: EndReason
    cdr_sources: int = 0
    cdrs: int = 0
    hangups: int = 0
    calls: int = 0
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class GapRecovery:
    def __init__(
        self,
        pbx: PbxSettings,
        engine: AsyncEngine,
        feed: CallFeed,
        stats: ListenerStats,
        sources: list[CdrSource],
    ) -> None:
        self.pbx = pbx
        self.name = pbx.name
        self._engine = engine
        self._feed = feed
        self.stats = stats
        self.sources = sources
        self.last: Recovery | None = None

    async def recover(
        self, ami: AmiConnection | None, gap_from: datetime, lost_at: datetime
    ) -> Recovery:
        """Recover the gap since ``gap_from`` (the last event durably seen); calls whose
        end is unknown end at ``lost_at`` (the last moment the PBX was known up)."""
        now = datetime.now(UTC)
        lost_at = max(lost_at, gap_from)
        reason: EndReason = (
            "pbx_lost" if await self._pbx_restarted(ami, lost_at) else "listener_down"
        )
        run = Recovery(
            at=now.isoformat(),
            gap_from=gap_from.isoformat(),
            gap_seconds=round((now - gap_from).total_seconds(), 3),
            reason=reason,
        )
        # From the start of the oldest call still open, too: its CDRs give its end.
        oldest = self._feed.assembler.oldest_open_start() or gap_from
        cdrs = await self._read_cdrs(min(gap_from, oldest) - _SLACK, now, run)
        ended: dict[str, datetime] = {}
        for cdr in cdrs:
            if cdr.linkedid:
                ended[cdr.linkedid] = max(cdr.end, ended.get(cdr.linkedid, cdr.end))
        still_up = await self._recover_hangups(ami, lost_at, ended, reason, run)
        await self._recover_unseen_calls(tuple(c for c in cdrs if c.linkedid not in still_up), run)
        self.last = run
        log.info(
            "AMI %s: recovered a gap of %.0f s (%s): %d CDRs, %d channels ended, %d calls "
            "stored from CDRs%s",
            self.name,
            run.gap_seconds,
            reason,
            run.cdrs,
            run.hangups,
            run.calls,
            f"; problems: {'; '.join(run.problems)}" if run.problems else "",
        )
        return run

    async def _pbx_restarted(self, ami: AmiConnection | None, lost_at: datetime) -> bool:
        """Whether Asterisk started after ``lost_at`` (so it went down in the gap)."""
        if ami is None:
            return False
        try:
            reply = (await ami.send_action({"Action": "CoreStatus"}))[0]
            started = datetime.strptime(
                f"{reply.get('CoreStartupDate')} {reply.get('CoreStartupTime')}",
                "%Y-%m-%d %H:%M:%S",
            ).replace(tzinfo=self._feed.tz)
        except Exception as exc:
            log.warning("AMI %s: CoreStatus gave no start time (%s)", self.name, brief(exc))
            return False
        # Whole seconds: a start within the second of the loss counts as after it.
        return started + timedelta(seconds=1) > lost_at

    async def _read_cdrs(
        self, since: datetime, until: datetime, run: Recovery
    ) -> tuple[CdrRecord, ...]:
        if not self.sources:
            run.problems.append("no CDR source configured (cdr_csv_path or cdr_db_url)")
            return ()
        read = await read_cdrs(self.name, self.sources, since, until)
        run.cdr_sources = read.sources
        run.cdrs = len(read.cdrs)
        run.problems.extend(f"CDR source failed: {line}" for line in read.failed)
        self.stats.recovered_cdrs += len(read.cdrs)
        return read.cdrs

    async def _recover_hangups(
        self,
        ami: AmiConnection | None,
        lost_at: datetime,
        ended: dict[str, datetime],
        reason: EndReason,
        run: Recovery,
    ) -> set[str]:
        """Hang up the channels of open calls that Asterisk no longer has; the linkedids
        of the calls it still has up."""
        if ami is None:
            return set()
        replies = await ami.send_action({"Action": "CoreShowChannels"})
        if not replies or replies[0].get("Response") != "Success":
            # Without the list we cannot tell a gone channel from a live one: leave them.
            why = replies[0].get("Message") if replies else "no answer"
            log.warning(
                "AMI %s: CoreShowChannels refused (%s); calls open across the gap end "
                "when their events arrive or go stale (grant write=reporting)",
                self.name,
                why,
            )
            run.problems.append(f"CoreShowChannels refused: {why}")
            return set(ended)  # unknown: recover nothing from the CDRs either
        channels = [r for r in replies if r.get(n.EVENT) == "CoreShowChannel"]
        live = {str(r.get(n.UNIQUEID)) for r in channels}
        # The events received before the answer are folded first: a channel that hung up
        # (or began) after the login is then known by its own events. No await from here
        # on, so the session's boundary and the channels compared are those of one moment.
        await ami.caught_up()
        assembler = self._feed.assembler
        before = assembler.stats.recovered_hangups
        self._feed.add_calls(
            assembler.hang_up_missing(
                live, lost_at, ended, reason, named_after=self._feed.session_seq
            )
        )
        gone = assembler.stats.recovered_hangups - before
        self.stats.recovered_hangups += gone
        run.hangups = gone
        if gone:
            log.info("AMI %s: %d channels ended while the link was down", self.name, gone)
        return {str(r.get(n.LINKEDID)) for r in channels}

    async def _recover_unseen_calls(self, cdrs: tuple[CdrRecord, ...], run: Recovery) -> None:
        """Calls that began and ended inside the gap: built from their CDRs, stored if new."""
        held = self._feed.assembler.index.calls
        unseen = [cdr for cdr in cdrs if cdr.linkedid and cdr.linkedid not in held]
        if not unseen:
            return
        found = calls_from_cdrs(unseen, self._feed.dialplan)
        try:
            stored = await stored_linkedids(
                self._engine, self.name, [call.linkedid for call in found.calls]
            )
        except Exception as exc:
            log.warning(
                "AMI %s: cannot check recovered calls against the database (%s); "
                "not recovering them now",
                self.name,
                brief(exc),
            )
            run.problems.append(f"database: {brief(exc)}")
            return
        new = [call for call in found.calls if call.linkedid not in stored]
        self._feed.add_calls(new, keep_newer=True)
        self.stats.recovered_calls += len(new)
        run.calls = len(new)


async def stored_linkedids(engine: AsyncEngine, pbx: str, linkedids: list[str]) -> set[str]:
    """Which of ``linkedids`` the calls table already has for ``pbx``."""
    found: set[str] = set()
    async with connection(engine) as conn:
        for start in range(0, len(linkedids), 500):
            chunk = linkedids[start : start + 500]
            rows = await conn.scalars(
                select(Call.linkedid).where(Call.pbx == pbx, Call.linkedid.in_(chunk))
            )
            found.update(rows.all())
    return found
