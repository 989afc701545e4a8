"""The live page in real Chromium, fed by a real listener reading the AMI simulator.

callpool runs as ``serve`` would (the app from the composition root, the AMI listener
on, default write interval); the simulator plays one call in three steps (it rings, an
agent answers, both hang up), and the page, open before the call, must show each step
within one second of its last AMI event reaching callpool, pushed over server-sent
events with no reload. On both databases: SQLite polls ``live_calls``, PostgreSQL
LISTENs for the listener's NOTIFY. Screenshots in English and Russian.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, Page

from callpool.app import create_app
from callpool.catalog import store as catalog_store
from callpool.catalog.spec import ChannelSpec, NumberSpec
from callpool.db.engine import create_engine
from callpool.metrics.rollups import rebuild_campaign
from callpool.pbx.listener import PbxListener
from callpool.pbx.sim.scenarios import SimCall, call_frames
from callpool.pbx.sim.server import AmiSimulator
from callpool.pbx.sim.streams import IdAllocator, TimedFrame
from callpool.settings import load_settings
from callpool.web.keys import LISTENERS
from tests.browser.conftest import ARTIFACTS, Server, serve
from tests.browser.test_dashboard_e2e import open_page, sign_in
from tests.conftest import _migrate, empty_tables
from tests.reports.dashboard.seed import World, make_world

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]
SHOTS = ARTIFACTS / "screenshots"
WITHIN = 1.0  # seconds from the AMI events reaching callpool to the page showing them
IDS = IdAllocator(epoch=1_950_000_000)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def live_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('live') / 'callpool.db'}"
        asyncio.run(_migrate(url))
        return url
    url: str = request.getfixturevalue("pg_migrated_url")
    asyncio.run(empty_tables(url))
    return url


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(live_url: str) -> World:
    engine = create_engine(live_url)
    try:
        world = await make_world(engine)
        # The simulator's first DID is the radio ad's number; its fifth is in the pool.
        radio = ChannelSpec(site="shop", campaign="autumn", name="Radio", kind="static")
        await catalog_store.add_channel(engine, radio)
        numbers = [
            NumberSpec(number="+74950000001", site="shop", campaign="autumn", channel="Radio"),
            NumberSpec(number="+74950000005", site="shop", campaign="autumn"),
        ]
        await catalog_store.import_numbers(engine, numbers, "RU")
        await rebuild_campaign(engine, world.shop_campaign, datetime.now(UTC))
        return world
    finally:
        await engine.dispose()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def pbx_sim() -> AsyncIterator[AmiSimulator]:
    async with AmiSimulator([]) as sim:
        yield sim


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def server(
    live_url: str, world: World, pbx_sim: AmiSimulator, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Server]:
    pbx = {"name": "pbx-live", "port": pbx_sim.port, "username": "callpool", "secret": "secret"}
    settings = load_settings(
        database_url=live_url,
        ami_enabled=True,
        pbx=(pbx,),
        journal_dir=tmp_path_factory.mktemp("journal"),
        scheduler_enabled=False,
    )
    started = await serve(create_app(settings))
    yield started
    await started.stop()


@pytest_asyncio.fixture(loop_scope="module")
async def contexts(browser: Browser) -> AsyncIterator[list[BrowserContext]]:
    opened: list[BrowserContext] = []
    yield opened
    for context in opened:
        await context.close()


def listener_of(server: Server) -> PbxListener:
    (listener,) = server.runner.app[LISTENERS]
    assert isinstance(listener, PbxListener)
    return listener


def phases(call: SimCall) -> list[list[TimedFrame]]:
    """The call's frames in the groups the simulator pauses between: ring, answer, hang up."""
    groups: list[list[TimedFrame]] = []
    for frame in call_frames(call, IDS, datetime.now(UTC).replace(tzinfo=None)):
        if frame.delay > 0 or not groups:
            groups.append([])
        groups[-1].append(TimedFrame(0.0, frame.frame))
    return groups


