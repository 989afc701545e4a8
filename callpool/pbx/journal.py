"""A local, durable, append-only journal of the AMI events received.

AMI has no replay: what the listener has read but not yet written to the database is
lost if the process dies. So every event is appended here first, and the listener
``commit``\\ s a sequence number once everything up to it is safely in the database. After
a restart, :meth:`Journal.replay` yields what was journalled but not committed.

Files, in one directory:

- ``segment-<first seq, 12 digits>.jsonl``: one JSON object a line,
  ``{"seq": 1, "pbx": "main", "received_at": 1795401185.25, "headers": {...}}``
  (``ensure_ascii=False``, UTF-8). A new segment starts when the current one passes
  ``segment_bytes``; segments whose records are all committed are deleted.
- ``checkpoint``: the highest committed sequence number (written to a temporary file,
  fsynced, renamed).

Durability window: ``append`` only buffers (cheap, no I/O); ``flush`` writes the buffer
and fsyncs. With :meth:`start` a background task flushes every ``flush_interval`` seconds
and as soon as ``flush_records`` are waiting, so a crash loses at most the events of the
last ``flush_interval`` (or ``flush_records`` events). The flush runs in a worker thread,
off the event loop. A committed sequence number reaches the disk with the next flush:
after a crash a few records already in the database may be replayed again, which is fine
because writing the same events twice gives the same rows.

A crash can leave a torn last line; it is ignored when the journal is opened, counted in
``torn_records``, and cut off the file. A line that does not parse elsewhere is skipped
and counted in ``corrupt_records``. Neither raises.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("callpool.journal")

Headers = dict[str, str | list[str]]
_PREFIX, _SUFFIX = "segment-", ".jsonl"
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


@dataclass(frozen=True)
class JournalRecord:
    seq: int
    pbx: str
    received_at: float
    headers: Headers


@dataclass
class _Segment:
    path: Path
    first_seq: int
    last_seq: int
    size: int


class Journal:
    """Open (and recover) the journal in ``directory``; create it if needed."""

    def __init__(
        self,
        directory: Path | str,
        *,
        segment_bytes: int = 64 * 1024 * 1024,
        flush_interval: float = 0.2,
        flush_records: int = 1000,
    ) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.segment_bytes = segment_bytes
        self.flush_interval = flush_interval
        self.flush_records = flush_records
        self.torn_records = 0
        self.corrupt_records = 0
        self._buffer: list[str] = []  # lines, encoded to UTF-8 by the flush
        self._buffer_last_seq = 0
        self._io_lock = threading.Lock()
        self._flush_lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._flusher: asyncio.Task[None] | None = None
        self._segments: list[_Segment] = []
        self.committed_seq = self._read_checkpoint()
        self._written_checkpoint = self.committed_seq
        self._recover()
        last = self._segments[-1].last_seq if self._segments else 0
        self.last_seq = max(last, self.committed_seq)
        self.durable_seq = self.last_seq

    # --- writing -----------------------------------------------------------------------
    def append(self, pbx: str, received_at: float, headers: Headers) -> int:
        """Buffer one event; its sequence number. Durable after the next flush."""
        self.last_seq = seq = self.last_seq + 1
        # The line json.dumps would write for {"seq", "pbx", "received_at", "headers"},
        # with one encoder built once (this runs for every event the listener keeps).
        self._buffer.append(
            f'{{"seq":{seq},"pbx":{_encode(pbx)},"received_at":{_encode(received_at)},'
            f'"headers":{_encode(headers)}}}\n'
        )
        self._buffer_last_seq = seq
        if len(self._buffer) >= self.flush_records:
            self._wake.set()
        return self.last_seq

    def skip_to(self, seq: int) -> None:
        """Number the next record after ``seq`` (e.g. the database's highest for this PBX).

        Guards against reusing numbers when the journal directory was lost or another
        machine's listener wrote events meanwhile. Call it before appending anything.
        """
        if seq > self.last_seq:
            self.last_seq = self._buffer_last_seq = seq
            self.committed_seq = max(self.committed_seq, seq)

    def commit(self, seq: int) -> None:
        """Everything up to ``seq`` is in the database (persisted with the next flush)."""
        self.committed_seq = max(self.committed_seq, min(seq, self.last_seq))

    def flush(self) -> None:
        """Write and fsync what is buffered, the checkpoint, and drop committed segments.

        Synchronous: for tests and shutdown. Don't call it while :meth:`start`'s flusher runs
        (use ``aflush``), or two batches could reach the file out of order.
        """
        lines, last = self._take()
        self._write(lines, last, self.committed_seq)

    async def aflush(self) -> None:
        """``flush`` in a worker thread."""
        async with self._flush_lock:
            lines, last = self._take()
            await asyncio.to_thread(self._write, lines, last, self.committed_seq)

    @property
    def pending(self) -> int:
        """Records appended but not yet durable."""
        return len(self._buffer)

    # --- background flushing -----------------------------------------------------------
    def start(self) -> None:
        """Flush in the background (call inside the running loop)."""
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush_loop(), name="journal-flusher")

    async def close(self) -> None:
        """Stop the background flusher and flush one last time."""
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
            self._flusher = None
        await self.aflush()

    async def _flush_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.flush_interval)
            self._wake.clear()
            try:
                await self.aflush()
            except OSError:
                log.exception("journal %s: flush failed; will retry", self.directory)

    # --- reading -----------------------------------------------------------------------
    def replay(self) -> Iterator[JournalRecord]:
        """The durable records after the committed sequence number, in order."""
        for segment in list(self._segments):
            if segment.last_seq <= self.committed_seq:
                continue
            for record in self._read_segment(segment.path, count=False)[0]:
                if record.seq > self.committed_seq:
                    yield record

    # --- internals ---------------------------------------------------------------------
    def _take(self) -> tuple[list[str], int]:
        lines, self._buffer = self._buffer, []
        return lines, self._buffer_last_seq

    def _write(self, lines: list[str], last_seq: int, committed: int) -> None:
        with self._io_lock:
            if lines:
                self._append_lines(lines, last_seq)
                self.durable_seq = max(self.durable_seq, last_seq)
            if committed != self._written_checkpoint:
                self._write_checkpoint(committed)
                self._written_checkpoint = committed
                self._drop_committed(committed)

    def _append_lines(self, lines: list[str], last_seq: int) -> None:
        first_seq = last_seq - len(lines) + 1
        current = self._segments[-1] if self._segments else None
        if current is None or current.size >= self.segment_bytes:
            current = _Segment(
                self.directory / f"{_PREFIX}{first_seq:012d}{_SUFFIX}", first_seq, 0, 0
            )
            self._segments.append(current)
        # "replace": a lone surrogate (never produced by the AMI adapter) must not make
        # every later flush fail.
        data = "".join(lines).encode("utf-8", "replace")
        with open(current.path, "ab") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        current.size += len(data)
        current.last_seq = last_seq
        if current.size == len(data):  # a new file: make its directory entry durable too
            self._fsync_directory()

    def _drop_committed(self, committed: int) -> None:
        for segment in list(self._segments[:-1]):
            if segment.last_seq <= committed:
                segment.path.unlink(missing_ok=True)
                self._segments.remove(segment)
        last = self._segments[-1] if self._segments else None
        if last is not None and last.last_seq <= committed and last.size >= self.segment_bytes:
            last.path.unlink(missing_ok=True)
            self._segments.remove(last)

    def _read_checkpoint(self) -> int:
        try:
            return int((self.directory / "checkpoint").read_text(encoding="ascii").strip() or 0)
        except FileNotFoundError:
            return 0
        except ValueError:
            log.error("journal %s: unreadable checkpoint, replaying everything", self.directory)
            return 0

    def _write_checkpoint(self, committed: int) -> None:
        tmp = self.directory / "checkpoint.tmp"
        with open(tmp, "w", encoding="ascii") as file:
            file.write(f"{committed}\n")
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, self.directory / "checkpoint")
        self._fsync_directory()

    def _fsync_directory(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def _recover(self) -> None:
        paths = sorted(self.directory.glob(f"{_PREFIX}*{_SUFFIX}"))
        for index, path in enumerate(paths):
            records, good_size = self._read_segment(path, count=True, last=index == len(paths) - 1)
            if good_size < path.stat().st_size:
                with open(path, "r+b") as file:  # cut the torn tail so appends start clean
                    file.truncate(good_size)
                    os.fsync(file.fileno())
            if not records:
                path.unlink()
                continue
            first = int(path.name[len(_PREFIX) : -len(_SUFFIX)])
            self._segments.append(_Segment(path, first, records[-1].seq, good_size))
        if self.torn_records or self.corrupt_records:
            log.warning(
                "journal %s: ignored %d torn and %d corrupt records",
                self.directory,
                self.torn_records,
                self.corrupt_records,
            )

    def _read_segment(
        self, path: Path, *, count: bool, last: bool = False
    ) -> tuple[list[JournalRecord], int]:
        """Records of one segment, and the size of its intact prefix."""
        data = path.read_bytes()
        records: list[JournalRecord] = []
        position = 0
        good_size = 0
        for line in data.splitlines(keepends=True):
            position += len(line)
            at_end = position == len(data)
            try:
                if not line.endswith(b"\n"):
                    raise ValueError("no newline")
                raw = json.loads(line)
                record = JournalRecord(
                    int(raw["seq"]), str(raw["pbx"]), float(raw["received_at"]), raw["headers"]
                )
            except (ValueError, KeyError, TypeError):
                if count and last and at_end:
                    self.torn_records += 1
                elif count:
                    self.corrupt_records += 1
                    good_size = position
                continue
            records.append(record)
            good_size = position
        return records, good_size
