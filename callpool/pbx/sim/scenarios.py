"""Generated calls for the AMI simulator, in the shape of the real captures.

:func:`call_frames` turns one :class:`SimCall` into the channel events Asterisk 22 sends
for it (``Newchannel``, ``NewCallerid``, ``DialBegin``, ``Newstate``, ``DialEnd``,
``BridgeEnter``/``BridgeLeave``, ``Hangup``, ``Cdr``), with the same header names and
order as in ``tests/fixtures/ami/*.ami`` and the same dialplan shape:

- inbound: ``Local/<DID>@from-pstn-<seq>;1/;2`` (customer side, party A is ``;2``)
  dials ``Local/<agent>@agents-<seq>;1/;2``; answered, missed (caller gives up) or
  busy (two CDRs: ``Dial`` then ``Busy``);
- callback: ``Local/<agent>@agent-phone-<seq>;1/;2`` dials
  ``Local/<customer>@pstn-out-<seq>;1/;2`` from ``from-internal``.

It leaves out the dialplan-class events (``Newexten``, ``VarSet``), ``DeviceStateChange``
and ``QueueMemberStatus``; nothing in call assembly needs them. :func:`random_calls`
produces an endless, seeded stream of such calls for the demo.

A little past 400 lines because the event headers are written out one per line, as
Asterisk sends them.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Literal

from callpool.pbx.sim.streams import IdAllocator, TimedFrame

CallKind = Literal["answered", "missed", "busy", "callback"]
CALL_KINDS: tuple[CallKind, ...] = ("answered", "missed", "busy", "callback")
DEFAULT_DIDS = tuple(f"749500000{n:02d}" for n in range(1, 11))
DEFAULT_AGENTS = ("201", "202", "203")

_STATE_DESC = {0: "Down", 4: "Ring", 5: "Ringing", 6: "Up", 7: "Busy"}
_CALLING_PRES = "0 (Presentation Allowed, Not Screened)"


@dataclass(frozen=True)
class SimCall:
    """One call to generate. ``customer`` is the caller (inbound) or the callee (callback)."""

    kind: CallKind
    customer: str
    did: str = DEFAULT_DIDS[0]
    agent: str = DEFAULT_AGENTS[0]
    ring: float = 3.0
    talk: float = 10.0
    customer_name: str = "<unknown>"
    # Record an answered inbound call (MixMonitor) in this format ("wav", "gsm", "WAV" for
    # wav49): its Cdr then carries RecordingFile, as a cdr_manager mapping of
    # CDR(recordingfile) posts it, and the simulator's recorder writes the file.
    record: str | None = None


#: One-call scenarios by name, for ``callpool ami-sim <name>`` (``random`` plays many).
SCENARIOS: dict[str, SimCall] = {
    "answered": SimCall("answered", "79161110001", customer_name="Алекс", ring=4, talk=20),
    "recorded": SimCall("answered", "79161110002", ring=3, talk=12, record="wav"),
    "missed": SimCall("missed", "79162220004", ring=12),
    "busy": SimCall("busy", "79163330006", did="74950000005", agent="202", ring=1),
    "callback": SimCall("callback", "79161110001", ring=4, talk=18),
    "callback-noanswer": SimCall("callback", "79162220004", agent="202", ring=20),
}
U = "<unknown>"


@dataclass(frozen=True)
class _Chan:
    name: str
    context: str
    exten: str
    uniqueid: str
    linkedid: str
    state: int = 0
    num: str = U
    cid_name: str = U
    conn_num: str = U
    conn_name: str = U
    priority: int = 1

    def headers(self, p: str = "") -> list[tuple[str, str]]:
        values = (
            self.name,
            str(self.state),
            _STATE_DESC[self.state],
            self.num,
            self.cid_name,
            self.conn_num,
            self.conn_name,
            "en",
            "",
            self.context,
            self.exten,
            str(self.priority),
            self.uniqueid,
            self.linkedid,
        )
        return [(p + key, value) for key, value in zip(_CHAN_KEYS, values, strict=True)]

    def unknown(self) -> _Chan:
        """The channel as ``Newchannel`` shows it, before any caller id is set."""
        return replace(self, num=U, cid_name=U, conn_num=U, conn_name=U)


# fmt: off
_CHAN_KEYS = (
    "Channel", "ChannelState", "ChannelStateDesc", "CallerIDNum", "CallerIDName",
    "ConnectedLineNum", "ConnectedLineName", "Language", "AccountCode", "Context", "Exten",
    "Priority", "Uniqueid", "Linkedid",
)
_BRIDGE_KEYS = (
    "BridgeUniqueid", "BridgeType", "BridgeTechnology", "BridgeCreator", "BridgeName",
    "BridgeNumChannels", "BridgeVideoSourceMode",
)
_CDR_KEYS = (
    "AccountCode", "Source", "Destination", "DestinationContext", "CallerID", "Channel",
    "DestinationChannel", "LastApplication", "LastData", "StartTime", "AnswerTime", "EndTime",
    "Duration", "BillableSeconds", "Disposition", "AMAFlags", "UniqueID", "UserField",
)
# fmt: on
_CAUSES = {0: "Unknown", 16: "Normal Clearing", 17: "User busy", 19: "User alerting, no answer"}


def _frame(event: str, headers: list[tuple[str, str]], privilege: str = "call,all") -> bytes:
    lines = [f"Event: {event}", f"Privilege: {privilege}", *(f"{k}: {v}" for k, v in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


def _newchannel(chan: _Chan) -> bytes:
    return _frame("Newchannel", chan.unknown().headers())


def _callerid(chan: _Chan) -> bytes:
    return _frame("NewCallerid", [*chan.headers(), ("CID-CallingPres", _CALLING_PRES)])


def _newstate(chan: _Chan) -> bytes:
    return _frame("Newstate", chan.headers())


def _dial(event: str, chan: _Chan, dest: _Chan, last: tuple[str, str]) -> bytes:
    return _frame(event, [*chan.headers(), *dest.headers("Dest"), last])


def _bridge(event: str, bridge_id: str, count: int, chan: _Chan | None = None) -> bytes:
    values = (bridge_id, "basic", "simple_bridge", U, U, str(count), "none")
    headers = list(zip(_BRIDGE_KEYS, values, strict=True))
    return _frame(event, headers + (chan.headers() if chan else []))


def _hangup(chan: _Chan, cause: int) -> bytes:
    return _frame("Hangup", [*chan.headers(), ("Cause", str(cause)), ("Cause-txt", _CAUSES[cause])])


@dataclass(frozen=True)
class _CdrParty:
    src: str
    dst: str
    context: str
    clid: str


def _cdr(
    party: _CdrParty,
    a: _Chan,
    b_name: str,
    app: str,
    data: str,
    times: tuple[datetime, datetime | None, datetime],
    disposition: str,
    recording: str | None = None,
) -> bytes:
    start, answer, end = times
    fmt = "%Y-%m-%d %H:%M:%S"
    billsec = int((end - answer).total_seconds()) if answer else 0
    values = (
        "",
        party.src,
        party.dst,
        party.context,
        party.clid,
        a.name,
        b_name,
        app,
        data,
        start.strftime(fmt),
        answer.strftime(fmt) if answer else "",
        end.strftime(fmt),
        str(int((end - start).total_seconds())),
        str(billsec),
        disposition,
        "DOCUMENTATION",
        a.uniqueid,
        "",
    )
    headers = list(zip(_CDR_KEYS, values, strict=True))
    if recording is not None:  # cdr_manager's [mappings] come after the stock fields
        headers.append(("RecordingFile", recording))
    return _frame("Cdr", headers, privilege="cdr,all")


def recording_name(call: SimCall, a: _Chan, start: datetime) -> str:
    """FreePBX's layout: ``YYYY/MM/DD/in-<did>-<caller>-<YYYYmmdd-HHMMSS>-<linkedid>.<ext>``."""
    stamp = start.strftime("%Y%m%d-%H%M%S")
    base = f"in-{call.did}-{call.customer}-{stamp}-{a.linkedid}.{call.record}"
    return f"{start:%Y/%m/%d}/{base}"