async def play(sim: AmiSimulator, listener: PbxListener, frames: list[TimedFrame]) -> float:
    """Send ``frames``; the moment (monotonic) the listener has received the last of them."""
    target = listener.stats.events + len(frames)
    sim.feed(frames)
    async with asyncio.timeout(5):
        while listener.stats.events < target:  # noqa: ASYNC110 - a counter, no event to wait on
            await asyncio.sleep(0.005)
    return time.monotonic()


async def shown_after(page: Page, selector: str, reached: float, *, gone: bool = False) -> float:
    await page.wait_for_selector(selector, state="detached" if gone else "attached", timeout=5000)
    return time.monotonic() - reached


async def live_page(
    browser: Browser,
    contexts: list[BrowserContext],
    server: Server,
    world: World,
    locale: str = "en-US",
) -> Page:
    page = await open_page(browser, contexts, locale=locale)
    await sign_in(page, server, "boss", f"/app/live?c={world.shop_campaign}")
    on = await page.locator("#live-status").get_attribute("data-on")
    await page.wait_for_function(
        "text => document.getElementById('live-status').textContent === text", arg=on
    )
    return page


async def test_a_call_rings_talks_and_leaves_the_live_page_within_a_second(
    browser: Browser,
    contexts: list[BrowserContext],
    server: Server,
    world: World,
    pbx_sim: AmiSimulator,
) -> None:
    listener = listener_of(server)
    async with asyncio.timeout(10):
        while listener.role != "listening" or pbx_sim.listening_sessions == 0:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
    page = await live_page(browser, contexts, server, world)
    assert await page.locator("#live-table").count() == 0
    ring, answer, hang_up = phases(SimCall("answered", "79161110001", agent="202"))
    lags = []

    reached = await play(pbx_sim, listener, ring)
    lags.append(await shown_after(page, 'tr[data-state="ringing"]', reached))
    row = page.locator("#live-table tbody tr")
    cells = await row.locator("td, th").all_inner_texts()
    assert cells[0] == "ringing" and cells[2:6] == [
        "Radio",
        "202",
        "+79161110001",
        "+74950000001",
    ], cells
    assert await page.locator('[data-figure="ringing"]').inner_text() == "1"

    reached = await play(pbx_sim, listener, answer)
    lags.append(await shown_after(page, 'tr[data-state="talking"]', reached))
    assert await page.locator('[data-figure="talking"]').inner_text() == "1"
    assert await page.locator('#live-channels tr:has-text("Radio") td').all_inner_texts() == [
        "0",
        "1",
    ]

    reached = await play(pbx_sim, listener, hang_up)
    lags.append(await shown_after(page, "#live-table", reached, gone=True))
    assert await page.locator("#live-empty").count() == 1
    assert all(lag < WITHIN for lag in lags), lags
    assert page.errors == []  # type: ignore[attr-defined]
    print(f"live page lags (s): {[round(lag, 3) for lag in lags]}")


@pytest.mark.parametrize("locale", ["en-US", "ru-RU"])
async def test_screenshots_of_the_live_page(
    browser: Browser,
    contexts: list[BrowserContext],
    server: Server,
    world: World,
    pbx_sim: AmiSimulator,
    locale: str,
) -> None:
    listener = listener_of(server)
    page = await live_page(browser, contexts, server, world, locale)
    talking = phases(SimCall("answered", "79161110003", agent="201"))
    ringing = phases(SimCall("answered", "79161110004", did="74950000005", agent="203"))
    await play(pbx_sim, listener, talking[0] + talking[1])
    await play(pbx_sim, listener, ringing[0])
    await page.wait_for_selector('tr[data-state="ringing"]')
    await page.wait_for_selector('tr[data-state="talking"]')
    SHOTS.mkdir(parents=True, exist_ok=True)
    lang = locale[:2]
    await page.screenshot(path=str(SHOTS / f"{lang}-live-1280.png"), full_page=True)
    await page.set_viewport_size({"width": 390, "height": 900})
    await page.screenshot(path=str(SHOTS / f"{lang}-live-390.png"), full_page=True)
    await play(pbx_sim, listener, talking[2] + ringing[1] + ringing[2])
    await page.wait_for_selector("#live-empty")
    assert page.errors == []  # type: ignore[attr-defined]
