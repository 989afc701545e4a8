"""Every AMI capture assembles into the calls its README and plan describe.

pytestmark = pytest.mark.pure

The expected calls are written out below, one row per call: what the test driver did
(``<capture>.plan.json``: caller, DID, agent modes, ring and talk times, patience)
run through the captures' dialplan (DIDs 001/004 -> 201, 002/005 -> 202, 003 -> 203,
006-008 queue of 201+202, 009-010 ring group; Dial timeout 20 s unless DIALTIMEOUT;
queue: 15 s rounds, 2 s retry), checked against the CDRs Asterisk wrote. Where the
plan's label and what happened differ, a comment above the row says why.

Columns: linkedid, direction (in/out/int), caller, dialled number, outcome, answered by,
wait s, talk s, transfers. Wait and talk may be off by one second (event timing is
exact to the millisecond, the expectations come from whole-second settings and CDRs).
A transfer's talk is the first agent's CDR billsec plus TALK_202.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from callpool.pbx.assembly.calls import AssembledCall, CallAssembler, assemble_calls
from tests.pbx.captures import (
    ALL_CAPTURES,
    MIXED_CAPTURES,
    Capture,
    load_capture,
    parse_in_chunks,
)

DIRECTIONS = {"in": "inbound", "out": "outbound", "int": "internal"}

EXPECTED: dict[str, str] = {
    "answered": """
1795401185.0    in  79161110001 74950000001 answered  201   4  20 -    #  1 answered
""",
    "answered-caller-hangup": """
1795401215.4    in  79161110002 74950000002 answered  202   3  25 -    #  1 answered-caller-hangup
""",
    "short-answered": """
1795401250.8    in  79161110003 74950000002 answered  202   2   5 -    #  1 short-answered
""",
    "missed-caller-hangup": """
1795401264.12   in  79162220004 74950000001 abandoned -    12   0 -    #  1 missed-caller-hangup
""",
    "noanswer-timeout": """
1795401282.16   in  79162220005 74950000003 no_answer -    15   0 -    #  1 noanswer-timeout
""",
    "busy": """
1795401304.20   in  79163330006 74950000005 busy      -     0   0 -    #  1 busy
""",
    "queue-answered": """
1795401311.24   in  79163330007 74950000006 answered  202   6  15 -    #  1 queue-answered
""",
    "queue-abandoned": """
1795401338.30   in  79164440008 74950000007 abandoned -    22   0 -    #  1 queue-abandoned
""",
    "queue-timeout": """
1795401367.40   in  79164440009 74950000008 no_answer -    20   0 -    #  1 queue-timeout
""",
    "ringgroup-answered": """
1795401394.50   in  79165550010 74950000009 answered  202   5  12 -    #  1 ringgroup-answered
""",
    "callback": """
1795401417.56   out 201         79161110001 answered  -     4  18 -    #  1 callback
""",
    "callback-noanswer": """
1795401447.60   out 202         79162220004 no_answer -    20   0 -    #  1 callback-noanswer
""",
    "internal": """
1795401474.64   int 201         202         answered  202   3  12 -    #  1 internal
""",
    "transfer": """
1795401497.68   in  79165550011 74950000004 answered  201   3  22 202  #  1 transfer
""",
    "repeat-caller": """
1795401532.74   in  79163330006 74950000001 abandoned -     8   0 -    #  1 repeat-caller
1795401548.78   in  79163330006 74950000001 answered  201   2  10 -    #  2 repeat-caller
""",
    "local-cdr-raw": """
1795401566.82   in  79161110001 74950000001 answered  201   4  20 -    #  1 local-cdr-raw
""",
    "cel-answered": """
1795401597.86   in  79161110002 74950000002 answered  202   4  20 -    #  1 cel-answered
""",
    "mixed-01": """
