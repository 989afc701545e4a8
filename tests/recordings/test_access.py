"""Who hears a recording: signed links, site membership, roles, site switches, the audit log.

Over real HTTP against the whole app, on SQLite and PostgreSQL, with the dashboard's
seeded world (``shop``: masked callers, viewer ``anna``; ``other``: admin ``bob``;
``boss`` admin of all) and real audio files.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from callpool.accounts import store as accounts_store
from callpool.accounts.access import Access
from callpool.app import create_app
from callpool.db.engine import connection, create_engine
from callpool.db.tables import Call, RecordingAccess, User
from callpool.pbx.sim.recorder import write_speech
from callpool.recordings.links import call_recordings_json, signed_url
from callpool.recordings.web import RECORDINGS
from callpool.settings import load_settings
from tests.recordings.world import attach_recording, set_site
from tests.reports.dashboard.conftest import Client, log_in
from tests.reports.dashboard.seed import World, make_world


@pytest.fixture(scope="module")
def audio(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    import asyncio

    folder = tmp_path_factory.mktemp("monitor")
    files = {"wav": folder / "call.wav", "gsm": folder / "call.gsm"}
    for path in files.values():
        asyncio.run(write_speech(path, "Hello, this is the sales line. How can I help you today?"))
    return files


@pytest.fixture
async def setup(
    aiohttp_client: Any, database_url: str, tmp_path: Path, audio: dict[str, Path]
) -> tuple[Client, World, dict[str, int]]:
    engine = create_engine(database_url)
    try:
        world = await make_world(engine)
        recs = {
            "shop": await attach_recording(engine, world.shop_call_ids[0], audio["wav"]),
            "other": await attach_recording(engine, world.other_call_id, audio["wav"]),
            "gsm": await attach_recording(engine, world.shop_call_ids[1], audio["gsm"]),
            "missing": await attach_recording(
                engine, world.shop_call_ids[2], tmp_path / "gone.wav", state="missing"
            ),
        }
    finally:
        await engine.dispose()
    settings = load_settings(database_url=database_url, recordings_storage_dir=tmp_path / "store")
    client = await aiohttp_client(create_app(settings))
    return client, world, recs


def _player_urls(html: str) -> list[str]:
    return [u.replace("&amp;", "&") for u in re.findall(r'<audio[^>]* src="([^"]+)"', html)]


async def _audit(client: Client) -> list[tuple[str, int | None, str]]:
    async with connection(_engine(client)) as conn:
        rows = await conn.execute(
            select(
                RecordingAccess.username, RecordingAccess.call_id, RecordingAccess.action
            ).order_by(RecordingAccess.id)
        )
        return [tuple(r) for r in rows.all()]  # type: ignore[misc]


async def _user(client: Client, name: str) -> Access:
    async with connection(_engine(client)) as conn:
        user_id = await conn.scalar(select(User.id).where(User.username == name))
    access = await accounts_store.access_for_user(_engine(client), int(user_id))
    assert access is not None and access.user_id is not None
    return access


def _engine(client: Client) -> Any:
    from callpool.web.keys import ENGINE

    return client.app[ENGINE]


async def test_viewer_plays_seeks_and_the_play_is_audited(setup: Any) -> None:
    client, world, recs = setup
    await log_in(client, "anna")
    page = await client.get(f"/app/calls/{world.shop_call_ids[0]}/recording")
    assert page.status == 200
    html = await page.text()
    (url,) = _player_urls(html)
    assert url.startswith(f"/recordings/{recs['shop']}?") and "sig=" in url
    assert " download>" not in html  # viewers get no download link
    whole = await client.get(url)
    assert whole.status == 200 and whole.headers["Content-Type"] == "audio/wav"
    body = await whole.read()
    seek = await client.get(url, headers={"Range": "bytes=20000-"})
    assert seek.status == 206
    assert seek.headers["Content-Range"] == f"bytes 20000-{len(body) - 1}/{len(body)}"
    assert await seek.read() == body[20000:]
    # One play (the seek is not a new one), by anna, of that call.
    assert await _audit(client) == [("anna", world.shop_call_ids[0], "play")]


async def test_player_page_masks_the_caller_for_viewers(setup: Any) -> None:
    client, world, _ = setup
    await log_in(client, "anna")
    html = await (await client.get(f"/app/calls/{world.shop_call_ids[0]}/recording")).text()
    caller = re.search(r"data-caller>([^<]+)<", html)
    assert caller is not None and "*" in caller.group(1)


async def test_gsm_is_converted_for_the_browser_and_cached(setup: Any, tmp_path: Path) -> None:
    client, world, _ = setup
    await log_in(client, "anna")
    html = await (await client.get(f"/app/calls/{world.shop_call_ids[1]}/recording")).text()
    (url,) = _player_urls(html)
    response = await client.get(url)
    assert response.status == 200 and response.headers["Content-Type"] == "audio/ogg"
    assert (await response.read())[:4] == b"OggS"
    assert len(list((tmp_path / "store" / "cache").glob("*.ogg"))) == 1


async def test_a_missing_file_is_said_so_not_an_error_page(setup: Any) -> None:
    client, world, _ = setup
    await log_in(client, "anna")
    page = await client.get(f"/app/calls/{world.shop_call_ids[2]}/recording")
    assert page.status == 200
    assert "recording missing" in await page.text()


async def test_other_sites_expired_tampered_and_logged_out_are_refused(setup: Any) -> None:
    client, world, recs = setup
    service = client.app[RECORDINGS]
    await log_in(client, "anna")
    html = await (await client.get(f"/app/calls/{world.shop_call_ids[0]}/recording")).text()
    (url,) = _player_urls(html)
    # A viewer of shop: another site's call does not exist for her.
    assert (await client.get(f"/app/calls/{world.other_call_id}/recording")).status == 404
    anna = (await _user(client, "anna")).user_id
    assert anna is not None
    forged = signed_url(service, recs["other"], anna, "play", datetime.now(UTC), session_bound=True)
    assert (await client.get(forged)).status == 404
    # Expired.
    old = datetime.now(UTC) - timedelta(seconds=service.settings.recordings_url_ttl + 5)
    expired = signed_url(service, recs["shop"], anna, "play", old, session_bound=True)
    assert (await client.get(expired)).status == 403
    # Tampered: another recording, another action, another user.
    assert (await client.get(url.replace(f"/{recs['shop']}?", f"/{recs['gsm']}?"))).status == 403
    assert (await client.get(url.replace("a=play", "a=download"))).status == 403
    boss = (await _user(client, "boss")).user_id
    assert (await client.get(url.replace(f"u={anna}", f"u={boss}"))).status == 403
    assert (await client.get(f"/recordings/{recs['shop']}")).status == 403
    # Logged out: the session-bound link is dead, whoever holds it.
    client.session.cookie_jar.clear()
    assert (await client.get(url)).status == 403
    assert await _audit(client) == []


async def test_bob_of_another_site_cannot_use_annas_link(setup: Any) -> None:
    client, world, _ = setup
    await log_in(client, "anna")
    html = await (await client.get(f"/app/calls/{world.shop_call_ids[0]}/recording")).text()
    (url,) = _player_urls(html)
    client.session.cookie_jar.clear()
    await log_in(client, "bob")
    assert (await client.get(url)).status == 403
    assert (await client.get(f"/app/calls/{world.shop_call_ids[0]}/recording")).status == 404


async def test_viewers_denied_and_links_switched_off_per_site(setup: Any) -> None:
    client, world, _ = setup
    engine = _engine(client)
    await log_in(client, "anna")
    html = await (await client.get(f"/app/calls/{world.shop_call_ids[0]}/recording")).text()
    (url,) = _player_urls(html)
    await set_site(engine, "shop", recordings_for_viewers=False)
    html = await (await client.get(f"/app/calls/{world.shop_call_ids[0]}/recording")).text()
    assert _player_urls(html) == [] and "not available to viewers" in html
    assert (await client.get(url)).status == 403  # the link she had stops working too
    client.session.cookie_jar.clear()
    await log_in(client, "boss")
    html = await (await client.get(f"/app/calls/{world.shop_call_ids[0]}/recording")).text()
    assert len(_player_urls(html)) == 1  # admins still hear it
    await set_site(engine, "shop", recordings_enabled=False)
    html = await (await client.get(f"/app/calls/{world.shop_call_ids[0]}/recording")).text()
    assert _player_urls(html) == [] and "recordings switched off" in html


async def test_admins_download_and_every_download_is_audited(setup: Any) -> None:
    client, world, _ = setup
    await log_in(client, "boss")
    html = await (await client.get(f"/app/calls/{world.shop_call_ids[0]}/recording")).text()
    download = re.search(r'<a href="([^"]+)" download>', html)
    assert download is not None
    response = await client.get(download.group(1).replace("&amp;", "&"))
    assert response.status == 200
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert await _audit(client) == [("boss", world.shop_call_ids[0], "download")]


async def test_calls_list_filters_with_recording_and_shows_players(setup: Any) -> None:
    client, world, _ = setup
    from callpool.metrics.rollups import rebuild_campaign

    await rebuild_campaign(_engine(client), world.shop_campaign, datetime.now(UTC))
    await log_in(client, "boss")
    base = f"/app/calls?c={world.shop_campaign}&period=last_30_days"
    everything = await (await client.get(base)).text()
    only = await (await client.get(base + "&recording=1")).text()
    assert len(_player_urls(everything)) == 2  # the wav and the gsm; the missing one says so
    assert "recording missing" in everything
    assert only.count("<tr>") == 1 + 2  # the header row and the two calls with a recording


async def test_api_json_says_whether_a_recording_exists_with_a_link_for_the_right(
    setup: Any,
) -> None:
    client, world, recs = setup
    engine, service = _engine(client), client.app[RECORDINGS]
    now = datetime.now(UTC)
    anna, bob = await _user(client, "anna"), await _user(client, "bob")
    ids = [world.shop_call_ids[0], world.shop_call_ids[2], world.shop_call_ids[3]]
    seen = await call_recordings_json(engine, service, anna, ids, now)
    assert seen[ids[0]]["has_recording"] is True
    (first,) = seen[ids[0]]["recordings"]
    assert first["url"].startswith(f"/recordings/{recs['shop']}?") and first["download_url"] is None
    assert seen[ids[1]] == {
        "has_recording": False,
        "recordings": [
            {"id": recs["missing"], "state": "missing", "url": None, "download_url": None}
        ],
    }
    assert seen[ids[2]] == {"has_recording": False, "recordings": []}
    # A bearer link (no session) plays without a cookie, for its short life.
    assert (await client.get(first["url"])).status == 200
    hidden = await call_recordings_json(engine, service, bob, ids, now)
    assert all(v == {"has_recording": False, "recordings": []} for v in hidden.values())
    async with connection(engine) as conn:
        assert await conn.scalar(select(Call.id).where(Call.id == ids[0])) == ids[0]
