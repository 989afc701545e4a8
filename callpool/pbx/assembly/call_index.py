"""Which call a channel belongs to: calls by linkedid, channels by uniqueid.

Every Local channel half, agent leg and transfer target has its own ``Uniqueid`` but
shares the ``Linkedid`` of the call's first channel. ``Cdr`` events carry only the
``UniqueID`` of their party A, so the index maps each uniqueid seen to its call. A CDR
whose channel was never seen is held as an *orphan* until that channel shows up (then
it is attached) or the retention time runs out.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from callpool.errors import AmiProtocolError
from callpool.pbx.assembly import names as n
from callpool.pbx.assembly.call_state import CallState, Leg
from callpool.pbx.assembly.cdr import CdrRecord
from callpool.pbx.assembly.events import AmiMessage

__all__ = ["BadEvent", "CallIndex"]


class BadEvent(AmiProtocolError):
    """An event that cannot be folded (a missing id): skipped and counted."""


class CallIndex:
    """Open and recently finished calls, and CDRs waiting for their channel."""

    def __init__(self) -> None:
        self.calls: dict[str, CallState] = {}  # by linkedid
        self.by_uniqueid: dict[str, CallState] = {}
        self.orphans: dict[str, list[tuple[CdrRecord, datetime]]] = {}
        self.seq = 0  # the adapter's sequence number of the event being folded

    def open(self, linkedid: str, uniqueid: str, at: datetime, *, saw_start: bool) -> CallState:
        """The call of ``linkedid``, created with ``uniqueid`` as its first channel if new."""
        call = self.calls.get(linkedid)
        if call is None:
            call = self.calls[linkedid] = CallState(linkedid, uniqueid, at, saw_start)
            call.first_seq = self.seq
        return call

    def leg(self, msg: AmiMessage, at: datetime, *, prefix: str = "") -> tuple[CallState, Leg]:
        """The call and leg a channel event is about (``prefix``: e.g. ``Transferee``).

        A channel not seen before is adopted into its linkedid's call: after a reconnect
        the listener joins calls in the middle.
        """
        uniqueid = msg.get(prefix + n.UNIQUEID)
        if not uniqueid:
            raise BadEvent(f"no {prefix}{n.UNIQUEID}")
        call = self.by_uniqueid.get(uniqueid)
        if call is None:
            linkedid = msg.get(prefix + n.LINKEDID)
            if not linkedid:
                raise BadEvent(f"unknown channel {uniqueid} and no {prefix}{n.LINKEDID}")
            call = self.open(linkedid, uniqueid, at, saw_start=False)
        leg = call.legs.get(uniqueid)
        if leg is None:
            leg = call.add_leg(uniqueid, msg.get(prefix + n.CHANNEL), at)
            self.by_uniqueid[uniqueid] = call
            for cdr, _ in self.orphans.pop(uniqueid, []):
                call.add_cdr(replace(cdr, linkedid=call.linkedid))
        leg.last_seq = self.seq
        return call, leg

    def hold_orphan(self, cdr: CdrRecord, at: datetime) -> None:
        self.orphans.setdefault(cdr.uniqueid, []).append((cdr, at))

    def forget(self, call: CallState) -> None:
        self.calls.pop(call.linkedid, None)
        for uniqueid in call.legs:
            if self.by_uniqueid.get(uniqueid) is call:
                del self.by_uniqueid[uniqueid]

    def drop_stale_orphans(self, now: datetime, retention: timedelta) -> None:
        for uniqueid, held in list(self.orphans.items()):
            if held[-1][1] + retention <= now:
                del self.orphans[uniqueid]