1795401628.90   in  79161110003 74950000001 answered  201   2  10 -    #  1 answered
1795401637.94   in  79161110003 74950000003 answered  203   8  14 -    #  2 answered
1795401641.98   in  79161110001 74950000001 answered  201   8  17 -    #  3 caller hangs up
1795401646.102  in  79163330006 74950000005 answered  202   4  42 -    #  4 caller hangs up
1795401653.106  out 202         79162220005 no_answer -    20   0 -    #  5 call-back
1795401655.110  in  79034098086 74950000004 answered  201   6  43 202  #  6 blind transfer 201->202
1795401661.114  in  79161110002 74950000001 answered  201   4  58 -    #  7 answered
1795401666.118  in  79162220005 74950000002 busy      -     0   0 -    #  8 busy
1795401672.122  in  79161110003 74950000002 answered  202   2  53 -    #  9 answered
1795401677.126  in  79164440009 74950000003 answered  203   4   3 -    # 10 short answered
1795401681.132  in  79161110002 74950000004 answered  201   4  42 -    # 11 answered
1795401686.136  in  79162220004 74950000009 answered  201   3  62 -    # 12 ring group answered
1795401690.142  in  79034186027 74950000001 abandoned -     6   0 -    # 13 missed, caller hangs up
1795401693.146  int 203         201         answered  201   3   9 -    # 14 internal agent-to-agent
1795401697.150  in  79162220005 74950000003 answered  203   5   4 -    # 15 short answered
1795401706.154  in  79161110003 74950000010 answered  202   7  87 -    # 16 ring group answered
1795401712.160  in  79038981982 74950000010 answered  202   2  88 -    # 17 ring group answered
1795401714.166  in  79165550011 74950000007 answered  202   3  34 -    # 18 queue answered
1795401723.172  in  79161110003 74950000002 busy      -     0   0 -    # 19 busy
1795401731.176  out 201         79038981982 no_answer -    20   0 -    # 20 call-back
1795401736.180  in  79039520162 74950000005 answered  202   2  41 -    # 21 answered
1795401740.184  in  79161110001 74950000003 answered  203   3   5 -    # 22 short answered
1795401745.188  in  79038812311 74950000005 answered  202   9   8 -    # 23 short answered
1795401749.192  in  79161110003 74950000004 answered  201   9   8 -    # 24 short answered
1795401758.196  in  79162220004 74950000008 abandoned -    14   0 -    # 25 queue abandoned
1795401763.202  in  79038580488 74950000003 answered  203   7  38 -    # 26 answered
1795401767.206  in  79165550011 74950000004 no_answer -    12   0 -    # 27 no answer, dial timeout
1795401773.210  in  79161110001 74950000003 abandoned -    17   0 -    # 28 missed, caller hangs up
1795401781.214  in  79161110002 74950000006 abandoned -    22   0 -    # 29 queue abandoned
1795401787.220  in  79038981982 74950000003 no_answer -    20   0 -    # 30 no answer, dial timeout
""",
    "mixed-02": """
