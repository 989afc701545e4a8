"""Recovery after a login never ends a call that began after it (issue #10, honest ends).

Right after a login the listener asks ``CoreShowChannels`` which channels are still up
and ends the open calls whose channels are gone. Events keep streaming meanwhile: a
channel named by an event of the new session is alive (or ends by its own ``Hangup``),
whatever the list says. The simulator makes the race deterministic: it takes the list,
streams a new call's first events, and only then sends the list, without that call.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from callpool.pbx.listener import PbxListener
from callpool.pbx.sim.cdr_writer import SimCdrWriter
from callpool.pbx.sim.scenarios import SimCall, call_frames
from callpool.pbx.sim.server import AmiSimulator
from callpool.pbx.sim.streams import IdAllocator, frame_name
from tests.pbx.listening import finish, make_listener, pbx_for, stored_calls, wait_until
from tests.pbx.test_no_call_lost import (
    _cdrs_settled,
    _now,
    _split_at_answer,
    assert_exactly_the_cdr_calls,
)


def _open_channels(frames: list[bytes]) -> int:
    names = [frame_name(frame) for frame in frames]
    return names.count(b"Newchannel") - names.count(b"Hangup")


@pytest.mark.parametrize("gap", ["reconnect", "restart"])
async def test_a_call_that_begins_while_recovery_lists_the_channels_is_not_ended_early(
    gap: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    master = tmp_path / "Master.csv"
    writer = SimCdrWriter(master)
    ids = IdAllocator(epoch=int(time.time()))
    old_up, old_rest = _split_at_answer(
        call_frames(SimCall("answered", "79161110001", ring=0.5, talk=1.0), ids, _now())
    )
    async with AmiSimulator(fully_booted=False, cdr=writer) as sim:
        sim.started_at -= timedelta(hours=1)  # the PBX stays up: callpool's gap only
        pbx = pbx_for(sim.port, cdr_csv_path=master)
        listener: PbxListener = make_listener(engine, tmp_path, sim.port, pbx=pbx)
        await listener.start()
        try:
            await wait_until(lambda: sim.listening_sessions == 1)
            sim.feed(old_up)
            await wait_until(lambda: listener.stats.events >= len(old_up))
            # The gap: the old call ends while callpool does not listen.
            if gap == "restart":
                await listener.close()
            else:
                await sim.refuse_connections()
                await sim.close_sessions()
            sim.pause_without_listeners = False
            sim.feed(old_rest)
            await _cdrs_settled(sim, writer, 1)
            # A new call comes in right after the login, while the channels are listed.
            start = _now()
            new_up, new_rest = _split_at_answer(
                call_frames(
                    SimCall("answered", "79162220002", agent="202", ring=0.5, talk=1.5),
                    ids,
                    start,
                )
            )
            sim.stream_while_listing_channels(new_up)
            if gap == "restart":
                listener = make_listener(engine, tmp_path, sim.port, pbx=pbx)
                await listener.start()
            else:
                await sim.accept_connections()
            await wait_until(lambda: listener.stats.recoveries >= 1)
            recovery = listener.health()["last_recovery"]
            # The new call talks on, and ends when its CDR says (ring 0.5 s + talk 1.5 s).
            await asyncio.sleep(max(0.0, (start - _now()).total_seconds() + 2.0))
            sim.feed(new_rest)
            await _cdrs_settled(sim, writer, 2)
            received = len(new_up) + len(new_rest) + (len(old_up) if gap == "reconnect" else 0)
            await wait_until(lambda: listener.stats.events >= received)
            await finish(listener)
            stored = await stored_calls(engine)
        finally:
            await listener.close()
    # Only the old call's channels were found gone; the new call's were not touched.
    assert recovery["hangups"] == _open_channels(old_up), recovery
    new = next(row for row in stored.values() if row["caller_number"] == "+79162220002")
    assert new["end_reason"] is None and not new["end_estimated"], new
    assert new["disposition"] == "answered" and new["talk_seconds"] >= 1, new
    old = next(row for row in stored.values() if row["caller_number"] == "+79161110001")
    assert old["end_reason"] == "cdr", old
    assert_exactly_the_cdr_calls(stored, master)
