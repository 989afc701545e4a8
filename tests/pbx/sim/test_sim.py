"""The AMI simulator speaks the protocol: a raw asyncio client over loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import pytest

from callpool.pbx.sim.scenarios import CALL_KINDS, SimCall, call_frames, scenario_frames
from callpool.pbx.sim.server import AmiSimulator, build_simulator
from callpool.pbx.sim.streams import (
    IdAllocator,
    count_calls,
    frame_name,
    load_capture,
    load_capture_timed,
    renumbered_stream,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "ami"
END = b"\r\n\r\n"


class RawClient:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, sim: AmiSimulator) -> RawClient:
        reader, writer = await asyncio.open_connection("127.0.0.1", sim.port)
        client = cls(reader, writer)
        assert await reader.readline() == b"Asterisk Call Manager/11.0.0\r\n"
        return client

    async def send(self, *lines: str) -> None:
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await self.writer.drain()

    async def frame(self) -> bytes:
        return await asyncio.wait_for(self.reader.readuntil(END), 5)

    async def login(self, secret: str = "secret", events: str = "on") -> bytes:
        await self.send(
            "Action: Login",
            "Username: callpool",
            f"Secret: {secret}",
            "ActionID: l1",
            f"Events: {events}",
        )
        return await self.frame()

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


@pytest.fixture
async def sim() -> AsyncIterator[AmiSimulator]:
    async with AmiSimulator() as simulator:
        yield simulator


async def test_login_is_accepted_and_fully_booted_follows(sim: AmiSimulator) -> None:
    client = await RawClient.connect(sim)
    reply = await client.login()
    assert reply == (
        b"Response: Success\r\nActionID: l1\r\nMessage: Authentication accepted\r\n\r\n"
    )
    assert (await client.frame()).startswith(b"Event: FullyBooted\r\n")
    await client.close()


async def test_wrong_secret_is_refused_and_the_connection_closed(sim: AmiSimulator) -> None:
    client = await RawClient.connect(sim)
    reply = await client.login(secret="wrong")
    assert reply == b"Response: Error\r\nActionID: l1\r\nMessage: Authentication failed\r\n\r\n"
    assert await asyncio.wait_for(client.reader.read(), 5) == b""  # closed by the server
    assert sim.failed_logins == 1
    await client.close()


async def test_actions_before_login_are_denied(sim: AmiSimulator) -> None:
    client = await RawClient.connect(sim)
    await client.send("Action: Ping", "ActionID: p0")
    assert b"Message: Permission denied" in await client.frame()
    await client.close()


async def test_ping_core_settings_unknown_and_logoff(sim: AmiSimulator) -> None:
    client = await RawClient.connect(sim)
    await client.login(events="off")
    await client.send("Action: Ping", "ActionID: p1")
    pong = await client.frame()
    assert pong.startswith(b"Response: Success\r\nActionID: p1\r\nPing: Pong\r\nTimestamp: ")
    await client.send("Action: CoreSettings", "ActionID: c1")
    assert b"\r\nAsteriskVersion: 22.10.1\r\n" in await client.frame()
    await client.send("Action: Originate", "ActionID: o1")
    assert (
        b"Response: Error\r\nActionID: o1\r\nMessage: Invalid/unknown command"
        in await client.frame()
    )
    await client.send("Action: Logoff", "ActionID: g1")
    assert (await client.frame()).startswith(b"Response: Goodbye\r\nActionID: g1\r\n")
    assert await asyncio.wait_for(client.reader.read(), 5) == b""
    await client.close()


async def test_replayed_capture_arrives_byte_exact() -> None:
    data = (FIXTURES / "answered.ami").read_bytes()
    start = data.index(b"Event: FullyBooted")
    end = data.rindex(b"Response: Goodbye")
    async with AmiSimulator.from_capture(FIXTURES / "answered.ami") as sim:
        client = await RawClient.connect(sim)
        assert b"Authentication accepted" in await client.login()
        received = await asyncio.wait_for(client.reader.readexactly(end - start), 5)
        assert received == data[start:end]
        await client.close()


async def test_timed_replay_keeps_order_at_high_speed() -> None:
    timed = load_capture_timed(FIXTURES / "busy.ami")
    assert [t.frame for t in timed] == load_capture(FIXTURES / "busy.ami")
    assert 0.9 < sum(t.delay for t in timed) < 1.2  # the capture lasts about 1 s
    async with AmiSimulator.from_capture(FIXTURES / "busy.ami", speed=50.0) as sim:
        client = await RawClient.connect(sim)
        await client.login()
        frames = [await client.frame() for _ in timed]
        assert frames == [t.frame for t in timed]
        await client.close()


async def test_drop_mid_frame_then_the_stream_resumes_for_the_next_session() -> None:
    frames = load_capture(FIXTURES / "answered.ami")
    async with AmiSimulator(frames) as sim:
        sim.drop_after(10, mid_frame=True)
        client = await RawClient.connect(sim)
        await client.login()
        assert (await client.frame()).startswith(b"Event: FullyBooted")  # the sim's own
        first = [await client.frame() for _ in range(10)]
        tail = await asyncio.wait_for(client.reader.read(), 5)
        assert first == frames[:10]
        assert tail == frames[10][: len(frames[10]) // 2]  # half a frame, then EOF
        await client.close()
        again = await RawClient.connect(sim)
        await again.login()
        await again.frame()  # FullyBooted
        assert await again.frame() == frames[11]
        await again.close()


async def test_go_silent_stops_answers_without_closing(sim: AmiSimulator) -> None:
    client = await RawClient.connect(sim)
    await client.login(events="off")
    sim.go_silent()
    await client.send("Action: Ping", "ActionID: p2")
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(client.reader.readuntil(END), 0.3)
    assert not client.writer.is_closing()
    fresh = await RawClient.connect(sim)  # a new connection is served normally
    assert b"Success" in await fresh.login()
    await fresh.close()
    await client.close()


async def test_refuse_then_accept_connections_on_the_same_port(sim: AmiSimulator) -> None:
    port = sim.port
    await sim.refuse_connections()
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", port)
    await sim.accept_connections()
    assert sim.port == port
    client = await RawClient.connect(sim)
    await client.close()


async def test_place_call_streams_a_generated_call(sim: AmiSimulator) -> None:
    client = await RawClient.connect(sim)
    await client.login()
    await client.frame()  # FullyBooted
    sim.place_call(SimCall("missed", "79161110001", did="74950000003"))
    names = []
    while not names or names[-1] != b"Hangup" or len(names) < 17:
        names.append(frame_name(await client.frame()))
    assert names[0] == b"Newchannel" and b"Cdr" in names
    await client.close()


def _header_names(frame: bytes) -> tuple[bytes, ...]:
    return tuple(line.split(b": ")[0] for line in frame.split(b"\r\n") if line)


def test_generated_calls_have_the_header_layout_of_real_captures() -> None:
    layouts: dict[bytes, set[tuple[bytes, ...]]] = {}
    for name in ("answered", "missed-caller-hangup", "busy", "callback", "callback-noanswer"):
        for frame in load_capture(FIXTURES / f"{name}.ami"):
            layouts.setdefault(frame_name(frame), set()).add(_header_names(frame))
    ids = IdAllocator()
    calls = [SimCall(kind, "79161110001") for kind in CALL_KINDS]
    calls.append(SimCall("callback", "79161110001", ring=20.0))
    for call in calls:
        frames = call_frames(call, ids, datetime(2026, 1, 1, 12, 0, 0))
        assert count_calls(f.frame for f in frames) == 1
        for item in frames:
            assert _header_names(item.frame) in layouts[frame_name(item.frame)], item.frame


def test_renumbered_stream_has_fresh_consistent_ids() -> None:
    paths = [FIXTURES / "answered.ami", FIXTURES / "repeat-caller.ami"]
    stream = renumbered_stream(paths, 7)
    assert count_calls(stream) == 7  # 1 + 2 + 1 + 2 + 1 calls
    body = b"".join(stream)
    assert b"1795401185.0" not in body  # the capture's own linkedid
    assert sum(frame_name(f) == b"FullyBooted" for f in stream) == 1
    newchannels = [f for f in stream if frame_name(f) == b"Newchannel"]
    uniqueids = [f.split(b"Uniqueid: ")[1].split(b"\r\n")[0] for f in newchannels]
    channels = [f.split(b"Channel: ")[1].split(b"\r\n")[0] for f in newchannels]
    assert len(set(uniqueids)) == len(uniqueids)
    assert len(set(channels)) == len(channels)  # Local sequence numbers renumbered too
    first = newchannels[0]
    assert first.split(b"Uniqueid: ")[1][:12] == first.split(b"Linkedid: ")[1][:12]


def test_unknown_scenario_is_refused_and_known_ones_build() -> None:
    with pytest.raises(ValueError, match="unknown scenario"):
        build_simulator("nope", port=0)
    assert isinstance(build_simulator("random", port=0, seed=1), AmiSimulator)
    frames = list(scenario_frames("busy"))
    assert frame_name(frames[0].frame) == b"Newchannel"
