"""The live page over HTTP: what the listener published, for whom, and the event stream."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from callpool.catalog import store as catalog_store
from callpool.catalog.spec import ChannelSpec, NumberSpec
from callpool.db.engine import create_engine
from callpool.pbx.assembly.live import LiveCall, LiveChanges
from callpool.pbx.live_store import SqlLiveStore
from callpool.reports.dashboard.views import live as live_view
from tests.reports.dashboard.conftest import Client, log_in
from tests.reports.dashboard.seed import World


@pytest.fixture
async def ringing(database_url: str, world: World) -> LiveCall:
    """A call to the shop's radio number, ringing agent 201, as the listener publishes it."""
    engine = create_engine(database_url)
    try:
        spec = ChannelSpec(site="shop", campaign="autumn", name="Radio", kind="static")
        await catalog_store.add_channel(engine, spec)
        number = NumberSpec(number="+74950000077", site="shop", campaign="autumn", channel="Radio")
        await catalog_store.import_numbers(engine, [number], "RU")
        now = datetime.now(UTC)
        call = LiveCall(
            "pbx1", "live-1", "inbound", "ringing", "79161234567", "74950000077", "201",
            now - timedelta(seconds=12), None,
        )  # fmt: skip
        await SqlLiveStore(engine, "RU").publish("pbx1", LiveChanges((call,)), now)
        return call
    finally:
        await engine.dispose()


async def test_an_admin_sees_the_call_with_its_channel_and_agent(
    client: Client, world: World, ringing: LiveCall
) -> None:
    await log_in(client, "boss")
    page = await (await client.get(f"/app/live?c={world.shop_campaign}")).text()
    row = page[page.index('data-call="live-1"') :].split("</tr>")[0]
    assert 'data-state="ringing"' in row
    assert "Radio" in row and "201" in row and "+79161234567" in row and "+74950000077" in row
    assert 'data-figure="ringing">1<' in page


async def test_a_viewer_sees_the_caller_masked_where_the_site_asks(
    client: Client, world: World, ringing: LiveCall
) -> None:
    await log_in(client, "anna")
    page = await (await client.get(f"/app/live?c={world.shop_campaign}")).text()
    assert "+79161234567" not in page and "+7916*****67" in page


async def test_another_sites_admin_does_not_see_the_call(
    client: Client, world: World, ringing: LiveCall
) -> None:
    await log_in(client, "bob")
    page = await (await client.get(f"/app/live?c={world.shop_campaign}")).text()
    assert 'data-call="live-1"' not in page and "+7916" not in page
    stream = await client.get(f"/app/live/events?c={world.shop_campaign}")
    line = b""
    while not line.startswith(b"data:"):
        line = await stream.content.readline()
    assert "live-1" not in json.loads(line[5:])["html"]
    stream.close()


async def test_the_event_stream_sends_the_calls_then_their_changes(
    client: Client, world: World, ringing: LiveCall, database_url: str, monkeypatch: Any
) -> None:
    monkeypatch.setattr(live_view, "COUNTERS_EVERY", 0.0)  # today's counters with every push
    await log_in(client, "boss")
    stream = await client.get(f"/app/live/events?c={world.shop_campaign}")
    assert stream.headers["Content-Type"].startswith("text/event-stream")

    async def next_calls() -> str:
        while True:
            line = b""
            while not line.startswith(b"data:"):
                line = await stream.content.readline()
            data = json.loads(line[5:])
            assert 'data-figure="today-calls">' in data["counters"]
            if "html" in data:
                return str(data["html"])

    assert 'data-state="ringing"' in await next_calls()
    engine = create_engine(database_url)
    try:
        store = SqlLiveStore(engine, "RU")
        now = datetime.now(UTC)
        talking = LiveCall(
            "pbx1", "live-1", "inbound", "talking", "79161234567", "74950000077", "201",
            ringing.started_at, now,
        )  # fmt: skip
        await store.publish("pbx1", LiveChanges((talking,)), now)
        assert 'data-state="talking"' in await next_calls()
        await store.publish("pbx1", LiveChanges(ended=("live-1",)), now)
        assert 'id="live-empty"' in await next_calls()
    finally:
        await engine.dispose()
        stream.close()
