"""Calls in progress, as the live page shows them: who is ringing, who is talking, now.

Pure. The assembler folds events into ``CallState``s; :func:`live_call` reads one as a
:class:`LiveCall` (None once every channel hung up, or while the call is not one we
track). :class:`LiveBoard` remembers what was last published and turns "these calls were
touched" into the few rows to upsert and delete: a call changes its live view about three
times (ringing, talking, gone), however many events it has, so publishing the changes
costs next to nothing beside the raw events the listener writes anyway.

The board checks every call it has published at each turn, not only the touched ones: a
call can end without an event of its own (found gone after a reconnect, forced at
shutdown), and it must leave the page then too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from callpool.pbx.assembly.call_state import CallState
from callpool.pbx.assembly.dialplan import PbxDialplan

__all__ = ["AGENT_MAX", "LiveBoard", "LiveCall", "LiveChanges", "LiveState", "live_call"]

LiveState = Literal["ringing", "talking"]
AGENT_MAX = 64


@dataclass(frozen=True, slots=True)
class LiveCall:
    """One call in progress. ``agent``: who is talking, or who is being rung (comma-separated)."""

    pbx: str
    linkedid: str
    direction: str
    state: LiveState
    caller_number: str
    dialled_number: str
    agent: str | None
    started_at: datetime
    answered_at: datetime | None


@dataclass(frozen=True, slots=True)
class LiveChanges:
    upserts: tuple[LiveCall, ...] = ()
    ended: tuple[str, ...] = ()  # linkedids

    def __bool__(self) -> bool:
        return bool(self.upserts or self.ended)


def live_call(call: CallState, dialplan: PbxDialplan) -> LiveCall | None:
    """The call as the live page shows it, or None when it is over or not a call we track."""
    if call.direction is None or call.live <= 0 or call.emitted_at is not None:
        return None
    if call.answered_at is not None:
        state: LiveState = "talking"
        agent = call.transfers[-1] if call.transfers else call.answered_by
    else:
        state = "ringing"
        rung = sorted(
            {
                ext
                for uniqueid in call.ringing
                if (leg := call.legs.get(uniqueid)) is not None
                and (ext := dialplan.agent_extension(leg.channel)) is not None
            }
        )
        agent = ",".join(rung) or None
    return LiveCall(
        pbx=dialplan.pbx,
        linkedid=call.linkedid,
        direction=call.direction,
        state=state,
        caller_number=call.caller_number,
        dialled_number=call.dialled_number,
        agent=agent[:AGENT_MAX] if agent else None,
        started_at=call.started_at,
        answered_at=call.answered_at,
    )


@dataclass
class LiveBoard:
    """What one PBX's listener has published, and the calls touched since."""

    dialplan: PbxDialplan
    published: dict[str, LiveCall] = field(default_factory=dict)
    touched: set[str] = field(default_factory=set)
    # A cheap fingerprint of each call's live view, to tell a change worth publishing at
    # once (it rings, is answered, ends) from the many events that change nothing shown.
    _shapes: dict[str, tuple[bool, int]] = field(default_factory=dict)

    def touch(self, call: CallState) -> bool:
        """Note that an event changed ``call``; True if what the page shows may change."""
        self.touched.add(call.linkedid)
        up = call.direction is not None and call.live > 0 and call.emitted_at is None
        shape = (call.answered_at is not None, len(call.ringing))
        if not up:
            return self._shapes.pop(call.linkedid, None) is not None
        if self._shapes.get(call.linkedid) == shape:
            return False
        self._shapes[call.linkedid] = shape
        return True

    def take_changes(self, calls: Mapping[str, CallState]) -> LiveChanges:
        """What changed since the last confirmed publication (``calls``: by linkedid)."""
        if not self.touched and not self.published:
            return LiveChanges()
        upserts: list[LiveCall] = []
        ended: list[str] = []
        for linkedid in self.touched | self.published.keys():
            state = calls.get(linkedid)
            now = live_call(state, self.dialplan) if state is not None else None
            before = self.published.get(linkedid)
            if now is None:
                if before is not None:
                    ended.append(linkedid)
            elif now != before:
                upserts.append(now)
        self.touched = set()
        return LiveChanges(tuple(upserts), tuple(ended))

    def confirm(self, changes: LiveChanges) -> None:
        """The changes are stored: they are what the page shows now."""
        for call in changes.upserts:
            self.published[call.linkedid] = call
        for linkedid in changes.ended:
            self.published.pop(linkedid, None)

    def put_back(self, changes: LiveChanges) -> None:
        """Storing failed: look at these calls again next time."""
        self.touched.update(call.linkedid for call in changes.upserts)
        self.touched.update(changes.ended)

    def forget_all(self) -> None:
        """The stored rows were cleared (a new listening session): nothing is published."""
        self.published.clear()
        self.touched.clear()
        self._shapes.clear()
