"""Shared by the recordings tests: a recorded call through the simulator and the listener."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from callpool.db.engine import connection
from callpool.db.tables import CallRecording
from callpool.pbx.sim.recorder import SimRecorder
from callpool.pbx.sim.scenarios import SimCall
from callpool.pbx.sim.server import AmiSimulator
from callpool.recordings.service import SERVICES, RecordingService
from callpool.recordings.store import note_recordings
from callpool.settings import PbxSettings, Settings, load_settings
from tests.pbx.listening import finish, make_listener, pbx_for, running, stored_calls, wait_until


@contextmanager
def registered(service: RecordingService) -> Iterator[RecordingService]:
    SERVICES.add(service)
    try:
        yield service
    finally:
        SERVICES.discard(service)


def settings_for(database_url: str, pbx: PbxSettings, storage: Path, **kw: Any) -> Settings:
    return load_settings(
        database_url=database_url, pbx=(pbx,), recordings_storage_dir=storage, **kw
    )


async def recordings(engine: AsyncEngine) -> list[dict[str, Any]]:
    async with connection(engine) as conn:
        rows = (await conn.execute(select(CallRecording).order_by(CallRecording.id))).mappings()
        return [dict(row) for row in rows.all()]


async def place_recorded_calls(
    engine: AsyncEngine,
    tmp_path: Path,
    monitor: Path,
    calls: list[SimCall],
    *,
    delay: float = 0.0,
    pbx_fields: dict[str, Any] | None = None,
    meanwhile: Callable[[PbxSettings], Awaitable[None]] | None = None,
) -> tuple[PbxSettings, SimRecorder, dict[str, Any]]:
    """Play ``calls`` through the simulator (with its recorder) into a listener; return
    the PBX's settings, the recorder and the calls. ``meanwhile`` runs once the calls are
    stored, while the recorder may still be finishing their files (``delay``)."""
    recorder = SimRecorder(monitor, delay=delay)
    async with AmiSimulator(recorder=recorder) as sim:
        pbx = pbx_for(sim.port, recordings_dir=monitor, **(pbx_fields or {}))
        listener = make_listener(
            engine, tmp_path / "journal", sim.port, pbx=pbx, after_save=(note_recordings,)
        )
        async with running(listener):
            await wait_until(lambda: listener.logins >= 1)
            for call in calls:
                sim.place_call(call)
            await wait_until(lambda: sim.source_exhausted and not sim._injected)
            await wait_until(lambda: listener.stats.events >= sim.frames_sent)
            await finish(listener)
        if meanwhile is not None:
            await meanwhile(pbx)
        await recorder.wait()
    return pbx, recorder, await stored_calls(engine)
