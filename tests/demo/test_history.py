"""Simulated history written through the call store: its credits equal the pure model's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from callpool.db.engine import connection
from callpool.db.tables import Call, Lease, Session
from callpool.demo import catalog, history, traffic
from callpool.demo.pool_run import credit_calls, run_pool, truths_of
from callpool.demo.truth import score


async def test_history_is_stored_and_attributed_as_the_pure_model_says(
    engine: AsyncEngine,
) -> None:
    size, rule = catalog.demo_pool_size(traffic.steady_b2c(150))
    demo = await catalog.ensure_demo_catalog(engine, ["http://127.0.0.1:8080"], size, rule, "RU")
    again = await catalog.ensure_demo_catalog(engine, ["http://127.0.0.1:8080"], size, rule, "RU")
    assert demo.created and not again.created and again.pool == demo.pool
    end = datetime(2026, 3, 2, tzinfo=UTC)
    plan = traffic.plan_traffic(traffic.steady_b2c(150), end - timedelta(days=7), end, seed=11)
    config = demo.pool_config()
    run = run_pool(plan, config)
    written = await history.write_history(engine, demo, plan, run, "RU", end)
    stored = await history.credits(engine, demo, written)
    assert stored == credit_calls(run, config, plan)
    accuracy = score(truths_of(run), stored, len(plan.visits), run.exhaustions)
    assert accuracy.calls == len(plan.calls) > 20
    assert accuracy.right_channel_share > 0.9
    async with connection(engine) as conn:
        calls = await conn.scalar(select(func.count()).select_from(Call))
        sessions = await conn.scalar(select(func.count()).select_from(Session))
        leases = await conn.scalar(select(func.count()).select_from(Lease))
    assert calls == len(plan.calls) + written.callbacks
    assert sessions == len(plan.visits)
    assert leases == len(run.leases)


async def test_the_demo_login_gets_a_new_password_each_run(engine: AsyncEngine) -> None:
    from callpool.accounts.store import authenticate

    first = await catalog.reset_demo_login(engine)
    second = await catalog.reset_demo_login(engine)
    assert first != second
    assert await authenticate(engine, catalog.USERNAME, second) is not None
    assert await authenticate(engine, catalog.USERNAME, first) is None
