"""SQL for calls in progress: the listener's side of the live page, across processes.

The listener publishes a :class:`~callpool.pbx.assembly.live.LiveChanges` in one
transaction: the calls that ended are deleted, the others upserted on (pbx, linkedid).
On PostgreSQL the same transaction sends ``NOTIFY callpool_live``, delivered at commit,
so a web process listening there reads the table at once; on SQLite web processes poll
the (small) table. Numbers are stored as the call store stores them (E.164 where they
are one) so the web side can look them up among the tracking numbers.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from callpool.db.engine import connection
from callpool.db.tables import LiveCall as LiveCallRow
from callpool.pbx.assembly.live import LiveCall, LiveChanges
from callpool.pbx.call_store import phone_or_raw

NOTIFY_CHANNEL = "callpool_live"
_UPDATED = ("direction", "state", "caller_number", "dialled_number", "agent", "answered_at")


class SqlLiveStore:
    def __init__(self, engine: AsyncEngine, region: str) -> None:
        self._engine = engine
        self._region = region

    async def publish(self, pbx: str, changes: LiveChanges, now: datetime) -> None:
        async with connection(self._engine) as conn:
            if changes.ended:
                await conn.execute(
                    delete(LiveCallRow).where(
                        LiveCallRow.pbx == pbx, LiveCallRow.linkedid.in_(changes.ended)
                    )
                )
            if changes.upserts:
                rows = [self._row(call, now) for call in changes.upserts]
                await conn.execute(_upsert(conn), rows)
            await _notify(conn, pbx)

    async def clear(self, pbx: str) -> None:
        """Forget every call of ``pbx``: a listener starts (or stops) listening to it."""
        async with connection(self._engine) as conn:
            await conn.execute(delete(LiveCallRow).where(LiveCallRow.pbx == pbx))
            await _notify(conn, pbx)

    def _row(self, call: LiveCall, now: datetime) -> dict[str, Any]:
        return {
            "pbx": call.pbx,
            "linkedid": call.linkedid,
            "direction": call.direction,
            "state": call.state,
            "caller_number": phone_or_raw(call.caller_number, self._region)[:32],
            "dialled_number": phone_or_raw(call.dialled_number, self._region)[:32],
            "agent": call.agent,
            "started_at": call.started_at,
            "answered_at": call.answered_at,
            "updated_at": now,
        }


def _upsert(conn: AsyncConnection) -> Any:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    insert = dialect.insert(LiveCallRow)
    return insert.on_conflict_do_update(
        index_elements=["pbx", "linkedid"],
        set_={name: insert.excluded[name] for name in (*_UPDATED, "updated_at")},
    )


async def _notify(conn: AsyncConnection, pbx: str) -> None:
    if conn.dialect.name == "postgresql":
        await conn.execute(select(func.pg_notify(NOTIFY_CHANNEL, pbx)))