def _local_pair(
    ids: IdAllocator, exten: str, context: str, linkedid: str | None
) -> tuple[_Chan, _Chan]:
    name = f"Local/{exten}@{context}-{ids.local_seq()}"
    u1 = ids.uniqueid()
    one = _Chan(f"{name};1", context, exten, u1, linkedid or u1)
    return one, replace(one, name=f"{name};2", state=4, uniqueid=ids.uniqueid())


def _timed(*groups: tuple[float, list[bytes]]) -> list[TimedFrame]:
    """Frames in groups: each group waits ``delay`` before its first frame."""
    out: list[TimedFrame] = []
    for delay, frames in groups:
        out += [TimedFrame(delay if i == 0 else 0.0, f) for i, f in enumerate(frames)]
    return out


def call_frames(call: SimCall, ids: IdAllocator, start: datetime) -> list[TimedFrame]:
    """The events of one call; the first frame has delay 0, CDR times count from ``start``."""
    if call.kind == "callback":
        return _callback(call, ids, start)
    return _inbound(call, ids, start)


def _inbound(call: SimCall, ids: IdAllocator, start: datetime) -> list[TimedFrame]:
    cust, name, did = call.customer, call.customer_name, call.did
    in1, in2 = _local_pair(ids, did, "from-pstn", None)
    in1 = replace(in1, num=cust, cid_name=name)
    in2 = replace(in2, num=cust, cid_name=name, conn_num=cust, conn_name=name, priority=7)
    ag1, ag2 = _local_pair(ids, call.agent, "agents", in1.linkedid)
    ag1 = replace(ag1, num=did, conn_num=cust, conn_name=name)
    ag2 = replace(ag2, num=cust, cid_name=name, conn_num=did)
    setup = [
        _newchannel(in1),
        _newchannel(replace(in2, priority=1)),
        _callerid(in1),
        _callerid(in2),
        _newchannel(ag1),
        _newchannel(ag2),
        _callerid(replace(ag1, exten=did)),
        _callerid(ag2),
        _dial("DialBegin", in2, replace(ag1, exten=did), ("DialString", f"{call.agent}@agents")),
    ]
    ag1 = replace(ag1, exten=did)
    party = _CdrParty(cust, did, "from-pstn", f'"{"" if name == U else name}" <{cust}>')
    dial_data = f"Local/{call.agent}@agents,20"
    end = start + timedelta(seconds=call.ring)
    if call.kind == "busy":
        ag2, in2 = replace(ag2, state=7, priority=14), replace(in2, state=7, priority=15)
        busy = [
            _newstate(ag2),
            _dial("DialEnd", in2, ag1, ("DialStatus", "BUSY")),
            _hangup(ag1, 0),
            _cdr(party, in2, ag1.name, "Dial", dial_data, (start, None, end), "BUSY"),
            _cdr(party, in2, "", "Busy", "5", (end, None, end), "BUSY"),
            _hangup(in1, 0),
            _hangup(ag2, 17),
            _hangup(in2, 17),
        ]
        return _timed((0.0, setup), (call.ring, busy))
    ag1, in1 = replace(ag1, state=5), replace(in1, state=5)
    setup += [_newstate(ag1), _newstate(in1)]
    if call.kind == "missed":
        missed = [
            # The caller gives up: Asterisk first asks the inbound leg to hang up.
            _frame("HangupRequest", [*replace(in2, state=4).headers(), ("Cause", "19")]),
            _dial("DialEnd", in2, ag1, ("DialStatus", "CANCEL")),
            _hangup(ag1, 19),
            _hangup(in1, 19),
            _cdr(party, in2, ag1.name, "Dial", dial_data, (start, None, end), "NO ANSWER"),
            _hangup(ag2, 19),
            _hangup(in2, 19),
        ]
        return _timed((0.0, setup), (call.ring, missed))
    answer, end = end, end + timedelta(seconds=call.talk)
    ag1, ag2 = replace(ag1, state=6), replace(ag2, state=6, priority=11)
    in1, in2 = replace(in1, state=6), replace(in2, state=6)
    bridge, ag1_b = ids.bridge_id(), replace(ag1, state=6, exten="")
    answered = [
        _newstate(ag1),
        _dial("DialEnd", in2, ag1_b, ("DialStatus", "ANSWER")),
        _newstate(ag2),
        _newstate(in2),
        _bridge("BridgeCreate", bridge, 0),
        _newstate(in1),
        _bridge("BridgeEnter", bridge, 1, ag1_b),
        _bridge("BridgeEnter", bridge, 2, in2),
    ]
    hangup = [
        _hangup(replace(ag2, priority=13), 16),
        _bridge("BridgeLeave", bridge, 1, ag1_b),
        _bridge("BridgeLeave", bridge, 0, in2),
        _hangup(ag1_b, 16),
        _bridge("BridgeDestroy", bridge, 0),
        _hangup(in2, 16),
        _cdr(
            party,
            in2,
            ag1.name,
            "Dial",
            dial_data,
            (start, answer, end),
            "ANSWERED",
            recording_name(call, in2, start) if call.record else None,
        ),
        _hangup(in1, 16),
    ]
    return _timed((0.0, setup), (call.ring, answered), (call.talk, hangup))


