"""The call assembly rules on small hand-made event sequences.

Each sequence is what Asterisk sends for one situation, trimmed to the events the
assembler folds (plus some it must ignore), with the header names of the captures.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callpool.pbx.assembly.calls import AssembledCall, CallAssembler, PbxDialplan, assemble_calls
from callpool.pbx.assembly.events import AmiMessage

pytestmark = pytest.mark.pure

T0 = datetime(2026, 11, 23, 10, 0, 0, tzinfo=UTC)
Event = tuple[AmiMessage, datetime]

INBOUND = "Local/74950000001@from-pstn-00000001;2"
CUSTOMER = "Local/74950000001@from-pstn-00000001;1"
AGENT_201 = "Local/201@agents-00000002;1"
AGENT_202 = "Local/202@agents-00000003;1"
PHONE_201 = "Local/201@agent-phone-00000004;1"
PSTN_OUT = "Local/79161110001@pstn-out-00000005;1"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


class Script:
    """Builds one call's events; ``uid(x)`` makes Uniqueids under one linkedid."""

    def __init__(self, linkedid: str = "1795401185.0") -> None:
        self.linkedid = linkedid
        self.events: list[Event] = []
        self.uids: dict[str, str] = {}

    def uid(self, channel: str) -> str:
        if channel not in self.uids:
            base = self.linkedid.split(".")[0]
            self.uids[channel] = f"{base}.{int(self.linkedid.split('.')[1]) + len(self.uids)}"
        return self.uids[channel]

    def add(self, t: float, event: str, **headers: str) -> Script:
        self.events.append((AmiMessage({"Event": event, **headers}), at(t)))
        return self

    def chan(self, channel: str, **extra: str) -> dict[str, str]:
        return {
            "Channel": channel,
            "Uniqueid": self.uid(channel),
            "Linkedid": self.linkedid,
            **extra,
        }

    def new(
        self, t: float, channel: str, context: str, exten: str, cid: str = "<unknown>"
    ) -> Script:
        return self.add(
            t, "Newchannel", **self.chan(channel, Context=context, Exten=exten, CallerIDNum=cid)
        )

    def callerid(self, t: float, channel: str, number: str) -> Script:
        return self.add(t, "NewCallerid", **self.chan(channel, CallerIDNum=number))

    def dial(
        self, t: float, caller: str, dest: str, context: str, exten: str, cid: str = ""
    ) -> Script:
        head = self.chan(caller, Context=context, Exten=exten, CallerIDNum=cid)
        return self.add(t, "DialBegin", **head, DestChannel=dest, DestUniqueid=self.uid(dest))

    def dial_end(self, t: float, caller: str, dest: str, status: str) -> Script:
        head = self.chan(caller)
        return self.add(
            t, "DialEnd", **head, DestChannel=dest, DestUniqueid=self.uid(dest), DialStatus=status
        )

    def bridge(self, t: float, *channels: str, leave: bool = False) -> Script:
        for channel in channels:
            self.add(t, "BridgeLeave" if leave else "BridgeEnter", **self.chan(channel))
        return self

    def hangup_request(self, t: float, channel: str) -> Script:
        return self.add(t, "HangupRequest", **self.chan(channel, Cause="16"))

    def hangup(self, t: float, *channels: str) -> Script:
        for channel in channels:
            self.add(t, "Hangup", **self.chan(channel, Cause="16"))
        return self

    def cdr(
        self, t: float, channel: str, disposition: str, billsec: int, answer: str = ""
    ) -> Script:
        return self.add(
            t,
            "Cdr",
            Channel=channel,
            UniqueID=self.uid(channel),
            Source="201",
            Destination="79161110001",
            StartTime="2026-11-23 10:00:00",
            AnswerTime=answer,
            EndTime="2026-11-23 10:00:30",
            Duration="30",
            BillableSeconds=str(billsec),
            Disposition=disposition,
            DestinationChannel="",
            LastApplication="Dial",
        )

    def inbound_start(self, t: float = 0) -> Script:
        # As Asterisk sends an originated inbound leg: caller id only in NewCallerid.
        self.new(t, CUSTOMER, "from-pstn", "74950000001").new(
            t, INBOUND, "from-pstn", "74950000001"
        )
        self.add(t, "VarSet", **self.chan(INBOUND, Variable="__TRACKING_DID", Value="1"))
        self.add(t, "Newexten", **self.chan(INBOUND, Application="NoOp"))
        return self.callerid(t, CUSTOMER, "79161110001").callerid(t, INBOUND, "79161110001")


