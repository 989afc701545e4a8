"""The reconciliation sweep: a PBX's stored calls against its CDRs, storing what is missing.

Recovery at start and after a reconnect covers the gaps callpool knows of. The sweep
covers the ones nobody noticed (an event lost on the wire, a journal lost with its disk):
it reads the CDRs of a window from the PBX's sources (:mod:`cdr_source`), builds their
calls (:func:`~callpool.pbx.assembly.cdr_csv.calls_from_cdrs`) and compares them with the
``calls`` table:

- a call in the CDRs and not stored (nor held open by the listener) is **missing**: it is
  stored from its CDRs (``end_reason = 'cdr'``);
- a stored call whose end is an estimate (``end_estimated``) and which the CDRs end
  elsewhere (more than :data:`END_TOLERANCE` apart) is **corrected**: end, talk time and
  markers from the CDRs.

Both are counted and logged; a second run over the same window finds nothing to do, and
when calls and CDRs agree it writes nothing. Two scheduled jobs run it for each PBX
this process listens to (:func:`reconcile_last_day` hourly, :func:`reconcile_previous_day`
nightly at 02:30 UTC); the listeners put themselves in :data:`SWEEPERS` while they run, because a
scheduled job is given only the engine and the time.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Collection
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from callpool.db.engine import connection
from callpool.db.tables import Call
from callpool.pbx.assembly.cdr_csv import calls_from_cdrs
from callpool.pbx.assembly.dialplan import PbxDialplan
from callpool.pbx.call_store import SqlCallStore
from callpool.pbx.cdr_source import CdrSource, read_cdrs

log = logging.getLogger("callpool.jobs")

END_TOLERANCE = timedelta(seconds=2)  # CDR times are whole seconds


@dataclass
class Sweep:
    """One sweep over ``[since, until)``."""

    since: str
    until: str
    cdrs: int = 0
    calls: int = 0  # calls in the CDRs
    missing: int = 0  # stored now from the CDRs
    corrected: int = 0  # estimated ends replaced by the CDRs'
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


async def sweep_calls(
    engine: AsyncEngine,
    store: SqlCallStore,
    pbx: str,
    dialplan: PbxDialplan,
    sources: list[CdrSource],
    since: datetime,
    until: datetime,
    *,
    held: Collection[str] = (),
) -> Sweep:
    """Store the calls the CDRs of ``[since, until)`` have and the table lacks; correct
    estimated ends. ``held``: linkedids the listener has open (not touched)."""
    run = Sweep(since.isoformat(), until.isoformat())
    if not sources:
        run.problems.append("no CDR source configured")
        return run
    read = await read_cdrs(pbx, sources, since, until)
    run.problems.extend(read.failed)
    run.cdrs = len(read.cdrs)
    calls = [c for c in calls_from_cdrs(read.cdrs, dialplan).calls if c.linkedid not in held]
    run.calls = len(calls)
    if not calls:
        return run
    stored: dict[str, tuple[datetime, bool]] = {}
    async with connection(engine) as conn:
        linkedids = [call.linkedid for call in calls]
        for start in range(0, len(linkedids), 500):
            rows = await conn.execute(
                select(Call.linkedid, Call.ended_at, Call.end_estimated).where(
                    Call.pbx == pbx, Call.linkedid.in_(linkedids[start : start + 500])
                )
            )
            for linkedid, ended_at, estimated in rows:
                stored[linkedid] = (_aware(ended_at), bool(estimated))
    now = datetime.now(UTC)
    missing = [call for call in calls if call.linkedid not in stored]
    wrong = [
        call
        for call in calls
        if call.linkedid in stored
        and stored[call.linkedid][1]
        and abs(stored[call.linkedid][0] - call.ended_at) > END_TOLERANCE
    ]
    if missing:
        await store.save_calls(missing, now)
    if wrong:
        async with connection(engine) as conn:
            for call in wrong:
                await conn.execute(
                    update(Call)
                    .where(Call.pbx == pbx, Call.linkedid == call.linkedid)
                    .values(
                        ended_at=call.ended_at,
                        talk_seconds=call.talk_seconds,
                        end_reason="cdr",
                        end_estimated=False,
                        updated_at=now,
                    )
                )
    run.missing, run.corrected = len(missing), len(wrong)
    return run


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


class Sweeper(Protocol):
    """What the jobs need of a listener."""

    name: str

    @property
    def role(self) -> str: ...

    @property
    def timezone(self) -> ZoneInfo: ...

    async def reconcile(self, since: datetime, until: datetime) -> Sweep: ...


# The listeners of this process, while they run (they add and remove themselves).
SWEEPERS: weakref.WeakSet[Sweeper] = weakref.WeakSet()


async def reconcile_last_day(engine: AsyncEngine, now: datetime) -> int:
    """Hourly: the last 24 hours of each PBX this process listens to; calls stored."""
    return await _reconcile_all(lambda sweeper: (now - timedelta(days=1), now))


async def reconcile_previous_day(engine: AsyncEngine, now: datetime) -> int:
    """Daily: the previous calendar day, in each PBX's time zone; calls stored."""

    def window(sweeper: Sweeper) -> tuple[datetime, datetime]:
        today = datetime.combine(now.astimezone(sweeper.timezone).date(), time())
        midnight = today.replace(tzinfo=sweeper.timezone)
        return midnight - timedelta(days=1), midnight

    return await _reconcile_all(window)


async def _reconcile_all(window: Any) -> int:
    stored = 0
    for sweeper in list(SWEEPERS):
        if sweeper.role != "listening":
            continue  # another process listens to this PBX: it sweeps it
        since, until = window(sweeper)
        run = await sweeper.reconcile(since, until)
        stored += run.missing
    return stored
