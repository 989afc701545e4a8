"""The number-swap snippet in real headless Chromium against the real callpool app.

Each test runs on SQLite and on PostgreSQL: a callpool server in-process, a customer
site on another loopback port serving ``web_snippet/test/pages/`` (its snippet tag
pointed at callpool), a site with the pages' two numbers, a campaign, a UTM channel, a
static channel and a pool. Waits are event- or condition-based, never fixed sleeps.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from playwright.async_api import Page, Request, Route
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from callpool.db.engine import transaction
from callpool.db.tables import Lease, PageView, Session, TrackingNumber
from tests.browser.conftest import (
    ARTIFACTS,
    POOL,
    RU,
    STATIC,
    TWO_LINES_POOL,
    US,
    CallpoolFactory,
    Catalog,
    HangingServer,
    Server,
    SiteServer,
    VisitorFactory,
    eventually,
    free_port,
    make_two_line_site,
)

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]

RU_TEXT = "+7 (495) 123-45-67"
TITLE = "callpool test page 1 — call +7 (495) 123-45-67"
NEAR = (
    "Order #4951234567890, 84951234567890, price 4 951 234 567 ₽, date 12.03.2024, "
    "IP 212.55.50.199, (212) 555-01990"
)

# ------------------------------------------------------------------ expectations


def like(text: str, number: str) -> str:
    """``text`` (a +7 number in some format) showing ``number`` instead: digits right-aligned."""
    assert number.startswith("+7") and len(number) == 12
    nsn = number[2:]
    chars = list(text)
    digits = [i for i, ch in enumerate(chars) if ch in "0123456789"]
    for pos, digit in zip(digits[-len(nsn) :], nsn, strict=True):
        chars[pos] = digit
    return "".join(chars)


def intl(number: str) -> str:
    """The snippet's international format of a +7 number (other country than the original)."""
    nsn = number[2:]
    return f"+7 {nsn[:3]} {nsn[3:6]}-{nsn[6:8]}-{nsn[8:]}"


PAGE1_IDS = [
    "hdr-tel", "f-plus7", "f-8sp", "f-8par", "f-e164", "f-nbsp", "f-us-par", "f-us-dot",
    "f-us-plus", "f-two", "tel-8", "tel-enc", "dc-text", "dc-phone",
    "inp", "ta", "sel", "pre", "code", "ce", "ignored", "near", "inline-script", "nos",
]  # fmt: skip

SNAPSHOT_JS = """ids => {
  const out = {};
  for (const id of ids) {
    const el = document.getElementById(id);
    out[id] = el ? el.textContent : null;
  }
  const href = id => document.getElementById(id).getAttribute('href');
  out.hrefs = {
    hdr: href('hdr-tel'), tel8: href('tel-8'), enc: href('tel-enc'), split: href('split'),
  };
  out.split = document.getElementById('split').innerHTML;
  out.inputValue = document.getElementById('inp').value;
  out.inputAttr = document.getElementById('inp').getAttribute('value');
  out.textarea = document.getElementById('ta').value;
  out.siteNumber = window.siteNumber;
  out.title = document.title;
  return out;
}"""


async def snapshot(page: Page) -> dict[str, Any]:
    return await page.evaluate(SNAPSHOT_JS, PAGE1_IDS)  # type: ignore[no-any-return]


def assert_untouched(snap: dict[str, Any]) -> None:
    assert snap["inputValue"] == RU_TEXT
    assert snap["inputAttr"] == RU_TEXT
    assert snap["textarea"] == "8 495 123 45 67"
    assert snap["ta"] == "8 495 123 45 67"
    assert snap["sel"] == RU_TEXT
    assert snap["pre"] == "8 (495) 123-45-67"
    assert snap["code"] == "+74951234567"
    assert snap["ce"] == RU_TEXT
    assert snap["ignored"] == RU_TEXT
    assert snap["near"] == NEAR
    assert snap["inline-script"] == f'window.siteNumber = "{RU_TEXT}";'
    assert snap["siteNumber"] == RU_TEXT
    assert RU_TEXT in snap["nos"]
    assert snap["title"] == TITLE


