"""The metric definitions page: every figure explained, in English and Russian, linked
from the channel report's column headers."""

from __future__ import annotations

import re

from babel.messages.pofile import read_po

from callpool.metrics.registry import AGENT_METRICS, METRICS
from callpool.reports.dashboard.i18n import LOCALE_DIR
from tests.reports.dashboard.conftest import Client, log_in
from tests.reports.dashboard.seed import World


def test_every_metric_definition_has_a_russian_translation() -> None:
    with (LOCALE_DIR / "ru" / "LC_MESSAGES" / "messages.po").open("rb") as source:
        translated = {m.id for m in read_po(source) if m.id and m.string}
    missing = [m.name for m in METRICS + AGENT_METRICS if m.definition not in translated]
    assert missing == []


async def test_the_help_page_explains_every_metric_in_the_users_language(
    client: Client,
) -> None:
    await log_in(client, "boss")
    english = await (await client.get("/app/help/metrics")).text()
    for metric in METRICS:
        assert f'id="{metric.name}"' in english
    assert "Calls nobody answered, however many agents rang." in english
    russian = await (
        await client.get("/app/help/metrics", headers={"Accept-Language": "ru"})
    ).text()
    assert "Звонки, на которые никто не ответил" in russian
    assert "Calls nobody answered" not in russian


async def test_the_channel_reports_headers_link_to_their_definitions(
    client: Client, world: World
) -> None:
    await log_in(client, "boss")
    page = await (
        await client.get(
            f"/app/?c={world.shop_campaign}&period=last_7_days", headers={"Accept-Language": "ru"}
        )
    ).text()
    links = re.findall(r'href="/app/help/metrics#([a-z_]+)"', page)
    assert {"calls", "missed_pct", "callback_rate", "roi"} <= set(links)
    # The header's tooltip is the definition, translated.
    assert 'title="Входящие звонки строки."' in page
