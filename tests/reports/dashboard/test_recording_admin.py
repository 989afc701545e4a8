"""The admin area's recordings tab and the recording settings of the new-site form.

Over real HTTP with the seeded world (``shop``: viewer ``anna``; ``other``: admin
``bob``; ``boss``: admin of every site), on SQLite and PostgreSQL.
"""

from __future__ import annotations

import html as html_lib
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from callpool.catalog import store as catalog_store
from callpool.recordings import store as recordings_store
from callpool.web.keys import ENGINE
from tests.reports.dashboard.conftest import Client, log_in
from tests.reports.dashboard.seed import World

FIELDS = (
    "recordings_enabled",
    "recordings_for_viewers",
    "recording_retention_days",
    "recording_keep_target_only",
)


async def _settings(client: Client) -> dict[str, tuple[Any, ...]]:
    sites = await catalog_store.list_sites(client.app[ENGINE])
    return {s.name: tuple(getattr(s, f) for f in FIELDS) for s in sites}


def _error(html: str) -> str:
    found = re.search(r'<p class="error" role="alert">([^<]*)</p>', html)
    assert found, "no error on the page"
    return html_lib.unescape(found.group(1))


async def test_new_site_form_sets_the_recording_settings(client: Client) -> None:
    csrf = await log_in(client, "boss")
    form = await (await client.get("/app/admin/sites")).text()
    # A new site's defaults: links on, viewers too, kept forever, every call.
    assert 'name="recordings_enabled" checked' in form
    assert 'name="recordings_for_viewers" checked' in form
    assert 'name="recording_keep_target_only">' in form
    posted = await client.post(
        "/app/admin/sites",
        data={
            "_csrf": csrf, "name": "blog", "recordings_enabled": "on",
            "recording_retention_days": "45", "recording_keep_target_only": "on",
        },
        allow_redirects=False,
    )  # fmt: skip
    assert posted.status == 302, await posted.text()
    assert (await _settings(client))["blog"] == (True, False, 45, True)
    listed = await (await client.get("/app/admin/sites")).text()
    assert "links shown; admins only; kept 45 days; target calls only" in listed


@pytest.mark.parametrize(
    ("days", "message"),
    [
        ("0", "recording_retention_days: must be at least 1"),
        ("ninety", "recording_retention_days: must be a whole number"),
        ("99999", "recording_retention_days: must be at most 36500"),
    ],
)
async def test_new_site_form_bad_days_is_one_line_and_adds_nothing(
    client: Client, days: str, message: str
) -> None:
    csrf = await log_in(client, "boss")
    posted = await client.post(
        "/app/admin/sites",
        data={"_csrf": csrf, "name": "blog", "recording_retention_days": days},
    )
    assert posted.status == 400
    html = await posted.text()
    assert _error(html) == message
    # The form keeps what was typed: the unticked boxes stay unticked.
    assert f'value="{days}"' in html and 'name="recordings_enabled" checked' not in html
    assert "blog" not in await _settings(client)


async def test_an_admin_changes_the_recording_settings_of_their_sites_only(
    client: Client,
) -> None:
    csrf = await log_in(client, "bob")
    page = await (await client.get("/app/admin/recordings")).text()
    assert 'name="site" value="other"' in page and 'value="shop"' not in page
    saved = await client.post(
        "/app/admin/recordings",
        data={"_csrf": csrf, "site": "other", "recordings_enabled": "on",
              "recording_retention_days": "7"},
        allow_redirects=False,
    )  # fmt: skip
    assert saved.status == 302, await saved.text()
    before = await _settings(client)
    assert before["other"] == (True, False, 7, False)
    # Another customer's site does not exist for bob; a bad value writes nothing.
    refused = await client.post(
        "/app/admin/recordings", data={"_csrf": csrf, "site": "shop", "recordings_enabled": ""}
    )
    assert refused.status == 404 and _error(await refused.text()) == "no site named 'shop'"
    bad = await client.post(
        "/app/admin/recordings",
        data={"_csrf": csrf, "site": "other", "recording_retention_days": "-3"},
    )
    assert bad.status == 400
    assert _error(await bad.text()) == "recording_retention_days: must be at least 1"
    assert await _settings(client) == before
    # Forever again: an empty days field.
    await client.post(
        "/app/admin/recordings",
        data={"_csrf": csrf, "site": "other", "recordings_for_viewers": "on"},
        allow_redirects=False,
    )
    assert (await _settings(client))["other"] == (False, True, None, False)