def _callback(call: SimCall, ids: IdAllocator, start: datetime) -> list[TimedFrame]:
    agent, cust = call.agent, call.customer
    agent_name = f"Agent {agent}"
    ph1, ph2 = _local_pair(ids, agent, "agent-phone", None)
    ph1 = replace(ph1, num=agent, cid_name=agent_name)
    ph2 = replace(ph2, num=agent, cid_name=agent_name, conn_num=agent, conn_name=agent_name)
    out1, out2 = _local_pair(ids, cust, "pstn-out", ph1.linkedid)
    out1 = replace(out1, num=cust, cid_name=agent_name, conn_num=agent, conn_name=agent_name)
    out2 = replace(out2, num=agent, cid_name=agent_name, conn_num=cust, conn_name=agent_name)
    ph1_up = replace(
        ph1,
        state=6,
        context="from-internal",
        exten=cust,
        priority=2,
        conn_num=agent,
        conn_name=agent_name,
    )
    ph2_up, out1 = replace(ph2, state=6, priority=5), replace(out1, state=5)
    setup = [
        _newchannel(ph1),
        _newchannel(ph2),
        _callerid(ph1),
        _callerid(ph2),
        _newstate(replace(ph2, state=6, priority=4)),
        _newchannel(out1),
        _newchannel(out2),
        _callerid(replace(out1, state=0)),
        _callerid(out2),
        _dial("DialBegin", ph1_up, replace(out1, state=0), ("DialString", f"{cust}@pstn-out")),
        _newstate(out1),
    ]
    party = _CdrParty(agent, cust, "from-internal", f'"{agent_name}" <{agent}>')
    data = f"Local/{cust}@pstn-out,30"
    if call.ring >= 20.0:  # the customer never answers: Dial(...,20) times out
        end = start + timedelta(seconds=20)
        noanswer = [
            _dial("DialEnd", ph1_up, out1, ("DialStatus", "NOANSWER")),
            _hangup(out1, 19),
            _hangup(out2, 19),
            _cdr(party, ph1_up, out1.name, "Dial", data, (start, None, end), "NO ANSWER"),
            _hangup(ph1_up, 19),
            _hangup(ph2_up, 19),
        ]
        return _timed((0.0, setup), (20.0, noanswer))
    answer = start + timedelta(seconds=call.ring)
    end = answer + timedelta(seconds=call.talk)
    out1, out2 = replace(out1, state=6), replace(out2, state=6, priority=7)
    out1_b, bridge = replace(out1, exten=""), ids.bridge_id()
    answered = [
        _newstate(out2),
        _newstate(out1),
        _dial("DialEnd", ph1_up, out1_b, ("DialStatus", "ANSWER")),
        _bridge("BridgeCreate", bridge, 0),
        _bridge("BridgeEnter", bridge, 1, out1_b),
        _bridge("BridgeEnter", bridge, 2, ph1_up),
    ]
    hangup = [
        _hangup(replace(out2, priority=9), 16),
        _bridge("BridgeLeave", bridge, 1, out1_b),
        _hangup(out1_b, 16),
        _cdr(party, ph1_up, out1.name, "Dial", data, (start, answer, end), "ANSWERED"),
        _bridge("BridgeLeave", bridge, 0, ph1_up),
        _bridge("BridgeDestroy", bridge, 0),
        _hangup(ph1_up, 16),
        _hangup(ph2_up, 16),
    ]
    return _timed((0.0, setup), (call.ring, answered), (call.talk, hangup))


