"""The traffic model, the pool played in memory, and the scoring: pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from callpool.demo import traffic
from callpool.demo.pool_run import PoolConfig, credit_calls, run_pool, simulate_in_memory
from callpool.demo.truth import Credit, Truth, score

pytestmark = pytest.mark.pure

START = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday


def pool(size: int, **kwargs: object) -> PoolConfig:
    return PoolConfig(tuple(f"+7495555{i:04d}" for i in range(1, size + 1)), **kwargs)  # type: ignore[arg-type]


def test_the_plan_is_the_same_for_the_same_seed_and_differs_for_another() -> None:
    shape = traffic.steady_b2c(300)
    one = traffic.plan_traffic(shape, START, START + timedelta(days=2), seed=1)
    again = traffic.plan_traffic(shape, START, START + timedelta(days=2), seed=1)
    other = traffic.plan_traffic(shape, START, START + timedelta(days=2), seed=2)
    assert one == again
    assert one.visits != other.visits


def test_visits_follow_the_hour_of_day_and_the_weekday() -> None:
    shape = traffic.steady_b2c(1000)
    plan = traffic.plan_traffic(shape, START, START + timedelta(days=14), seed=3)
    by_hour = [0] * 24
    weekend = weekdays = 0
    for visit in plan.visits:
        by_hour[visit.started_at.hour] += 1
        if visit.started_at.weekday() >= 5:
            weekend += 1
        else:
            weekdays += 1
    assert by_hour[11] > 10 * by_hour[3]
    assert weekend / 4 < weekdays / 10  # a weekend day is quieter than a weekday
    assert 13000 < len(plan.visits) < 15000


def test_calls_come_during_after_and_days_after_the_visit_and_some_repeat() -> None:
    plan = traffic.plan_traffic(traffic.steady_b2c(1000), START, START + timedelta(days=7), seed=4)
    visits = {v.session_id: v for v in plan.visits}
    timings = {c.timing for c in plan.calls}
    assert timings == {"during", "after", "days_later", "repeat", "static"}
    for call in plan.calls:
        if call.timing == "during":
            visit = visits[call.session_id or ""]
            assert visit.started_at <= call.at <= visit.ended_at
        elif call.timing in ("after", "days_later"):
            assert call.at > visits[call.session_id or ""].ended_at
        elif call.timing == "static":
            assert call.channel == "print" and call.session_id is None
    kinds = {c.kind for c in plan.calls}
    assert kinds == {"answered", "short", "abandoned", "busy"}
    assert any(c.callback_after is not None for c in plan.calls)


def test_fast_pool_gives_the_same_numbers_as_the_pool_rules() -> None:
    plan = traffic.plan_traffic(traffic.evening_peak(600), START, START + timedelta(days=2), seed=5)
    for size in (2, 6, 30):
        config = pool(size, hold=timedelta(seconds=300), cooldown=timedelta(seconds=60))
        fast, exact = run_pool(plan, config), run_pool(plan, config, exact=True)
        assert fast.shown == exact.shown
        assert fast.leases == exact.leases
        assert fast.exhaustions == exact.exhaustions


def test_a_big_pool_credits_calls_during_the_visit_to_their_session() -> None:
    plan = traffic.plan_traffic(traffic.steady_b2c(200), START, START + timedelta(days=3), seed=6)
    config = pool(200)
    run = run_pool(plan, config)
    credits = credit_calls(run, config, plan)
    during = [c for c in plan.calls if c.timing == "during"]
    assert during
    for call in during:
        assert credits[call.key].session_id == call.session_id
        assert credits[call.key].channel == call.channel
    assert run.exhaustions == 0


def test_a_too_small_pool_exhausts_and_loses_calls() -> None:
    plan = traffic.plan_traffic(traffic.steady_b2c(400), START, START + timedelta(days=3), seed=7)
    small, big = simulate_in_memory(plan, pool(3)), simulate_in_memory(plan, pool(80))
    assert small.exhaustions > 0 and big.exhaustions == 0
    assert small.right_session_share < big.right_session_share
    assert small.unattributed > big.unattributed


def test_score_counts_right_wrong_and_unattributed() -> None:
    truths = [
        Truth("a", "social", frozenset({"s1"})),
        Truth("b", "social", frozenset({"s2"})),
        Truth("c", "direct", frozenset({"s3"})),
        Truth("d", "print", frozenset()),
    ]
    credits = {
        "a": Credit("s1", "social", "lease"),
        "b": Credit("s9", "direct", "lease"),
        "d": Credit(None, "print", "static"),
    }
    accuracy = score(truths, credits, visits=10, exhaustions=1)
    assert (accuracy.calls, accuracy.session_calls) == (4, 3)
    assert (accuracy.right_session, accuracy.right_channel) == (1, 2)
    assert (accuracy.unattributed, accuracy.wrong) == (1, 1)
    assert accuracy.exhaustion_share == 0.1