def assert_original(snap: dict[str, Any]) -> None:
    assert snap["hdr-tel"] == RU_TEXT
    assert snap["hrefs"]["hdr"] == "tel:+74951234567"
    assert snap["hrefs"]["tel8"] == "tel:84951234567"
    assert snap["hrefs"]["enc"] == "tel:+1%20212%20555%200199"
    assert snap["f-us-par"] == "New York: (212) 555-0199"
    assert snap["f-two"] == "Both: 8 (495) 123-45-67, (212) 555-0199."
    assert snap["dc-text"] == "Call us now"
    assert snap["dc-phone"] == "8 800 000 00 00"
    assert_untouched(snap)


# ------------------------------------------------------------------ page / DB helpers


async def ready(page: Page) -> dict[str, str]:
    """Wait for the snippet's first /visit to settle; {original: number shown}."""
    await page.wait_for_function("() => typeof window.callpool === 'function'")
    numbers = await page.evaluate("() => new Promise(r => window.callpool('ready', r))")
    return {entry["original"]: entry["number"] for entry in numbers}


async def stored(page: Page) -> dict[str, Any] | None:
    raw = await page.evaluate("() => localStorage.getItem('_cpv')")
    return json.loads(raw) if raw else None


async def leased_numbers(db: AsyncEngine, visitor_id: str) -> list[str]:
    async with transaction(db) as session:
        query = (
            select(TrackingNumber.e164)
            .join(Lease, Lease.number_id == TrackingNumber.id)
            .where(Lease.visitor_id == visitor_id)
        )
        return list((await session.scalars(query)).all())


async def count(db: AsyncEngine, table: type[Any], *where: Any) -> int:
    async with transaction(db) as session:
        query = select(func.count()).select_from(table).where(*where)
        return int(await session.scalar(query) or 0)


async def page_views(db: AsyncEngine, session_id: str) -> list[tuple[str, str | None]]:
    async with transaction(db) as session:
        query = (
            select(PageView.url, PageView.title)
            .where(PageView.session_id == session_id)
            .order_by(PageView.id)
        )
        return [(row[0], row[1]) for row in (await session.execute(query)).all()]


async def session_row(db: AsyncEngine, session_id: str) -> Any:
    async with transaction(db) as session:
        return (await session.execute(select(Session).where(Session.id == session_id))).scalar_one()


async def first_visit(page: Page, url: str, db: AsyncEngine) -> tuple[str, dict[str, Any]]:
    """Load ``url`` as a new visitor; return the number leased in the DB and the stored state."""
    await page.goto(url)
    shown = await ready(page)
    state = await stored(page)
    assert state is not None, "no lease stored after a successful visit"
    [number] = await leased_numbers(db, state["v"])
    assert number in POOL
    assert shown == {RU: number, US: number}
    return number, state


@asynccontextmanager
async def held(page: Page, pattern: str) -> AsyncIterator[Callable[[], None]]:
    """Hold requests matching ``pattern`` until the yielded ``release()`` is called."""
    gate = asyncio.Event()

    async def hold(route: Route) -> None:
        await gate.wait()
        await route.continue_()

    await page.route(pattern, hold)
    try:
        yield gate.set
    finally:
        gate.set()


def api_paths(page: Page, api: str) -> list[str]:
    """Collects the tracking API calls the page makes (incl. beacons): 'visit', 'heartbeat', ..."""
    seen: list[str] = []

    def on_request(request: Request) -> None:
        if request.url.startswith(api):
            seen.append(request.url[len(api) :].strip("/"))

    page.on("request", on_request)
    return seen


# ------------------------------------------------------------------ 1. the swap


