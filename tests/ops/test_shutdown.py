"""SIGTERM mid-stream loses no call: ``callpool serve`` as a process, the AMI simulator
streaming a capture with calls open at every cut (the fault tests' helpers)."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from callpool.db.engine import connection
from callpool.db.tables import AmiEvent
from callpool.pbx.sim.server import AmiSimulator
from callpool.pbx.sim.streams import load_capture as capture_frames
from tests.pbx.captures import FIXTURES
from tests.pbx.listening import shape, stored_calls, wait_until
from tests.pbx.test_listener_faults import (
    CAPTURE,
    Serve,
    _journalled,
    count_calls,
    expected,
    mattering,
)


async def count_events(engine: AsyncEngine) -> int:
    async with connection(engine) as conn:
        return int(await conn.scalar(select(func.count()).select_from(AmiEvent)) or 0)


def terminate(serve: Serve, within: float = 30.0) -> float:
    """SIGTERM; the seconds the process took to exit (it must exit 0)."""
    assert serve.proc is not None
    started = time.monotonic()
    serve.proc.send_signal(signal.SIGTERM)
    assert serve.proc.wait(timeout=within) == 0, serve.output()[-3000:]
    return time.monotonic() - started


async def streamed_after_login(sim: AmiSimulator, frames: list[bytes]) -> None:
    """Stream the rest at once, while the new listener's after-login recovery runs."""
    sim.feed(frames)
    await wait_until(lambda: sim.source_exhausted, within=30)


async def wait_for_all_calls(engine: AsyncEngine, want: int) -> None:
    for _ in range(300):
        if await count_calls(engine) >= want:
            return
        await asyncio.sleep(0.1)


async def test_sigterm_mid_stream_then_restart_stores_every_call_once(
    database_url: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    frames = capture_frames(FIXTURES / f"{CAPTURE}.ami")
    cut = len(frames) * 3 // 5
    want = expected()
    async with AmiSimulator() as sim:
        serve = Serve(database_url, sim.port, tmp_path)
        try:
            serve.start()
            await wait_until(lambda: sim.listening_sessions == 1, within=30)
            sim.feed(frames[:cut])
            await wait_until(lambda: _journalled(serve.journal_dir) >= mattering(frames[:cut]))
            took = terminate(serve)
            # Closed in order: what it had received is written (the pending writes were
            # flushed), and the calls still open wait in the journal for the next start.
            assert await count_events(engine) == mattering(frames[:cut])
            assert len(want) - await count_calls(engine) > 0, "calls should be open at the cut"
            assert sim.listening_sessions == 0
            serve.start()
            await wait_until(lambda: sim.listening_sessions == 1, within=30)
            await streamed_after_login(sim, frames[cut:])
            await wait_for_all_calls(engine, len(want))
            stored = await stored_calls(engine)  # fails if a call was stored twice
        finally:
            serve.stop()
    output = serve.output()
    assert {shape(row) for row in stored.values()} == want, output[-3000:]
    assert len(stored) == len(want)
    assert "stopping: no new connections" in output and "callpool stopped" in output
    assert "replayed" in output
    assert took < 10, f"shutdown took {took:.1f} s"


async def test_sigterm_hands_the_pbx_to_a_standby_at_once(
    database_url: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    """A rolling restart on one machine: two processes share the journal directory; the
    one listening gets SIGTERM mid-stream, the standby takes the lock and finishes."""
    frames = capture_frames(FIXTURES / f"{CAPTURE}.ami")
    cut = len(frames) // 2
    want = expected()
    async with AmiSimulator() as sim:
        for name in ("first", "standby"):
            (tmp_path / name).mkdir()
        first = Serve(database_url, sim.port, tmp_path / "first")
        standby = Serve(database_url, sim.port, tmp_path / "standby")
        standby.journal_dir = first.journal_dir
        standby.env["CALLPOOL_JOURNAL_DIR"] = str(first.journal_dir)
        try:
            first.start()
            await wait_until(lambda: sim.listening_sessions == 1, within=30)
            standby.start()
            await asyncio.sleep(1.0)  # the standby is up and polling the lock
            assert sim.connections == 1
            sim.feed(frames[:cut])
            await wait_until(lambda: _journalled(first.journal_dir) >= mattering(frames[:cut]))
            terminate(first)
            started = time.monotonic()
            await wait_until(lambda: sim.listening_sessions == 1, within=15)
            takeover = time.monotonic() - started
            await streamed_after_login(sim, frames[cut:])
            await wait_for_all_calls(engine, len(want))
            stored = await stored_calls(engine)
        finally:
            first.stop()
            standby.stop()
    assert {shape(row) for row in stored.values()} == want, standby.output()[-3000:]
    assert len(stored) == len(want)
    # The lock is released on close, not found free by a timeout: the standby's next poll
    # (every 2 s) takes it.
    assert takeover < 4.0, f"the standby took {takeover:.1f} s"
