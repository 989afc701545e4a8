"""AmiConnection against the real simulator over loopback (no mocks)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest
from panoramisk.message import Message
from pydantic import SecretStr

from callpool.errors import AmiError, AmiLoginFailed
from callpool.pbx.ami import AmiConfig, AmiConnection, Headers, wire_message
from callpool.pbx.assembly.events import AmiMessage, parse_frame
from callpool.pbx.sim.scenarios import SimCall, call_frames
from callpool.pbx.sim.server import AmiSimulator
from callpool.pbx.sim.streams import IdAllocator, load_capture

FIXTURES = Path(__file__).parent.parent / "fixtures" / "ami"
SECRET = "s3cr3t-do-not-log"


def config(sim: AmiSimulator, secret: str = "secret", **overrides: float) -> AmiConfig:
    values = {
        "ping_interval": 0.2,
        "ping_timeout": 0.3,
        "connect_timeout": 1.0,
        "login_timeout": 1.0,
        "action_timeout": 1.0,
        "backoff_initial": 0.05,
        "backoff_max": 0.2,
    } | overrides
    return AmiConfig("pbx-test", "127.0.0.1", sim.port, "callpool", SecretStr(secret), **values)


class Collector:
    def __init__(self) -> None:
        self.events: list[Headers] = []

    async def __call__(self, headers: Headers, received_at: float) -> None:
        self.events.append(headers)

    def names(self) -> list[str | list[str]]:
        return [e["Event"] for e in self.events]


async def wait_until(condition: Callable[[], bool], within: float = 5.0) -> None:
    """Poll a condition on counters the code under test keeps; fail after ``within`` s."""
    async with asyncio.timeout(within):
        while not condition():  # noqa: ASYNC110 - the counters have no event to wait on
            await asyncio.sleep(0.01)


def expected(frames: list[bytes]) -> list[tuple[str, str]]:
    """(Event, Uniqueid) of each frame, parsed independently of panoramisk."""
    out = []
    for frame in frames:
        lines = frame.decode().split("\r\n")
        headers = dict(line.split(": ", 1) for line in lines if ": " in line)
        out.append((headers["Event"], headers.get("Uniqueid", "")))
    return out


def received(events: list[Headers]) -> list[tuple[str, str]]:
    return [(str(e["Event"]), str(e.get("Uniqueid", ""))) for e in events]


async def test_receives_every_event_of_a_capture_in_order() -> None:
    frames = load_capture(FIXTURES / "queue-answered.ami")
    collect = Collector()
    async with AmiSimulator(frames, fully_booted=False) as sim:
        conn = AmiConnection(config(sim), collect)
        async with conn:
            await conn.wait_logged_in(5)
            await wait_until(lambda: len(collect.events) >= len(frames))
            assert received(collect.events) == expected(frames)
            health = conn.health()
            assert health.state == "logged_in" and health.events_received == len(frames)
            assert health.connected_since is not None and health.handler_errors == 0
            reply = await conn.send_action({"Action": "CoreSettings"})
            assert reply[0]["AsteriskVersion"] == "22.10.1"
        assert conn.state == "closed"


async def test_utf8_survives_writes_split_inside_a_character() -> None:
    call = SimCall("answered", "79161110001", customer_name="Алекс", ring=0, talk=0)
    frames = [t.frame for t in call_frames(call, IdAllocator(), datetime(2026, 1, 1))]
    stream = b"".join(frames)
    name = "Алекс".encode()
    first = stream.index(name)
    second = stream.index(name, first + len(name))
    cuts = [first + 1, first + 5, second + 3]  # inside the 1st, 3rd and 2nd letter
    collect = Collector()
    sim = AmiSimulator(frames, split_at=cuts, split_pause=0.03)
    async with sim, AmiConnection(config(sim), collect) as conn:
        await conn.wait_logged_in(5)
        await wait_until(lambda: len(collect.events) >= len(frames) + 1)  # + FullyBooted
    names = [e.get("CallerIDName") for e in collect.events if e["Event"] == "NewCallerid"]
    assert names[:2] == ["Алекс", "Алекс"]
    cdr = next(e for e in collect.events if e["Event"] == "Cdr")
    assert cdr["CallerID"] == '"Алекс" <79161110001>'


async def test_wrong_secret_reports_login_failed_and_never_logs_the_secret(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    async with AmiSimulator(secret="the-right-one") as sim:
        conn = AmiConnection(config(sim, secret=SECRET), Collector())
        async with conn:
            with pytest.raises(AmiLoginFailed) as failure:
                await conn.wait_logged_in(5)
            await wait_until(lambda: sim.failed_logins >= 3)  # keeps trying, with backoff
            health = conn.health()
            assert health.last_error is not None and "Authentication failed" in health.last_error
            assert health.reconnects >= 2
    assert SECRET not in str(failure.value)
    assert SECRET not in repr(conn.config) and SECRET not in repr(health)
    assert SECRET not in caplog.text
    assert "login_failed" in caplog.text


async def test_silent_peer_is_detected_by_the_watchdog_and_reconnected() -> None:
    async with AmiSimulator() as sim, AmiConnection(config(sim), Collector()) as conn:
        await conn.wait_logged_in(5)
        sim.go_silent()
        await wait_until(lambda: sim.logins == 2 and conn.state == "logged_in")
        assert conn.health().reconnects == 1
        await wait_until(lambda: sim.pings >= 1)  # the new session is watched too


async def test_action_without_answer_times_out() -> None:
    sim = AmiSimulator()
    async with sim, AmiConnection(config(sim, ping_interval=30), Collector()) as conn:
        await conn.wait_logged_in(5)
        sim.go_silent()
        with pytest.raises(AmiError, match=r"no answer to Ping within 0\.1s"):
            await conn.send_action({"Action": "Ping"}, within=0.1)


@pytest.mark.parametrize("mid_frame", [False, True])
async def test_dropped_link_reconnects_and_receives_the_rest(mid_frame: bool) -> None:
    frames = load_capture(FIXTURES / "answered.ami")
    want = expected(frames)
    if mid_frame:
        del want[40]  # half sent when the link dropped: lost, as on a real link
    collect = Collector()
    async with AmiSimulator(frames, fully_booted=False) as sim:
        sim.drop_after(40, mid_frame=mid_frame)
        async with AmiConnection(config(sim), collect) as conn:
            await wait_until(lambda: len(collect.events) >= len(want))
            assert received(collect.events) == want
            assert conn.health().reconnects == 1 and sim.connections == 2


async def test_refused_first_connect_retries_until_the_pbx_comes_up() -> None:
    async with AmiSimulator() as sim:
        await sim.refuse_connections()
        conn = AmiConnection(config(sim), Collector())
        await conn.start()
        await wait_until(lambda: conn.health().reconnects >= 2)
        assert conn.state in ("backoff", "connecting")
        assert "Connect" in (conn.health().last_error or "")
        await sim.accept_connections()
        await conn.wait_logged_in(5)
        await conn.close()
        assert conn.state == "closed"
        assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("ami-pbx")]


async def test_close_during_backoff_leaves_no_pending_reconnect() -> None:
    async with AmiSimulator() as sim:
        await sim.refuse_connections()
        conn = AmiConnection(config(sim, backoff_initial=0.1, backoff_max=0.1), Collector())
        await conn.start()
        await wait_until(lambda: conn.state == "backoff")
        await conn.close()
        await sim.accept_connections()
        await asyncio.sleep(0.3)  # three backoff periods: nothing may connect any more
        assert sim.connections == 0
        assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("ami-pbx")]


async def test_handler_exception_does_not_kill_the_connection(
    caplog: pytest.LogCaptureFixture,
) -> None:
    frames = load_capture(FIXTURES / "answered.ami")
    seen: list[str | list[str]] = []

    async def handler(headers: Headers, received_at: float) -> None:
        seen.append(headers["Event"])
        if headers["Event"] == "Newchannel":
            raise ValueError("boom")

    sim = AmiSimulator(frames, fully_booted=False)
    async with sim, AmiConnection(config(sim), handler) as conn:
        await wait_until(lambda: len(seen) >= len(frames))
        assert [name for name, _ in expected(frames)] == seen
        assert conn.health().handler_errors == 4  # 4 Newchannel events
        assert conn.health().reconnects == 0
    assert "AMI pbx-test: handler failed on Newchannel event" in caplog.text


async def test_close_can_drain_queued_events() -> None:
    frames = load_capture(FIXTURES / "busy.ami")
    collect = Collector()
    gate = asyncio.Event()

    async def slow(headers: Headers, received_at: float) -> None:
        await gate.wait()
        await collect(headers, received_at)

    async with AmiSimulator(frames, fully_booted=False) as sim:
        conn = AmiConnection(config(sim), slow)
        await conn.start()
        await wait_until(lambda: conn.health().events_received == len(frames))
        gate.set()
        await conn.close(drain_timeout=5)
    assert len(collect.events) == len(frames)


@pytest.mark.parametrize(
    "text",
    [
        "Event: Newchannel\r\nChannel: PJSIP/trunk-00000001\r\nUniqueid: 1795401185.1",
        "Event: VarSet\r\nVariable: A\r\nValue: 1\r\nVariable: B",  # a repeated header
        "Event: NewCallerid\r\nCallerIDName: Алекс\r\nUniqueid: 1795401185.2",
        "Response: Follows\r\nActionID: 1\r\nOutput line",  # panoramisk's "content"
    ],
    ids=["ascii", "repeated", "utf8", "content"],
)
def test_message_headers_are_the_same_on_the_fast_and_the_general_path(text: str) -> None:
    # The wire is read as latin-1; UTF-8 bytes arrive as latin-1 characters.
    message = Message.from_line(text.encode().decode("latin-1"))
    msg = wire_message(message)
    # Through panoramisk, the same message as our own parser makes of the UTF-8 bytes.
    lines = [line for line in text.split("\r\n") if ": " in line]
    parsed = parse_frame("\r\n".join(lines).encode())
    assert isinstance(parsed, AmiMessage)
    # panoramisk groups a repeated header's values where it first appears; names, values
    # and the order of first appearances are kept.
    assert msg.as_headers() == parsed.as_headers()
    assert list(msg.as_headers()) == list(parsed.as_headers())  # the order too
    assert "content" not in msg
    if "Алекс" in text:
        assert msg["CallerIDName"] == "Алекс"


async def test_caught_up_waits_for_the_events_received_before_it_and_sessions_are_marked() -> None:
    """A login hook reading an action's answer first lets the handler take every event
    received before it; ``on_session`` runs in stream order, before each session's events."""
    frames = load_capture(FIXTURES / "busy.ami")
    order: list[str] = []
    gate = asyncio.Event()

    async def slow(headers: Headers, received_at: float) -> None:
        await gate.wait()
        order.append(str(headers["Event"]))

    async with AmiSimulator(frames, fully_booted=False) as sim:
        conn = AmiConnection(config(sim), slow, on_session=lambda: order.append("session"))
        await conn.start()
        await wait_until(lambda: conn.health().events_received == len(frames))
        waiting = asyncio.create_task(conn.caught_up())
        await asyncio.sleep(0.1)
        assert not waiting.done()  # the handler has not taken them yet
        gate.set()
        await asyncio.wait_for(waiting, 5)
        assert order == ["session", *(name for name, _ in expected(frames))]
        await sim.restart()  # a second session: marked after every event of the first
        await wait_until(lambda: order.count("session") == 2)
        await conn.close()
    assert order[-1] == "session"