async def test_a_viewer_has_no_recordings_tab(client: Client) -> None:
    csrf = await log_in(client, "anna")
    assert (await client.get("/app/admin/recordings")).status == 403
    posted = await client.post("/app/admin/recordings", data={"_csrf": csrf, "site": "shop"})
    assert posted.status == 403
    assert (await _settings(client))["shop"] == (True, True, None, False)


async def _play(client: Client, username: str, call_id: int, at: datetime, action: str) -> None:
    await recordings_store.audit(
        client.app[ENGINE], user_id=None, username=username, recording_id=call_id,
        call_id=call_id, action=action, now=at,
    )  # fmt: skip


def _log_rows(html: str) -> list[tuple[str, str, str]]:
    """(user, action, site) of each row of the audit table, top to bottom."""
    table = html.split("<table data-audit>", 1)[1].split("</table>", 1)[0]
    return re.findall(
        r'<tr data-row><td>[^<]*</td><th scope="row">([^<]*)</th><td>([^<]*)</td>'
        r"<td>.*?</td><td>([^<]*)</td></tr>",
        table,
    )


async def test_the_audit_log_is_newest_first_and_scoped_to_the_admins_sites(
    client: Client, world: World
) -> None:
    now = datetime.now(UTC)
    await _play(client, "anna", world.shop_call_ids[0], now - timedelta(minutes=3), "play")
    await _play(client, "bob", world.other_call_id, now - timedelta(minutes=2), "download")
    await _play(client, "boss", world.shop_call_ids[1], now - timedelta(minutes=1), "download")
    await log_in(client, "boss")
    page = await (await client.get("/app/admin/recordings")).text()
    assert _log_rows(page) == [
        ("boss", "download", "shop"),
        ("bob", "download", "other"),
        ("anna", "play", "shop"),
    ]
    assert f'href="/app/calls/{world.shop_call_ids[1]}/recording"' in page
    # The admin area links the tab.
    sites_page = await (await client.get("/app/admin/sites")).text()
    assert re.search(r'href="/app/admin/recordings[?"]', sites_page)

    client.session.cookie_jar.clear()
    await log_in(client, "bob")
    page = await (await client.get("/app/admin/recordings")).text()
    # bob, admin of other only, sees none of shop's plays.
    assert _log_rows(page) == [("bob", "download", "other")]
    assert "anna" not in page and f"/calls/{world.shop_call_ids[0]}/" not in page


async def test_the_audit_log_is_paged(client: Client, world: World) -> None:
    start = datetime.now(UTC) - timedelta(hours=2)
    for n in range(53):
        await _play(
            client, f"user{n:02d}", world.shop_call_ids[0], start + timedelta(seconds=n), "play"
        )
    await log_in(client, "boss")
    first = await (await client.get("/app/admin/recordings")).text()
    rows = _log_rows(first)
    assert len(rows) == 50 and rows[0][0] == "user52" and rows[-1][0] == "user03"
    assert 'rel="next" href="?page=2#log"' in first and 'rel="prev"' not in first
    second = await (await client.get("/app/admin/recordings?page=2")).text()
    assert [r[0] for r in _log_rows(second)] == ["user02", "user01", "user00"]
    assert 'rel="prev" href="?page=1#log"' in second and 'rel="next"' not in second
    # A page past the end is empty, not an error; a nonsense page is the first.
    assert _log_rows(await (await client.get("/app/admin/recordings?page=9")).text()) == []
    nonsense = await (await client.get("/app/admin/recordings?page=-1")).text()
    assert _log_rows(nonsense) == rows


async def test_the_recordings_tab_speaks_russian(client: Client, world: World) -> None:
    await _play(client, "anna", world.shop_call_ids[0], datetime.now(UTC), "play")
    await log_in(client, "boss")
    page = await client.get("/app/admin/recordings", headers={"Accept-Language": "ru"})
    html = await page.text()
    assert "Кто слушал и скачивал записи" in html and "Хранить записи только целевых" in html
    assert _log_rows(html) == [("anna", "прослушивание", "shop")]
