"""The assembly side of a listener: events into the call assembler, calls out to be written.

A :class:`CallFeed` owns the :class:`CallAssembler` of one PBX and what waits for the
writer: the raw events folded since the last write, the calls finished (or amended)
since then, the newest version of each, and the calls in progress whose live view may
have changed (:class:`~callpool.pbx.assembly.live.LiveBoard`, for the live page). It
also knows the journal's commit point: after a write, everything up to
``min(last folded seq, first seq of the oldest held call - 1)`` is in the database or
can be rebuilt from what the journal still keeps.

``session_seq`` is the seq of the last event folded before the current AMI session's
first event (set by :meth:`CallFeed.start_session`, which the connection calls in
stream order): recovery after a login only ends channels known up to there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from callpool.pbx.assembly import names as n
from callpool.pbx.assembly.call_state import AssembledCall
from callpool.pbx.assembly.calls import CallAssembler
from callpool.pbx.assembly.dialplan import PbxDialplan
from callpool.pbx.assembly.events import AmiMessage
from callpool.pbx.assembly.live import LiveBoard, LiveChanges
from callpool.pbx.call_store import RawEvent
from callpool.settings import PbxSettings

# Raw events queued past this wake the writer before its next turn.
WAKE_AFTER_EVENTS = 5000


def dialplan_for(pbx: PbxSettings) -> PbxDialplan:
    return PbxDialplan(
        pbx=pbx.name,
        inbound_contexts=frozenset(pbx.inbound_contexts),
        internal_contexts=frozenset(pbx.internal_contexts),
        agent_channel_patterns=pbx.agent_channel_patterns,
        device_channel_patterns=pbx.device_channel_patterns,
    )


class CallFeed:
    """Folds messages into calls; holds what the writer has not taken yet."""

    def __init__(self, pbx: PbxSettings, wake_writer: Callable[[], None]) -> None:
        self.pbx = pbx
        self.dialplan = dialplan_for(pbx)
        self.tz = ZoneInfo(pbx.timezone)
        self._wake_writer = wake_writer
        self.assembler = self._new_assembler()
        self.live = LiveBoard(self.dialplan)
        self.events: list[RawEvent] = []
        self.calls: dict[str, AssembledCall] = {}
        self.fed_seq = 0
        self.session_seq = 0

    def _new_assembler(self) -> CallAssembler:
        return CallAssembler(self.dialplan, cdr_tz=self.tz)

    def reset(self) -> None:
        """A fresh assembler, for a new listening session (the journal replays into it)."""
        self.assembler = self._new_assembler()

    def start_session(self) -> None:
        """A new AMI session begins: everything folded so far is from before its login."""
        self.session_seq = self.fed_seq

    def fold(self, msg: AmiMessage, received_at: float, seq: int) -> None:
        at = datetime.fromtimestamp(received_at, UTC)
        for call in self.assembler.feed(msg, at, seq):
            self.calls[call.linkedid] = call
        touched = self.assembler.last_touched
        state = self.assembler.index.calls.get(touched) if touched is not None else None
        if state is not None and self.live.touch(state):
            self._wake_writer()  # a call rang, was answered or ended: show it now
        name = msg.get(n.EVENT, "")
        self.events.append(RawEvent(seq, at, name[:64], msg.get(n.LINKEDID), msg.frame_text()))
        self.fed_seq = seq
        if len(self.events) >= WAKE_AFTER_EVENTS:
            self._wake_writer()

    def add_calls(self, calls: Iterable[AssembledCall], *, keep_newer: bool = False) -> None:
        """Calls finished outside ``fold`` (recovery); ``keep_newer`` keeps a queued version."""
        for call in calls:
            if keep_newer:
                self.calls.setdefault(call.linkedid, call)
            else:
                self.calls[call.linkedid] = call

    def finish_due(self, now: datetime) -> None:
        self.add_calls(self.assembler.flush(now))

    def live_changes(self) -> LiveChanges:
        """Calls in progress whose live view changed since it was last stored."""
        return self.live.take_changes(self.assembler.index.calls)

    def commit_point(self) -> int:
        """The highest seq the journal may drop once what is queued now is written."""
        oldest = self.assembler.oldest_seq()
        return self.fed_seq if oldest is None else min(self.fed_seq, oldest - 1)

    def take(self) -> tuple[list[RawEvent], dict[str, AssembledCall]]:
        events, self.events = self.events, []
        calls, self.calls = self.calls, {}
        return events, calls

    def put_back(self, events: list[RawEvent], calls: dict[str, AssembledCall]) -> None:
        """A write failed: queue it again, before what came meanwhile (newer calls win)."""
        self.events = events + self.events
        self.add_calls(calls.values(), keep_newer=True)