async def test_first_visit_swaps_text_links_and_data_elements_in_their_own_format(
    new_visitor: VisitorFactory, site_server: SiteServer, callpool: Server, db: AsyncEngine
) -> None:
    v = await new_visitor()
    number, state = await first_visit(v.page, site_server.page("index.html"), db)
    snap = await snapshot(v.page)

    assert snap["hdr-tel"] == like(RU_TEXT, number)  # e.g. +7 (495) 000-00-01
    assert snap["f-plus7"] == like("Moscow: +7 (495) 123-45-67", number)
    assert snap["f-8sp"] == like("Moscow: 8 495 123 45 67", number)
    assert snap["f-8par"] == like("Moscow: 8 (495) 123-45-67", number)
    assert snap["f-e164"] == f"Moscow: {number}"
    assert snap["f-nbsp"] == like("Moscow: +7\u00a0495\u00a0123\u202f45\u202f67", number)
    # The US number is replaced by a +7 tracking number: international format.
    assert snap["f-us-par"] == f"New York: {intl(number)}"
    assert snap["f-us-dot"] == f"New York: {intl(number)}"
    assert snap["f-us-plus"] == f"New York: {intl(number)}"
    assert snap["f-two"] == f"Both: {like('8 (495) 123-45-67', number)}, {intl(number)}."
    assert snap["hrefs"]["hdr"] == f"tel:{number}"
    assert snap["hrefs"]["tel8"] == f"tel:8{number[2:]}"
    assert snap["tel-8"] == "Call us"
    assert snap["hrefs"]["enc"] == f"tel:{intl(number)}"
    assert snap["tel-enc"] == intl(number)
    # Split across inline elements: each text node keeps its share of the characters.
    split = like("+7 (495) 123-45-67", number)
    assert snap["split"] == f'<span class="code">{split[:8]}</span> <b>{split[9:]}</b>'
    assert snap["hrefs"]["split"] == f"tel:{number}"
    assert snap["dc-text"] == intl(number)
    assert snap["dc-phone"] == like("8 800 000 00 00", number)
    assert_untouched(snap)

    assert state["k"] == site_server.key
    assert state["n"] == [[RU, number], [US, number]]
    assert v.errors == []


# ------------------------------------------------------------------ 2. second page


async def test_second_page_shows_the_stored_number_before_any_server_answer(
    new_visitor: VisitorFactory, site_server: SiteServer, callpool: Server, db: AsyncEngine
) -> None:
    v = await new_visitor()
    number, state = await first_visit(v.page, site_server.page("index.html"), db)
    api = f"{callpool.url}/api/v1/t/{site_server.key}"
    calls = api_paths(v.page, api)

    # Page 2 while every API answer is held back: the numbers can only come from storage.
    async with held(v.page, f"{api}/**") as release:
        async with v.page.expect_request(f"{api}/heartbeat") as beat:
            await v.page.click("#to-page2")
        await v.page.wait_for_url("**/page2.html")
        assert await v.page.text_content("#p2-ru") == like("Офис: 8 (495) 123-45-67", number)
        assert await v.page.text_content("#p2-us") == f"US: {intl(number)}"
        assert await v.page.get_attribute("#p2-tel", "href") == f"tel:{intl(number)}"
        release()
    # With a valid lease and a same-site referrer: a heartbeat, no /visit.
    heartbeat = await beat.value
    assert json.loads(heartbeat.post_data or "{}") == {
        "session_id": state["s"],
        "visitor_id": state["v"],
    }
    answer = await heartbeat.response()
    assert answer is not None and answer.status == 200

    await v.page.click("#to-index")
    await v.page.wait_for_url("**/index.html")
    assert await v.page.text_content("#hdr-tel") == like(RU_TEXT, number)
    assert "visit" not in calls
    assert (await stored(v.page) or {})["s"] == state["s"]
    assert await leased_numbers(db, state["v"]) == [number]
    assert await count(db, Lease) == 1
    assert await count(db, Session) == 1
    assert v.errors == []


# ------------------------------------------------------------------ 3. two visitors


async def test_two_visitors_get_different_numbers(
    new_visitor: VisitorFactory, site_server: SiteServer, callpool: Server, db: AsyncEngine
) -> None:
    a, b = await new_visitor(), await new_visitor()
    url = site_server.page("index.html")
    (number_a, state_a), (number_b, state_b) = await asyncio.gather(
        first_visit(a.page, url, db), first_visit(b.page, url, db)
    )
    assert number_a != number_b
    assert state_a["v"] != state_b["v"]
    assert await a.page.text_content("#hdr-tel") == like(RU_TEXT, number_a)
    assert await b.page.text_content("#hdr-tel") == like(RU_TEXT, number_b)
    assert await count(db, Lease) == 2
    assert a.errors == b.errors == []


# ------------------------------------------------------------------ 4. channels


