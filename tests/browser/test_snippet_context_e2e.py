"""The snippet in real Chromium where digits are no phone, and where the site refuses.

On SQLite and PostgreSQL, against the real callpool app (see test_snippet_e2e.py for the
setup). An order page whose order number has the site number's digits: the phone next
to it is swapped, the order number is not. A site created without an origin: the page
keeps its numbers and the console says why, once.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from callpool.catalog import store as catalog_store
from callpool.catalog.spec import SiteSpec
from callpool.db.tables import Session
from tests.browser.conftest import POOL, RU, US, Server, SiteServer, VisitorFactory, eventually
from tests.browser.test_snippet_e2e import (
    RU_TEXT,
    assert_original,
    count,
    intl,
    like,
    ready,
    snapshot,
    stored,
)

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]

ORDER_IDS = [
    "order", "contact", "labelled-ru", "labelled-en", "labelled-tr", "bare", "cues",
    "bare-link", "bare-dc",
]  # fmt: skip

TEXTS_JS = """ids => {
  const out = {};
  for (const id of ids) out[id] = document.getElementById(id).textContent;
  out.contactHref = document.getElementById('contact-tel').getAttribute('href');
  out.bareHref = document.getElementById('bare-tel').getAttribute('href');
  out.title = document.title;
  return out;
}"""


async def test_an_order_number_with_the_site_numbers_digits_stays_the_phone_is_swapped(
    new_visitor: VisitorFactory, site_server: SiteServer, callpool: Server
) -> None:
    v = await new_visitor()
    await v.page.goto(site_server.page("order.html"))
    shown = await ready(v.page)
    number = shown[RU]
    assert number in POOL and shown[US] == number
    texts: dict[str, Any] = await v.page.evaluate(TEXTS_JS, ORDER_IDS)

    assert texts["order"] == "Заказ № 4951234567 оформлен"
    assert texts["title"] == "Заказ № 4951234567 оформлен"
    assert texts["contact"] == f"Вопросы по заказу: {like(RU_TEXT, number)}"
    assert texts["contactHref"] == f"tel:{number}"
    # Labelled as something else, or bare digits: not a phone, left alone.
    assert texts["labelled-ru"] == "ИНН: 495-123-45-67, артикул 8 495 123 45 67"
    assert texts["labelled-en"] == "Order #: (212) 555-0199 · Tracking code: 1 212 555 0199"
    assert texts["labelled-tr"] == "Sipariş No: 212 555 0199 · Takip kodu: 212-555-0199"
    assert texts["bare"] == "Сумма к оплате: 4951234567"
    # "No." and "#" after a phone word are phone numbers.
    assert texts["cues"] == f"Tel. No. {like('8 495 123 45 67', number)} · Phone #: {intl(number)}"
    # Bare digits in a tel: link, or marked with data-callpool, are phone numbers.
    assert texts["bareHref"] == f"tel:8{number[2:]}"
    assert texts["bare-link"] == f"Звоните: 8{number[2:]}"
    assert texts["bare-dc"] == f"8{number[2:]}"
    assert v.errors == []


async def test_a_site_without_origins_says_why_in_the_console_and_keeps_the_numbers(
    new_visitor: VisitorFactory, site_server: SiteServer, callpool: Server, db: AsyncEngine
) -> None:
    site = await catalog_store.add_site(
        db, SiteSpec(name="e2e-no-origin", own_numbers=(RU, US)), "RU"
    )
    site_server.key = site.public_key
    visit_url = f"{callpool.url}/api/v1/t/{site.public_key}/visit"
    v = await new_visitor()
    console: list[tuple[str, str]] = []
    v.page.on("console", lambda message: console.append((message.type, message.text)))
    visits: list[int] = []
    v.page.on("response", lambda r: r.url == visit_url and visits.append(r.status))
    await v.page.clock.install()

    await v.page.goto(site_server.page("index.html"))
    assert await ready(v.page) == {RU: RU, US: US}
    warning = (
        "callpool: this page's origin is not allowed for site 'e2e-no-origin' "
        "(the site allows no origin yet); allowed origins are given with --origin at "
        "`callpool site add`"
    )

    async def warned() -> bool:
        return ("warning", warning) in console

    await eventually(warned)
    # Refused for good: three heartbeat periods later, no new /visit and no new message.
    await v.page.clock.run_for(100_000)
    assert visits == [403]
    assert [text for _, text in console if text.startswith("callpool")] == [warning]
    assert not [text for _, text in console if "CORS" in text], console
    assert_original(await snapshot(v.page))
    assert await stored(v.page) is None
    assert await count(db, Session) == 0
    assert v.errors == []
