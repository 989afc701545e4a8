from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from callpool.errors import PoolExhausted
from callpool.tracking.pool import (
    LiveLease,
    PoolNumber,
    allocate_number,
    choose_number,
    find_reusable_lease,
    is_free,
    is_live,
    lease_expiry,
)

pytestmark = pytest.mark.pure

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
COOLDOWN = timedelta(minutes=5)


def ago(minutes: float) -> datetime:
    return NOW - timedelta(minutes=minutes)


def later(minutes: float) -> datetime:
    return NOW + timedelta(minutes=minutes)


def number(id: int, released_minutes_ago: float | None = None, **flags: bool) -> PoolNumber:
    released = None if released_minutes_ago is None else ago(released_minutes_ago)
    return PoolNumber(id=id, e164=f"+7495000{id:04d}", last_released_at=released, **flags)


def lease(
    number_id: int, expires_at: datetime, visitor: str = "v1", session: str = "s1"
) -> LiveLease:
    return LiveLease(
        number_id=number_id, session_id=session, visitor_id=visitor, expires_at=expires_at
    )


def test_lease_expiry_is_last_heartbeat_plus_hold() -> None:
    assert lease_expiry(NOW, timedelta(minutes=15)) == later(15)


@pytest.mark.parametrize(("expires_at", "live"), [(later(1), True), (NOW, False), (ago(1), False)])
def test_lease_is_live_until_its_expiry_exclusive(expires_at: datetime, live: bool) -> None:
    assert is_live(lease(1, expires_at), NOW) is live


@pytest.mark.parametrize(
    ("candidate", "leases", "free"),
    [
        (number(1), [], True),
        (number(1, released_minutes_ago=60), [], True),
        (number(1, released_minutes_ago=5), [], True),  # exactly the cool-down
        (number(1, released_minutes_ago=4), [], False),
        (number(1, released_minutes_ago=-1), [], False),  # released "in the future": skew
        (number(1, active=False), [], False),
        (number(1, retiring=True), [], False),
        (number(1), [lease(1, later(1))], False),
        (number(1), [lease(2, later(1))], True),  # someone else's number
        # An expired lease released the number at its expiry: cool-down counts from it.
        (number(1, released_minutes_ago=60), [lease(1, ago(2))], False),
        (number(1, released_minutes_ago=60), [lease(1, ago(6))], True),
    ],
)
def test_is_free(candidate: PoolNumber, leases: list[LiveLease], free: bool) -> None:
    assert is_free(candidate, leases, NOW, COOLDOWN) is free


def test_never_released_number_is_chosen_first() -> None:
    pool = [number(1, released_minutes_ago=600), number(2), number(3, released_minutes_ago=60)]
    assert choose_number(pool, [], NOW, COOLDOWN).id == 2


def test_lru_number_is_chosen_first() -> None:
    pool = [
        number(1, released_minutes_ago=10),
        number(2, released_minutes_ago=600),
        number(3, released_minutes_ago=60),
    ]
    assert choose_number(pool, [], NOW, COOLDOWN).id == 2


def test_ties_are_broken_by_e164() -> None:
    pool = [
        PoolNumber(id=1, e164="+74950000003"),
        PoolNumber(id=2, e164="+74950000001"),
        PoolNumber(id=3, e164="+74950000002"),
    ]
    assert choose_number(pool, [], NOW, COOLDOWN).e164 == "+74950000001"


def test_leased_and_cooling_numbers_are_skipped() -> None:
    pool = [number(1), number(2, released_minutes_ago=1), number(3, released_minutes_ago=30)]
    assert choose_number(pool, [lease(1, later(10))], NOW, COOLDOWN).id == 3


def test_expired_lease_makes_its_number_recently_released() -> None:
    # Number 1's row says it was released long ago, but a lease on it expired 10 minutes
    # ago; number 2 has been quiet for 20 minutes and goes first.
    pool = [number(1, released_minutes_ago=600), number(2, released_minutes_ago=20)]
    assert choose_number(pool, [lease(1, ago(10))], NOW, COOLDOWN).id == 2


@pytest.mark.parametrize(
    ("pool", "leases", "message"),
    [
        ([], [], "pool of 0"),
        ([number(1), number(2)], [lease(1, later(1)), lease(2, later(1), "v2")], "2 leased"),
        ([number(1, released_minutes_ago=1)], [], "1 cooling down"),
        ([number(1, active=False), number(2, retiring=True)], [], "2 inactive or retiring"),
    ],
)
def test_exhausted_pool_raises_and_says_why(
    pool: list[PoolNumber], leases: list[LiveLease], message: str
) -> None:
    with pytest.raises(PoolExhausted, match=message):
        choose_number(pool, leases, NOW, COOLDOWN)


def test_returning_visitor_within_hold_keeps_the_number() -> None:
    leases = [lease(1, later(3), "other"), lease(2, later(5), "me", "old-session")]
    kept = find_reusable_lease("me", leases, NOW)
    assert kept is not None
    assert kept.number_id == 2


@pytest.mark.parametrize(
    ("visitor", "leases"),
    [
        ("me", [lease(2, ago(1), "me")]),  # hold time is over
        ("me", [lease(2, later(5), "other")]),
        ("", [lease(2, later(5), "")]),  # no visitor id: nothing to recognise
    ],
)
def test_no_lease_is_reused(visitor: str, leases: list[LiveLease]) -> None:
    assert find_reusable_lease(visitor, leases, NOW) is None