def scenario_frames(
    name: str, *, loop: bool = False, seed: int | None = None, record: str | None = None
) -> Iterator[TimedFrame]:
    """The frames of a named scenario: ``random`` (endless) or one of :data:`SCENARIOS`.

    ``record``: the random calls that are answered are recorded in this format.
    """
    ids = IdAllocator()
    if name == "random":
        yield from random_calls(ids, _now(), seed=seed, record=record)
        return
    if name not in SCENARIOS:
        names = ", ".join(["random", *SCENARIOS])
        raise ValueError(f"unknown scenario {name!r}; choose one of {names} or a .ami capture")
    while True:
        yield from call_frames(SCENARIOS[name], ids, _now())
        if not loop:
            return
        yield TimedFrame(5.0, b"")  # a pause between repeats (an empty frame is skipped)


def _now() -> datetime:
    """Local time as Asterisk writes CDR times (naive); here UTC, like the captures."""
    return datetime.now(UTC).replace(tzinfo=None)


def random_calls(
    ids: IdAllocator,
    start: datetime,
    *,
    seed: int | None = None,
    dids: Sequence[str] = DEFAULT_DIDS,
    agents: Sequence[str] = DEFAULT_AGENTS,
    gap: tuple[float, float] = (2.0, 8.0),
    record: str | None = None,
) -> Iterator[TimedFrame]:
    """An endless stream of random calls, one after another, CDR times from ``start`` on.

    ``record`` (a format, like ``wav``): answered calls are recorded (MixMonitor); the
    random draws are the same with or without it, so a seed plays the same calls.
    """
    rng = random.Random(seed)
    now = start
    while True:
        pause = rng.uniform(*gap)
        kind = rng.choices(CALL_KINDS, weights=(6, 3, 1, 2))[0]
        call = SimCall(
            kind=kind,
            customer=f"7916{rng.randrange(10**7):07d}",
            did=rng.choice(list(dids)),
            agent=rng.choice(list(agents)),
            ring=round(rng.uniform(1.0, 12.0 if kind == "missed" else 6.0), 1),
            talk=round(rng.uniform(5.0, 40.0), 1),
        )
        if kind == "callback" and rng.random() < 0.3:
            call = replace(call, ring=20.0)
        if kind == "answered" and record is not None:
            call = replace(call, record=record)
        now += timedelta(seconds=pause)
        frames = call_frames(call, ids, now)
        yield TimedFrame(pause, frames[0].frame)
        for item in frames[1:]:
            now += timedelta(seconds=item.delay)
            yield item
