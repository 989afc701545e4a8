"""One call while it is being assembled, and the rules that turn it into an ``AssembledCall``.

``CallState`` is the fold state of one linkedid: ``calls.CallAssembler`` updates it from
channel events and attaches CDRs; ``summarize_call`` reads it once the call is over.
The rules, in the words of the captures' README:

- **answered** means a *person* answered: a real ``Dial`` (one with a calling channel,
  not the ``Originate``'s own dial) ended ``ANSWER``. For an inbound call that is the
  agent; for a call-back it is the customer, never the agent's own phone, so a
  call-back nobody picked up stays unanswered even though its CDR says ``billsec > 0``.
- **abandoned**: the caller's side hung up while still waiting (a ``HangupRequest`` on
  the caller's leg while a dial or queue was ringing, or before any dial ended).
- **busy**: a dial ended ``BUSY``; **failed**: ``CHANUNAVAIL``/``CONGESTION``, or the PBX
  ended the call without dialling anyone; **no_answer**: the PBX gave up (a ``Dial`` or
  ``Queue`` timeout), whatever the ring rounds: one linkedid is one call.
- Times come from when events were received (events carry no timestamp). ``wait`` runs
  from the start of an inbound call (from the first dial for outbound/internal calls,
  where the agent's own phone set-up is not waiting) until a person answered, or until
  the end when nobody did. ``talk`` is the time a person's leg spent bridged, overlaps
  counted once. Both are truncated to whole seconds, as Asterisk's ``billsec`` is.
- **end markers**: ``end_reason`` is None when the call's hangups were seen. Otherwise
  (:data:`EndReason`): ``cdr``, it ended while callpool was not listening and the PBX's
  CDRs gave the end; ``pbx_lost``, the PBX went down with the call up (no CDR is
  written then), ended at the moment the link was lost; ``listener_down``, it ended while
  callpool was not listening and no CDR said when, ended at the last moment callpool
  knew it up; ``stale``, no event for hours (its hangups were lost), ended at its last
  event. ``end_estimated`` is true for the last three: the end is callpool's estimate.
  A call still ringing when the PBX went down is not *abandoned*: the caller did not
  hang up.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from callpool.pbx.assembly.cdr import CdrRecord
from callpool.pbx.assembly.names import DIAL_BUSY, DIAL_CHANUNAVAIL, DIAL_CONGESTION

__all__ = [
    "ESTIMATED_ENDS",
    "AssembledCall",
    "CallState",
    "Direction",
    "EndReason",
    "Leg",
    "Outcome",
    "summarize_call",
]

Direction = Literal["inbound", "outbound", "internal"]
Outcome = Literal["answered", "no_answer", "busy", "abandoned", "failed"]
EndReason = Literal["cdr", "pbx_lost", "listener_down", "stale"]
# The reasons whose end time is callpool's estimate, not the PBX's.
ESTIMATED_ENDS: frozenset[str] = frozenset({"pbx_lost", "listener_down", "stale"})


@dataclass(frozen=True, slots=True)
class AssembledCall:
    """A finished call, derived purely from AMI events (and the CDRs Asterisk posted).

    ``caller_number`` is the customer for inbound calls and the agent's extension for
    outbound and internal ones; ``dialled_number`` is the tracking number (DID) for
    inbound calls, else the number the agent dialled. ``answered_by`` is the agent who
    answered first (None for outbound calls, where the customer answers);
    ``transfers`` the agents the call went to after that; ``missed_by`` the agents whose
    phone rang for the call and who never answered it. ``cdrs`` carry the call's
    linkedid, filled in by the assembler.
    """

    pbx: str
    linkedid: str
    uniqueid: str
    direction: Direction
    caller_number: str
    dialled_number: str
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime
    wait_seconds: int
    talk_seconds: int
    outcome: Outcome
    answered_by: str | None
    transfers: tuple[str, ...]
    cdrs: tuple[CdrRecord, ...]
    # The Q.850 cause of the customer's leg's Hangup (failure reasons in the metrics).
    hangup_cause: int | None = None
    end_reason: EndReason | None = None
    missed_by: tuple[str, ...] = ()

    @property
    def end_estimated(self) -> bool:
        return self.end_reason in ESTIMATED_ENDS


@dataclass(slots=True)
class Leg:
    """One channel of the call."""

    uniqueid: str
    channel: str
    created_at: datetime
    hung_up_at: datetime | None = None
    bridged_since: datetime | None = None
    bridged: list[tuple[datetime, datetime]] = field(default_factory=list)
    # The adapter's sequence number of the last event that named this channel: recovery
    # after a login leaves alone a channel named since then (see ``hang_up_missing``).
    last_seq: int = 0

    def enter_bridge(self, at: datetime) -> None:
        if self.bridged_since is None:
            self.bridged_since = at

    def leave_bridge(self, at: datetime) -> None:
        if self.bridged_since is not None:
            self.bridged.append((self.bridged_since, max(at, self.bridged_since)))
            self.bridged_since = None


@dataclass(slots=True)
class CallState:
    """Everything known so far about one linkedid."""

    linkedid: str
    first_uniqueid: str
    started_at: datetime
    saw_start: bool
    legs: dict[str, Leg] = field(default_factory=dict)
    live: int = 0
    last_event_at: datetime | None = None
    last_hangup_at: datetime | None = None
    direction: Direction | None = None
    caller_leg: str | None = None
    caller_number: str = ""
    dialled_number: str = ""
    dial_started_at: datetime | None = None
    ringing: set[str] = field(default_factory=set)
    in_queue: bool = False
    dial_concluded: bool = False
    dial_statuses: set[str] = field(default_factory=set)
    answered_at: datetime | None = None
    answered_by: str | None = None
    transfers: list[str] = field(default_factory=list)
    rang_agents: list[str] = field(default_factory=list)  # in the order they first rang
    person_legs: set[str] = field(default_factory=set)
    abandoned: bool = False
    hangup_cause: int | None = None
    cdrs: list[CdrRecord] = field(default_factory=list)
    emitted_at: datetime | None = None
    summary: AssembledCall | None = None  # as last emitted
    end_reason: EndReason | None = None
    # The adapter's sequence number of the call's first event: its journal keeps every
    # event from there on until the call is written and no longer held here.
    first_seq: int = 0

    @property
    def is_waiting(self) -> bool:
        """Nobody has answered and the caller is still being put through."""
        return self.answered_at is None and (
            bool(self.ringing) or self.in_queue or not self.dial_concluded
        )

    def add_leg(self, uniqueid: str, channel: str, at: datetime) -> Leg:
        leg = self.legs.get(uniqueid)
        if leg is None:
            leg = self.legs[uniqueid] = Leg(uniqueid, channel, at)
            self.live += 1
        return leg

    def hang_up(self, leg: Leg, at: datetime) -> None:
        if leg.hung_up_at is None:
            leg.hung_up_at = at
            leg.leave_bridge(at)
            self.live -= 1
            self.last_hangup_at = at

    def person_answered(self, uniqueid: str, agent: str | None, at: datetime) -> None:
        self.person_legs.add(uniqueid)
        if self.answered_at is None:
            self.answered_at = at
            self.answered_by = agent
        elif agent is not None and agent != self.answered_by:
            self.add_transfer(agent)

    def add_transfer(self, target: str) -> None:
        if target and target != self.answered_by and target not in self.transfers:
            self.transfers.append(target)

    def add_cdr(self, cdr: CdrRecord) -> bool:
        """Attach a CDR unless it is already there (a replayed event); True if new."""
        if cdr in self.cdrs:
            return False
        self.cdrs.append(cdr)
        return True


def summarize_call(call: CallState, pbx: str) -> AssembledCall | None:
    """The call as it stands, or None if nothing in it is a call we track."""
    if call.direction is None:
        return None
    if call.live == 0 and call.last_hangup_at is not None:
        ended_at = call.last_hangup_at
    else:  # finished by force: only what was seen
        ended_at = call.last_event_at or call.started_at
    started_at = call.started_at
    if not call.saw_start and call.cdrs:
        # Joined mid-call (e.g. after a reconnect): the PBX's own start time is better.
        started_at = min(started_at, *(cdr.start for cdr in call.cdrs))
    wait_from = started_at
    if call.direction != "inbound" and call.dial_started_at is not None:
        wait_from = call.dial_started_at
    wait_until = call.answered_at or ended_at
    return AssembledCall(
        pbx=pbx,
        linkedid=call.linkedid,
        uniqueid=call.first_uniqueid,
        direction=call.direction,
        caller_number=call.caller_number,
        dialled_number=call.dialled_number,
        started_at=started_at,
        answered_at=call.answered_at,
        ended_at=ended_at,
        wait_seconds=_whole_seconds(wait_until - wait_from),
        talk_seconds=_whole_seconds(_talk_time(call, ended_at)),
        outcome=_outcome(call),
        answered_by=call.answered_by,
        transfers=tuple(call.transfers),
        cdrs=tuple(call.cdrs),
        hangup_cause=call.hangup_cause,
        end_reason=call.end_reason,
        missed_by=missed_by(call.rang_agents, call.answered_by, call.transfers)
        if call.direction == "inbound"
        else (),
    )


def missed_by(rang: Iterable[str], answered_by: str | None, took: Iterable[str]) -> tuple[str, ...]:
    """The agents who rang for the call and never answered it (nor took it transferred)."""
    answered = {answered_by, *took}
    return tuple(dict.fromkeys(agent for agent in rang if agent not in answered))


def _outcome(call: CallState) -> Outcome:
    if call.answered_at is not None:
        return "answered"
    if call.abandoned:
        return "abandoned"
    if DIAL_BUSY in call.dial_statuses:
        return "busy"
    if call.dial_statuses & {DIAL_CHANUNAVAIL, DIAL_CONGESTION}:
        return "failed"
    if call.dial_started_at is None:
        return "failed"  # the PBX hung up without ringing anyone
    return "no_answer"


def _talk_time(call: CallState, ended_at: datetime) -> timedelta:
    intervals: list[tuple[datetime, datetime]] = []
    for uniqueid in call.person_legs:
        leg = call.legs.get(uniqueid)
        if leg is None:
            continue
        intervals.extend(leg.bridged)
        if leg.bridged_since is not None:  # still bridged when forced to finish
            intervals.append((leg.bridged_since, max(ended_at, leg.bridged_since)))
    total = timedelta()
    current_start: datetime | None = None
    current_end: datetime | None = None
    for start, end in sorted(intervals):
        if current_end is None or current_start is None or start > current_end:
            if current_start is not None and current_end is not None:
                total += current_end - current_start
            current_start, current_end = start, end
        else:
            current_end = max(current_end, end)
    if current_start is not None and current_end is not None:
        total += current_end - current_start
    return total


def _whole_seconds(span: timedelta) -> int:
    return max(0, int(span.total_seconds()))
