"""Exactly one process listens to a PBX; another takes over within seconds."""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from callpool.db.engine import create_engine
from callpool.pbx.sim.server import AmiSimulator
from callpool.pbx.sim.streams import load_capture as capture_frames
from tests.pbx.captures import FIXTURES
from tests.pbx.listening import finish, make_listener, running, stored_calls, wait_until


async def test_one_listener_per_pbx_and_a_quick_takeover(
    database_url: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    """Two listeners (two engines, as two processes would have); on PostgreSQL with their
    own journal directories (two machines), on SQLite sharing one (one machine)."""
    shared = database_url.startswith("postgresql")
    other_engine = create_engine(database_url)
    frames = capture_frames(FIXTURES / "answered.ami")
    try:
        async with AmiSimulator(frames, fully_booted=False) as sim:
            first = make_listener(engine, tmp_path / "a", sim.port)
            second_dir = tmp_path / ("b" if shared else "a")
            second = make_listener(other_engine, second_dir, sim.port)
            async with running(first):
                await wait_until(lambda: first.role == "listening")
                async with running(second):
                    await wait_until(lambda: sim.listening_sessions == 1)
                    await wait_until(lambda: first.stats.events >= len(frames))
                    assert second.role == "standby" and second.stats.events == 0
                    assert sim.connections == 1
                    await first.close()  # as if its process died
                    started = time.monotonic()
                    await wait_until(lambda: second.role == "listening", within=10)
                    takeover = time.monotonic() - started
                    await wait_until(lambda: sim.listening_sessions == 1)
                    assert takeover < 3.0
                    await finish(first)
                    assert (await stored_calls(engine)).keys()
    finally:
        await other_engine.dispose()
