"""How each AMI event changes a call: a table from event name to a small fold function.

The shape of wazo-call-logd's ``cel_interpretor``: a fold takes a narrow
``FoldContext`` (the call index, the dialplan, the CDR time zone and two counters; the
assembler is one), the message and the time it was received,
updates one ``CallState`` and returns it (or None when the event changed nothing).
Events not in ``FOLDS`` are ignored by the assembler with one dictionary miss.

Why these events:

- ``Newchannel``/``NewCallerid``: the channels of a linkedid; the inbound leg's ``Exten``
  is the dialled tracking number and its caller id arrives late, in ``NewCallerid``.
- ``DialBegin``/``DialEnd`` with a ``Channel`` are real dials (the ``Originate``'s own dial
  has only a ``DestChannel``): who was rung, who answered (``ANSWER``), or why not
  (``BUSY``, ``NOANSWER``...; ``CANCEL`` only says the ringing stopped).
- ``BridgeEnter``/``BridgeLeave``: talk time of the legs that answered.
- ``HangupRequest`` on the caller's leg: the caller's side hung up (the PBX's own
  hang-ups are ``SoftHangupRequest``). ``Hangup``: a channel is gone.
- ``QueueCallerJoin``/``QueueCallerLeave``: the caller waits in a queue between rounds.
- ``BlindTransfer``: who the call was transferred to.
- ``Cdr``: Asterisk's accounting, attached to the call of its party A channel.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, tzinfo
from typing import Protocol

from callpool.pbx.assembly import names as n
from callpool.pbx.assembly.call_index import BadEvent, CallIndex
from callpool.pbx.assembly.call_state import CallState
from callpool.pbx.assembly.cdr import cdr_from_event
from callpool.pbx.assembly.dialplan import PbxDialplan
from callpool.pbx.assembly.events import AmiMessage

__all__ = ["FOLDS", "Fold", "FoldContext"]


class CdrCounters(Protocol):
    late_cdrs: int
    orphan_cdrs: int


class FoldContext(Protocol):
    """What a fold may read and change: all it needs of the assembler, and no more."""

    @property
    def index(self) -> CallIndex: ...
    @property
    def dialplan(self) -> PbxDialplan: ...
    @property
    def cdr_tz(self) -> tzinfo: ...
    @property
    def stats(self) -> CdrCounters: ...


Fold = Callable[[FoldContext, AmiMessage, datetime], CallState | None]


def _number(value: str) -> str:
    return "" if value == n.UNKNOWN else value


def _on_newchannel(asm: FoldContext, msg: AmiMessage, at: datetime) -> CallState:
    uniqueid, linkedid = msg.get(n.UNIQUEID), msg.get(n.LINKEDID)
    if not uniqueid or not linkedid:
        raise BadEvent("Newchannel without Uniqueid/Linkedid")
    if uniqueid not in asm.index.by_uniqueid:
        asm.index.open(linkedid, uniqueid, at, saw_start=True)
    call, _ = asm.index.leg(msg, at)
    channel, context = msg.get(n.CHANNEL), msg.get(n.CONTEXT)
    if call.direction is None and asm.dialplan.is_inbound_leg(channel, context):
        call.direction = "inbound"
        call.caller_leg = uniqueid
        call.dialled_number = msg.get(n.EXTEN)  # the tracking number, before any Goto
        call.caller_number = _number(msg.get(n.CALLERID_NUM))
    return call


def _on_new_callerid(asm: FoldContext, msg: AmiMessage, at: datetime) -> CallState:
    # An originated channel learns its caller id only after its Newchannel.
    call, leg = asm.index.leg(msg, at)
    number = _number(msg.get(n.CALLERID_NUM))
    if number and call.direction == "inbound" and call.caller_leg == leg.uniqueid:
        call.caller_number = number
    return call


def _on_dial_begin(asm: FoldContext, msg: AmiMessage, at: datetime) -> CallState | None:
    if not msg.get(n.CHANNEL):
        return None  # the Originate's own dial of the first channel: nobody is calling
    call, leg = asm.index.leg(msg, at)
    dest_uniqueid = msg.get(n.DEST_UNIQUEID)
    if not dest_uniqueid:
        raise BadEvent("DialBegin without DestUniqueid")
    if call.direction is None and asm.dialplan.is_internal_context(msg.get(n.CONTEXT)):
        agent_dialled = asm.dialplan.agent_extension(msg.get(n.DEST_CHANNEL))
        call.direction = "internal" if agent_dialled else "outbound"
        call.caller_leg = leg.uniqueid
        call.dialled_number = msg.get(n.EXTEN)
        call.caller_number = _number(msg.get(n.CALLERID_NUM)) or (
            asm.dialplan.agent_extension(leg.channel) or ""
        )
    if call.dial_started_at is None:
        call.dial_started_at = at
    call.ringing.add(dest_uniqueid)
    rung = asm.dialplan.agent_extension(msg.get(n.DEST_CHANNEL))
    if rung and rung not in call.rang_agents:
        call.rang_agents.append(rung)
    return call


def _on_dial_end(asm: FoldContext, msg: AmiMessage, at: datetime) -> CallState | None:
    if not msg.get(n.CHANNEL):
        return None
    call, _ = asm.index.leg(msg, at)
    dest_uniqueid, status = msg.get(n.DEST_UNIQUEID), msg.get(n.DIAL_STATUS)
    call.ringing.discard(dest_uniqueid)
    if status == n.DIAL_ANSWER:
        agent = asm.dialplan.agent_extension(msg.get(n.DEST_CHANNEL))
        call.person_answered(dest_uniqueid, agent, at)
    elif status and status != n.DIAL_CANCEL:
        call.dial_concluded = True
        call.dial_statuses.add(status)
    return call


def _on_bridge_enter(asm: FoldContext, msg: AmiMessage, at: datetime) -> CallState:
    call, leg = asm.index.leg(msg, at)
    leg.enter_bridge(at)
    return call


def _on_bridge_leave(asm: FoldContext, msg: AmiMessage, at: datetime) -> CallState:
    call, leg = asm.index.leg(msg, at)
    leg.leave_bridge(at)
    return call


def _on_hangup_request(asm: FoldContext, msg: AmiMessage, at: datetime) -> CallState:
    # The far end of this channel hung up. On the caller's leg while still being put
    # through, that is the caller giving up; after a Dial timeout or BUSY it is not.
    call, leg = asm.index.leg(msg, at)
    if leg.uniqueid == call.caller_leg and call.is_waiting:
        call.abandoned = True
    return call


def _on_hangup(asm: FoldContext, msg: AmiMessage, at: datetime) -> CallState:
    call, leg = asm.index.leg(msg, at)
    if leg.uniqueid == call.caller_leg and call.answered_at is None and call.ringing:
        call.abandoned = True  # gone while still ringing, even without a HangupRequest
    # The customer's leg says why the call ended: the caller's on an inbound call, the
    # dialled party's on an outbound one.
    cause = msg.get(n.CAUSE)
    if cause.isdigit() and (leg.uniqueid == call.caller_leg) == (call.direction == "inbound"):
        call.hangup_cause = int(cause)
    # A rung channel that hangs up rings no more, even if its DialEnd never arrived.
    call.ringing.discard(leg.uniqueid)
    call.hang_up(leg, at)
    return call


def _on_queue_join(asm: FoldContext, msg: AmiMessage, at: datetime) -> CallState:
    call, _ = asm.index.leg(msg, at)
    call.in_queue = True
    if call.dial_started_at is None:
        call.dial_started_at = at
    return call


def _on_queue_leave(asm: FoldContext, msg: AmiMessage, at: datetime) -> CallState:
    call, _ = asm.index.leg(msg, at)
    call.in_queue = False
    return call


def _on_blind_transfer(asm: FoldContext, msg: AmiMessage, at: datetime) -> CallState | None:
    if msg.get(n.RESULT) != n.TRANSFER_SUCCESS:
        return None
    call, _ = asm.index.leg(msg, at, prefix=n.TRANSFEREE)
    call.add_transfer(msg.get(n.EXTENSION))
    return call


def _on_cdr(asm: FoldContext, msg: AmiMessage, at: datetime) -> CallState | None:
    cdr = cdr_from_event(msg, asm.cdr_tz)
    call = asm.index.by_uniqueid.get(cdr.uniqueid)
    if call is None:
        asm.stats.orphan_cdrs += 1
        asm.index.hold_orphan(cdr, at)
        return None
    leg = call.legs.get(cdr.uniqueid)
    if leg is not None:
        leg.last_seq = asm.index.seq
    if not call.add_cdr(replace(cdr, linkedid=call.linkedid)):
        return None  # the same event again (a replay)
    if call.emitted_at is not None:
        asm.stats.late_cdrs += 1
    return call


FOLDS: dict[str, Fold] = {
    n.NEWCHANNEL: _on_newchannel,
    n.NEW_CALLERID: _on_new_callerid,
    n.DIAL_BEGIN: _on_dial_begin,
    n.DIAL_END: _on_dial_end,
    n.BRIDGE_ENTER: _on_bridge_enter,
    n.BRIDGE_LEAVE: _on_bridge_leave,
    n.HANGUP_REQUEST: _on_hangup_request,
    n.HANGUP: _on_hangup,
    n.QUEUE_CALLER_JOIN: _on_queue_join,
    n.QUEUE_CALLER_LEAVE: _on_queue_leave,
    n.BLIND_TRANSFER: _on_blind_transfer,
    n.CDR: _on_cdr,
}
