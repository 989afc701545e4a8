"""AMI messages, and the incremental parser that cuts a byte stream into them.

An AMI stream is a banner line (``Asterisk Call Manager/11.0.0\\r\\n``, no blank line
after it) followed by messages: ``Key: Value`` lines ended by ``\\r\\n``, each message
ended by a blank line (``\\r\\n\\r\\n``). Everything is text; nothing is typed.

``FrameSplitter`` is fed raw ``bytes`` chunks exactly as a socket returns them, split
anywhere: inside a header, inside the ``\\r\\n\\r\\n`` terminator, or inside a multi-byte
UTF-8 character. It decodes each *complete* frame as UTF-8 itself (``errors="replace"``),
so ``'Алекс'`` survives any split; a reader decoding per TCP read would lose it.

Bad input never raises out of the splitter and never blocks what follows. The one
design: **a frame that cannot be used comes out, in stream order, as a
``MalformedFrame`` value** (reason + raw bytes) among the ``AmiMessage`` values; the
caller counts or logs it and goes on. That covers:

- a line without a colon, a frame with neither ``Event`` nor ``Response``, binary
  garbage (the frame is reported; garbage with no terminator of its own merges into
  the next frame and spoils that one, but never a later one);
- a frame longer than ``max_frame`` bytes (64 KiB by default). When no terminator has
  come within the limit, the bytes so far are reported once and the splitter then
  discards input up to the next terminator, so memory stays bounded.

``parse_message`` is the strict form for one frame: it raises ``AmiProtocolError``.

The live link goes through panoramisk, which cuts the stream itself (read as latin-1, so
that no UTF-8 character split across reads is lost). :func:`message_from_latin1` turns
what it parsed into an ``AmiMessage`` here, once: the AMI adapter hands it the header
pairs and nothing downstream converts again. The journal keeps a message as
:meth:`AmiMessage.as_headers` (repeated headers as lists) and gives it back with
:func:`message_from_headers`; the raw-event table keeps :meth:`AmiMessage.frame_text`.

Header access convention: ``msg.get(name)`` returns the first value, or ``''`` when the
header is missing (as panoramisk does); ``msg[name]`` behaves like any ``Mapping`` and
raises ``KeyError``. A header Asterisk repeats (``Variable:`` in some events) keeps all
its values: ``msg.getall(name)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Final, cast

from callpool.errors import AmiProtocolError
from callpool.pbx.assembly import names

__all__ = [
    "DEFAULT_MAX_FRAME",
    "AmiMessage",
    "FrameSplitter",
    "MalformedFrame",
    "decode_latin1",
    "message_from_headers",
    "message_from_latin1",
    "parse_frame",
    "parse_message",
]

Headers = dict[str, str | list[str]]

DEFAULT_MAX_FRAME: Final = 64 * 1024
_TERMINATOR: Final = b"\r\n\r\n"
_BANNER_PREFIX: Final = b"Asterisk Call Manager/"


class AmiMessage(Mapping[str, str]):
    """One AMI message: an immutable mapping of header name to its first value.

    Header names are case-sensitive, exactly as Asterisk sent them. ``raw`` is the frame
    as received (without the terminating blank line), kept for journaling.
    """

    __slots__ = ("_first", "_repeats", "raw")

    _first: dict[str, str]
    # All (name, value) pairs in order, but only when a header repeats: most messages
    # have no repeats, and then ``_first`` alone holds everything (the parser's fast path).
    _repeats: tuple[tuple[str, str], ...] | None
    raw: bytes

    def __init__(
        self, headers: Mapping[str, str] | Iterable[tuple[str, str]] = (), *, raw: bytes = b""
    ) -> None:
        self.raw = raw
        if type(headers) is dict:  # the adapter's hot path: names are unique, no repeats
            self._first = dict(headers)
            self._repeats = None
            return
        items = tuple(headers.items() if isinstance(headers, Mapping) else headers)
        first: dict[str, str] = {}
        for key, value in items:
            first.setdefault(key, value)
        self._first = first
        self._repeats = items if len(first) != len(items) else None

    @classmethod
    def _build(
        cls, first: dict[str, str], repeats: tuple[tuple[str, str], ...] | None, raw: bytes
    ) -> AmiMessage:
        msg = cls.__new__(cls)
        msg._first = first
        msg._repeats = repeats
        msg.raw = raw
        return msg

    def __getitem__(self, key: str) -> str:
        return self._first[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._first)

    def __len__(self) -> int:
        return len(self._first)

    def __contains__(self, key: object) -> bool:
        return key in self._first

    def get(self, key: str, default: str = "") -> str:  # type: ignore[override]
        """The first value of ``key``; ``''`` (or ``default``) when it is missing."""
        return self._first.get(key, default)

    def getall(self, key: str) -> tuple[str, ...]:
        """Every value of a header that may repeat, in the order received."""
        return tuple(value for name, value in self.pairs() if name == key)

    def pairs(self) -> tuple[tuple[str, str], ...]:
        """All headers in order, repeats included."""
        if self._repeats is not None:
            return self._repeats
        return tuple(self._first.items())

    @property
    def event(self) -> str:
        """The ``Event`` name (``''`` for a response)."""
        return self._first.get(names.EVENT, "")

    @property
    def response(self) -> str:
        """The ``Response`` value (``Success``, ``Error``, ``Goodbye``...), or ``''``."""
        return self._first.get(names.RESPONSE, "")

    def as_headers(self) -> Headers:
        """Names to values, a repeated header's values as a list (the journal's form).

        Without repeats this is the message's own dict (the hot path): don't change it.
        """
        if self._repeats is None:
            return self._first  # type: ignore[return-value]  # dict[str, str] is a Headers
        headers: Headers = {}
        for name, value in self._repeats:
            known = headers.get(name)
            if known is None:
                headers[name] = value
            elif isinstance(known, list):
                known.append(value)
            else:
                headers[name] = [known, value]
        return headers

    def frame_text(self) -> str:
        """The message as AMI text without the terminator (NUL bytes dropped: PostgreSQL)."""
        text = "\r\n".join(map(": ".join, self.pairs()))
        return text.replace("\x00", "") if "\x00" in text else text

    def __eq__(self, other: object) -> bool:
        if isinstance(other, AmiMessage):
            return self.pairs() == other.pairs()
        return super().__eq__(other)

    def __hash__(self) -> int:
        return hash(self.pairs())

    def __repr__(self) -> str:
        return f"AmiMessage({dict(self._first)!r})"


@dataclass(frozen=True, slots=True)
class MalformedFrame:
    """Bytes that did not make a usable message; ``reason`` says why."""

    reason: str
    raw: bytes


def parse_frame(frame: bytes) -> AmiMessage | MalformedFrame:
    """One frame (without its blank-line terminator) as a message, never raising."""
    text = frame.decode("utf-8", "replace")
    # Fast path, the hot one: every line is "Key: Value" and no header repeats.
    pairs = [line.split(": ", 1) for line in text.split("\r\n")]
    if min(map(len, pairs)) == 2:
        first = dict(cast("list[tuple[str, str]]", pairs))
        if len(first) == len(pairs) and "" not in first:
            return _checked(first, None, frame)
    return _parse_lines(text, frame)


def _checked(
    first: dict[str, str], repeats: tuple[tuple[str, str], ...] | None, frame: bytes
) -> AmiMessage | MalformedFrame:
    # Everything Asterisk sends is an event or a response; anything else is noise that
    # happened to contain a colon.
    if names.EVENT not in first and names.RESPONSE not in first:
        return MalformedFrame("no Event or Response header", frame)
    return AmiMessage._build(first, repeats, frame)


def _parse_lines(text: str, frame: bytes) -> AmiMessage | MalformedFrame:
    first: dict[str, str] = {}
    items: list[tuple[str, str]] = []
    for line in text.split("\r\n"):
        key, sep, value = line.partition(":")
        if not sep or not key:
            if not line:
                continue  # a stray empty line between frames
            return MalformedFrame(f"line without a header name and colon: {line[:80]!r}", frame)
        # Asterisk writes "Key: Value"; tolerate "Key:Value" and "Key:" too.
        if value[:1] == " ":
            value = value[1:]
        if key not in first:
            first[key] = value
        items.append((key, value))
    repeats = tuple(items) if len(items) != len(first) else None
    return _checked(first, repeats, frame)


def decode_latin1(value: str) -> str:
    """A latin-1-decoded AMI string back to its bytes, read as UTF-8 (bad bytes replaced)."""
    if value.isascii():
        return value
    return value.encode("latin-1").decode("utf-8", "replace")


def message_from_latin1(headers: Iterable[tuple[str, str | list[str]]]) -> AmiMessage:
    """A message from header pairs read as latin-1 (a repeated header's values as a list).

    This runs for every event of the live link, so the common case (plain ASCII, no
    repeats) is one dict and two C-level checks. ``content`` (panoramisk's body of a
    ``Response: Follows``) is not a header and is left out.
    """
    first: dict[str, str | list[str]] = dict(headers)
    first.pop("content", None)
    try:
        # TypeError when a value is a list (a repeated header) or not a str.
        ascii_only = "".join(first.values()).isascii()  # type: ignore[arg-type]
    except TypeError:
        ascii_only = False
    if ascii_only and "".join(first).isascii():
        return AmiMessage._build(first, None, b"")  # type: ignore[arg-type]  # all str
    pairs: list[tuple[str, str]] = []
    for key, value in first.items():
        name = decode_latin1(key)
        if isinstance(value, list):
            pairs.extend((name, decode_latin1(str(item))) for item in value)
        else:
            pairs.append((name, decode_latin1(str(value))))
    return AmiMessage(pairs)


def message_from_headers(headers: Headers) -> AmiMessage:
    """A message from its :meth:`AmiMessage.as_headers` form (the journal's)."""
    if list not in map(type, headers.values()):  # the C-level form of any(isinstance)
        return AmiMessage(headers)  # type: ignore[arg-type]  # no lists: all str
    pairs: list[tuple[str, str]] = []
    for key, value in headers.items():
        if isinstance(value, list):
            pairs.extend((key, item) for item in value)
        else:
            pairs.append((key, value))
    return AmiMessage(pairs)


def parse_message(frame: bytes) -> AmiMessage:
    """One frame as a message; raises ``AmiProtocolError`` when it does not parse."""
    if frame.endswith(_TERMINATOR):
        frame = frame[: -len(_TERMINATOR)]
    parsed = parse_frame(frame)
    if isinstance(parsed, MalformedFrame):
        raise AmiProtocolError(f"malformed AMI frame: {parsed.reason}")
    return parsed


class FrameSplitter:
    """Cuts an AMI byte stream into messages, whatever the chunk boundaries.

    One instance per connection (a reconnect starts a new stream with a new banner).
    ``feed`` returns the messages completed by that chunk, in order; ``split`` is the
    same without parsing (raw frame bytes), for callers that journal bytes first.
    """

    __slots__ = ("_at_start", "_buf", "_discarding", "banner", "max_frame")

    def __init__(self, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        self.max_frame = max_frame
        self.banner: str | None = None
        self._buf = b""
        self._at_start = True
        self._discarding = False

    def feed(self, data: bytes) -> list[AmiMessage | MalformedFrame]:
        return [
            frame if isinstance(frame, MalformedFrame) else parse_frame(frame)
            for frame in self.split(data)
        ]

    def split(self, data: bytes) -> list[bytes | MalformedFrame]:
        buf = self._buf + data if self._buf else data
        if self._discarding:
            buf = self._skip_oversized(buf)
            if self._discarding:
                self._buf = buf
                return []
        if self._at_start and buf:
            buf = self._take_banner(buf)
            if self._at_start:
                return self._keep_or_overflow(buf, [])
        parts: list[bytes | MalformedFrame] = []
        frames = buf.split(_TERMINATOR)
        rest = frames.pop()
        limit = self.max_frame
        for frame in frames:
            if len(frame) > limit:
                parts.append(MalformedFrame(f"frame longer than {limit} bytes", frame[:limit]))
            elif frame.strip(b"\r\n"):
                parts.append(frame)
        return self._keep_or_overflow(rest, parts)

    def _keep_or_overflow(
        self, rest: bytes, parts: list[bytes | MalformedFrame]
    ) -> list[bytes | MalformedFrame]:
        if len(rest) <= self.max_frame:
            self._buf = rest
            return parts
        # No terminator within the limit: report once, then drop input up to the next one.
        parts.append(
            MalformedFrame(
                f"no frame terminator within {self.max_frame} bytes", rest[: self.max_frame]
            )
        )
        self._at_start = False
        self._discarding = True
        self._buf = rest[-3:]  # the terminator may straddle this chunk and the next
        return parts

    def _skip_oversized(self, buf: bytes) -> bytes:
        end = buf.find(_TERMINATOR)
        if end < 0:
            # Keep 3 bytes: the terminator may straddle this chunk and the next.
            return buf[-3:]
        self._discarding = False
        return buf[end + len(_TERMINATOR) :]

    def _take_banner(self, buf: bytes) -> bytes:
        end = buf.find(b"\r\n")
        if end < 0:
            # Not a whole line yet; decide once it is, unless it cannot be the banner.
            if _BANNER_PREFIX.startswith(buf[: len(_BANNER_PREFIX)]):
                return buf
            self._at_start = False
            return buf
        self._at_start = False
        line = buf[:end]
        if not line.startswith(_BANNER_PREFIX):
            return buf
        self.banner = line.decode("utf-8", "replace")
        return buf[end + 2 :]
