"""The dashboard in real headless Chromium: sign in, choose, read, refuse, escape, screenshots.

One callpool server and one seeded world per module and database; every test opens its
own browser context (its own cookies). Screenshots of every page in English and Russian,
at 1280 px and on a phone, go to test-artifacts/screenshots/.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, Page

from callpool.app import create_app
from callpool.db.engine import create_engine
from callpool.metrics.report_query import Period, ReportQuery, run_report
from callpool.metrics.rollups import rebuild_campaign
from callpool.settings import load_settings
from tests.browser.conftest import ARTIFACTS, Server, serve
from tests.conftest import _migrate, empty_tables
from tests.reports.dashboard.seed import PASSWORD, XSS, World, make_world

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]
SHOTS = ARTIFACTS / "screenshots"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def dash_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('dash') / 'callpool.db'}"
        asyncio.run(_migrate(url))
        return url
    url: str = request.getfixturevalue("pg_migrated_url")
    asyncio.run(empty_tables(url))
    return url


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(dash_url: str) -> World:
    engine = create_engine(dash_url)
    try:
        world = await make_world(engine)
        # The metrics engine judges the calls and rolls them up, as its job does.
        now = datetime.now(UTC)
        for campaign_id in (world.shop_campaign, world.other_campaign):
            await rebuild_campaign(engine, campaign_id, now)
        return world
    finally:
        await engine.dispose()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def server(dash_url: str, world: World) -> AsyncIterator[Server]:
    started = await serve(create_app(load_settings(database_url=dash_url)))
    yield started
    await started.stop()


@pytest_asyncio.fixture(loop_scope="module")
async def contexts(browser: Browser) -> AsyncIterator[list[BrowserContext]]:
    opened: list[BrowserContext] = []
    yield opened
    for context in opened:
        await context.close()


async def open_page(
    browser: Browser,
    contexts: list[BrowserContext],
    *,
    locale: str = "en-US",
    width: int = 1280,
) -> Page:
    context = await browser.new_context(
        viewport={"width": width, "height": 900}, locale=locale, device_scale_factor=1
    )
    context.set_default_timeout(5_000)
    contexts.append(context)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.errors = errors  # type: ignore[attr-defined]
    return page


async def sign_in(page: Page, server: Server, username: str, next_path: str = "/app/pools") -> None:
    await page.goto(f"{server.url}{next_path}")
    await page.get_by_label("User name").or_(page.get_by_label("Имя пользователя")).fill(username)
    await page.locator("#password").fill(PASSWORD)
    await page.locator("form.stack button[type=submit]").click()
    await page.wait_for_url(f"**{next_path.split('?')[0]}*")


async def test_sign_in_choose_campaign_and_period_then_sign_out(
    browser: Browser, contexts: list[BrowserContext], server: Server, world: World
) -> None:
    page = await open_page(browser, contexts)
    await sign_in(page, server, "boss", "/app/calls")
    await page.select_option("#f-campaign", str(world.other_campaign))
    await page.wait_for_url(f"**c={world.other_campaign}*")
    assert "+79995550000" in await page.locator("table").inner_text()
    await page.select_option("#f-period", "last_30_days")
    await page.wait_for_url("**period=last_30_days*")
    assert await page.locator("#f-campaign").input_value() == str(world.other_campaign)
    # The navigation keeps the choice.
    await page.get_by_role("link", name="Missed").click()
    await page.wait_for_url(f"**/app/missed?c={world.other_campaign}&period=last_30_days")
    await page.get_by_role("button", name="Log out").click()
    await page.wait_for_url("**/app/login")
    await page.goto(f"{server.url}/app/calls")
    assert "/app/login" in page.url
    assert page.errors == []  # type: ignore[attr-defined]


async def test_a_csrf_less_post_is_refused(
    browser: Browser, contexts: list[BrowserContext], server: Server
) -> None:
    page = await open_page(browser, contexts)
    await sign_in(page, server, "boss")
    status = await page.evaluate(
        """async () => (await fetch('/app/admin/sites', {method: 'POST',
             headers: {'Content-Type': 'application/x-www-form-urlencoded'},
             body: 'name=sneaky'})).status"""
    )
    assert status == 403
    await page.goto(f"{server.url}/app/admin/sites")
    assert "sneaky" not in await page.content()


async def test_a_viewer_cannot_reach_admin_pages(
    browser: Browser, contexts: list[BrowserContext], server: Server
) -> None:
    page = await open_page(browser, contexts)
    await sign_in(page, server, "anna")
    assert await page.get_by_role("link", name="Admin").count() == 0
    response = await page.goto(f"{server.url}/app/admin/users")
    assert response is not None and response.status == 403
    assert "This page is for administrators." in await page.content()


async def test_second_sites_admin_cannot_see_the_first_sites_calls(
    browser: Browser, contexts: list[BrowserContext], server: Server, world: World
) -> None:
    page = await open_page(browser, contexts)
    await sign_in(page, server, "bob", f"/app/calls?c={world.shop_campaign}&period=last_7_days")
    text = await page.locator("main").inner_text()
    assert "+79161110001" not in text and "+79995550000" in text
    options = await page.locator("#f-campaign option").all_inner_texts()
    assert options == ["winter (other)"]


async def test_script_in_utm_fields_appears_as_text(
    browser: Browser, contexts: list[BrowserContext], server: Server, world: World
) -> None:
    page = await open_page(browser, contexts)
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), asyncio.ensure_future(d.dismiss())))
    await sign_in(page, server, "boss", f"/app/calls?c={world.shop_campaign}&period=last_7_days")
    cell = page.get_by_role("cell", name=XSS, exact=True)
    assert await cell.count() == 1
    assert dialogs == []


async def test_missed_list_copies_the_number(
    browser: Browser, contexts: list[BrowserContext], server: Server, world: World
) -> None:
    page = await open_page(browser, contexts)
    await page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    await sign_in(page, server, "boss", f"/app/missed?c={world.shop_campaign}&period=last_7_days")
    rows = await page.locator("tbody tr th").all_inner_texts()
    assert rows == ["+79161110002", "+79161110004"]  # oldest first
    await page.get_by_role("button", name="+79161110002").click()
    assert await page.evaluate("navigator.clipboard.readText()") == "+79161110002"


async def test_channel_table_shows_the_metrics_engines_figures_and_a_chart(
    browser: Browser, contexts: list[BrowserContext], server: Server, dash_url: str, world: World
) -> None:
    engine = create_engine(dash_url)
    try:
        query = ReportQuery("shop", "autumn", Period(named="last_7_days"))
        expected = (await run_report(engine, query, datetime.now(UTC))).report
    finally:
        await engine.dispose()
    page = await open_page(browser, contexts)
    await sign_in(page, server, "boss", f"/app/?c={world.shop_campaign}&period=last_7_days")
    shown = 0
    for row in [*expected.rows, None]:
        figures = expected.total if row is None else row.figures
        name = "total" if row is None else (row.key["channel"] or row.key["kind"])
        for metric in ("calls", "unique_calls", "target_calls", "answered", "missed"):
            cell = page.locator(f'tr[data-row="{name}"] td[data-metric="{metric}"]')
            assert await cell.inner_text() == str(figures[metric]), (name, metric)
            shown += 1
    assert shown >= 15 and expected.total["calls"] == 6
    canvas = page.locator("canvas[data-chart]")
    await canvas.wait_for()
    assert await canvas.get_attribute("data-drawn") == "3"
    # A figure links to the calls behind it.
    await page.locator('tr[data-row="Google Ads"] td[data-metric="target_calls"] a').click()
    await page.wait_for_url("**/app/calls?*figure=target_calls*")
    assert await page.locator("main tbody tr").count() == expected.rows[0].figures["target_calls"]
    assert page.errors == []  # type: ignore[attr-defined]


async def test_compare_shows_the_change_against_the_previous_period(
    browser: Browser, contexts: list[BrowserContext], server: Server, world: World
) -> None:
    page = await open_page(browser, contexts)
    await sign_in(page, server, "boss", f"/app/compare?c={world.shop_campaign}&period=last_7_days")
    calls = page.locator('#period-compare tr[data-metric="calls"] td')
    # Six calls now, none in the week before: no base, so no percentage.
    assert await calls.all_inner_texts() == ["6", "0", "n/a"]
    await page.get_by_label("other · winter").check()
    await page.get_by_role("button", name="Show side by side", exact=True).click()
    await page.wait_for_url("**with=*")
    headers = await page.locator("#side-by-side thead th").all_inner_texts()
    assert headers[1:] == ["shop · autumn", "other · winter"]


PAGES = (
    "",
    "trends",
    "compare",
    "calls",
    "missed",
    "pools",
    "admin/sites",
    "admin/channels",
    "admin/recordings",
    "admin/users",
    "help/metrics",
)


@pytest.mark.parametrize("locale", ["en-US", "ru-RU"])
async def test_screenshots_of_every_page(
    browser: Browser, contexts: list[BrowserContext], server: Server, world: World, locale: str
) -> None:
    lang = locale[:2]
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width in (1280, 390):
        page = await open_page(browser, contexts, locale=locale, width=width)
        await page.goto(f"{server.url}/app/login")
        await shot(page, f"{lang}-login-{width}")
        await sign_in(page, server, "boss")
        for name in PAGES:
            query = f"?c={world.shop_campaign}&period=last_7_days"
            response = await page.goto(f"{server.url}/app/{name}{query}")
            assert response is not None and response.status == 200, name
            assert await page.evaluate("document.documentElement.lang") == lang
            await shot(page, f"{lang}-{name.replace('/', '-') or 'home'}-{width}")
        assert page.errors == []  # type: ignore[attr-defined]


async def shot(page: Page, name: str) -> Path:
    path = SHOTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path
