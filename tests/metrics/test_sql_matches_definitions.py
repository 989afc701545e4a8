"""The SQL path gives exactly the numbers of the pure definitions, on random histories.

Repeat callers, misses and call-backs across midnight, hidden caller ids, several time
zones and both 2026 DST changes; on SQLite and PostgreSQL, one database per test.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from hypothesis import HealthCheck, given, settings

from callpool.db.engine import connection, create_engine
from callpool.metrics.campaigns import load_campaign
from callpool.metrics.definitions import compute_agent_metrics, compute_channel_metrics
from callpool.metrics.model import Grouping
from callpool.metrics.report_sql import campaign_report
from callpool.metrics.rollups import rebuild_campaign
from tests.metrics.history import History, histories, write_history

GROUPINGS: tuple[Grouping, ...] = (
    "channel",
    "day",
    "hour",
    "weekday",
    "agent",
    "callers",
    "region",
    "line_type",
)


async def _check(url: str, h: History) -> None:
    engine = create_engine(url)
    try:
        await write_history(engine, h)
        since = min([h.start, *(c.started_at.date() for c in h.calls)]) - timedelta(days=1)
        await rebuild_campaign(engine, 1, h.now, since=since)
        async with connection(engine) as conn:
            campaign = await load_campaign(conn, 1)
            assert campaign.settings == h.settings
            today = campaign.today(h.now)
            for grouping in GROUPINGS:
                sql = await campaign_report(conn, campaign, grouping, h.start, h.end, today)
                if grouping == "agent":
                    pure = compute_agent_metrics(list(h.calls), h.settings, h.start, h.end)
                else:
                    pure = compute_channel_metrics(
                        list(h.calls),
                        h.settings,
                        list(h.channels),
                        h.start,
                        h.end,
                        today=today,
                        sessions=list(h.sessions),
                        page_views=list(h.page_views),
                        spend=list(h.spend),
                        grouping=grouping,
                    )
                assert sql.rows == pure.rows, grouping
                assert sql.total == pure.total, grouping
    finally:
        await engine.dispose()


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(history=histories())
def test_sql_report_equals_the_definitions(database_url: str, history: History) -> None:
    asyncio.run(_check(database_url, history))