1795401815.228  in  79162220005 74950000001 answered  201   8  43 -    #  1 answered
1795401820.232  in  79162220004 74950000005 answered  202   8  13 -    #  2 caller hangs up
1795401822.236  in  79162220005 74950000003 busy      -     0   0 -    #  3 busy
1795401825.240  in  79032336430 74950000009 answered  202   7  22 -    #  4 ring group answered
1795401833.246  in  79165550011 74950000004 answered  201   5  16 -    #  5 caller hangs up
1795401836.250  in  79164440009 74950000004 abandoned -    15   0 -    #  6 missed, caller hangs up
1795401841.254  in  79164440009 74950000008 abandoned -    19   0 -    #  7 queue abandoned
1795401850.260  out 203         79162220004 answered  -     6  17 -    #  8 call-back
1795401853.264  in  79162220004 74950000002 abandoned -     4   0 -    #  9 missed, caller hangs up
1795401855.268  in  79161110002 74950000004 no_answer -    12   0 -    # 10 no answer, dial timeout
# 11, 13: planned as 'short answered', but MODE_201=noanswer and DID 004 rings only 201:
# nobody can answer; Dial times out after DIALTIMEOUT (default 20 s) before patience 45 s.
1795401858.272  in  79162220004 74950000004 no_answer -    20   0 -    # 11 short answered
# 12: ring group, both agents answer after RING=4; 202 won the race (its CDR is ANSWERED).
1795401867.280  in  79163330007 74950000010 answered  202   4   8 -    # 12 short answered
1795401870.286  in  79031396213 74950000004 no_answer -    20   0 -    # 13 short answered
1795401874.290  in  79162220004 74950000001 busy      -     0   0 -    # 14 busy
1795401876.294  in  79161110001 74950000001 busy      -     0   0 -    # 15 busy
1795401880.298  in  79031396213 74950000002 abandoned -    11   0 -    # 16 missed, caller hangs up
1795401886.302  in  79162220005 74950000004 answered  201   7  31 -    # 17 answered
1795401888.306  in  79033023199 74950000001 answered  201   7  26 202  # 18 blind transfer 201->202
1795401894.310  in  79161110002 74950000005 busy      -     0   0 -    # 19 busy
1795401897.314  in  79161110003 74950000002 answered  202   7  14 -    # 20 caller hangs up
1795401906.318  in  79161110001 74950000002 abandoned -    12   0 -    # 21 missed, caller hangs up
1795401910.324  in  79165550010 74950000006 abandoned -    24   0 -    # 22 queue abandoned
1795401917.330  in  79038501654 74950000002 answered  202   3   4 -    # 23 short answered
# 24: joined the queue in position 2 (QueueCallerJoin Count=2) behind call 22; the members
# were rung 9 s later (202's CDR starts 02:45:35, 9 s after the call), then RING=8: 9 + 8.
1795401926.334  in  79032336430 74950000007 answered  202  17  77 -    # 24 queue answered
1795401934.340  int 201         203         answered  203   7  12 -    # 25 internal agent-to-agent
1795401943.348  in  79162220005 74950000010 answered  201   2  30 -    # 26 ring group answered
1795401951.354  in  79161110001 74950000003 no_answer -    12   0 -    # 27 no answer, dial timeout
1795401959.358  in  79162220005 74950000001 answered  201   5  44 -    # 28 answered
1795401963.362  in  79164440008 74950000010 answered  201   5   4 -    # 29 short answered
1795401968.368  in  79162220004 74950000003 abandoned -    16   0 -    # 30 missed, caller hangs up
""",
    "mixed-04": """
