"""Calls assembled from AMI events, purely: events in, finished calls out.

Channel events (``Newchannel``, ``NewCallerid``, ``DialBegin``/``DialEnd``,
``BridgeEnter``/``BridgeLeave``, ``HangupRequest``/``Hangup``, queue and transfer
events) tie channels to a linkedid, the PBX's id of one call, and say who was dialled,
who answered and when. ``Cdr`` events carry the PBX's own accounting but no linkedid;
their ``UniqueID`` (the CDR's party A channel) is looked up among the channels seen.

As in wazo-call-logd's ``cel_interpretor``, a table maps each event name to a small fold
function; every other event (``VarSet`` and ``Newexten`` are more than half the stream,
``OriginateResponse`` of other AMI users, ``CEL``...) costs one dictionary miss.

**When a call is complete.** A ``Cdr`` event is not an end-of-call marker: it often comes
before the last ``Hangup`` of its call, and sometimes after it, and how many CDRs a call
gets is not known in advance (a queue call has one per member per ring round). So a
call is emitted once every channel of its linkedid has hung up *and* a grace period
(2 s by default) has passed since the last hangup; Asterisk posts the CDRs within
milliseconds of the hangup, so they are in by then. The grace is checked against the
``received_at`` of each event fed, and by ``flush(now)`` which the adapter calls on a
timer. A ``Cdr`` (or a channel event) that still arrives after the call was emitted is
not lost: for ``retention`` (60 s) after emission the call is kept, and the late event
makes ``feed`` return the call again with the same linkedid. **A call returned again
supersedes the earlier one** (writers upsert on pbx + linkedid); a late event that
changes nothing is not returned. ``flush(now)`` also finishes calls silent for
``stale_after`` (12 h: talking produces no events, so only a long silence means lost
hangups), and ``flush(now, force=True)`` finishes every open call, e.g. at shutdown or
after the AMI link dropped; such calls end at their last event.

Raw events stay the source of truth: the calls can always be rebuilt from the journal
with ``assemble_calls``, which gives the latest version of each call.

No clock is read: the adapter passes the time it received each message. A malformed
event is skipped and counted in ``stats``; the assembler never raises on input.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from callpool.errors import AmiProtocolError
from callpool.pbx.assembly import names as n
from callpool.pbx.assembly.call_index import CallIndex
from callpool.pbx.assembly.call_state import AssembledCall, CallState, EndReason, summarize_call
from callpool.pbx.assembly.dialplan import PbxDialplan
from callpool.pbx.assembly.events import AmiMessage
from callpool.pbx.assembly.folds import FOLDS

__all__ = [
    "DEFAULT_CDR_GRACE",
    "DEFAULT_RETENTION",
    "DEFAULT_STALE_AFTER",
    "AssembledCall",
    "AssemblerStats",
    "CallAssembler",
    "PbxDialplan",
    "assemble_calls",
]

DEFAULT_CDR_GRACE = timedelta(seconds=2)
DEFAULT_RETENTION = timedelta(seconds=60)
# A call produces no events while its parties talk; only a much longer silence means
# that its hangups were lost.
DEFAULT_STALE_AFTER = timedelta(hours=12)


@dataclass(slots=True)
class AssemblerStats:
    """Counters for health checks and logs."""

    events: int = 0  # messages fed
    folded: int = 0  # messages that changed some call
    bad_events: int = 0  # skipped: missing ids, garbage values
    calls_emitted: int = 0
    calls_updated: int = 0  # emitted again after a late event
    untracked: int = 0  # linkedids that ended without being a call we track
    late_cdrs: int = 0  # Cdr events for a call already emitted
    orphan_cdrs: int = 0  # Cdr events for a channel not seen (yet)
    stale_calls: int = 0  # finished by flush after no event for stale_after
    recovered_hangups: int = 0  # channels found gone after a reconnect
    last_error: str = ""


class CallAssembler:
    """Folds AMI messages into calls. One instance per PBX connection history; not thread-safe.

    ``cdr_tz`` is the PBX's time zone (CDR times are local, without a zone);
    ``received_at`` values must be timezone-aware.
    """

    def __init__(
        self,
        dialplan: PbxDialplan | None = None,
        *,
        cdr_tz: tzinfo = UTC,
        cdr_grace: timedelta = DEFAULT_CDR_GRACE,
        retention: timedelta = DEFAULT_RETENTION,
        stale_after: timedelta = DEFAULT_STALE_AFTER,
    ) -> None:
        self.dialplan = dialplan or PbxDialplan()
        self.cdr_tz = cdr_tz
        self.cdr_grace = cdr_grace
        self.retention = retention
        self.stale_after = stale_after
        self.stats = AssemblerStats()
        self.index = CallIndex()
        self._closing: dict[str, CallState] = {}  # every channel hung up, grace running
        # When the closing calls are due, soonest first: (due, order, linkedid). An entry
        # whose call was reopened, emitted or closed again later is stale and skipped, so
        # an event costs O(1) instead of a walk over every closing call.
        self._due: list[tuple[datetime, int, str]] = []
        self._due_order = itertools.count()
        self._emitted: dict[str, CallState] = {}  # in emission order, kept for retention
        # The linkedid of the call the last message fed changed (None: it changed none),
        # so the adapter can publish calls in progress without searching for them.
        self.last_touched: str | None = None

    @property
    def open_calls(self) -> int:
        """Calls not emitted yet (for health checks)."""
        return len(self.index.calls) - len(self._emitted)

    def oldest_open_start(self) -> datetime | None:
        """When the longest-open call began (None when no call is open)."""
        return min(
            (c.started_at for c in self.index.calls.values() if c.emitted_at is None),
            default=None,
        )

    def oldest_seq(self) -> int | None:
        """The lowest ``seq`` of a call still held (open, or emitted within retention).

        An adapter that journals events may drop everything before it once the calls
        emitted so far are stored: replaying from there rebuilds every held call.
        """
        return min((call.first_seq for call in self.index.calls.values()), default=None)

    def feed(self, msg: AmiMessage, received_at: datetime, seq: int = 0) -> list[AssembledCall]:
        """Fold one message; return the calls it completed (or updated).

        ``seq`` is the adapter's number for the message (e.g. its journal position).
        """
        self.stats.events += 1
        self.index.seq = seq
        fold = FOLDS.get(msg.get(n.EVENT))
        done: list[AssembledCall] = []
        self.last_touched = None
        if fold is not None:
            try:
                call = fold(self, msg, received_at)
            except AmiProtocolError as exc:
                self.stats.bad_events += 1
                self.stats.last_error = f"{msg.event}: {exc}"
                call = None
            if call is not None:
                self.stats.folded += 1
                call.last_event_at = received_at
                self.last_touched = call.linkedid
                self._track_completion(call, received_at, done)
        if self._closing or self._emitted or self.index.orphans:
            self._finish_due(received_at, done)
        return done

    def flush(self, now: datetime, *, force: bool = False) -> list[AssembledCall]:
        """Calls finished by ``now``; the adapter calls this on a timer (say every second).

        Besides the calls whose grace has passed, this finishes *stale* calls: channels
        still up but no event for ``stale_after`` (their hangups were lost, e.g. while
        the AMI link was down). With ``force`` every open call is finished now, with what
        is known (it is taken to end at its last event).
        """
        done: list[AssembledCall] = []
        for call in list(self.index.calls.values()):
            if call.emitted_at is not None or call.linkedid in self._closing:
                continue
            stale = (call.last_event_at or call.started_at) + self.stale_after <= now
            if stale:
                self.stats.stale_calls += 1
                call.end_reason = "stale"
            if stale or force:
                self._emit(call, now, done)
        self._finish_due(now, done, force=force)
        return done

    def hang_up_missing(
        self,
        live: Collection[str],
        at: datetime,
        ended: Mapping[str, datetime] | None = None,
        reason: EndReason = "listener_down",
        *,
        named_after: int | None = None,
    ) -> list[AssembledCall]:
        """After a reconnect: channels of open calls not in ``live`` (the Uniqueids the PBX
        still has) ended while the link was down. They are hung up when the call's CDRs
        say it ended (``ended``, by linkedid, e.g. from Master.csv; end reason ``cdr``),
        else at ``at``, the moment the link was lost, with ``reason`` (``listener_down``,
        or ``pbx_lost`` when the PBX itself went down: then a caller still ringing did
        not abandon the call).

        With ``named_after`` (the ``seq`` of the last event fed before the new session's
        first), only channels known from before the gap are candidates: a channel named
        by a later event is left alone, whatever ``live`` says, because it began after
        the login or the PBX spoke of it since; it is up, or ends by its own ``Hangup``.
        (The PBX takes its list while events keep coming, so a channel newer than the
        list can be folded before the list is read.)

        Returns the calls this finishes at once (usually none: they wait out the CDR grace
        like any other, and ``flush`` emits them).
        """
        done: list[AssembledCall] = []
        for call in list(self.index.calls.values()):
            if call.emitted_at is not None or call.live == 0:
                continue
            cdr_end = (ended or {}).get(call.linkedid)
            when = at if cdr_end is None else cdr_end
            for leg in call.legs.values():
                if named_after is not None and leg.last_seq > named_after:
                    continue
                if leg.hung_up_at is None and leg.uniqueid not in live:
                    caller_gone = leg.uniqueid == call.caller_leg and call.answered_at is None
                    if caller_gone and (reason != "pbx_lost" or cdr_end is not None):
                        call.abandoned = call.abandoned or bool(call.ringing)
                    call.hang_up(leg, max(when, leg.created_at))
                    call.end_reason = reason if cdr_end is None else "cdr"
                    self.stats.recovered_hangups += 1
            if call.live == 0:
                self._track_completion(call, at, done)
        return done

    def _finish_due(self, now: datetime, done: list[AssembledCall], *, force: bool = False) -> None:
        if force:
            every, self._closing = self._closing, {}
            self._due.clear()
            for call in every.values():
                self._emit(call, now, done)
        due = self._due
        while due and due[0][0] <= now:
            when, _, linkedid = heapq.heappop(due)
            closing = self._closing.get(linkedid)
            if closing is None or closing.last_hangup_at is None:
                continue
            if closing.last_hangup_at + self.cdr_grace == when:
                del self._closing[linkedid]
                self._emit(closing, now, done)
        while self._emitted:
            oldest = next(iter(self._emitted.values()))
            if oldest.emitted_at is not None and oldest.emitted_at + self.retention > now:
                break
            del self._emitted[oldest.linkedid]
            self.index.forget(oldest)
        if self.index.orphans:
            self.index.drop_stale_orphans(now, self.retention)

    def _track_completion(self, call: CallState, at: datetime, done: list[AssembledCall]) -> None:
        if call.live > 0:
            self._closing.pop(call.linkedid, None)
            if call.emitted_at is not None:  # a channel joined a finished call: reopen it
                call.emitted_at = None
                self._emitted.pop(call.linkedid, None)
        elif call.emitted_at is not None:
            self._emit(call, at, done)  # a late CDR: the call again, now with it
        else:
            self._closing[call.linkedid] = call
            if call.last_hangup_at is not None:  # without a hangup time: only force ends it
                when = call.last_hangup_at + self.cdr_grace
                heapq.heappush(self._due, (when, next(self._due_order), call.linkedid))

    def _emit(self, call: CallState, at: datetime, done: list[AssembledCall]) -> None:
        again = call.emitted_at is not None
        call.emitted_at = at
        self._emitted.pop(call.linkedid, None)
        self._emitted[call.linkedid] = call  # (re)inserted last: retention counts from now
        assembled = summarize_call(call, self.dialplan.pbx)
        if assembled is None:
            if not again:
                self.stats.untracked += 1
            return
        if assembled == call.summary:
            return  # a late event that changed nothing
        call.summary = assembled
        if again:
            self.stats.calls_updated += 1
        else:
            self.stats.calls_emitted += 1
        done.append(assembled)


def assemble_calls(
    events: Iterable[tuple[AmiMessage, datetime]],
    dialplan: PbxDialplan | None = None,
    *,
    cdr_tz: tzinfo = UTC,
    cdr_grace: timedelta = DEFAULT_CDR_GRACE,
) -> list[AssembledCall]:
    """Every call in a recorded stream, the latest version of each, in completion order.

    Calls still open at the end are finished with what is known (``flush(force=True)``).
    """
    assembler = CallAssembler(dialplan, cdr_tz=cdr_tz, cdr_grace=cdr_grace)
    calls: dict[str, AssembledCall] = {}
    last: datetime | None = None
    for msg, received_at in events:
        last = received_at
        for call in assembler.feed(msg, received_at):
            calls.pop(call.linkedid, None)
            calls[call.linkedid] = call
    if last is not None:
        for call in assembler.flush(last + cdr_grace, force=True):
            calls.pop(call.linkedid, None)
            calls[call.linkedid] = call
    return list(calls.values())