def only(calls: list[AssembledCall]) -> AssembledCall:
    assert len(calls) == 1, calls
    return calls[0]


def answered_inbound() -> Script:
    s = Script().inbound_start(0).new(0, AGENT_201, "agents", "201")
    s.dial(0, INBOUND, AGENT_201, "from-pstn", "74950000001", "79161110001")
    s.dial_end(4, INBOUND, AGENT_201, "ANSWER").bridge(4, AGENT_201, INBOUND)
    s.bridge(24.5, AGENT_201, leave=True).hangup(24.5, AGENT_201)
    s.cdr(24.5, INBOUND, "ANSWERED", 20, "2026-11-23 10:00:04")
    s.bridge(24.5, INBOUND, leave=True).hangup(24.5, INBOUND, CUSTOMER)
    return s


def test_answered_inbound_call_takes_the_late_caller_id_and_the_did() -> None:
    call = only(assemble_calls(answered_inbound().events))
    assert call.direction == "inbound"
    assert (call.caller_number, call.dialled_number) == ("79161110001", "74950000001")
    assert (call.outcome, call.answered_by, call.answered_at) == ("answered", "201", at(4))
    assert (call.wait_seconds, call.talk_seconds) == (4, 20)
    assert (call.started_at, call.ended_at) == (at(0), at(24.5))
    assert len(call.cdrs) == 1
    assert call.cdrs[0].linkedid == "1795401185.0"


def test_caller_giving_up_while_ringing_is_abandoned() -> None:
    s = Script().inbound_start().new(0, AGENT_201, "agents", "201")
    s.dial(0, INBOUND, AGENT_201, "from-pstn", "74950000001")
    s.hangup_request(12, INBOUND).dial_end(12, INBOUND, AGENT_201, "CANCEL")
    s.hangup(12, AGENT_201, CUSTOMER, INBOUND)
    call = only(assemble_calls(s.events))
    assert (call.outcome, call.answered_at, call.wait_seconds, call.talk_seconds) == (
        "abandoned",
        None,
        12,
        0,
    )


def test_pbx_dial_timeout_is_no_answer() -> None:
    s = Script().inbound_start().new(0, AGENT_201, "agents", "201")
    s.dial(0, INBOUND, AGENT_201, "from-pstn", "74950000001")
    s.dial_end(15, INBOUND, AGENT_201, "NOANSWER").hangup(15, AGENT_201)
    # The dialplan's Hangup() hangs up the inbound leg; the caller's side follows.
    s.hangup(15, INBOUND).hangup_request(15, CUSTOMER).hangup(15, CUSTOMER)
    call = only(assemble_calls(s.events))
    assert (call.outcome, call.wait_seconds) == ("no_answer", 15)


def test_busy_agent_is_busy_even_when_the_caller_then_hangs_up() -> None:
    s = Script().inbound_start().new(0, AGENT_201, "agents", "201")
    s.dial(0, INBOUND, AGENT_201, "from-pstn", "74950000001")
    s.dial_end(0.1, INBOUND, AGENT_201, "BUSY").hangup(0.1, AGENT_201)
    s.hangup_request(0.2, INBOUND).hangup(0.2, INBOUND, CUSTOMER)
    assert only(assemble_calls(s.events)).outcome == "busy"