async def test_utm_landing_puts_the_session_in_the_utm_channel(
    new_visitor: VisitorFactory,
    site_server: SiteServer,
    callpool: Server,
    catalog: Catalog,
    db: AsyncEngine,
) -> None:
    tagged, plain = await new_visitor(), await new_visitor()
    url = site_server.page("index.html", "utm_source=google&utm_medium=cpc&utm_campaign=spring")
    _, tagged_state = await first_visit(tagged.page, url, db)
    _, plain_state = await first_visit(plain.page, site_server.page("index.html"), db)

    row = await session_row(db, tagged_state["s"])
    assert row.channel_id == catalog.channels["google-cpc"]
    assert (row.utm_source, row.utm_medium, row.utm_campaign) == ("google", "cpc", "spring")
    assert row.landing_url == url
    assert (await session_row(db, plain_state["s"])).channel_id != catalog.channels["google-cpc"]


async def test_static_channel_shows_its_number_without_a_lease(
    new_visitor: VisitorFactory,
    site_server: SiteServer,
    callpool: Server,
    catalog: Catalog,
    db: AsyncEngine,
) -> None:
    v = await new_visitor()
    await v.page.goto(site_server.page("index.html", "utm_source=radio"))
    assert await ready(v.page) == {RU: STATIC, US: STATIC}
    assert await v.page.text_content("#hdr-tel") == like(RU_TEXT, STATIC)
    state = await stored(v.page)
    assert state is not None
    assert (await session_row(db, state["s"])).channel_id == catalog.channels["radio"]
    assert await count(db, Lease) == 0


async def test_a_campaign_swapping_one_number_leaves_the_other_number_alone(
    new_visitor: VisitorFactory, site_server: SiteServer, callpool: Server, db: AsyncEngine
) -> None:
    site_server.key = await make_two_line_site(db, site_server.origin)
    v = await new_visitor()
    await v.page.goto(site_server.page("index.html"))
    shown = await ready(v.page)
    number = shown[RU]
    assert number in TWO_LINES_POOL
    assert shown[US] == US
    snap = await snapshot(v.page)

    assert snap["hdr-tel"] == like(RU_TEXT, number)
    assert snap["hrefs"]["hdr"] == f"tel:{number}"
    assert snap["f-8sp"] == like("Moscow: 8 495 123 45 67", number)
    assert snap["dc-text"] == intl(number)  # no number named: the one swapped
    # The other line, in text, links and a data-callpool element naming it: as it was.
    assert snap["f-two"] == f"Both: {like('8 (495) 123-45-67', number)}, (212) 555-0199."
    assert snap["f-us-par"] == "New York: (212) 555-0199"
    assert snap["f-us-dot"] == "New York: 212.555.0199"
    assert snap["f-us-plus"] == "New York: +1 212-555-0199"
    assert snap["hrefs"]["enc"] == "tel:+1%20212%20555%200199"
    assert snap["tel-enc"] == "+1 212 555 0199"
    assert snap["dc-phone"] == "8 800 000 00 00"
    assert_untouched(snap)
    state = await stored(v.page)
    assert state is not None and state["n"] == [[RU, number], [US, US]]

    await v.page.click("#to-page2")
    await v.page.wait_for_url("**/page2.html")
    assert await v.page.text_content("#p2-ru") == like("Офис: 8 (495) 123-45-67", number)
    assert await v.page.text_content("#p2-us") == "US: 212-555-0199"
    assert await v.page.get_attribute("#p2-tel", "href") == "tel:+12125550199"
    assert v.errors == []


# ------------------------------------------------------------------ 5. later content


async def test_content_added_after_load_is_swapped(
    new_visitor: VisitorFactory, site_server: SiteServer, callpool: Server, db: AsyncEngine
) -> None:
    v = await new_visitor()
    number, _ = await first_visit(v.page, site_server.page("index.html"), db)
    await v.page.click("#inject")
    expected = f"Call: {like('8 (495) 123-45-67', number)} or {intl(number)}"
    await v.page.wait_for_function(
        "text => document.getElementById('injected')?.textContent === text", arg=expected
    )
    assert await v.page.get_attribute("#injected a", "href") == f"tel:{number}"
    assert v.errors == []