def test_racing_tabs_converge_on_the_lease_expiring_last() -> None:
    leases = [lease(3, later(2), "me", "tab1"), lease(1, later(9), "me", "tab2")]
    kept = find_reusable_lease("me", leases, NOW)
    assert kept is not None
    assert kept.number_id == 1


def test_retiring_number_does_not_follow_its_visitor() -> None:
    numbers = [number(1, retiring=True), number(2)]
    assert find_reusable_lease("me", [lease(1, later(5), "me")], NOW, numbers) is None


def test_allocate_reuses_the_visitors_live_number() -> None:
    pool = [number(1), number(2, released_minutes_ago=60)]
    result = allocate_number("me", pool, [lease(2, later(5), "me")], NOW, COOLDOWN)
    assert result.number.id == 2
    assert result.is_reused


def test_allocate_gives_a_new_visitor_the_lru_number() -> None:
    pool = [number(1, released_minutes_ago=30), number(2, released_minutes_ago=60)]
    result = allocate_number("new", pool, [], NOW, COOLDOWN)
    assert result.number.id == 2
    assert not result.is_reused


def test_allocate_raises_when_visitor_is_new_and_pool_is_full() -> None:
    with pytest.raises(PoolExhausted):
        allocate_number("new", [number(1)], [lease(1, later(5), "me")], NOW, COOLDOWN)


# Property tests: random pools, leases and clocks.

numbers_st = st.lists(
    st.builds(
        PoolNumber,
        id=st.integers(min_value=1, max_value=30),
        e164=st.sampled_from([f"+7495000{n:04d}" for n in range(30)]),
        last_released_at=st.none() | st.integers(min_value=-120, max_value=120).map(ago),
        active=st.booleans(),
        retiring=st.booleans(),
    ),
    max_size=20,
    unique_by=lambda n: n.id,
)
leases_st = st.lists(
    st.builds(
        LiveLease,
        number_id=st.integers(min_value=1, max_value=30),
        session_id=st.text(max_size=3),
        visitor_id=st.sampled_from(["", "a", "b", "c"]),
        expires_at=st.integers(min_value=-30, max_value=30).map(later),
    ),
    max_size=20,
)
cooldown_st = st.integers(min_value=0, max_value=60).map(lambda m: timedelta(minutes=m))


@given(numbers_st, leases_st, cooldown_st)
def test_chosen_number_is_never_held_by_a_live_lease(
    pool: list[PoolNumber], leases: list[LiveLease], cooldown: timedelta
) -> None:
    try:
        chosen = choose_number(pool, leases, NOW, cooldown)
    except PoolExhausted:
        assert not any(is_free(n, leases, NOW, cooldown) for n in pool)
        return
    assert not any(x.number_id == chosen.id and is_live(x, NOW) for x in leases)
    assert chosen.active
    assert not chosen.retiring


@given(numbers_st, leases_st, cooldown_st)
def test_chosen_number_respects_the_cooldown(
    pool: list[PoolNumber], leases: list[LiveLease], cooldown: timedelta
) -> None:
    try:
        chosen = choose_number(pool, leases, NOW, cooldown)
    except PoolExhausted:
        return
    releases = [x.expires_at for x in leases if x.number_id == chosen.id]
    if chosen.last_released_at is not None:
        releases.append(chosen.last_released_at)
    assert all(NOW - released >= cooldown for released in releases)


@given(numbers_st, leases_st, cooldown_st)
def test_no_free_number_was_released_before_the_chosen_one(
    pool: list[PoolNumber], leases: list[LiveLease], cooldown: timedelta
) -> None:
    try:
        chosen = choose_number(pool, leases, NOW, cooldown)
    except PoolExhausted:
        return

    def released(n: PoolNumber) -> datetime | None:
        times = [x.expires_at for x in leases if x.number_id == n.id]
        times += [n.last_released_at] if n.last_released_at else []
        return max(times, default=None)

    for other in pool:
        if not is_free(other, leases, NOW, cooldown):
            continue
        mine, theirs = released(chosen), released(other)
        if mine is None:
            assert theirs is not None or chosen.e164 <= other.e164
        else:
            assert theirs is not None
            assert (mine, chosen.e164) <= (theirs, other.e164)


@given(st.sampled_from(["a", "b", "c"]), numbers_st, leases_st, cooldown_st)
def test_allocated_number_is_the_visitors_own_or_free(
    visitor: str, pool: list[PoolNumber], leases: list[LiveLease], cooldown: timedelta
) -> None:
    # A consistent store never has two visitors live on one number.
    holders: dict[int, set[str]] = {}
    for x in leases:
        if is_live(x, NOW):
            holders.setdefault(x.number_id, set()).add(x.visitor_id)
    assume(all(len(h) == 1 for h in holders.values()))
    try:
        result = allocate_number(visitor, pool, leases, NOW, cooldown)
    except PoolExhausted:
        return
    live_holders = {
        x.visitor_id for x in leases if x.number_id == result.number.id and is_live(x, NOW)
    }
    assert live_holders <= {visitor}
    if live_holders:
        assert result.is_reused