def test_unreachable_agent_is_failed() -> None:
    s = Script().inbound_start().new(0, AGENT_201, "agents", "201")
    s.dial(0, INBOUND, AGENT_201, "from-pstn", "74950000001")
    s.dial_end(0.1, INBOUND, AGENT_201, "CHANUNAVAIL").hangup(0.1, AGENT_201)
    s.hangup(0.2, INBOUND, CUSTOMER)
    assert only(assemble_calls(s.events)).outcome == "failed"


def queue_round(s: Script, start: float, end: float, n: int, status: str) -> None:
    for agent in ("201", "202"):
        member = f"Local/{agent}@agents-0000001{n};1"
        s.new(start, member, "agents", agent)
        s.add(start, "AgentCalled", **s.chan(INBOUND, Queue="sales"), DestChannel=member)
        s.dial(start, INBOUND, member, "ext-queues", "700")
    for agent in ("201", "202"):
        member = f"Local/{agent}@agents-0000001{n};1"
        s.dial_end(end, INBOUND, member, status).hangup(end, member)


def test_queue_call_that_rang_two_rounds_is_one_missed_call() -> None:
    s = Script().inbound_start()
    s.add(0, "QueueCallerJoin", **s.chan(INBOUND, Queue="sales", Context="ext-queues"))
    queue_round(s, 0, 15, 0, "NOANSWER")
    queue_round(s, 17, 22, 2, "CANCEL")  # cut short: the caller hangs up during round 2
    s.cdr(22, INBOUND, "NO ANSWER", 0)
    s.hangup_request(22, INBOUND)
    s.add(22, "QueueCallerAbandon", **s.chan(INBOUND, Queue="sales"))
    s.add(22, "QueueCallerLeave", **s.chan(INBOUND, Queue="sales"))
    s.hangup(22, INBOUND, CUSTOMER)
    call = only(assemble_calls(s.events))
    assert (call.outcome, call.wait_seconds, call.dialled_number) == (
        "abandoned",
        22,
        "74950000001",
    )


def test_queue_timeout_between_rounds_is_no_answer() -> None:
    s = Script().inbound_start()
    s.add(0, "QueueCallerJoin", **s.chan(INBOUND, Queue="sales"))
    queue_round(s, 0, 15, 0, "NOANSWER")
    queue_round(s, 17, 20, 2, "NOANSWER")
    s.add(20, "QueueCallerLeave", **s.chan(INBOUND, Queue="sales"))
    s.hangup(20, INBOUND).hangup_request(20, CUSTOMER).hangup(20, CUSTOMER)
    assert only(assemble_calls(s.events)).outcome == "no_answer"


def callback(customer_answers: bool) -> Script:
    s = Script("1795401417.56").new(0, PHONE_201, "agent-phone", "201")
    s.add(0, "DialBegin", DestChannel=PHONE_201, DestUniqueid=s.uid(PHONE_201))  # Originate
    s.callerid(0, PHONE_201, "201")
    s.add(1, "DialEnd", DestChannel=PHONE_201, DestUniqueid=s.uid(PHONE_201), DialStatus="ANSWER")
    s.add(1, "OriginateResponse", Response="Success", Channel=PHONE_201, Uniqueid=s.uid(PHONE_201))
    s.new(1, PSTN_OUT, "pstn-out", "79161110001")
    s.dial(1, PHONE_201, PSTN_OUT, "from-internal", "79161110001", "201")
    if customer_answers:
        s.dial_end(5, PHONE_201, PSTN_OUT, "ANSWER").bridge(5, PSTN_OUT, PHONE_201)
        s.bridge(23, PSTN_OUT, PHONE_201, leave=True).hangup(23, PSTN_OUT)
        s.cdr(23, PHONE_201, "ANSWERED", 22, "2026-11-23 10:00:01")
    else:
        s.dial_end(21, PHONE_201, PSTN_OUT, "NOANSWER").hangup(21, PSTN_OUT)
        s.cdr(21, PHONE_201, "NO ANSWER", 20, "2026-11-23 10:00:01")  # the agent's phone is up
        s.cdr(21, PHONE_201, "ANSWERED", 0, "2026-11-23 10:00:21")
    return s.hangup(23 if customer_answers else 21, PHONE_201)


