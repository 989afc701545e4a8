"""Never lose a call: the database goes away, the listener is killed, the AMI link drops.

Each test streams a real capture through the simulator, breaks something in the middle,
and checks that the calls finally stored are exactly the capture's, once each.
"""

from __future__ import annotations

import asyncio
import csv
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from callpool.db.engine import connection, create_engine
from callpool.db.tables import Call
from callpool.pbx.assembly.calls import assemble_calls
from callpool.pbx.assembly.events import FrameSplitter
from callpool.pbx.listener import MATTERS
from callpool.pbx.sim.scenarios import SimCall, call_frames
from callpool.pbx.sim.server import AmiSimulator
from callpool.pbx.sim.streams import IdAllocator, frame_name
from callpool.pbx.sim.streams import load_capture as capture_frames
from tests.pbx.captures import FIXTURES, load_capture
from tests.pbx.listening import (
    finish,
    make_listener,
    pbx_for,
    running,
    shape,
    stored_calls,
    wait_until,
)
from tests.tcp_proxy import TcpProxy

CAPTURE = "mixed-02"  # several overlapping calls: some are open at every cut


def expected() -> set[tuple[object, ...]]:
    return {shape(call) for call in assemble_calls(load_capture(CAPTURE).events)}


def mattering(frames: list[bytes]) -> int:
    return sum(1 for frame in frames if frame_name(frame).decode() in MATTERS)


async def count_calls(engine: AsyncEngine) -> int:
    async with connection(engine) as conn:
        return int(await conn.scalar(select(func.count()).select_from(Call)) or 0)


@dataclass
class Outage:
    """The listener's engine, and a way to take its database away and give it back."""

    engine: AsyncEngine
    cut: object
    restore: object


