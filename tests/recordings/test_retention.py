"""Retention removes exactly the files past the site's limit and keeps every call row."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from callpool.db.engine import connection
from callpool.db.tables import Call
from callpool.recordings.linker import apply_retention
from callpool.recordings.service import RecordingService
from callpool.settings import load_settings
from tests.recordings.helpers import recordings, registered
from tests.recordings.world import attach_recording, set_site
from tests.reports.dashboard.seed import make_world


async def _age(engine: AsyncEngine, call_id: int, days: int, now: datetime) -> None:
    async with connection(engine) as conn:
        ended = now - timedelta(days=days)
        await conn.execute(
            update(Call).where(Call.id == call_id).values(started_at=ended, ended_at=ended)
        )


async def test_files_past_the_limit_go_and_the_calls_stay(
    engine: AsyncEngine, database_url: str, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    world = await make_world(engine, now)
    files, ids = [], []
    for n, (call_id, days) in enumerate(zip(world.shop_call_ids[:4], (40, 31, 29, 1), strict=True)):
        path = tmp_path / f"r{n}.wav"
        path.write_bytes(b"RIFF" + bytes([n]) * 100)
        await _age(engine, call_id, days, now)
        ids.append(await attach_recording(engine, call_id, path))
        files.append(path)
    other = tmp_path / "other.wav"
    other.write_bytes(b"RIFF other")
    await _age(engine, world.other_call_id, 400, now)
    await attach_recording(engine, world.other_call_id, other)  # its site keeps all
    await set_site(engine, "shop", recording_retention_days=30)
    async with connection(engine) as conn:
        calls_before = await conn.scalar(select(func.count()).select_from(Call))
    service = RecordingService(load_settings(database_url=database_url))
    with registered(service):
        assert await apply_retention(engine, now) == 2
        assert await apply_retention(engine, now) == 0  # twice = once
    assert [p.exists() for p in files] == [False, False, True, True]
    assert other.exists()
    states = {r["id"]: r["state"] for r in await recordings(engine)}
    assert [states[i] for i in ids] == ["deleted", "deleted", "present", "present"]
    async with connection(engine) as conn:
        assert await conn.scalar(select(func.count()).select_from(Call)) == calls_before


async def test_keep_target_only_removes_the_other_calls_files(
    engine: AsyncEngine, database_url: str, tmp_path: Path
) -> None:
    world = await make_world(engine)
    # shop-0: answered, 120 s talk (target); shop-1: answered, 5 s (not, target is 10 s);
    # shop-2: no answer.
    paths = []
    for n, call_id in enumerate(world.shop_call_ids[:3]):
        path = tmp_path / f"t{n}.wav"
        path.write_bytes(b"RIFF" + bytes([n]) * 10)
        await attach_recording(engine, call_id, path)
        paths.append(path)
    await set_site(engine, "shop", recording_keep_target_only=True)
    with registered(RecordingService(load_settings(database_url=database_url))):
        assert await apply_retention(engine, datetime.now(UTC)) == 2
    assert [p.exists() for p in paths] == [True, False, False]
