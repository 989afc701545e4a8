"""The snippet in real Chromium where digits are no phone number.

On SQLite and PostgreSQL, against the real callpool app (see test_snippet_e2e.py for the
setup). An order page whose order number has the site number's digits: the phone next
to it is swapped, the order number is not.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import POOL, RU, US, Server, SiteServer, VisitorFactory
from tests.browser.test_snippet_e2e import RU_TEXT, intl, like, ready

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
