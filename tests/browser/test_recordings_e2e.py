"""A recording played from the calls list in real headless Chromium, on both databases.

The dashboard's seeded world gets a recording of one shop call: speech synthesised by
espeak-ng and stored as GSM (what many PBXes write), so the browser gets sox's Ogg
conversion. Anna (a viewer of shop, callers masked) opens the calls list: the audio
element reaches ``canplay``, a seek is answered with 206, the play is in the audit log,
and the screenshot shows the player.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, Response
from sqlalchemy import select

from callpool.app import create_app
from callpool.db.engine import connection, create_engine
from callpool.db.tables import RecordingAccess
from callpool.metrics.rollups import rebuild_campaign
from callpool.pbx.sim.recorder import write_speech
from callpool.settings import load_settings
from tests.browser.conftest import ARTIFACTS, Server, serve
from tests.browser.test_dashboard_e2e import open_page, sign_in
from tests.conftest import _migrate, empty_tables
from tests.recordings.world import attach_recording
from tests.reports.dashboard.seed import World, make_world

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]
SHOTS = ARTIFACTS / "screenshots"
SPEECH = (
    "Good afternoon, you are through to the sales line. I would like to order two boxes "
    "of the autumn collection, delivered on Friday, to the shop on Garden Street."
)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def rec_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('rec') / 'callpool.db'}"
        asyncio.run(_migrate(url))
        return url
    url: str = request.getfixturevalue("pg_migrated_url")
    asyncio.run(empty_tables(url))
    return url


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(rec_url: str, tmp_path_factory: pytest.TempPathFactory) -> World:
    monitor = tmp_path_factory.mktemp("monitor")
    recording = monitor / "2026" / "12" / "01" / "in-74950000001-79161110001.gsm"
    await write_speech(recording, SPEECH)
    engine = create_engine(rec_url)
    try:
        world = await make_world(engine)
        await attach_recording(engine, world.shop_call_ids[0], recording)
        await rebuild_campaign(engine, world.shop_campaign, datetime.now(UTC))
        return world
    finally:
        await engine.dispose()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def server(
    rec_url: str, world: World, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Server]:
    store = tmp_path_factory.mktemp("store")
    started = await serve(
        create_app(load_settings(database_url=rec_url, recordings_storage_dir=store))
    )
    yield started
    await started.stop()


@pytest_asyncio.fixture(loop_scope="module")
async def contexts(browser: Browser) -> AsyncIterator[list[BrowserContext]]:
    opened: list[BrowserContext] = []
    yield opened
    for context in opened:
        await context.close()


async def test_viewer_plays_and_seeks_a_recording_from_the_calls_list(
    browser: Browser,
    contexts: list[BrowserContext],
    server: Server,
    world: World,
    rec_url: str,
) -> None:
    page = await open_page(browser, contexts)
    media: list[Response] = []
    page.on("response", lambda r: media.append(r) if "/recordings/" in r.url else None)
    calls = f"/app/calls?c={world.shop_campaign}&period=last_30_days&recording=1"
    await sign_in(page, server, "anna", calls)
    player = page.locator("audio[data-recording]")
    assert await player.count() == 1
    ready = await player.evaluate(
        """a => new Promise((resolve, reject) => {
             a.addEventListener('canplay', () => resolve(a.duration), {once: true});
             a.addEventListener('error', () => reject(new Error('media error ' + a.error.code)));
             a.load();
           })"""
    )
    assert ready > 5  # seconds of speech
    seeked = await player.evaluate(
        """a => new Promise(resolve => {
             a.addEventListener('seeked', () => resolve(a.currentTime), {once: true});
             a.currentTime = a.duration - 2;
           })"""
    )
    assert seeked > 3
    await page.wait_for_timeout(300)
    statuses = [r.status for r in media]
    assert 206 in statuses, statuses
    assert all(s in (200, 206) for s in statuses), statuses
    assert all(r.headers["content-type"] == "audio/ogg" for r in media)
    # The row's caller is masked for a viewer of shop; the player sits in the row.
    row = page.locator("tr", has=player)
    assert "*" in await row.locator("td.mono").first.inner_text()
    SHOTS.mkdir(parents=True, exist_ok=True)
    await player.evaluate("a => { a.currentTime = 4; }")
    await page.locator(".table-wrap").scroll_into_view_if_needed()
    await page.screenshot(path=str(SHOTS / "recording-calls-list.png"), full_page=True)
    # The play is in the audit log: anna, that call.
    engine = create_engine(rec_url)
    try:
        async with connection(engine) as conn:
            rows = (
                await conn.execute(select(RecordingAccess.username, RecordingAccess.call_id))
            ).all()
    finally:
        await engine.dispose()
    assert rows and set(rows) == {("anna", world.shop_call_ids[0])}
    assert page.errors == []  # type: ignore[attr-defined]


async def test_the_call_page_player_and_a_logged_out_browser(
    browser: Browser, contexts: list[BrowserContext], server: Server, world: World
) -> None:
    page = await open_page(browser, contexts)
    await sign_in(page, server, "anna", f"/app/calls/{world.shop_call_ids[0]}/recording")
    player = page.locator("audio[data-recording]")
    src = await player.get_attribute("src")
    assert src is not None
    await player.evaluate(
        """a => new Promise(r => {
             a.addEventListener('canplay', r, {once: true});
             a.load();
           })"""
    )
    assert "*" in await page.locator("[data-caller]").inner_text()
    await page.screenshot(path=str(SHOTS / "recording-call-page.png"))
    await page.get_by_role("button", name="Log out").click()
    await page.wait_for_url("**/app/login")
    status = await page.evaluate("async u => (await fetch(u)).status", src)
    assert status == 403