@asynccontextmanager
async def outage_for(database_url: str) -> AsyncIterator[tuple[AsyncEngine, Outage]]:
    if database_url.startswith("sqlite"):
        engine = create_engine(database_url)
        holder: list[sqlite3.Connection] = []

        async def cut() -> None:
            # Another writer holds the database: the listener's writes fail as "locked".
            conn = sqlite3.connect(make_url(database_url).database or "", isolation_level=None)
            conn.execute("BEGIN EXCLUSIVE")
            holder.append(conn)

        async def restore() -> None:
            conn = holder.pop()
            conn.execute("ROLLBACK")
            conn.close()

        try:
            yield engine, Outage(engine, cut, restore)
        finally:
            await engine.dispose()
        return
    url = make_url(database_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.start()
    engine = create_engine(url.set(port=proxy.port).render_as_string(hide_password=False))
    try:
        yield engine, Outage(engine, proxy.cut, proxy.restore)
    finally:
        await engine.dispose()
        await proxy.stop()


async def test_calls_wait_in_the_journal_while_the_database_is_down(
    database_url: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    frames = capture_frames(FIXTURES / f"{CAPTURE}.ami")
    async with outage_for(database_url) as (listener_engine, outage), AmiSimulator() as sim:
        listener = make_listener(listener_engine, tmp_path, sim.port, retry_max=0.5)
        async with running(listener):
            await wait_until(lambda: sim.listening_sessions == 1)
            await outage.cut()  # type: ignore[operator]
            sim.feed(frames)
            await wait_until(lambda: listener.stats.events >= len(frames))
            await wait_until(lambda: listener.stats.write_failures >= 1, within=20)
            assert listener.health()["database"] == "unavailable"
            assert listener.journal is not None
            assert listener.journal.last_seq == listener.stats.journalled == mattering(frames)
            assert await count_calls(engine) == 0
            await outage.restore()  # type: ignore[operator]
            await wait_until(lambda: listener.health()["database"] == "ok", within=20)
            await finish(listener)
            stored = await stored_calls(engine)
    assert {shape(row) for row in stored.values()} == expected()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _journalled(journal_dir: Path) -> int:
    """Records on disk (the test's own reading of the journal's files)."""
    total = 0
    for path in journal_dir.rglob("segment-*.jsonl"):
        total += sum(1 for line in path.read_bytes().splitlines() if line.endswith(b"}"))
    return total


class Serve:
    """``callpool serve`` with the AMI listener on, as a separate process."""

    def __init__(self, database_url: str, sim_port: int, tmp_path: Path) -> None:
        self.journal_dir = tmp_path / "journal"
        pbx = {
            "name": "pbx-test",
            "host": "127.0.0.1",
            "port": sim_port,
            "username": "callpool",
            "secret": "secret",
        }
        self.env = {
            **os.environ,
            "CALLPOOL_DATABASE_URL": database_url,
            "CALLPOOL_AMI_ENABLED": "true",
            "CALLPOOL_PBX": json.dumps([pbx]),
            "CALLPOOL_JOURNAL_DIR": str(self.journal_dir),
            "CALLPOOL_SCHEDULER_ENABLED": "false",
        }
        self.log = tmp_path / "serve.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "callpool.cli", "serve", "--port", str(_free_port())],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)

    def output(self) -> str:
        return self.log.read_text(errors="replace")


async def test_a_killed_listener_loses_nothing(
    database_url: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    frames = capture_frames(FIXTURES / f"{CAPTURE}.ami")
    cut = len(frames) * 3 // 5
    serve = Serve(database_url, 0, tmp_path)
    async with AmiSimulator() as sim:
        serve.env["CALLPOOL_PBX"] = serve.env["CALLPOOL_PBX"].replace(
            '"port": 0', f'"port": {sim.port}'
        )
        try:
            serve.start()
            await wait_until(lambda: sim.listening_sessions == 1, within=30)
            sim.feed(frames[:cut])
            # Killed once the first part is durable in its journal, calls still open.
            await wait_until(lambda: _journalled(serve.journal_dir) >= mattering(frames[:cut]))
            serve.kill()
            await wait_until(lambda: sim.listening_sessions == 0)
            open_calls_at_kill = len(expected()) - await count_calls(engine)
            assert open_calls_at_kill > 0, "the cut should fall in the middle of calls"
            sim.feed(frames[cut:])  # held until a listener logs in again
            serve.start()
            await wait_until(lambda: sim.source_exhausted and sim.listening_sessions == 1, 30)
            want = expected()
            for _ in range(300):
                if await count_calls(engine) >= len(want):
                    break
                await asyncio.sleep(0.1)
            stored = await stored_calls(engine)
        finally:
            serve.stop()
    assert {shape(row) for row in stored.values()} == want, serve.output()[-3000:]
    assert "replayed" in serve.output()


def _first_after(frames: list[bytes], start: int, name: bytes) -> int:
    return next(i for i in range(start, len(frames)) if frame_name(frames[i]) == name)


@pytest.mark.parametrize("lost", [b"VarSet", b"Hangup", b"BridgeEnter", b"DialEnd"])
async def test_the_ami_link_drops_mid_event_and_comes_back(
    lost: bytes, engine: AsyncEngine, tmp_path: Path
) -> None:
    """The frame cut in half is lost, as on a real link; recovery after the reconnect
    (CoreShowChannels: which channels are gone) still gets every call right."""
    frames = capture_frames(FIXTURES / f"{CAPTURE}.ami")
    index = _first_after(frames, len(frames) // 3, lost)
    async with AmiSimulator(frames, fully_booted=False) as sim:
        sim.drop_after(index, mid_frame=True)
        listener = make_listener(engine, tmp_path, sim.port)
        async with running(listener):
            await wait_until(lambda: sim.source_exhausted and sim.connections >= 2)
            await wait_until(lambda: listener.stats.events >= len(frames) - 1)
            await wait_until(lambda: listener.logins >= 2 and not listener.writer.woken)
            await finish(listener)
            stored = await stored_calls(engine)
            assert listener.health()["reconnects"] >= 1
    assert listener.stats.events == len(frames) - 1  # the one cut in half
    if lost == b"Hangup":  # Asterisk no longer listed that channel after the reconnect
        assert listener.stats.recovered_hangups >= 1
    assert {shape(row) for row in stored.values()} == expected()


# The Cdr event's headers in Master.csv's column order (the captures' README).
CDR_KEYS = (
    "AccountCode", "Source", "Destination", "DestinationContext", "CallerID", "Channel",
    "DestinationChannel", "LastApplication", "LastData", "StartTime", "AnswerTime", "EndTime",
    "Duration", "BillableSeconds", "Disposition", "AMAFlags", "UniqueID", "UserField",
)  # fmt: skip


def _master_csv_rows(frames: list[bytes]) -> list[list[str]]:
    """What Asterisk's cdr_csv writes for these frames: each Cdr event's values, then
    peeraccount, the linkedid of its channel and a sequence number."""
    linkedids: dict[str, str] = {}
    rows: list[list[str]] = []
    for frame in frames:
        headers = dict(line.split(": ", 1) for line in frame.decode().split("\r\n") if ": " in line)
        if headers["Event"] == "Newchannel":
            linkedids[headers["Uniqueid"]] = headers["Linkedid"]
        elif headers["Event"] == "Cdr":
            values = [headers.get(key, "") for key in CDR_KEYS]
            rows.append([*values, "", linkedids[headers["UniqueID"]], str(len(rows))])
    return rows


async def test_calls_during_a_link_outage_come_back_from_master_csv(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """The link is down while one call ends and two more begin and end. After the
    reconnect, CoreShowChannels and Master.csv give back all three, with their times."""
    ids = IdAllocator(epoch=int(time.time()))
    start = datetime.now(UTC).replace(tzinfo=None)
    spanning = call_frames(SimCall("answered", "79161110001", ring=0.5, talk=2.0), ids, start)
    inside = [
        *call_frames(SimCall("missed", "79162220004", did="74950000002", ring=1.0), ids, start),
        *call_frames(SimCall("busy", "79163330006", did="74950000005", ring=0.5), ids, start),
    ]
    answered_at = next(i for i, f in enumerate(spanning) if frame_name(f.frame) == b"BridgeEnter")
    before, during = (
        [f.frame for f in spanning[: answered_at + 2]],
        [
            *(f.frame for f in spanning[answered_at + 2 :]),
            *(f.frame for f in inside),
        ],
    )
    master = tmp_path / "Master.csv"
    master.write_text("")
    async with AmiSimulator(fully_booted=False) as sim:
        listener = make_listener(
            engine, tmp_path, sim.port, pbx=pbx_for(sim.port, cdr_csv_path=master)
        )
        async with running(listener):
            await wait_until(lambda: sim.listening_sessions == 1)
            sim.feed(before)
            await wait_until(lambda: listener.stats.events >= len(before))
            await sim.refuse_connections()
            await sim.close_sessions()
            sim.pause_without_listeners = False  # the PBX goes on without us
            sim.feed(during)
            await wait_until(lambda: sim.frames_sent >= len(before) + len(during))
            with master.open("w", newline="") as fh:
                csv.writer(fh, quoting=csv.QUOTE_ALL).writerows(_master_csv_rows(before + during))
            # Every CDR ended before the link is back (Master.csv has whole seconds).
            await asyncio.sleep(
                max(0.0, (start - datetime.now(UTC).replace(tzinfo=None)).total_seconds() + 4.2)
            )
            await sim.accept_connections()
            await wait_until(lambda: listener.logins >= 2, within=10)
            await wait_until(lambda: listener.stats.recovered_calls >= 2, within=10)
            await finish(listener)
            stored = await stored_calls(engine)
    assert listener.stats.recovered_hangups >= 1
    frames = before + during
    received = [(msg, datetime.now(UTC)) for msg in FrameSplitter().feed(b"".join(frames))]
    want = {shape(call) for call in assemble_calls(received)}  # type: ignore[arg-type]
    assert {shape(row) for row in stored.values()} == want
    # Times come from the CDRs: within a second of what Asterisk accounted.
    by_caller = {row["caller_number"]: row for row in stored.values()}
    assert abs(by_caller["+79161110001"]["talk_seconds"] - 2) <= 1
    assert by_caller["+79162220004"]["talk_seconds"] == 0
