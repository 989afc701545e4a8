from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from fractions import Fraction
from math import factorial

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callpool.errors import ValidationError
from callpool.tracking.capacity import (
    erlang_b,
    peak_concurrency,
    recommended_pool_size,
    rule_of_thumb_pool_size,
)

pytestmark = pytest.mark.pure


def erlang_b_exact(servers: int, load: Fraction) -> Fraction:
    """The textbook formula in exact arithmetic: an independent check on the recursion."""
    terms = [load**k / factorial(k) for k in range(servers + 1)]
    return terms[-1] / sum(terms)


# (servers, load, value from a published Erlang B table)
PUBLISHED = [
    (18, 10.0, 0.0071),
    (17, 10.0, 0.0129),
    (10, 5.0, 0.0184),
    (1, 1.0, 0.5),
    (2, 1.0, 0.2),
]


@pytest.mark.parametrize(("servers", "load", "table"), PUBLISHED)
def test_erlang_b_matches_published_table(servers: int, load: float, table: float) -> None:
    assert erlang_b(servers, load) == pytest.approx(table, abs=5e-5)


@pytest.mark.parametrize(("servers", "load", "table"), PUBLISHED)
def test_published_table_values_are_right(servers: int, load: float, table: float) -> None:
    exact = erlang_b_exact(servers, Fraction(load))
    assert float(exact) == pytest.approx(table, abs=5e-5)


@given(
    servers=st.integers(min_value=0, max_value=60),
    load=st.fractions(min_value=0, max_value=80, max_denominator=8),
)
def test_erlang_b_recursion_equals_exact_formula(servers: int, load: Fraction) -> None:
    assert erlang_b(servers, float(load)) == pytest.approx(
        float(erlang_b_exact(servers, load)), rel=1e-9, abs=1e-300
    )


def test_erlang_b_stays_finite_past_factorial_overflow() -> None:
    blocking = erlang_b(1000, 950.0)
    assert 0.0 < blocking < 0.1


@pytest.mark.parametrize(("servers", "load", "expected"), [(0, 3.0, 1.0), (5, 0.0, 0.0)])
def test_erlang_b_edge_cases(servers: int, load: float, expected: float) -> None:
    assert erlang_b(servers, load) == expected


@pytest.mark.parametrize(
    ("servers", "load"), [(-1, 1.0), (1, -0.1), (1, float("nan")), (1, float("inf"))]
)
def test_erlang_b_refuses_bad_input(servers: int, load: float) -> None:
    with pytest.raises(ValidationError):
        erlang_b(servers, load)


@pytest.mark.parametrize(
    ("per_hour", "visit", "hold", "target", "expected"),
    [
        (120, 180, 120, 0.01, 18),  # A = 120/3600 * 300 = 10 erlangs
        (120, 180, 120, 0.02, 17),  # B(17, 10) = 0.0129 <= 2 %
        (3600, 5, 5, 0.01, 18),  # the same load from short visits
        (0, 180, 120, 0.01, 1),  # no traffic still needs a number to show
        (60, 60, 0, 0.5, 1),  # A = 1: B(1, 1) = 0.5
    ],
)
def test_recommended_pool_size_is_smallest_meeting_target(
    per_hour: float, visit: float, hold: float, target: float, expected: int
) -> None:
    size = recommended_pool_size(per_hour, visit, hold, target)
    assert size == expected
    load = per_hour / 3600 * (visit + hold)
    assert erlang_b(size, load) <= target
    if size > 1:
        assert erlang_b(size - 1, load) > target


def test_cooldown_counts_as_holding_time() -> None:
    # 180 + 60 + 60 seconds is the same 10 erlangs as 180 + 120 without a cool-down.
    assert recommended_pool_size(120, 180, 60, cooldown_seconds=60) == 18


@pytest.mark.parametrize("target", [0.0, 1.0, -0.5, float("nan")])
def test_recommended_pool_size_refuses_impossible_targets(target: float) -> None:
    with pytest.raises(ValidationError):
        recommended_pool_size(100, 60, 60, target)


