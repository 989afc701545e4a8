"""Load an AMI capture from ``tests/fixtures/ami/`` with a receive time for every message.

A capture is ``<name>.ami`` (the bytes as received), ``<name>.ami.timing`` (one line per
``recv()``: seconds since connect, byte offset, length), ``<name>.master.csv`` (the CDRs
Asterisk wrote) and ``<name>.plan.json`` (what the test driver did).

A message's ``received_at`` is the time of the ``recv()`` that delivered its last byte,
as an adapter would see it. The timing file is relative to the connect, so it is
anchored in absolute time with the channels' Uniqueids: ``1795401185.0`` names the epoch
second the channel was created, just before its ``Newchannel`` was received. Every
Newchannel bounds the connect time to a one-second window; their intersection is narrow,
and its middle is the anchor (CDR times, in UTC, then agree to within a second).
"""

from __future__ import annotations

import csv
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from callpool.pbx.assembly.cdr import CdrRecord, parse_master_csv_row
from callpool.pbx.assembly.events import AmiMessage, FrameSplitter, MalformedFrame

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "ami"
SINGLE_CALL_CAPTURES = (
    "answered",
    "answered-caller-hangup",
    "short-answered",
    "missed-caller-hangup",
    "noanswer-timeout",
    "busy",
    "queue-answered",
    "queue-abandoned",
    "queue-timeout",
    "ringgroup-answered",
    "callback",
    "callback-noanswer",
    "internal",
    "transfer",
    "repeat-caller",
    "local-cdr-raw",
    "cel-answered",
)
MIXED_CAPTURES = ("mixed-01", "mixed-02", "mixed-04", "mixed-05")
ALL_CAPTURES = SINGLE_CALL_CAPTURES + MIXED_CAPTURES

Event = tuple[AmiMessage, datetime]


@dataclass(frozen=True)
class Capture:
    name: str
    data: bytes
    connected_at: datetime
    events: tuple[Event, ...]  # every message, parsed from the bytes in one piece
    master: tuple[CdrRecord, ...]
    plan: dict[str, Any]

    def master_for(self, linkedid: str) -> list[CdrRecord]:
        return [cdr for cdr in self.master if cdr.linkedid == linkedid]


@cache
def load_capture(name: str) -> Capture:
    data = (FIXTURES / f"{name}.ami").read_bytes()
    chunks = _read_timing(FIXTURES / f"{name}.ami.timing")
    splitter = FrameSplitter()
    messages = [m for m in splitter.feed(data) if not isinstance(m, MalformedFrame)]
    offsets = _frame_end_offsets(data)
    assert len(offsets) == len(messages), name
    seconds = [_chunk_seconds(chunks, end) for end in offsets]
    connected_at = _anchor(messages, seconds)
    events = tuple(
        (msg, connected_at + timedelta(seconds=s)) for msg, s in zip(messages, seconds, strict=True)
    )
    with (FIXTURES / f"{name}.master.csv").open(newline="") as f:
        master = tuple(parse_master_csv_row(row, UTC) for row in csv.reader(f))
    plan = json.loads((FIXTURES / f"{name}.plan.json").read_text())
    return Capture(name, data, connected_at, events, master, plan)


def random_chunks(data: bytes, seed: int, max_size: int = 3000) -> Iterator[bytes]:
    """The bytes cut at random places (sizes 1..max_size)."""
    rng = random.Random(seed)
    pos = 0
    while pos < len(data):
        size = rng.randint(1, max_size)
        yield data[pos : pos + size]
        pos += size


def parse_in_chunks(data: bytes, seed: int, max_size: int = 3000) -> list[AmiMessage]:
    splitter = FrameSplitter()
    out: list[AmiMessage] = []
    for chunk in random_chunks(data, seed, max_size):
        for item in splitter.feed(chunk):
            assert not isinstance(item, MalformedFrame), item
            out.append(item)
    return out


def _read_timing(path: Path) -> list[tuple[float, int, int]]:
    with path.open(newline="") as f:
        rows = list(csv.reader(f))[1:]
    return [(float(s), int(off), int(length)) for s, off, length in rows]


def _frame_end_offsets(data: bytes) -> list[int]:
    pos = data.index(b"\r\n") + 2  # after the banner line
    ends = []
    while (end := data.find(b"\r\n\r\n", pos)) >= 0:
        ends.append(end + 3)
        pos = end + 4
    return ends


def _chunk_seconds(chunks: list[tuple[float, int, int]], offset: int) -> float:
    for seconds, start, length in chunks:
        if start <= offset < start + length:
            return seconds
    raise AssertionError(f"byte {offset} is in no recv() chunk")


def _anchor(messages: list[AmiMessage], seconds: list[float]) -> datetime:
    low, high = float("-inf"), float("inf")
    for msg, s in zip(messages, seconds, strict=True):
        if msg.event == "Newchannel":
            created = int(msg["Uniqueid"].split(".")[0])
            low, high = max(low, created - s), min(high, created + 1 - s)
    assert low <= high + 0.05, (low, high)
    return datetime.fromtimestamp((low + min(high, low + 1)) / 2, UTC)