def test_answered_call_back_is_answered_when_the_customer_picks_up() -> None:
    call = only(assemble_calls(callback(customer_answers=True).events))
    assert (call.direction, call.caller_number, call.dialled_number) == (
        "outbound",
        "201",
        "79161110001",
    )
    # Answered when the customer picked up (5 s), not when the agent's phone did (1 s);
    # wait is the customer's ring time, counted from the dial.
    assert (call.outcome, call.answered_at, call.answered_by) == ("answered", at(5), None)
    assert (call.wait_seconds, call.talk_seconds) == (4, 18)


def test_unanswered_call_back_is_not_answered_although_its_cdr_bills_seconds() -> None:
    call = only(assemble_calls(callback(customer_answers=False).events))
    assert max(cdr.billsec for cdr in call.cdrs) == 20
    assert (call.outcome, call.answered_at, call.talk_seconds) == ("no_answer", None, 0)
    assert call.wait_seconds == 20


def test_agent_calling_an_agent_is_internal() -> None:
    s = Script().new(0, PHONE_201, "agent-phone", "201").callerid(0, PHONE_201, "201")
    s.new(1, AGENT_202, "agents", "202")
    s.dial(1, PHONE_201, AGENT_202, "from-internal", "202", "201")
    s.dial_end(4, PHONE_201, AGENT_202, "ANSWER").bridge(4, AGENT_202, PHONE_201)
    s.hangup(16, AGENT_202, PHONE_201)
    call = only(assemble_calls(s.events))
    assert (call.direction, call.caller_number, call.dialled_number) == ("internal", "201", "202")
    assert (call.answered_by, call.wait_seconds, call.talk_seconds) == ("202", 3, 12)


def test_blind_transfer_lists_the_new_agent_and_adds_both_talks() -> None:
    s = Script().inbound_start().new(0, AGENT_201, "agents", "201")
    s.dial(0, INBOUND, AGENT_201, "from-pstn", "74950000001")
    s.dial_end(3, INBOUND, AGENT_201, "ANSWER").bridge(3, AGENT_201, INBOUND)
    s.add(
        13,
        "BlindTransfer",
        Result="Success",
        TransfereeChannel=INBOUND,
        TransfereeUniqueid=s.uid(INBOUND),
        TransfereeLinkedid=s.linkedid,
        Extension="202",
    )
    s.bridge(13, AGENT_201, INBOUND, leave=True).hangup(13, AGENT_201)
    s.new(13, AGENT_202, "agents", "202").dial(13, INBOUND, AGENT_202, "transfer", "202")
    s.dial_end(16, INBOUND, AGENT_202, "ANSWER").bridge(16, AGENT_202, INBOUND)
    s.hangup(28, AGENT_202, INBOUND, CUSTOMER)
    call = only(assemble_calls(s.events))
    assert (call.answered_by, call.transfers) == ("201", ("202",))
    assert (call.wait_seconds, call.talk_seconds) == (3, 22)


def test_originate_responses_of_other_ami_users_create_no_call() -> None:
    events = [
        (AmiMessage({"Event": "OriginateResponse", "Response": "Failure", "Reason": "3",
                     "Channel": "Local/74950000001@from-pstn", "Uniqueid": "<unknown>"}), at(0)),
        (AmiMessage({"Event": "OriginateResponse", "Response": "Success", "Reason": "4",
                     "Channel": INBOUND, "Uniqueid": "1795401185.1"}), at(1)),
    ]  # fmt: skip
    assembler = CallAssembler()
    assert [c for msg, t in events for c in assembler.feed(msg, t)] == []
    assert assembler.flush(at(100), force=True) == []
    assert (assembler.stats.folded, assembler.open_calls) == (0, 0)


