"""``hang_up_missing`` after a login: only channels known from before the gap can be gone."""

from __future__ import annotations

import pytest

from callpool.pbx.assembly.calls import CallAssembler
from tests.pbx.assembly.test_calls_rules import (
    AGENT_201,
    CUSTOMER,
    INBOUND,
    Event,
    Script,
    at,
)

pytestmark = pytest.mark.pure


def _talking(linkedid: str, t: float) -> Script:
    s = Script(linkedid).inbound_start(t).new(t, AGENT_201, "agents", "201")
    s.dial(t, INBOUND, AGENT_201, "from-pstn", "74950000001", "79161110001")
    return s.dial_end(t + 4, INBOUND, AGENT_201, "ANSWER").bridge(t + 4, AGENT_201, INBOUND)


def _feed(assembler: CallAssembler, events: list[Event], seq: int) -> int:
    for msg, t in events:
        seq += 1
        assembler.feed(msg, t, seq)
    return seq


def test_channels_named_after_the_login_are_not_ended_whatever_the_list_says() -> None:
    old = _talking("1795401185.0", 0)
    assembler = CallAssembler()
    boundary = _feed(assembler, old.events, 0)  # the last event before the gap
    # After the login, before the channel list is read: a new call comes in, and the
    # PBX speaks of the old call's agent leg (it is up, though missing from the list).
    new = _talking("1795409999.0", 40)
    spoken = Script(old.linkedid)
    spoken.uids = old.uids
    spoken.add(41, "BridgeLeave", **spoken.chan(AGENT_201))
    _feed(assembler, [*new.events, *spoken.events], boundary)

    assembler.hang_up_missing((), at(30), named_after=boundary)

    calls = assembler.index.calls
    old_legs = calls[old.linkedid].legs
    assert old_legs[old.uid(CUSTOMER)].hung_up_at == at(30)
    assert old_legs[old.uid(INBOUND)].hung_up_at == at(30)
    assert old_legs[old.uid(AGENT_201)].hung_up_at is None
    assert all(leg.hung_up_at is None for leg in calls[new.linkedid].legs.values())
    assert calls[new.linkedid].end_reason is None
    assert assembler.stats.recovered_hangups == 2


def test_without_a_boundary_every_missing_channel_is_ended() -> None:
    s = _talking("1795401185.0", 0)
    assembler = CallAssembler()
    _feed(assembler, s.events, 0)
    assembler.hang_up_missing({s.uid(AGENT_201)}, at(30))
    assert assembler.stats.recovered_hangups == 2
    assert s.linkedid in assembler.index.calls