def test_recommended_pool_size_refuses_absurd_load() -> None:
    with pytest.raises(ValidationError, match="more than"):
        recommended_pool_size(1e9, 3600, 3600)


@pytest.mark.parametrize(
    ("daily", "expected"), [(0, 1), (1, 1), (20, 1), (21, 2), (100, 5), (1000, 50)]
)
def test_rule_of_thumb_is_one_number_per_twenty_visitors(daily: int, expected: int) -> None:
    assert rule_of_thumb_pool_size(daily) == expected


def test_rule_of_thumb_refuses_negative_visitors() -> None:
    with pytest.raises(ValidationError):
        rule_of_thumb_pool_size(-1)


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(2024, 5, 1, hour, minute, tzinfo=UTC)


@pytest.mark.parametrize(
    ("intervals", "expected"),
    [
        ([], {}),
        ([(at(10, 5), at(10, 20))], {at(10): 1}),
        # Overlapping leases in one hour.
        (
            [(at(10, 5), at(10, 30)), (at(10, 10), at(10, 40)), (at(10, 35), at(10, 50))],
            {at(10): 2},
        ),
        # Back to back: a number handed over at 10:20 sharp is one lease at a time.
        ([(at(10, 0), at(10, 20)), (at(10, 20), at(10, 40))], {at(10): 1}),
        # A lease spanning hours is counted in each, including an hour with no events.
        ([(at(9, 50), at(12, 10))], {at(9): 1, at(10): 1, at(11): 1, at(12): 1}),
        # A lease ending exactly on the hour does not spill into the next hour.
        (
            [(at(9, 30), at(10, 0)), (at(10, 0), at(10, 5)), (at(10, 1), at(10, 2))],
            {at(9): 1, at(10): 2},
        ),
        # A gap hour reads as zero.
        ([(at(8, 0), at(8, 30)), (at(10, 0), at(10, 30))], {at(8): 1, at(9): 0, at(10): 1}),
        # Empty intervals are ignored.
        ([(at(10, 0), at(10, 0))], {}),
    ],
)
def test_peak_concurrency_per_hour(
    intervals: list[tuple[datetime, datetime]], expected: dict[datetime, int]
) -> None:
    assert peak_concurrency(intervals) == expected


def test_peak_concurrency_buckets_are_utc_hours() -> None:
    moscow = timezone(timedelta(hours=3))
    start = datetime(2024, 5, 1, 13, 30, tzinfo=moscow)
    result = peak_concurrency([(start, start + timedelta(minutes=10))])
    assert result == {at(10): 1}


def test_peak_concurrency_takes_other_bucket_sizes() -> None:
    intervals = [(at(10, 0), at(10, 20)), (at(10, 10), at(10, 40))]
    result = peak_concurrency(intervals, timedelta(minutes=15))
    assert list(result.values()) == [2, 2, 1]  # both held at 10:15
    assert list(result) == [at(10, 0), at(10, 15), at(10, 30)]


@pytest.mark.parametrize(
    ("intervals", "bucket"),
    [([(at(10, 30), at(10, 0))], timedelta(hours=1)), ([], timedelta(0))],
)
def test_peak_concurrency_refuses_bad_input(
    intervals: list[tuple[datetime, datetime]], bucket: timedelta
) -> None:
    with pytest.raises(ValidationError):
        peak_concurrency(intervals, bucket)


minutes = st.integers(min_value=0, max_value=6 * 60)


@given(st.lists(st.tuples(minutes, st.integers(min_value=0, max_value=180)), max_size=30))
def test_peak_concurrency_equals_brute_force(pairs: list[tuple[int, int]]) -> None:
    base = at(0)
    intervals = [(base + timedelta(minutes=s), base + timedelta(minutes=s + d)) for s, d in pairs]
    result = peak_concurrency(intervals)
    for hour_start, peak in result.items():
        # Concurrency only changes at a start, so the peak is reached at a start or the
        # bucket's first minute.
        instants = [hour_start] + [
            s for s, _ in intervals if hour_start <= s < hour_start + timedelta(hours=1)
        ]
        brute = max(sum(1 for s, e in intervals if s <= t < e) for t in instants)
        assert peak == brute