1795402244.512  in  79162220005 74950000001 answered  201   7   3 -    #  1 short answered
1795402250.516  int 202         201         answered  201   6  28 -    #  2 internal agent-to-agent
1795402254.520  in  79037368108 74950000008 abandoned -    23   0 -    #  3 queue abandoned
1795402257.526  in  79161110001 74950000003 no_answer -    12   0 -    #  4 no answer, dial timeout
1795402259.530  in  79162220004 74950000006 abandoned -    16   0 -    #  5 queue abandoned
1795402265.532  in  79162220004 74950000005 answered  202   3  78 -    #  6 answered
1795402267.536  out 203         79163330006 no_answer -    20   0 -    #  7 call-back
1795402272.544  in  79161110001 74950000002 abandoned -     5   0 -    #  8 missed, caller hangs up
1795402281.548  in  79161110003 74950000005 answered  202   7  35 -    #  9 answered
1795402285.552  in  79164440008 74950000005 no_answer -    15   0 -    # 10 no answer, dial timeout
1795402287.556  in  79162220004 74950000003 answered  203   8  90 -    # 11 caller hangs up
1795402296.560  in  79161110002 74950000002 answered  202   3  50 -    # 12 answered
1795402298.564  in  79031488170 74950000002 answered  202   8  54 -    # 13 caller hangs up
1795402305.568  in  79039724496 74950000008 answered  202   2  31 -    # 14 queue answered
1795402311.574  in  79161110001 74950000001 busy      -     0   0 -    # 15 busy
1795402314.578  in  79164440008 74950000003 answered  203   2  29 -    # 16 answered
1795402320.582  int 203         202         answered  202   3   6 -    # 17 internal agent-to-agent
1795402323.586  in  79161110002 74950000006 answered  202   3  22 -    # 18 queue answered
1795402328.592  in  79034777549 74950000004 no_answer -    15   0 -    # 19 no answer, dial timeout
1795402332.596  in  79162220004 74950000002 answered  202   4  46 -    # 20 answered
1795402335.600  in  79161110001 74950000004 answered  201   6   4 -    # 21 short answered
1795402342.604  int 202         201         answered  201   9  22 -    # 22 internal agent-to-agent
1795402348.608  in  79162220004 74950000003 answered  203   5  40 -    # 23 caller hangs up
1795402352.612  in  79162220004 74950000001 abandoned -     4   0 -    # 24 missed, caller hangs up
1795402356.616  in  79164440008 74950000003 busy      -     0   0 -    # 25 busy
1795402362.620  in  79165550011 74950000005 answered  202   7   6 -    # 26 short answered
1795402365.624  in  79161110003 74950000002 busy      -     0   0 -    # 27 busy
1795402368.628  in  79166660012 74950000010 answered  201   9  13 -    # 28 ring group answered
1795402371.634  in  79162220005 74950000001 answered  201   6  20 202  # 29 blind transfer 201->202
1795402379.638  in  79161110002 74950000008 answered  201   2  65 -    # 30 queue answered
""",
    "mixed-05": """