def test_call_is_held_until_the_grace_so_late_cdrs_join_it() -> None:
    s = answered_inbound()
    # Move the Cdr after the last hangup, as happens for queue calls.
    cdr = next(e for e in s.events if e[0].event == "Cdr")
    events = [e for e in s.events if e is not cdr] + [(cdr[0], at(24.6))]
    assembler = CallAssembler()
    emitted = [c for msg, t in events for c in assembler.feed(msg, t)]
    assert emitted == []  # all hung up at 24.5, but the grace (2 s) is still running
    assert assembler.flush(at(26.4)) == []
    call = only(assembler.flush(at(26.5)))
    assert len(call.cdrs) == 1


def test_a_later_event_past_the_grace_completes_the_call_in_feed() -> None:
    assembler = CallAssembler()
    for msg, t in answered_inbound().events:
        assert assembler.feed(msg, t) == []
    tick = AmiMessage({"Event": "VarSet", "Variable": "X", "Value": "1"})
    assert only(assembler.feed(tick, at(26.5))).outcome == "answered"


def test_cdr_after_the_call_was_emitted_emits_the_call_again_with_it() -> None:
    s = answered_inbound()
    late = next(e[0] for e in s.events if e[0].event == "Cdr")
    assembler = CallAssembler()
    for msg, t in s.events:
        if msg is not late:
            assembler.feed(msg, t)
    first = only(assembler.flush(at(30)))
    assert first.cdrs == ()
    again = only(assembler.feed(late, at(40)))
    assert again.linkedid == first.linkedid
    assert len(again.cdrs) == 1
    assert (assembler.stats.late_cdrs, assembler.stats.calls_updated) == (1, 1)
    assert assembler.feed(late, at(41)) == []  # the same event replayed changes nothing


def test_after_retention_a_cdr_for_a_forgotten_call_is_an_orphan() -> None:
    s = answered_inbound()
    late = next(e[0] for e in s.events if e[0].event == "Cdr")
    assembler = CallAssembler(retention=timedelta(seconds=60))
    for msg, t in s.events:
        if msg is not late:
            assembler.feed(msg, t)
    assert len(assembler.flush(at(30))) == 1
    assembler.flush(at(91))
    assert assembler.feed(late, at(92)) == []
    assert assembler.stats.orphan_cdrs == 1
    assembler.flush(at(200))  # and the orphan is dropped in turn
    assert assembler.index.orphans == {}
    assert assembler.index.by_uniqueid == {}


def test_cdr_before_its_channel_is_attached_when_the_channel_appears() -> None:
    s = answered_inbound()
    cdr = next(e for e in s.events if e[0].event == "Cdr")
    events = [(cdr[0], at(0))] + [e for e in s.events if e is not cdr]
    call = only(assemble_calls(events))
    assert len(call.cdrs) == 1


def test_forced_flush_finishes_calls_still_up() -> None:
    s = answered_inbound()
    assembler = CallAssembler()
    for msg, t in s.events[:-6]:  # still talking
        assert assembler.feed(msg, t) == []
    call = only(assembler.flush(at(10), force=True))
    # Only what was seen: the call is taken to end at its last event, not at the flush.
    assert (call.outcome, call.ended_at, call.talk_seconds) == ("answered", at(4), 0)


def test_custom_dialplan_names_the_pbx_and_its_agents() -> None:
    dialplan = PbxDialplan(
        pbx="office",
        inbound_contexts=frozenset({"from-trunk"}),
        agent_channel_patterns=(r"^PJSIP/(?P<ext>\d{3})-",),
    )
    s = Script().new(0, "PJSIP/trunk-00000001", "from-trunk", "74950000009", "79160000000")
    s.new(0, "PJSIP/305-00000002", "from-internal", "305")
    s.dial(0, "PJSIP/trunk-00000001", "PJSIP/305-00000002", "from-trunk", "74950000009")
    s.dial_end(2, "PJSIP/trunk-00000001", "PJSIP/305-00000002", "ANSWER")
    s.hangup(9, "PJSIP/305-00000002", "PJSIP/trunk-00000001")
    call = only(assemble_calls(s.events, dialplan))
    assert (call.pbx, call.caller_number, call.answered_by) == ("office", "79160000000", "305")