async def test_spa_route_changes_swap_the_new_view_and_send_one_page_view_each(
    new_visitor: VisitorFactory, site_server: SiteServer, callpool: Server, db: AsyncEngine
) -> None:
    v = await new_visitor()
    await v.page.goto(site_server.page("spa.html"))
    ready_value = await v.page.wait_for_function("() => window.__callpoolReady")
    [ru, us] = await ready_value.json_value()
    number = ru["number"]
    assert (ru["original"], us["original"], us["number"]) == (RU, US, number)
    state = await stored(v.page)
    assert state is not None
    views = await eventually(lambda: page_views(db, state["s"]))
    assert views == [(site_server.page("spa.html"), "callpool SPA test page")]

    await v.page.click("#nav-a")
    expected = f"Route A: call {like('8 495 123 45 67', number)} or {intl(number)}"
    await v.page.wait_for_function(
        "t => document.getElementById('route')?.textContent === t", arg=expected
    )
    assert await v.page.get_attribute("#route a", "href") == f"tel:{intl(number)}"
    await eventually(lambda: _has_views(db, state["s"], 2))
    await v.page.click("#nav-b")
    await eventually(lambda: _has_views(db, state["s"], 3))
    await v.page.go_back()
    await v.page.wait_for_function(
        "t => document.getElementById('route')?.textContent === t",
        arg=f"Back: {like('8 (495) 123-45-67', number)}",
    )
    await eventually(lambda: _has_views(db, state["s"], 4))
    assert [url for url, _ in await page_views(db, state["s"])] == [
        site_server.page("spa.html"),
        f"{site_server.origin}/spa/a",
        f"{site_server.origin}/spa/b",
        f"{site_server.origin}/spa/a",
    ]
    assert [title for _, title in (await page_views(db, state["s"]))[1:3]] == ["Route A", "Route B"]
    assert v.errors == []


async def _has_views(db: AsyncEngine, session_id: str, n: int) -> bool:
    views = await page_views(db, session_id)
    assert len(views) <= n, f"more page views than route changes: {views}"
    return len(views) == n


# ------------------------------------------------------------------ 6. API down


async def _assert_page_survives(page: Page, errors: list[str]) -> None:
    snap = await snapshot(page)
    assert_original(snap)
    assert await stored(page) is None
    assert errors == []


