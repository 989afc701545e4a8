"""A loopback Asterisk Manager Interface server for tests, the demo and benchmarks.

``AmiSimulator`` speaks enough of AMI for an AMI client (panoramisk included) to work
against it as against Asterisk 22: the banner ``Asterisk Call Manager/11.0.0``,
``Login`` (credentials checked; a refused login gets ``Authentication failed`` and the
connection is closed, as Asterisk does), ``Ping``, ``CoreSettings``, ``CoreStatus`` (its
start time), ``CoreShowChannels``, ``Logoff``, and an
``Invalid/unknown command`` error for anything else.

After a login with events on, the session receives *the stream*: one sequence of
:class:`~callpool.pbx.sim.streams.TimedFrame` per simulator, like the one event bus of a
PBX. The stream only advances while at least one session listens, so a client that
reconnects gets the frames it had not received yet. Sources: a capture replayed byte
for byte (:meth:`AmiSimulator.from_capture`), any iterable of frames (generated calls
from :mod:`callpool.pbx.sim.scenarios`, :func:`~callpool.pbx.sim.streams.renumbered_stream`),
and calls placed on demand with :meth:`AmiSimulator.place_call`.

``speed`` scales the frames' delays: 0 sends as fast as possible, 1.0 keeps the original
timing, N plays N times faster.

Fault injection for tests: :meth:`drop_after` (close every session after N more frames,
optionally in the middle of the next one, which is then lost), :meth:`go_silent` (current
sessions stop answering and receiving, without closing), :meth:`refuse_connections` /
:meth:`accept_connections` (stop and resume listening on the same port), :meth:`restart`,
:meth:`crash` (Asterisk killed and started again: sessions cut, channels gone, no CDR
for the calls that were up), :meth:`stream_while_listing_channels` (frames streamed
between taking the list for the next ``CoreShowChannels`` and sending it), and
``split_at`` (byte offsets in the stream where a write is cut in two, with a pause, so
the client's ``recv()`` sees the halves separately; e.g. inside a multi-byte character).

With ``cdr`` (a :class:`~callpool.pbx.sim.cdr_writer.SimCdrWriter`) the CDRs of the calls
played are written to a Master.csv and/or a CDR table, as Asterisk does; with
``recorder`` (a :class:`~callpool.pbx.sim.recorder.SimRecorder`) recorded calls leave
real audio files, as MixMonitor does.

A little past 400 lines: the protocol, the stream and the fault hooks share the session
state, and splitting them would scatter it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from callpool.pbx.sim.cdr_writer import SimCdrWriter
from callpool.pbx.sim.recorder import SimRecorder
from callpool.pbx.sim.scenarios import SimCall, call_frames, scenario_frames
from callpool.pbx.sim.streams import (
    BANNER,
    FRAME_END,
    FULLY_BOOTED,
    IdAllocator,
    TimedFrame,
    capture_passes,
    frame_name,
)

log = logging.getLogger("callpool.ami.sim")

_WRITE_HIGH_WATER = 256 * 1024


def _event(name: str, action_id: str | None, *headers: tuple[str, str]) -> bytes:
    lines = [f"Event: {name}"]
    if action_id is not None:
        lines.append(f"ActionID: {action_id}")
    lines += [f"{key}: {value}" for key, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


def _frame_headers(frame: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in frame.decode("utf-8", "replace").split("\r\n"):
        key, sep, value = line.partition(": ")
        if sep:
            headers.setdefault(key, value)
    return headers


def _response(status: str, action_id: str | None, *headers: tuple[str, str]) -> bytes:
    lines = [f"Response: {status}"]
    if action_id is not None:
        lines.append(f"ActionID: {action_id}")
    lines += [f"{key}: {value}" for key, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


class _Session:
    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self.logged_in = False
        self.events = False
        self.silent = False

    @property
    def listening(self) -> bool:
        return self.logged_in and self.events and not self.silent and not self.closing

    @property
    def closing(self) -> bool:
        return self.writer.is_closing()


class AmiSimulator:
    """An AMI server on loopback. Use ``async with`` or ``start()``/``stop()``."""

    def __init__(
        self,
        frames: Iterable[TimedFrame | bytes] = (),
        *,
        username: str = "callpool",
        secret: str = "secret",
        host: str = "127.0.0.1",
        port: int = 0,
        speed: float = 0.0,
        split_at: Sequence[int] = (),
        split_pause: float = 0.05,
        fully_booted: bool = True,
        asterisk_version: str = "22.10.1",
        cdr: SimCdrWriter | None = None,
        recorder: SimRecorder | None = None,
    ) -> None:
        self.username = username
        self._secret = secret
        self.host = host
        self.port = port
        self.speed = speed
        self.split_at = sorted(split_at)
        self.split_pause = split_pause
        self.fully_booted = fully_booted
        self.asterisk_version = asterisk_version
        self.cdr = cdr
        self.recorder = recorder
        self.started_at = datetime.now(UTC)  # CoreStatus: when "Asterisk" started
        self._source: Iterator[TimedFrame | bytes] = iter(frames)
        self._injected: deque[TimedFrame] = deque()
        self._more = asyncio.Event()
        self._listeners_changed = asyncio.Event()
        self._write_lock = asyncio.Lock()
        self._server: asyncio.Server | None = None
        self._sessions: set[_Session] = set()
        self._handlers: set[asyncio.Task[None]] = set()
        self._producer: asyncio.Task[None] | None = None
        self._drop: tuple[int, bool] | None = None
        self._while_listing: tuple[list[bytes], float] | None = None
        self._ids = IdAllocator(epoch=1_950_000_000)
        # Counters for tests.
        self.frames_sent = 0
        self.bytes_sent = 0
        self.connections = 0
        self.logins = 0
        self.failed_logins = 0
        self.pings = 0
        self.source_exhausted = False
        # Channels created and not hung up in the frames sent, for CoreShowChannels.
        self.live_channels: dict[str, dict[str, str]] = {}
        self.pause_without_listeners = True

    @classmethod
    def from_capture(cls, path: Path | str, *, loop: bool = False, **kwargs: Any) -> AmiSimulator:
        """Replay a capture (with its own ``FullyBooted``); ``loop`` adds renumbered repeats."""
        kwargs.setdefault("fully_booted", False)
        return cls(capture_passes(path, loop), **kwargs)

    # --- lifecycle ---------------------------------------------------------------------
    async def start(self) -> None:
        await self.accept_connections()
        if self.cdr is not None:
            self.cdr.start()
        if self._producer is None:
            self._producer = asyncio.create_task(self._produce(), name="ami-sim-producer")

    async def stop(self) -> None:
        await self.refuse_connections()
        await self.close_sessions()
        if self._producer is not None:
            self._producer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._producer
            self._producer = None
        if self.cdr is not None:
            await self.cdr.close()
        if self.recorder is not None:
            await self.recorder.close()

    async def crash(self) -> None:
        """Asterisk dies and starts again: sessions cut, its channels gone, the frames not
        yet played dropped (those calls never end, and get no CDR)."""
        await self.refuse_connections()
        if self._producer is not None:  # it may hold a frame it is about to play
            self._producer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._producer
        await self.close_sessions()
        self.live_channels.clear()
        self._injected.clear()
        self.started_at = datetime.now(UTC)
        await self.accept_connections()
        self._producer = asyncio.create_task(self._produce(), name="ami-sim-producer")

    async def restart(self) -> None:
        """Close every session and the listener, then listen again on the same port."""
        await self.refuse_connections()
        await self.close_sessions()
        await self.accept_connections()

    async def __aenter__(self) -> AmiSimulator:
        await self.start()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def accept_connections(self) -> None:
        if self._server is not None:
            return
        self._server = await asyncio.start_server(self._on_connect, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def refuse_connections(self) -> None:
        """Stop listening (new connections are refused); open sessions stay."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def close_sessions(self) -> None:
        for session in list(self._sessions):
            session.writer.close()
        if self._handlers:  # each handler ends on its closed connection
            _, stuck = await asyncio.wait(set(self._handlers), timeout=2.0)
            for task in stuck:
                task.cancel()
            if stuck:
                await asyncio.wait(stuck)

    # --- fault injection and on-demand calls -----------------------------------------------
    def drop_after(self, n_frames: int, *, mid_frame: bool = False) -> None:
        """After ``n_frames`` more stream frames, close every session (FIN, no RST).

        With ``mid_frame`` the first half of the next frame is sent before closing; that
        frame is lost, as it would be on a real link.
        """
        self._drop = (self.frames_sent + n_frames, mid_frame)

    def go_silent(self) -> None:
        """Current sessions stop answering actions and receiving events; they stay open."""
        for session in self._sessions:
            session.silent = True
        self._listeners_changed.set()

    def place_call(self, call: SimCall, start: datetime | None = None) -> None:
        """Queue the events of one call; they go out before the rest of the stream."""
        frames = call_frames(call, self._ids, start or datetime.now(UTC).replace(tzinfo=None))
        self._injected.extend(frames)
        self._more.set()

    def feed(self, frames: Iterable[TimedFrame | bytes]) -> None:
        """Queue more frames (raw or timed) for the stream."""
        for item in frames:
            self._injected.append(item if isinstance(item, TimedFrame) else TimedFrame(0.0, item))
        self._more.set()

    def stream_while_listing_channels(
        self, frames: Iterable[TimedFrame | bytes], *, pause: float = 0.2
    ) -> None:
        """The next ``CoreShowChannels`` takes its list of live channels, then ``frames`` are
        streamed, then (``pause`` later) the list is sent: the channels they create are not
        in it, though their events came first, as when calls come in while Asterisk is
        answering the action right after a login."""
        raw = [item.frame if isinstance(item, TimedFrame) else item for item in frames]
        self._while_listing = (raw, pause)

    @property
    def listening_sessions(self) -> int:
        return sum(1 for s in self._sessions if s.listening)

    # --- protocol ----------------------------------------------------------------------
    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        session = _Session(writer)
        self._sessions.add(session)
        self.connections += 1
        try:
            writer.write(BANNER)
            while not session.closing:
                try:
                    raw = await reader.readuntil(FRAME_END)
                except (asyncio.IncompleteReadError, ConnectionError):
                    break
                await self._handle_action(session, raw)
        except asyncio.LimitOverrunError:
            log.warning("AMI sim: action too long, closing")
        finally:
            self._sessions.discard(session)
            self._handlers.discard(task)
            self._listeners_changed.set()
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _handle_action(self, session: _Session, raw: bytes) -> None:
        headers: dict[str, str] = {}
        for line in raw.decode("utf-8", "replace").split("\r\n"):
            key, sep, value = line.partition(":")
            if sep:
                headers.setdefault(key.strip().lower(), value.strip())
        if session.silent:
            return
        reply, close = self._answer(session, headers)
        if self._while_listing is not None and headers.get("action", "").lower() == (
            "coreshowchannels"
        ):
            (frames, pause), self._while_listing = self._while_listing, None
            for frame in frames:
                await self._broadcast(frame)
            await self._drain(s for s in self._sessions if s.listening)
            await asyncio.sleep(pause)
        await self._send(session, reply)
        if close:
            session.writer.close()
        self._listeners_changed.set()

    def _answer(self, session: _Session, headers: dict[str, str]) -> tuple[bytes, bool]:
        """The reply to one action, and whether Asterisk would close the session after it."""
        action = headers.get("action", "").lower()
        aid = headers.get("actionid")
        if action == "login":
            if (headers.get("username"), headers.get("secret")) != (self.username, self._secret):
                self.failed_logins += 1
                return _response("Error", aid, ("Message", "Authentication failed")), True
            self.logins += 1
            session.logged_in = True
            session.events = headers.get("events", "on").lower() not in ("off", "no", "false")
            booted = FULLY_BOOTED if self.fully_booted and session.events else b""
            ok = _response("Success", aid, ("Message", "Authentication accepted"))
            return ok + booted, False
        if not session.logged_in:
            return _response("Error", aid, ("Message", "Permission denied")), True
        if action == "ping":
            self.pings += 1
            stamp = ("Timestamp", f"{time.time():.6f}")
            return _response("Success", aid, ("Ping", "Pong"), stamp), False
        if action == "coresettings":  # the headers of Asterisk 22's answer, in its order
            settings = [("AMIversion", "11.0.0"), ("AsteriskVersion", self.asterisk_version)]
            settings += [("SystemName", ""), ("CoreMaxCalls", "0")]
            settings += [("CoreMaxLoadAvg", "0.000000"), ("CoreRunUser", "")]
            settings += [("CoreRunGroup", ""), ("CoreMaxFilehandles", "0")]
            settings += [("CoreRealTimeEnabled", "No"), ("CoreCDRenabled", "Yes")]
            settings += [("CoreHTTPenabled", "No")]
            return _response("Success", aid, *settings), False
        if action == "corestatus":
            started = self.started_at.strftime("%Y-%m-%d %H:%M:%S").split()
            status = [("CoreStartupDate", started[0]), ("CoreStartupTime", started[1])]
            status += [("CoreReloadDate", started[0]), ("CoreReloadTime", started[1])]
            status += [("CoreCurrentCalls", str(len(self.live_channels)))]
            return _response("Success", aid, *status), False
        if action == "coreshowchannels":
            return self._core_show_channels(aid), False
        if action == "logoff":
            return _response("Goodbye", aid, ("Message", "Thanks for all the fish.")), True
        return _response("Error", aid, ("Message", "Invalid/unknown command")), False

    def _core_show_channels(self, aid: str | None) -> bytes:
        """Asterisk's answer: a Success, one event per live channel, then a Complete."""
        out = [
            _response("Success", aid, ("EventList", "start"), ("Message", "Channels will follow"))
        ]
        for channel in self.live_channels.values():
            out.append(_event("CoreShowChannel", aid, *channel.items()))
        out.append(
            _event(
                "CoreShowChannelsComplete",
                aid,
                ("EventList", "Complete"),
                ("ListItems", str(len(self.live_channels))),
            )
        )
        return b"".join(out)

    async def _send(self, session: _Session, data: bytes) -> None:
        async with self._write_lock:  # never inside a frame cut by split_at
            if not session.closing:
                session.writer.write(data)

    # --- the stream --------------------------------------------------------------------
    def _next_frame(self) -> TimedFrame | None:
        if self._injected:
            return self._injected.popleft()
        if self.source_exhausted:
            return None
        item = next(self._source, None)
        if item is None:
            self.source_exhausted = True
            return None
        return item if isinstance(item, TimedFrame) else TimedFrame(0.0, item)

    async def _wait_for_listeners(self) -> None:
        # A real PBX goes on without listeners; tests that recover a gap turn this off.
        while self.pause_without_listeners and self.listening_sessions == 0:
            self._listeners_changed.clear()
            await self._listeners_changed.wait()

    async def _produce(self) -> None:
        since_yield = 0
        while True:
            await self._wait_for_listeners()
            item = self._next_frame()
            if item is None:
                self._more.clear()
                await self._more.wait()
                continue
            if self.speed > 0 and item.delay > 0:
                await asyncio.sleep(item.delay / self.speed)
                await self._wait_for_listeners()
            if item.frame:  # an empty frame is only a pause
                await self._broadcast(item.frame)
            since_yield += 1
            if since_yield >= 64:  # let sessions answer actions between bursts
                since_yield = 0
                await asyncio.sleep(0)

    async def _broadcast(self, frame: bytes) -> None:
        listeners = [s for s in self._sessions if s.listening]
        if self._drop is not None and self._drop[1] and self.frames_sent == self._drop[0]:
            self._drop = None
            self._write_all(listeners, frame[: len(frame) // 2])
            self._advance(frame)
            await self._close(listeners)
            return
        start = self.bytes_sent
        cuts = [o - start for o in self.split_at if start < o < start + len(frame)]
        if cuts:
            async with self._write_lock:
                previous = 0
                for cut in [*cuts, len(frame)]:
                    self._write_all(listeners, frame[previous:cut])
                    previous = cut
                    if cut < len(frame):
                        await self._drain(listeners)
                        await asyncio.sleep(self.split_pause)
        else:
            self._write_all(listeners, frame)
        self._advance(frame)
        if self._drop is not None and not self._drop[1] and self.frames_sent >= self._drop[0]:
            self._drop = None
            await self._close(listeners)
        elif any(s.writer.transport.get_write_buffer_size() > _WRITE_HIGH_WATER for s in listeners):
            await self._drain(listeners)

    def _advance(self, frame: bytes) -> None:
        self.frames_sent += 1
        self.bytes_sent += len(frame)
        name = frame_name(frame)
        if self.cdr is not None:
            self.cdr.observe(name, frame)
        if self.recorder is not None:
            self.recorder.observe(name, frame)
        if name in (b"Newchannel", b"Hangup"):
            headers = _frame_headers(frame)
            uniqueid = headers.get("Uniqueid", "")
            if name == b"Hangup":
                self.live_channels.pop(uniqueid, None)
            else:
                self.live_channels[uniqueid] = {
                    key: headers.get(key, "") for key in ("Channel", "Uniqueid", "Linkedid")
                }

    @staticmethod
    def _write_all(sessions: Iterable[_Session], data: bytes) -> None:
        for session in sessions:
            if not session.closing:
                session.writer.write(data)

    @staticmethod
    async def _drain(sessions: Iterable[_Session]) -> None:
        for session in sessions:
            with contextlib.suppress(ConnectionError):
                await session.writer.drain()

    async def _close(self, sessions: Iterable[_Session]) -> None:
        for session in sessions:
            session.writer.close()
        self._listeners_changed.set()
        await asyncio.sleep(0)


def build_simulator(
    source: Path | str,
    *,
    loop: bool = False,
    seed: int | None = None,
    record: str | None = None,
    **kwargs: Any,
) -> AmiSimulator:
    """A simulator replaying a capture file (``*.ami``) or playing a named scenario.

    ``record``: the format the random scenario records its answered calls in.
    ``kwargs`` go to :class:`AmiSimulator` (host, port, username, secret, speed...).
    """
    if Path(source).suffix == ".ami":
        return AmiSimulator.from_capture(source, loop=loop, **kwargs)
    frames = scenario_frames(str(source), loop=loop, seed=seed, record=record)
    first = next(frames)  # an unknown scenario name fails here, before listening
    return AmiSimulator(itertools.chain([first], frames), **kwargs)


async def run_simulator(
    host: str,
    port: int,
    username: str,
    secret: str,
    source: Path | str,
    speed: float = 1.0,
    loop: bool = False,
    seed: int | None = None,
    cdr_csv: Path | None = None,
    recordings_dir: Path | None = None,
) -> None:
    """Serve AMI on ``host:port`` until cancelled (the ``callpool ami-sim`` command).

    ``recordings_dir``: recorded calls' files are written there (the PBX's monitor
    directory), and the random scenario records its answered calls.
    """
    recorder = SimRecorder(recordings_dir) if recordings_dir is not None else None
    sim = build_simulator(
        source,
        loop=loop,
        seed=seed,
        record="wav" if recorder is not None else None,
        recorder=recorder,
        host=host,
        port=port,
        username=username,
        secret=secret,
        speed=speed,
        cdr=SimCdrWriter(cdr_csv) if cdr_csv is not None else None,
    )
    async with sim:
        log.info(
            "AMI simulator listening on %s:%d, playing %s at speed %s",
            host,
            sim.port,
            source,
            speed,
        )
        await asyncio.Event().wait()
