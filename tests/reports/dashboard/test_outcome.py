"""An admin sets a call's outcome and value; the figures move once the roll-up job has run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from callpool.db.engine import connection, create_engine
from callpool.db.tables import Call
from callpool.metrics.jobs import roll_up
from callpool.metrics.report_query import Period, ReportQuery, run_report
from tests.reports.dashboard.conftest import Client, log_in
from tests.reports.dashboard.seed import World

WEEK = ReportQuery("shop", "autumn", Period(named="last_7_days"))


async def totals(database_url: str, *, roll: bool) -> dict[str, Any]:
    engine = create_engine(database_url)
    try:
        if roll:
            assert (await roll_up(engine, datetime.now(UTC) + timedelta(seconds=1), wait=True)).ran
        return (await run_report(engine, WEEK, datetime.now(UTC))).report.total
    finally:
        await engine.dispose()


async def test_an_admins_outcome_and_value_count_after_the_roll_up(
    client: Client, world: World, database_url: str
) -> None:
    before = await totals(database_url, roll=True)
    assert before["successful_calls"] == 0 and not before["revenue"]
    csrf = await log_in(client, "boss")
    call_id = world.shop_call_ids[0]
    response = await client.post(
        f"/app/calls/{call_id}/outcome",
        data={"outcome": "sale", "value": "1 500,50", "next": "/app/calls?x=1", "_csrf": csrf},
        allow_redirects=False,
    )
    assert response.status == 302 and response.headers["Location"] == "/app/calls?x=1"
    engine = create_engine(database_url)
    try:
        async with connection(engine) as conn:
            row = (
                await conn.execute(select(Call.outcome, Call.value).where(Call.id == call_id))
            ).one()
    finally:
        await engine.dispose()
    assert tuple(row) == ("sale", Decimal("1500.50"))
    # Reports read the roll-ups: nothing moves until the job has run...
    assert (await totals(database_url, roll=False))["successful_calls"] == 0
    # ...and then exactly this call counts, with its value.
    after = await totals(database_url, roll=True)
    assert after["successful_calls"] == 1
    assert Decimal(str(after["revenue"])) == Decimal("1500.50")
    assert after["calls"] == before["calls"]
    page = await (await client.get(f"/app/calls?c={world.shop_campaign}&period=last_7_days")).text()
    assert "1,500.50" in page or "1500.50" in page


async def test_an_outcome_the_campaign_does_not_know_is_refused_and_nothing_written(
    client: Client, world: World, database_url: str
) -> None:
    csrf = await log_in(client, "boss")
    call_id = world.shop_call_ids[1]
    response = await client.post(
        f"/app/calls/{call_id}/outcome", data={"outcome": "won", "value": "10", "_csrf": csrf}
    )
    assert response.status == 400
    assert "outcome: must be one of lead, sale, spam" in await response.text()
    assert (await totals(database_url, roll=True))["successful_calls"] == 0


async def test_a_viewer_cannot_set_an_outcome(client: Client, world: World) -> None:
    csrf = await log_in(client, "anna")
    response = await client.post(
        f"/app/calls/{world.shop_call_ids[0]}/outcome",
        data={"outcome": "sale", "value": "1", "_csrf": csrf},
        allow_redirects=False,
    )
    assert response.status == 403
