"""Calls in progress: the pure live view, and the real listener publishing it to live_calls."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from callpool.db.engine import connection
from callpool.db.tables import LiveCall
from callpool.pbx.assembly.calls import CallAssembler
from callpool.pbx.assembly.events import FrameSplitter, MalformedFrame
from callpool.pbx.assembly.live import LiveBoard, live_call
from callpool.pbx.sim.scenarios import SimCall, call_frames
from callpool.pbx.sim.server import AmiSimulator
from callpool.pbx.sim.streams import IdAllocator, TimedFrame
from tests.pbx.listening import make_listener, running, wait_until

IDS = IdAllocator()


def phases(call: SimCall) -> list[list[TimedFrame]]:
    """The call's frames in the groups the simulator would pause between (ring, talk)."""
    groups: list[list[TimedFrame]] = []
    for frame in call_frames(call, IDS, datetime.now(UTC).replace(tzinfo=None)):
        if frame.delay > 0 or not groups:
            groups.append([])
        groups[-1].append(TimedFrame(0.0, frame.frame))
    return groups


def messages(frames: list[TimedFrame]) -> list[Any]:
    splitter = FrameSplitter()
    out = []
    for frame in frames:
        for msg in splitter.feed(frame.frame):
            assert not isinstance(msg, MalformedFrame)
            out.append(msg)
    return out


@pytest.mark.pure
def test_an_answered_call_rings_then_talks_then_leaves_the_board() -> None:
    ring, talk, hangup = phases(SimCall("answered", "79161110001", agent="201"))
    asm = CallAssembler()
    board = LiveBoard(asm.dialplan)
    seen = []
    for group in (ring, talk, hangup):
        for msg in messages(group):
            asm.feed(msg, datetime.now(UTC))
            if asm.last_touched:
                board.touch(asm.index.calls[asm.last_touched])
        changes = board.take_changes(asm.index.calls)
        board.confirm(changes)
        seen.append(
            (
                [(c.state, c.agent, c.caller_number, c.dialled_number) for c in changes.upserts],
                len(changes.ended),
            )
        )
    assert seen == [
        ([("ringing", "201", "79161110001", "74950000001")], 0),
        ([("talking", "201", "79161110001", "74950000001")], 0),
        ([], 1),
    ]
    assert board.published == {}
    # Nothing changed: nothing to publish.
    assert not board.take_changes(asm.index.calls)


@pytest.mark.pure
def test_a_call_ended_without_its_events_leaves_the_board() -> None:
    (ring, *_rest) = phases(SimCall("answered", "79161110001"))
    asm = CallAssembler()
    board = LiveBoard(asm.dialplan)
    for msg in messages(ring):
        asm.feed(msg, datetime.now(UTC))
        if asm.last_touched:
            board.touch(asm.index.calls[asm.last_touched])
    board.confirm(board.take_changes(asm.index.calls))
    (call,) = board.published.values()
    state = asm.index.calls[call.linkedid]
    assert live_call(state, asm.dialplan) == call
    asm.hang_up_missing(set(), datetime.now(UTC))  # the PBX has none of its channels
    changes = board.take_changes(asm.index.calls)
    assert changes.ended == (call.linkedid,) and not changes.upserts


async def live_rows(engine: AsyncEngine) -> list[tuple[str, str, str | None]]:
    async with connection(engine) as conn:
        rows = await conn.execute(
            select(LiveCall.state, LiveCall.caller_number, LiveCall.agent).order_by(
                LiveCall.linkedid
            )
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


async def test_the_listener_publishes_calls_in_progress(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    ring, talk, hangup = phases(SimCall("answered", "79161110001", agent="201"))
    async with AmiSimulator([]) as sim:
        listener = make_listener(engine, tmp_path, sim.port)
        async with running(listener):
            await wait_until(lambda: listener.role == "listening" and sim.listening_sessions > 0)
            sim.feed(ring)
            found: list[Any] = []

            async def shows(expected: list[Any]) -> bool:
                found[:] = await live_rows(engine)
                return found == expected

            await wait_rows(shows, [("ringing", "+79161110001", "201")])
            sim.feed(talk)
            await wait_rows(shows, [("talking", "+79161110001", "201")])
            sim.feed(hangup)
            await wait_rows(shows, [])
            # A call left up when the listener stops is not shown as if it still were.
            sim.feed(phases(SimCall("missed", "79162220004"))[0])
            await wait_rows(shows, [("ringing", "+79162220004", "201")], found)
    assert await live_rows(engine) == []


async def wait_rows(probe: Any, expected: list[Any], found: Any = None) -> None:
    try:
        async with asyncio.timeout(5.0):
            while not await probe(expected):  # noqa: ASYNC110 - a table has no event to wait on
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"found {found}") from None
