"""No call lost, for real (issue #10): recovery at every start and reconnect, honest end
markers, and the CDR sweep; through the real listener and simulator, on both databases.

The simulator writes Master.csv as Asterisk does (``SimCdrWriter``) for every call it
plays, listened to or not; each test ends with exactly the calls those CDRs have.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from callpool.pbx.assembly.cdr_csv import calls_from_master_csv
from callpool.pbx.call_store import DISPOSITION
from callpool.pbx.cdr_sweep import reconcile_last_day
from callpool.pbx.sim.cdr_writer import SimCdrWriter
from callpool.pbx.sim.scenarios import SimCall, call_frames
from callpool.pbx.sim.server import AmiSimulator
from callpool.pbx.sim.streams import IdAllocator, TimedFrame, frame_name
from tests.pbx.listening import finish, make_listener, pbx_for, running, stored_calls, wait_until
from tests.pbx.test_listener_faults import Serve, _journalled


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _split_at_answer(frames: list[TimedFrame]) -> tuple[list[bytes], list[bytes]]:
    """The frames up to the answer (the call is up and quiet), and the rest."""
    at = next(i for i, f in enumerate(frames) if frame_name(f.frame) == b"BridgeEnter") + 2
    return [f.frame for f in frames[:at]], [f.frame for f in frames[at:]]


def cdr_calls(master: Path) -> dict[str, Any]:
    lines = master.read_text().splitlines()
    return {call.linkedid: call for call in calls_from_master_csv(lines).calls}


def assert_exactly_the_cdr_calls(stored: dict[str, Any], master: Path) -> None:
    want = cdr_calls(master)
    assert set(stored) == set(want)
    for linkedid, call in want.items():
        row = stored[linkedid]
        assert row["disposition"] == DISPOSITION[call.outcome], linkedid
        assert abs(row["talk_seconds"] - call.talk_seconds) <= 2, linkedid
        assert abs(_aware(row["ended_at"]) - call.ended_at) <= timedelta(seconds=2), linkedid
        assert not row["end_estimated"], linkedid


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


async def _cdrs_settled(sim: AmiSimulator, writer: SimCdrWriter, rows: int) -> None:
    """Every frame played, ``rows`` CDRs written, and their (whole-second) ends past."""
    await wait_until(lambda: len(writer.rows) >= rows and not sim._injected, within=20)
    latest = max(datetime.strptime(r[11], "%Y-%m-%d %H:%M:%S") for r in writer.rows)
    await asyncio.sleep(max(0.0, (latest - _now()).total_seconds() + 1.1))


@pytest.mark.parametrize("mode", ["sigkill_calls_up", "sigkill_no_call_open", "sigterm"])
async def test_calls_while_serve_was_down_are_recovered_from_master_csv(
    mode: str, database_url: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    master = tmp_path / "Master.csv"
    writer = SimCdrWriter(master)
    ids = IdAllocator(epoch=int(time.time()))
    up = [
        call_frames(SimCall("answered", "79161110001", ring=0.5, talk=2.0), ids, _now()),
        call_frames(
            SimCall("answered", "79161110002", agent="202", ring=0.5, talk=3.0), ids, _now()
        ),
    ]
    async with AmiSimulator(fully_booted=False, cdr=writer) as sim:
        sim.pause_without_listeners = False  # the PBX goes on while callpool is down
        serve = Serve(database_url, sim.port, tmp_path)
        pbx = json.loads(serve.env["CALLPOOL_PBX"])
        pbx[0]["cdr_csv_path"] = str(master)
        serve.env["CALLPOOL_PBX"] = json.dumps(pbx)
        try:
            serve.start()
            await wait_until(lambda: sim.listening_sessions == 1, within=30)
            later: list[bytes] = []
            up = [
                call_frames(SimCall("answered", "79161110001", ring=0.5, talk=4.0), ids, _now()),
                call_frames(
                    SimCall("answered", "79161110002", agent="202", ring=0.5, talk=5.0), ids, _now()
                ),
            ]
            if mode != "sigkill_no_call_open":
                for frames in up:
                    before, after = _split_at_answer(frames)
                    sim.feed(before)
                    later += after
                # Killed once the calls' starts are durable in the journal.
                await wait_until(lambda: _journalled(serve.journal_dir) >= 8)
            if mode == "sigterm":
                serve.stop()
            else:
                serve.kill()
            await wait_until(lambda: sim.listening_sessions == 0)
            # While down: the open calls end, and three more begin and end.
            sim.feed(later)
            start = _now()
            sim.feed(
                f.frame for f in call_frames(SimCall("busy", "79163330006", ring=0.5), ids, start)
            )
            sim.feed(
                f.frame for f in call_frames(SimCall("missed", "79162220004", ring=1.0), ids, start)
            )
            sim.feed(
                f.frame
                for f in call_frames(
                    SimCall("answered", "79164440008", ring=0.5, talk=1.0), ids, start
                )
            )
            await _cdrs_settled(sim, writer, 3 if mode == "sigkill_no_call_open" else 5)
            want = len(cdr_calls(master))
            serve.start()
            for _ in range(300):
                if len(await stored_calls(engine)) >= want:
                    break
                await asyncio.sleep(0.1)
            await asyncio.sleep(0.5)  # nothing more (no duplicate) arrives
            stored = await stored_calls(engine)
        finally:
            serve.stop()
    assert want == (3 if mode == "sigkill_no_call_open" else 5)
    assert_exactly_the_cdr_calls(stored, master)
    assert "recovered a gap" in serve.output(), serve.output()[-3000:]


async def test_the_pbx_dies_during_an_answered_and_a_ringing_call(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """No CDR is written: both end at the moment the link was lost, marked pbx_lost; the
    ringing call is not 'abandoned'; the answered one has its talk time up to the loss."""
    master = tmp_path / "Master.csv"
    master.write_text("")
    ids = IdAllocator(epoch=int(time.time()))
    answered, _ = _split_at_answer(
        call_frames(SimCall("answered", "79161110001", ring=0.5, talk=60), ids, _now())
    )
    ringing = [
        f.frame
        for f in call_frames(SimCall("missed", "79162220004", ring=60), ids, _now())
        if frame_name(f.frame) not in (b"DialEnd", b"Hangup", b"HangupRequest", b"Cdr")
    ]
    ringing = ringing[: next(i for i, f in enumerate(ringing) if frame_name(f) == b"DialBegin") + 1]
    async with AmiSimulator(fully_booted=False, cdr=SimCdrWriter(master)) as sim:
        listener = make_listener(
            engine, tmp_path, sim.port, pbx=pbx_for(sim.port, cdr_csv_path=master)
        )
        async with running(listener):
            await wait_until(lambda: sim.listening_sessions == 1)
            sim.feed([*answered, *ringing])
            await wait_until(lambda: listener.stats.events >= len(answered) + len(ringing))
            await asyncio.sleep(1.5)  # a quiet conversation; pings keep the link known alive
            crashed = time.time()
            await sim.crash()
            await wait_until(lambda: listener.stats.recoveries >= 1)
            await finish(listener)
            stored = await stored_calls(engine)
            health = listener.health()
    assert len(stored) == 2
    by_caller = {row["caller_number"]: row for row in stored.values()}
    talked, rang = by_caller["+79161110001"], by_caller["+79162220004"]
    for row in (talked, rang):
        assert row["end_reason"] == "pbx_lost" and row["end_estimated"]
        lost = _aware(row["ended_at"]).timestamp()
        assert crashed - 1.5 <= lost <= crashed + 0.1  # the last sign of life, not the last event
    assert talked["disposition"] == "answered" and talked["talk_seconds"] >= 1
    assert rang["disposition"] == "no answer"
    assert health["last_recovery"]["reason"] == "pbx_lost"


async def test_the_sweep_stores_a_call_the_listener_never_saw_once(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    master = tmp_path / "Master.csv"
    writer = SimCdrWriter(master)
    ids = IdAllocator(epoch=int(time.time()) - 3600)
    past = _now() - timedelta(minutes=30)
    seen = call_frames(SimCall("answered", "79161110001", ring=0.5, talk=2), ids, past)
    hidden = call_frames(SimCall("busy", "79163330006", ring=0.5), ids, past + timedelta(minutes=5))
    for frame in hidden:  # the PBX played it; the stream to callpool lost it
        writer.observe(frame_name(frame.frame), frame.frame)
    async with AmiSimulator(fully_booted=False, cdr=writer) as sim:
        listener = make_listener(
            engine, tmp_path, sim.port, pbx=pbx_for(sim.port, cdr_csv_path=master)
        )
        async with running(listener):
            await wait_until(lambda: sim.listening_sessions == 1)
            sim.feed(f.frame for f in seen)
            await wait_until(lambda: len(writer.rows) >= 3)
            await finish(listener)
            assert len(await stored_calls(engine)) == 1
            now = datetime.now(UTC)
            runs = [await listener.reconcile(now - timedelta(days=1), now) for _ in range(2)]
            assert await reconcile_last_day(engine, datetime.now(UTC)) == 0  # the job: again
            stored = await stored_calls(engine)
            health = listener.health()
    assert [run.missing for run in runs] == [1, 0]
    assert [run.corrected for run in runs] == [0, 0]
    assert set(stored) == set(cdr_calls(master))
    hidden_row = next(row for row in stored.values() if row["caller_number"] == "+79163330006")
    assert hidden_row["disposition"] == "busy" and hidden_row["end_reason"] == "cdr"
    assert health["sweeps"] == 3 and health["swept_missing"] == 1


async def test_healthz_warns_of_a_call_open_too_long_and_an_unrecovered_gap(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    ids = IdAllocator(epoch=int(time.time()))
    answered, _ = _split_at_answer(
        call_frames(SimCall("answered", "79161110001", ring=0.5, talk=60), ids, _now())
    )
    async with AmiSimulator(fully_booted=False) as sim:
        listener = make_listener(engine, tmp_path, sim.port, pbx=pbx_for(sim.port))
        async with running(listener):
            await wait_until(lambda: sim.listening_sessions == 1)
            sim.feed(answered)
            await wait_until(lambda: listener.stats.events >= len(answered))
            assert listener.health()["warnings"] == []
            later = datetime.now(UTC) + timedelta(hours=5)
            (too_long,) = listener.warnings(later)
            assert "longer than any real call" in too_long
            await sim.restart()  # a gap, and no CDR source to look into it
            await wait_until(lambda: listener.stats.recoveries >= 1)
            warnings = listener.health()["warnings"]
    assert any("not fully recovered: no CDR source" in w for w in warnings)


async def test_the_sweep_reads_a_cdr_table_as_cdr_pgsql_writes_it(
    database_url: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    """The CDR source beside Master.csv: cdr_pgsql's table (PostgreSQL only)."""
    if not database_url.startswith("postgresql"):
        pytest.skip("a CDR table is a PostgreSQL source")
    writer = SimCdrWriter(tmp_path / "Master.csv", db_url=database_url, table="cdr")
    ids = IdAllocator(epoch=int(time.time()) - 3600)
    past = _now() - timedelta(minutes=30)
    async with AmiSimulator(fully_booted=False, cdr=writer) as sim:
        for kind, number in (("answered", "79161110001"), ("busy", "79163330006")):
            for frame in call_frames(SimCall(kind, number, ring=0.5, talk=2), ids, past):
                writer.observe(frame_name(frame.frame), frame.frame)  # never streamed
        await writer.flush_table()
        pbx = pbx_for(sim.port, cdr_db_url=database_url, cdr_db_table="cdr")
        listener = make_listener(engine, tmp_path, sim.port, pbx=pbx)
        async with running(listener):
            await wait_until(lambda: sim.listening_sessions == 1)
            now = datetime.now(UTC)
            runs = [await listener.reconcile(now - timedelta(days=1), now) for _ in range(2)]
            stored = await stored_calls(engine)
    assert [run.missing for run in runs] == [2, 0] and not runs[0].problems
    assert set(stored) == set(cdr_calls(tmp_path / "Master.csv"))
    want = cdr_calls(tmp_path / "Master.csv")
    for linkedid, row in stored.items():
        assert row["disposition"] == DISPOSITION[want[linkedid].outcome]
        assert row["talk_seconds"] == want[linkedid].talk_seconds
        # cdr_pgsql keeps no end: calldate + duration (whole seconds) is within 1 s of it.
        assert abs(_aware(row["ended_at"]) - want[linkedid].ended_at) <= timedelta(seconds=1)