def test_varset_and_newexten_are_ignored() -> None:
    assembler = CallAssembler()
    for event in ("VarSet", "Newexten", "DeviceStateChange", "CEL", "QueueMemberStatus"):
        assembler.feed(AmiMessage({"Event": event, "Uniqueid": "1.1", "Linkedid": "1.1"}), at(0))
    assert (assembler.stats.events, assembler.stats.folded, assembler.open_calls) == (5, 0, 0)


def test_bad_events_are_skipped_and_counted() -> None:
    assembler = CallAssembler()
    bad = [
        {"Event": "Newchannel", "Channel": INBOUND},  # no Uniqueid
        {"Event": "Hangup", "Uniqueid": "9.9"},  # unknown channel, no Linkedid
        {"Event": "Cdr", "UniqueID": "9.9", "Duration": "-5", "StartTime": "x"},
        {"Event": "Cdr", "UniqueID": "9.9", "Duration": "abc"},
        {"Event": "DialBegin", "Channel": INBOUND, "Uniqueid": "1.1", "Linkedid": "1.1"},
    ]
    for headers in bad:
        assert assembler.feed(AmiMessage(headers), at(0)) == []
    assert assembler.stats.bad_events == len(bad)
    assert "DialBegin" in assembler.stats.last_error
    # The assembler still works afterwards.
    assert only(assemble_calls(answered_inbound().events)).outcome == "answered"


def test_times_going_backwards_never_give_negative_durations() -> None:
    events = [
        (msg, at(30 - t.timestamp() + T0.timestamp())) for msg, t in answered_inbound().events
    ]
    call = only(assemble_calls(events))
    assert call.wait_seconds >= 0
    assert call.talk_seconds >= 0


_EVENTS = st.sampled_from(
    ["Newchannel", "NewCallerid", "DialBegin", "DialEnd", "BridgeEnter", "BridgeLeave",
     "HangupRequest", "Hangup", "QueueCallerJoin", "QueueCallerLeave", "BlindTransfer",
     "Cdr", "VarSet", "OriginateResponse"]
)  # fmt: skip
_HEADERS = st.sampled_from(
    ["Uniqueid", "Linkedid", "Channel", "Context", "Exten", "CallerIDNum", "DestChannel",
     "DestUniqueid", "DialStatus", "UniqueID", "Duration", "BillableSeconds", "StartTime",
     "EndTime", "AnswerTime", "Result", "TransfereeUniqueid", "TransfereeLinkedid", "Extension"]
)  # fmt: skip
_VALUES = st.sampled_from(
    ["", "1.1", "1.2", "2.1", "from-pstn", "from-internal", INBOUND, AGENT_201, "ANSWER",
     "BUSY", "CANCEL", "-3", "abc", "2026-11-23 10:00:00", "2026-13-45 99:00:00", "Success",
     "<unknown>", "202"]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            _EVENTS,
            st.dictionaries(_HEADERS, _VALUES, max_size=8),
            st.floats(min_value=0, max_value=100, allow_nan=False),
        ),
        max_size=40,
    )
)
def test_random_event_soup_never_raises(
    soup: list[tuple[str, dict[str, str], float]],
) -> None:
    assembler = CallAssembler()
    for event, headers, t in soup:
        for call in assembler.feed(AmiMessage({"Event": event, **headers}), at(t)):
            assert call.wait_seconds >= 0 and call.talk_seconds >= 0
    for call in assembler.flush(at(1000), force=True):
        assert call.outcome in ("answered", "no_answer", "busy", "abandoned", "failed")


def test_call_silent_past_stale_after_is_finished_by_flush() -> None:
    assembler = CallAssembler(stale_after=timedelta(hours=1))
    for msg, t in answered_inbound().events[:-6]:  # talking, hangups never arrive
        assembler.feed(msg, t)
    assert assembler.flush(at(3000)) == []  # a long quiet call is not stale yet
    call = only(assembler.flush(at(4 + 3600)))
    assert (call.outcome, assembler.stats.stale_calls, assembler.open_calls) == ("answered", 1, 0)
