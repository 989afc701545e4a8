"""Attribution rules with plain data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from callpool.attribution import (
    Attribution,
    CallFacts,
    LeaseFacts,
    NumberFacts,
    attribute_call,
    reattribute,
)

pytestmark = pytest.mark.pure

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
POOL = NumberFacts(
    1, "+74950000001", campaign_id=10, static_channel_id=None, grace=timedelta(minutes=30)
)
STATIC = NumberFacts(
    2, "+74950000099", campaign_id=10, static_channel_id=7, grace=timedelta(minutes=30)
)


def lease(
    visitor: str, start_min: int, end_min: int, released: bool = True, channel: int = 3
) -> LeaseFacts:
    start, end = T0 + timedelta(minutes=start_min), T0 + timedelta(minutes=end_min)
    return LeaseFacts(
        1, f"s-{visitor}-{start_min}", visitor, 10, channel, start, end, end if released else None
    )


def call(
    minute: float,
    caller: str = "+79161110001",
    key: str = "c1",
    direction: str = "inbound",
    dialled: str = "+74950000001",
) -> CallFacts:
    return CallFacts(key, direction, caller, dialled, T0 + timedelta(minutes=minute))


def test_call_during_a_live_lease_is_credited_to_that_session() -> None:
    credit = attribute_call(call(5), POOL, [lease("a", 0, 15, released=False)])
    assert credit == Attribution("lease", 1, 10, 3, "s-a-0", "a")


def test_call_after_expiry_within_grace_goes_to_the_last_lease() -> None:
    leases = [lease("a", 0, 15), lease("b", 20, 35)]
    credit = attribute_call(call(50), POOL, leases)
    assert credit is not None and (credit.method, credit.visitor_id) == ("grace", "b")


def test_call_after_the_grace_window_is_unattributed_to_the_campaign() -> None:
    credit = attribute_call(call(35 + 31), POOL, [lease("b", 20, 35)])
    assert credit == Attribution("unattributed", number_id=1, campaign_id=10)


def test_static_number_credits_its_channel() -> None:
    credit = attribute_call(call(1, dialled=STATIC.e164), STATIC, [])
    assert credit == Attribution("static", number_id=2, campaign_id=10, channel_id=7)


def test_outbound_and_internal_calls_are_not_attributed() -> None:
    assert attribute_call(call(1, direction="outbound"), POOL, []) is None
    assert attribute_call(call(1, direction="internal"), None, []) is None


def test_unknown_number_is_marked() -> None:
    assert attribute_call(call(1), None, []) == Attribution("unknown_number")


def test_lease_boundaries_are_half_open() -> None:
    leases = [lease("a", 0, 15), lease("b", 15, 30, released=False)]
    assert attribute_call(call(15), POOL, leases).visitor_id == "b"  # type: ignore[union-attr]
    assert attribute_call(call(14.99), POOL, leases).visitor_id == "a"  # type: ignore[union-attr]


def test_repeat_caller_keeps_their_first_visitors_channel() -> None:
    weeks_later = 60 * 24 * 21
    leases = {
        1: [
            lease("v", 0, 15, channel=3),
            lease("stranger", weeks_later - 5, weeks_later + 10, released=False, channel=4),
        ]
    }
    calls = [call(5, key="first"), call(weeks_later, key="again")]
    credits = reattribute(calls, {POOL.e164: POOL}, leases)
    assert credits["first"] is not None and credits["first"].method == "lease"
    again = credits["again"]
    assert again is not None
    assert (again.method, again.visitor_id, again.channel_id) == ("repeat_caller", "v", 3)


def test_repeat_caller_rule_can_be_switched_off() -> None:
    weeks_later = 60 * 24 * 21
    leases = {
        1: [
            lease("v", 0, 15),
            lease("stranger", weeks_later - 5, weeks_later + 10, released=False, channel=4),
        ]
    }
    calls = [call(5, key="first"), call(weeks_later, key="again")]
    credits = reattribute(calls, {POOL.e164: POOL}, leases, credit_repeat_callers=False)
    assert credits["again"] is not None and credits["again"].visitor_id == "stranger"


def test_same_visitor_calling_again_is_a_plain_lease_credit() -> None:
    leases = {1: [lease("v", 0, 60, released=False)]}
    credits = reattribute([call(5, key="a"), call(30, key="b")], {POOL.e164: POOL}, leases)
    assert credits["b"] is not None and credits["b"].method == "lease"


def test_reattribution_is_order_independent_and_repeatable() -> None:
    leases = {1: [lease("a", 0, 15), lease("b", 20, 35)]}
    calls = [
        call(40, key="x", caller="+1"),
        call(5, key="y", caller="+2"),
        call(25, key="z", caller="+1"),
    ]
    first = reattribute(calls, {POOL.e164: POOL}, leases)
    assert first == reattribute(list(reversed(calls)), {POOL.e164: POOL}, leases)
    assert first["x"] is not None and first["x"].method == "grace"