async def test_api_refusing_connections_leaves_the_original_numbers(
    new_visitor: VisitorFactory,
    site_server: SiteServer,
    start_callpool: CallpoolFactory,
    catalog: Catalog,
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    cp = await start_callpool(public_url=dead)  # serves the snippet; its API is elsewhere
    site_server.script_base = cp.url
    v = await new_visitor()
    async with v.page.expect_event(
        "requestfailed", lambda r: r.url.startswith(f"{dead}/api/v1/t/{catalog.key}/visit")
    ):
        await v.page.goto(site_server.page("index.html"))
    assert await ready(v.page) == {RU: RU, US: US}
    await _assert_page_survives(v.page, v.errors)


async def test_api_that_never_answers_neither_blocks_the_page_nor_breaks_it(
    new_visitor: VisitorFactory,
    site_server: SiteServer,
    start_callpool: CallpoolFactory,
    catalog: Catalog,
) -> None:
    hanging = HangingServer()
    await hanging.start()
    try:
        api = f"http://127.0.0.1:{hanging.port}"
        cp = await start_callpool(public_url=api)
        site_server.script_base = cp.url
        v = await new_visitor()
        failed: list[Request] = []
        v.page.on("requestfailed", lambda request: failed.append(request))
        started = time.monotonic()
        async with v.page.expect_request(f"{api}/api/v1/t/{catalog.key}/visit"):
            await v.page.goto(site_server.page("index.html"))
        # Loaded and rendered while /visit hangs (it is aborted only after 1.5 s).
        assert failed == [], "the page load waited for the API"
        assert await v.page.is_visible("#hdr-tel")
        assert await v.page.text_content("#hdr-tel") == RU_TEXT
        assert time.monotonic() - started < 1.5

        # The snippet gives up after its 1.5 s timeout; then /visit has settled as failed.
        async with v.page.expect_event("requestfailed") as aborted:
            assert await ready(v.page) == {RU: RU, US: US}
        assert (await aborted.value).url == f"{api}/api/v1/t/{catalog.key}/visit"
        assert hanging.requests >= 1
        await _assert_page_survives(v.page, v.errors)
    finally:
        await hanging.close()


async def test_snippet_host_down_leaves_the_page_alone(
    new_visitor: VisitorFactory, site_server: SiteServer, catalog: Catalog
) -> None:
    site_server.script_base = f"http://127.0.0.1:{free_port()}"
    v = await new_visitor()
    await v.page.goto(site_server.page("index.html"))
    assert await v.page.evaluate("() => typeof window.callpool") == "undefined"
    await _assert_page_survives(v.page, v.errors)


# ------------------------------------------------------------------ 7. page views, heartbeats


async def test_page_views_and_heartbeats_reach_the_server(
    new_visitor: VisitorFactory, site_server: SiteServer, callpool: Server, db: AsyncEngine
) -> None:
    v = await new_visitor()
    api = f"{callpool.url}/api/v1/t/{site_server.key}"
    await v.page.clock.install()
    number, state = await first_visit(v.page, site_server.page("index.html"), db)
    page1 = site_server.page("index.html")
    assert await eventually(lambda: page_views(db, state["s"])) == [(page1, TITLE)]

    # The 30 s heartbeat timer, fast-forwarded.
    async with v.page.expect_response(f"{api}/heartbeat") as periodic:
        await v.page.clock.run_for(30_000)
    response = await periodic.value
    assert response.status == 200
    assert (await response.json())["ttl"] > 0
    assert json.loads(response.request.post_data or "{}")["session_id"] == state["s"]

    # Next page with the stored lease: an immediate heartbeat and a page view.
    async with v.page.expect_response(f"{api}/heartbeat") as immediate:
        await v.page.click("#to-page2")
    assert (await immediate.value).status == 200
    page2 = site_server.page("page2.html")
    await eventually(lambda: _has_views(db, state["s"], 2))
    assert await page_views(db, state["s"]) == [(page1, TITLE), (page2, "callpool test page 2")]
    assert await leased_numbers(db, state["v"]) == [number]
    assert v.errors == []


async def test_heartbeats_follow_the_servers_interval(
    new_visitor: VisitorFactory,
    site_server: SiteServer,
    start_callpool: CallpoolFactory,
    catalog: Catalog,
    db: AsyncEngine,
) -> None:
    cp = await start_callpool(heartbeat_interval=45)
    site_server.script_base = cp.url
    api = f"{cp.url}/api/v1/t/{catalog.key}"
    v = await new_visitor()
    await v.page.clock.install()
    await first_visit(v.page, site_server.page("index.html"), db)
    calls = api_paths(v.page, api)
    await v.page.clock.run_for(44_000)
    assert "heartbeat" not in calls  # the default 30 s would have sent one
    async with v.page.expect_response(f"{api}/heartbeat") as beat:
        await v.page.clock.run_for(1_000)
    assert (await beat.value).status == 200
    assert calls.count("heartbeat") == 1
    assert v.errors == []


# ------------------------------------------------------------------ 8. screenshots


async def test_screenshots_before_and_after_the_swap(
    new_visitor: VisitorFactory,
    site_server: SiteServer,
    callpool: Server,
    db: AsyncEngine,
    database_url: str,
) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    backend = database_url.split("+", 1)[0]
    v = await new_visitor()
    # Hold the snippet itself: the page renders with the site's own numbers.
    async with held(v.page, f"{callpool.url}/s/*.js") as release:
        await v.page.goto(site_server.page("index.html"), wait_until="domcontentloaded")
        assert_original(await snapshot(v.page))
        before = ARTIFACTS / f"snippet-{backend}-before.png"
        await v.page.screenshot(path=str(before), full_page=True)
        release()
    shown = await ready(v.page)
    number = shown[RU]
    assert await v.page.text_content("#hdr-tel") == like(RU_TEXT, number)
    after = ARTIFACTS / f"snippet-{backend}-after.png"
    await v.page.screenshot(path=str(after), full_page=True)
    assert before.stat().st_size > 10_000 and after.stat().st_size > 10_000
    assert before.read_bytes() != after.read_bytes()
    assert v.errors == []
