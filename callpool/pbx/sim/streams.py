"""Event streams for the AMI simulator: captures split into frames, and renumbered copies.

A *frame* is the bytes of one AMI message including the blank line that ends it
(``b"Event: ...\\r\\n...\\r\\n\\r\\n"``). A :class:`TimedFrame` adds the delay to wait
before sending it at the original speed.

A capture file (``tests/fixtures/ami/<name>.ami``) is the byte stream an AMI client
received: the banner line, the login response, ``Event: FullyBooted``, the events, and
the ``Response: Goodbye`` of the logoff. :func:`load_capture` keeps only the event
frames (from ``FullyBooted`` on), byte for byte.

:func:`renumber` gives a copy of a stream fresh channel identities, so the same capture
can be played many times in one session as if they were new calls: every
``Uniqueid``/``Linkedid``/``UniqueID``/``DestUniqueid``... value, every Local channel
sequence number (``Local/201@agents-0000001c;1``) and every bridge UUID is mapped to a
new value, consistently inside one copy (so ``Linkedid`` still equals the first
channel's ``Uniqueid``).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

from callpool.errors import AmiProtocolError

FRAME_END = b"\r\n\r\n"
BANNER = b"Asterisk Call Manager/11.0.0\r\n"
FULLY_BOOTED = (
    b"Event: FullyBooted\r\nPrivilege: system,all\r\nUptime: 10\r\nLastReload: 10\r\n"
    b"Status: Fully Booted\r\n\r\n"
)


class TimedFrame(NamedTuple):
    delay: float  # seconds to wait before sending this frame, at speed 1.0
    frame: bytes


class IdAllocator:
    """Fresh Asterisk-style identities: ``<epoch>.<n>`` uniqueids, hex Local sequences."""

    def __init__(self, epoch: int = 1_900_000_000) -> None:
        self.epoch = epoch
        self._uniqueid = 0
        self._local = 0
        self._bridge = 0

    def uniqueid(self) -> str:
        value = f"{self.epoch}.{self._uniqueid}"
        self._uniqueid += 1
        return value

    def local_seq(self) -> str:
        value = f"{self._local:08x}"
        self._local += 1
        return value

    def bridge_id(self) -> str:
        self._bridge += 1
        return str(uuid.UUID(int=(self.epoch << 64) | self._bridge))


def split_frames(data: bytes) -> list[bytes]:
    """Split a stream of complete AMI messages into frames; a trailing partial is an error."""
    parts = data.split(FRAME_END)
    if parts[-1]:
        raise AmiProtocolError(f"stream ends inside a message ({len(parts[-1])} bytes)")
    return [part + FRAME_END for part in parts[:-1]]


def frame_name(frame: bytes) -> bytes:
    """The value of the first header (``Newchannel`` for ``Event: Newchannel``)."""
    first = frame.split(b"\r\n", 1)[0]
    return first.partition(b": ")[2]


def _capture_event_span(data: bytes) -> tuple[int, int]:
    """Byte offsets [start, end) of the event frames inside a capture file."""
    if not data.startswith(b"Asterisk Call Manager/"):
        raise AmiProtocolError("capture does not start with the AMI banner")
    start = data.index(b"\r\n") + 2
    # Skip leading responses (the login response).
    while data.startswith(b"Response:", start):
        start = data.index(FRAME_END, start) + len(FRAME_END)
    end = len(data)
    goodbye = data.rfind(b"Response: Goodbye\r\n")
    if goodbye >= start and (goodbye == 0 or data[goodbye - 4 : goodbye] == FRAME_END):
        end = goodbye
    return start, end


def load_capture(path: Path | str) -> list[bytes]:
    """The event frames of a capture, byte for byte (banner, login and Goodbye left out)."""
    data = Path(path).read_bytes()
    start, end = _capture_event_span(data)
    return split_frames(data[start:end])


def load_capture_timed(path: Path | str) -> list[TimedFrame]:
    """The event frames of a capture with the delays recorded in ``<path>.timing``.

    A frame's time is that of the ``recv()`` chunk holding its last byte; its delay is
    the time since the previous frame (the first one: since the login response).
    """
    path = Path(path)
    data = path.read_bytes()
    start, end = _capture_event_span(data)
    frames = split_frames(data[start:end])
    chunks: list[tuple[float, int]] = []  # (time, end offset exclusive)
    lines = Path(f"{path}.timing").read_text(encoding="ascii").splitlines()
    for line in lines[1:]:
        seconds, chunk_offset, length = line.split(",")
        chunks.append((float(seconds), int(chunk_offset) + int(length)))

    def time_of(position: int) -> float:
        for seconds, chunk_end in chunks:
            if position < chunk_end:
                return seconds
        return chunks[-1][0] if chunks else 0.0

    timed: list[TimedFrame] = []
    previous = time_of(start - 1)
    offset = start
    for frame in frames:
        offset += len(frame)
        at = time_of(offset - 1)
        timed.append(TimedFrame(max(0.0, at - previous), frame))
        previous = at
    return timed


_ID_HEADER = re.compile(rb"^[\w-]*(?:uniqueid|linkedid): (\d+\.\d+)\r$", re.I | re.M)
_TOKEN = re.compile(
    rb"(?P<uid>(?<![\w.])\d+\.\d+(?![\w.]))"
    rb"|(?P<local>(?<=-)[0-9a-f]{8}(?=;[12]))"
    rb"|(?P<bridge>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"
)


class _Template:
    """A stream cut once at its identity tokens, so renumbered copies are cheap to render."""

    def __init__(self, frames: Sequence[bytes]) -> None:
        body = b"".join(frames)
        known = set(_ID_HEADER.findall(body))
        self.literals: list[bytes] = []
        self.tokens: list[tuple[str, bytes]] = []
        last = 0
        for match in _TOKEN.finditer(body):
            kind = match.lastgroup or ""
            if kind == "uid" and match.group(0) not in known:
                continue
            self.literals.append(body[last : match.start()])
            self.tokens.append((kind, match.group(0)))
            last = match.end()
        self.literals.append(body[last:])

    def render(self, ids: IdAllocator) -> list[bytes]:
        mapping: dict[bytes, bytes] = {}
        out: list[bytes] = []
        for literal, (kind, token) in zip(self.literals, self.tokens, strict=False):
            out.append(literal)
            new = mapping.get(token)
            if new is None:
                if kind == "uid":
                    new = ids.uniqueid().encode()
                elif kind == "local":
                    new = ids.local_seq().encode()
                else:
                    new = ids.bridge_id().encode()
                mapping[token] = new
            out.append(new)
        out.append(self.literals[-1])
        return split_frames(b"".join(out))


def renumber(frames: Sequence[bytes], ids: IdAllocator) -> list[bytes]:
    """A copy of ``frames`` with fresh uniqueids, Local channel sequences and bridge ids."""
    return _Template(frames).render(ids)


def count_calls(frames: Iterable[bytes]) -> int:
    """Calls in a stream: distinct ``Linkedid`` values of ``Newchannel`` events."""
    linkedids = set()
    for frame in frames:
        if frame.startswith(b"Event: Newchannel\r\n"):
            match = re.search(rb"\r\nLinkedid: ([^\r]*)\r\n", frame)
            if match:
                linkedids.add(match.group(1))
    return len(linkedids)


def renumbered_stream(
    capture_paths: Sequence[Path | str], n_calls: int, ids: IdAllocator | None = None
) -> list[bytes]:
    """A stream of at least ``n_calls`` calls: renumbered copies of the captures, in turn.

    The stream starts with one ``FullyBooted``; the captures' own ``FullyBooted`` frames
    are left out. Copies are played one after the other (not interleaved).
    """
    ids = ids or IdAllocator()
    pieces: list[tuple[_Template, int]] = []
    for path in capture_paths:
        frames = [f for f in load_capture(path) if frame_name(f) != b"FullyBooted"]
        pieces.append((_Template(frames), count_calls(frames)))
    if not any(calls for _, calls in pieces):
        raise ValueError("the captures hold no calls")
    stream = [FULLY_BOOTED]
    calls = 0
    index = 0
    while calls < n_calls:
        template, n = pieces[index % len(pieces)]
        index += 1
        if n:
            stream.extend(template.render(ids))
            calls += n
    return stream


def capture_passes(
    path: Path | str, loop: bool, ids: IdAllocator | None = None
) -> Iterator[TimedFrame]:
    """A capture with its timing; with ``loop``, endless renumbered repeats after the original."""
    timed = load_capture_timed(path)
    yield from timed
    if not loop:
        return
    ids = ids or IdAllocator()
    body = [t for t in timed if frame_name(t.frame) != b"FullyBooted"]
    if not body:
        return
    template = _Template([t.frame for t in body])
    while True:
        fresh = template.render(ids)
        for original, frame in zip(body, fresh, strict=True):
            yield TimedFrame(original.delay, frame)
