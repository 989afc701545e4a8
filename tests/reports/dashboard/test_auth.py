"""Signing in and out, CSRF, throttling, roles and site membership, over real HTTP."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select
from yarl import URL

from callpool.app import create_app
from callpool.db.engine import connection, create_engine
from callpool.db.tables import LoginFailure
from callpool.settings import load_settings
from tests.reports.dashboard.conftest import Client, csrf_of, log_in
from tests.reports.dashboard.seed import PASSWORD, XSS, World


async def test_pages_need_a_session_and_send_you_to_sign_in(client: Client) -> None:
    response = await client.get("/app/calls?c=1", allow_redirects=False)
    assert response.status == 302
    target = URL(response.headers["Location"])
    assert target.path == "/app/login" and target.query["next"] == "/app/calls?c=1"
    root = await client.get("/", allow_redirects=False)
    assert root.headers["Location"] == "/app/"


async def test_wrong_password_is_refused_with_one_line(client: Client) -> None:
    form = await (await client.get("/app/login")).text()
    response = await client.post(
        "/app/login", data={"username": "boss", "password": "nope", "_csrf": csrf_of(form)}
    )
    assert response.status == 401
    assert "Wrong user name or password." in await response.text()


async def test_sign_in_lands_on_the_page_asked_for(client: Client) -> None:
    form = await (await client.get("/app/login?next=%2Fapp%2Fpools")).text()
    response = await client.post(
        "/app/login",
        data={
            "username": "boss",
            "password": "correct horse battery",
            "_csrf": csrf_of(form),
            "next": "/app/pools",
        },
        allow_redirects=False,
    )
    assert response.headers["Location"] == "/app/pools"
    cookie = response.cookies["callpool_session"]
    assert cookie["httponly"] and cookie["samesite"] == "Lax" and cookie["path"] == "/"


async def test_next_never_leaves_the_dashboard(client: Client) -> None:
    form = await (await client.get("/app/login")).text()
    response = await client.post(
        "/app/login",
        data={
            "username": "boss",
            "password": "correct horse battery",
            "_csrf": csrf_of(form),
            "next": "https://evil.example/",
        },
        allow_redirects=False,
    )
    assert response.headers["Location"] == "/app/"


async def test_logout_ends_the_session_even_for_a_copied_cookie(client: Client) -> None:
    csrf = await log_in(client, "boss")
    cookie = client.session.cookie_jar.filter_cookies(client.make_url("/"))["callpool_session"]
    response = await client.post("/app/logout", data={"_csrf": csrf}, allow_redirects=False)
    assert response.status == 302
    replay = await client.get(
        "/app/pools",
        headers={"Cookie": f"callpool_session={cookie.value}"},
        allow_redirects=False,
    )
    assert replay.status == 302 and replay.headers["Location"].startswith("/app/login")


async def test_a_post_without_the_csrf_token_is_refused(client: Client) -> None:
    await log_in(client, "boss")
    response = await client.post("/app/admin/sites", data={"name": "sneaky"})
    assert response.status == 403
    assert "did not come from this page" in await response.text()
    wrong = await client.post("/app/admin/sites", data={"name": "sneaky", "_csrf": "x" * 43})
    assert wrong.status == 403
    other_origin = await client.post(
        "/app/logout", data={"_csrf": "x"}, headers={"Origin": "https://evil.example"}
    )
    assert other_origin.status == 403


async def test_login_form_needs_its_own_csrf_cookie(client: Client) -> None:
    response = await client.post(
        "/app/login", data={"username": "boss", "password": "correct horse battery"}
    )
    assert response.status == 403


async def test_repeated_failures_are_throttled(client: Client) -> None:
    form = await (await client.get("/app/login")).text()
    token = csrf_of(form)
    statuses = []
    for _ in range(6):
        response = await client.post(
            "/app/login", data={"username": "boss", "password": "wrong", "_csrf": token}
        )
        statuses.append(response.status)
    assert statuses == [401] * 5 + [429]
    # Even the right password waits now.
    response = await client.post(
        "/app/login",
        data={"username": "boss", "password": "correct horse battery", "_csrf": token},
    )
    assert response.status == 429
    assert "Too many failed attempts" in await response.text()


async def test_a_viewer_cannot_reach_admin_pages(client: Client) -> None:
    csrf = await log_in(client, "anna")
    for path in ("/app/admin/sites", "/app/admin/campaigns", "/app/admin/users"):
        assert (await client.get(path)).status == 403
    posted = await client.post("/app/admin/sites", data={"name": "x", "_csrf": csrf})
    assert posted.status == 403
    assert 'href="/app/admin"' not in await (await client.get("/app/pools")).text()


async def test_an_admin_of_one_site_manages_only_that_site(client: Client, world: World) -> None:
    csrf = await log_in(client, "bob")
    assert (await client.get("/app/admin/sites")).status == 403
    assert (await client.get("/app/admin/users")).status == 403
    page = await (await client.get("/app/admin/campaigns")).text()
    assert "winter" in page and "autumn" not in page
    refused = await client.post(
        "/app/admin/channels",
        data={"c": str(world.shop_campaign), "name": "mine now", "_csrf": csrf},
    )
    assert refused.status == 400
    assert "choose a campaign" in await refused.text()


async def test_second_sites_admin_cannot_see_the_first_sites_calls(
    client: Client, world: World
) -> None:
    csrf = await log_in(client, "bob")
    page = await (await client.get(f"/app/calls?c={world.shop_campaign}&period=last_7_days")).text()
    assert "+79161110001" not in page and "+79995550000" in page
    assert "autumn" not in page
    missed = await (await client.get(f"/app/missed?c={world.shop_campaign}")).text()
    assert "+79161110002" not in missed
    edit = await client.post(
        f"/app/calls/{world.shop_call_ids[0]}/outcome", data={"outcome": "sale", "_csrf": csrf}
    )
    assert edit.status == 404


async def test_viewer_sees_masked_callers_where_the_site_asks(client: Client, world: World) -> None:
    await log_in(client, "anna")
    page = await (await client.get(f"/app/calls?c={world.shop_campaign}&period=last_7_days")).text()
    assert "+7916*****01" in page and "+79161110001" not in page


async def test_visitor_data_is_escaped_and_no_inline_script_is_allowed(
    client: Client, world: World
) -> None:
    await log_in(client, "boss")
    response = await client.get(f"/app/calls?c={world.shop_campaign}&period=last_7_days")
    page = await response.text()
    assert XSS not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    ("header", "expected"),
    [("ru-RU,ru;q=0.9,en;q=0.8", "Вход"), ("en-US,en;q=0.9", "Sign in"), ("", "Sign in")],
)
async def test_language_follows_the_browser(client: Client, header: str, expected: str) -> None:
    page = await (await client.get("/app/login", headers={"Accept-Language": header})).text()
    assert expected in page


async def test_the_users_language_setting_wins(client: Client) -> None:
    csrf = await log_in(client, "boss")
    await client.post("/app/settings/language", data={"locale": "ru", "_csrf": csrf})
    page = await (await client.get("/app/pools", headers={"Accept-Language": "en"})).text()
    assert 'lang="ru"' in page and "Выйти" in page


async def test_failed_log_ins_are_counted_across_processes(
    aiohttp_client: Any, database_url: str, world: World
) -> None:
    """Two callpool processes (two apps on one database): failures on one block the other."""
    apps = [create_app(load_settings(database_url=database_url)) for _ in range(2)]
    first, second = [await aiohttp_client(app) for app in apps]
    for attempt in range(5):
        client = (first, second)[attempt % 2]
        token = csrf_of(await (await client.get("/app/login")).text())
        response = await client.post(
            "/app/login", data={"username": "Boss", "password": "wrong", "_csrf": token}
        )
        assert response.status == 401
    for client in (first, second):
        token = csrf_of(await (await client.get("/app/login")).text())
        response = await client.post(
            "/app/login", data={"username": "boss", "password": PASSWORD, "_csrf": token}
        )
        assert response.status == 429
    # The name typed is not what is stored.
    engine = create_engine(database_url)
    try:
        async with connection(engine) as conn:
            keys = (await conn.execute(select(LoginFailure.key))).scalars().all()
    finally:
        await engine.dispose()
    assert len(keys) == 10 and not any("boss" in key.lower() for key in keys)


async def test_export_buttons_download_with_the_session_and_nothing_more(
    client: Client, world: World
) -> None:
    await log_in(client, "anna")
    page = await (await client.get(f"/app/?c={world.shop_campaign}&period=last_7_days")).text()
    link = next(
        href.replace("&amp;", "&")
        for href in re.findall(r'href="([^"]+)"', page)
        if "format=csv" in href
    )
    assert link.startswith("/api/v1/reports/channels?site=shop&campaign=autumn&period=last_7_days")
    csv_file = await client.get(link)
    assert csv_file.status == 200 and "text/csv" in csv_file.headers["Content-Type"]
    assert "channel" in (await csv_file.text()).lower()
    xlsx = await client.get(link.replace("format=csv", "format=xlsx"))
    assert xlsx.status == 200 and (await xlsx.read())[:2] == b"PK"
    # A viewer of shop: another site's report is not there, and the cookie writes nothing.
    other = await client.get("/api/v1/reports/channels?site=other&campaign=winter&format=csv")
    assert other.status == 404
    write = await client.post(
        f"/api/v1/calls/{world.shop_call_ids[0]}/outcome", json={"outcome": "sale"}
    )
    assert write.status == 401


async def test_export_links_need_a_live_session(client: Client) -> None:
    client.session.cookie_jar.update_cookies({"callpool_session": "not-a-session"})
    response = await client.get("/api/v1/reports/channels?site=shop&campaign=autumn&format=csv")
    assert response.status == 401
