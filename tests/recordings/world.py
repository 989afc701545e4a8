"""Recordings attached to the dashboard's seeded world (tests/reports/dashboard/seed.py)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from callpool.db.engine import connection
from callpool.db.tables import Call, CallRecording, Site


async def attach_recording(
    engine: AsyncEngine, call_id: int, path: Path, state: str = "present"
) -> int:
    """A recording of the call, as the linking job leaves it."""
    data = path.read_bytes() if path.exists() else b""  # noqa: ASYNC240 - a small test file
    async with connection(engine) as conn:
        pbx, linkedid = (
            await conn.execute(select(Call.pbx, Call.linkedid).where(Call.id == call_id))
        ).one()
        result = await conn.execute(
            insert(CallRecording).returning(CallRecording.id),
            [
                {
                    "pbx": pbx,
                    "linkedid": linkedid,
                    "name": path.name,
                    "source": "cdr",
                    "state": state,
                    "path": str(path) if state == "present" else None,
                    "size_bytes": len(data) if state == "present" else None,
                    "sha256": hashlib.sha256(data).hexdigest() if state == "present" else None,
                    "created_at": datetime.now(UTC),
                    "found_at": datetime.now(UTC) if state == "present" else None,
                }
            ],
        )
        return int(result.scalar_one())


async def set_site(engine: AsyncEngine, name: str, **values: object) -> None:
    async with connection(engine) as conn:
        await conn.execute(update(Site).where(Site.name == name).values(**values))