1795402453.646  in  79162220005 74950000008 answered  201   5  29 -    #  1 queue answered
1795402461.652  in  79164440009 74950000003 busy      -     0   0 -    #  2 busy
1795402463.656  in  79032515651 74950000006 answered  202   6  50 -    #  3 queue answered
1795402469.662  in  79036078263 74950000007 answered  201   9  41 -    #  4 queue answered
1795402475.668  out 202         79162220004 answered  -     6  55 -    #  5 call-back
1795402482.672  in  79161110002 74950000003 busy      -     0   0 -    #  6 busy
1795402489.676  in  79164440008 74950000004 abandoned -     9   0 -    #  7 missed, caller hangs up
1795402494.680  in  79162220005 74950000002 abandoned -    14   0 -    #  8 missed, caller hangs up
1795402502.684  in  79161110003 74950000004 abandoned -    13   0 -    #  9 missed, caller hangs up
1795402509.688  in  79161110001 74950000009 answered  201   2  36 -    # 10 ring group answered
1795402512.694  in  79166660012 74950000007 answered  202   8  17 -    # 11 queue answered
1795402520.700  in  79161110001 74950000005 answered  202   5  81 -    # 12 answered
1795402523.704  int 201         202         answered  202   2  27 -    # 13 internal agent-to-agent
1795402528.708  in  79161110003 74950000004 answered  201   7  14 -    # 14 caller hangs up
1795402531.712  int 201         203         answered  203   2  31 -    # 15 internal agent-to-agent
1795402537.716  in  79161110003 74950000001 answered  201   2  42 -    # 16 answered
1795402544.720  in  79161110001 74950000010 answered  202   8  42 -    # 17 ring group answered
1795402547.726  in  79164440009 74950000005 answered  202   6  63 -    # 18 answered
1795402551.730  in  79164440008 74950000001 answered  201   2  51 202  # 19 blind transfer 201->202
1795402555.734  in  79161110003 74950000003 answered  203   4   2 -    # 20 short answered
1795402562.738  in  79161110003 74950000003 abandoned -    16   0 -    # 21 missed, caller hangs up
1795402567.742  out 202         79162220004 answered  -     3  13 -    # 22 call-back
1795402575.746  in  79162220005 74950000002 answered  202   5  35 -    # 23 caller hangs up
1795402579.752  in  79034292474 74950000007 abandoned -    23   0 -    # 24 queue abandoned
1795402585.758  in  79034292474 74950000005 no_answer -    20   0 -    # 25 no answer, dial timeout
# 26: position 2 behind call 24 (queue abandoned at 23 s); members rung 9 s after the join
# (AgentCalled 9 s after QueueCallerJoin), 201 answers after RING=9: 9 + 9.
1795402593.762  in  79166660012 74950000008 answered  201  18  47 -    # 26 queue answered
1795402602.768  int 201         202         answered  202   7   5 -    # 27 internal agent-to-agent
1795402607.776  in  79163330007 74950000001 abandoned -    12   0 -    # 28 missed, caller hangs up
1795402611.780  in  79161110001 74950000008 abandoned -    23   0 -    # 29 queue abandoned
1795402613.786  out 202         79161110002 answered  -     5  25 -    # 30 call-back
""",
}


def expected_calls(name: str) -> dict[str, tuple[object, ...]]:
    rows: dict[str, tuple[object, ...]] = {}
    for line in EXPECTED[name].splitlines():
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        linkedid, direction, caller, dialled, outcome, by, wait, talk, transfers = fields
        rows[linkedid] = (
            DIRECTIONS[direction],
            caller,
            dialled,
            outcome,
            None if by == "-" else by,
            int(wait),
            int(talk),
            () if transfers == "-" else tuple(transfers.split(",")),
        )
    return rows


def check_calls(name: str, calls: list[AssembledCall]) -> None:
    expected = expected_calls(name)
    assert sorted(c.linkedid for c in calls) == sorted(expected)
    for call in calls:
        direction, caller, dialled, outcome, by, wait, talk, transfers = expected[call.linkedid]
        got = (call.direction, call.caller_number, call.dialled_number, call.outcome)
        assert got == (direction, caller, dialled, outcome), call.linkedid
        assert (call.answered_by, call.transfers) == (by, transfers), call.linkedid
        assert (call.answered_at is not None) == (outcome == "answered"), call.linkedid
        assert abs(call.wait_seconds - int(str(wait))) <= 1, (call.linkedid, call.wait_seconds)
        assert abs(call.talk_seconds - int(str(talk))) <= 1, (call.linkedid, call.talk_seconds)
        assert call.pbx == "default"
        assert call.uniqueid == call.linkedid  # the first channel names the call


def test_every_capture_has_a_table() -> None:
    assert set(EXPECTED) == set(ALL_CAPTURES)
    mixed_calls = sum(len(expected_calls(name)) for name in MIXED_CAPTURES)
    assert mixed_calls == 120


@pytest.mark.parametrize("name", ALL_CAPTURES)
def test_capture_fed_in_one_piece(name: str) -> None:
    capture = load_capture(name)
    check_calls(name, assemble_calls(capture.events))


@pytest.mark.parametrize("name", ALL_CAPTURES)
def test_capture_split_at_random_bytes(name: str) -> None:
    capture = load_capture(name)
    times = [received_at for _, received_at in capture.events]
    one_piece = [msg for msg, _ in capture.events]
    size = 3000 if name in MIXED_CAPTURES else 40
    for seed in (1, 2, 3):
        messages = parse_in_chunks(capture.data, seed, max_size=size)
        assert messages == one_piece
        check_calls(name, assemble_calls(zip(messages, times, strict=True)))


@pytest.mark.parametrize("name", ALL_CAPTURES)
def test_capture_with_cyrillic_names_split_inside_characters(name: str) -> None:
    # The captures are ASCII; give every caller a Cyrillic name so that random cuts
    # land inside two-byte characters, and check the names and the calls survive.
    capture = load_capture(name)
    data = capture.data.replace(b"CallerIDName: <unknown>", "CallerIDName: Алекс Ёж".encode())
    times = [received_at for _, received_at in capture.events]
    for seed in (4, 5):
        messages = parse_in_chunks(data, seed, max_size=7 if name == "answered" else 500)
        names = {m.get("CallerIDName") for m in messages if "CallerIDName" in m}
        assert "Алекс Ёж" in names
        assert not any("\ufffd" in value for m in messages for value in m.values())
        check_calls(name, assemble_calls(zip(messages, times, strict=True)))


@pytest.mark.parametrize("name", ALL_CAPTURES)
def test_attached_cdrs_are_the_master_csv_rows_of_the_call(name: str) -> None:
    capture = load_capture(name)
    calls = assemble_calls(capture.events)
    for call in calls:
        master = sorted(
            (replace(cdr, sequence=None) for cdr in capture.master_for(call.linkedid)),
            key=lambda cdr: cdr.key,
        )
        assert master, call.linkedid
        assert sorted(call.cdrs, key=lambda cdr: cdr.key) == master
    assert sum(len(call.cdrs) for call in calls) == len(capture.master)


def near_cdr_time(value: datetime, cdr_time: datetime) -> bool:
    """Within a second of the truth, which a CDR time truncates: it lies in [t, t + 1 s)."""
    return cdr_time - timedelta(seconds=1) <= value < cdr_time + timedelta(seconds=2)


@pytest.mark.parametrize("name", ALL_CAPTURES)
def test_times_agree_with_the_pbx_clock(name: str) -> None:
    # CDR times are whole seconds of the PBX clock (UTC); ours come from receive times.
    capture = load_capture(name)
    for call in assemble_calls(capture.events):
        cdrs = capture.master_for(call.linkedid)
        assert near_cdr_time(call.started_at, min(cdr.start for cdr in cdrs)), call.linkedid
        assert near_cdr_time(call.ended_at, max(cdr.end for cdr in cdrs)), call.linkedid
        if call.answered_at is not None and call.direction == "inbound":
            # The first agent's answer (for call-backs the CDR's is the agent's own phone).
            first_answer = min(cdr.answer for cdr in cdrs if cdr.answer is not None)
            assert near_cdr_time(call.answered_at, first_answer), call.linkedid


@pytest.mark.parametrize("name", ALL_CAPTURES)
def test_live_feed_emits_each_call_once_after_its_grace(name: str) -> None:
    capture: Capture = load_capture(name)
    assembler = CallAssembler()
    emitted = [call for msg, at in capture.events for call in assembler.feed(msg, at)]
    # Every call completes from feed alone (the Logoff comes seconds after the last
    # hangup), once, with all its CDRs: none arrives after the grace.
    assert sorted(c.linkedid for c in emitted) == sorted(expected_calls(name))
    stats = assembler.stats
    assert (stats.calls_updated, stats.late_cdrs, stats.orphan_cdrs) == (0, 0, 0)
    assert (stats.bad_events, stats.untracked) == (0, 0)
    assert assembler.flush(capture.events[-1][1] + timedelta(hours=1), force=True) == []


# Who rang but never answered (the per-agent "rang but missed"): queue rounds ring
# each agent once in the list however many rounds rang them.
MISSED_BY = {
    "queue-answered": ("201",),
    "queue-abandoned": ("201", "202"),
    "queue-timeout": ("201", "202"),
    "ringgroup-answered": ("201",),
    "busy": ("202",),
    "noanswer-timeout": ("203",),
    "answered": (),
}


@pytest.mark.parametrize("name", sorted(MISSED_BY))
def test_agents_who_rang_but_never_answered(name: str) -> None:
    (call,) = assemble_calls(load_capture(name).events)
    assert call.missed_by == MISSED_BY[name]
    assert call.answered_by not in call.missed_by


@pytest.mark.parametrize("name", ALL_CAPTURES)
def test_only_inbound_calls_name_who_missed_them(name: str) -> None:
    for call in assemble_calls(load_capture(name).events):
        if call.direction != "inbound":
            assert call.missed_by == ()
        assert call.answered_by not in call.missed_by
        assert not set(call.transfers) & set(call.missed_by)
