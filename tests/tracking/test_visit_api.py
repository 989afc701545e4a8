"""The visitor tracking API over HTTP, on SQLite and PostgreSQL, with a clock we move."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from callpool.app import create_app
from callpool.db.engine import transaction
from callpool.db.tables import Lease, PageView, PoolCounter, Session
from callpool.settings import load_settings
from callpool.tracking import api
from tests.seed import FALLBACK, ORIGIN, OWN_NUMBER, Catalog, make_catalog

CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0 Safari/537.36"
)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


async def _client(aiohttp_client: Any, database_url: str, clock: Clock, **settings: Any) -> Any:
    app = create_app(load_settings(database_url=database_url, **settings))
    app[api.CLOCK] = clock
    return await aiohttp_client(app, headers={"User-Agent": CHROME})


@pytest.fixture
async def client(aiohttp_client: Any, database_url: str, clock: Clock) -> TestClient[Any, Any]:
    return await _client(aiohttp_client, database_url, clock)  # type: ignore[no-any-return]


@pytest.fixture
async def catalog(engine: AsyncEngine) -> Catalog:
    return await make_catalog(engine)


async def visit(client: TestClient[Any, Any], key: str, **body: Any) -> dict[str, Any]:
    body.setdefault("url", "https://shop.example/")
    resp = await client.post(f"/api/v1/t/{key}/visit", json=body, headers={"Origin": ORIGIN})
    assert resp.status == 200, await resp.text()
    assert resp.headers["Access-Control-Allow-Origin"] == ORIGIN
    return await resp.json()  # type: ignore[no-any-return]


def shown(payload: dict[str, Any]) -> str:
    [entry] = payload["numbers"]
    assert entry["original"] == OWN_NUMBER
    return str(entry["number"])


async def test_each_new_visitor_gets_a_different_pool_number(
    client: TestClient[Any, Any], catalog: Catalog
) -> None:
    numbers = [shown(await visit(client, catalog.key)) for _ in range(3)]
    assert sorted(numbers) == sorted(catalog.pool)


async def test_pool_exhaustion_shows_the_fallback_and_is_counted(
    client: TestClient[Any, Any], catalog: Catalog, engine: AsyncEngine
) -> None:
    for _ in range(3):
        await visit(client, catalog.key)
    fourth = await visit(client, catalog.key)
    assert shown(fourth) == FALLBACK
    assert fourth["ttl"] is None
    async with transaction(engine) as session:
        counted = await session.scalar(
            select(PoolCounter.count).where(PoolCounter.kind == "exhausted")
        )
        live = await session.scalar(select(func.count()).select_from(Lease))
    assert (counted, live) == (1, 3)


async def test_returning_visitor_and_session_keep_their_number(
    client: TestClient[Any, Any], catalog: Catalog, clock: Clock
) -> None:
    first = await visit(client, catalog.key)
    clock.advance(minutes=5)
    same_session = await visit(
        client,
        catalog.key,
        visitor_id=first["visitor_id"],
        session_id=first["session_id"],
        url="https://shop.example/page2",
        referrer="https://shop.example/",
    )
    assert same_session["session_id"] == first["session_id"]
    assert shown(same_session) == shown(first)
    clock.advance(minutes=5)
    # Back from a search engine: a new session (new source), but the same number.
    new_session = await visit(
        client,
        catalog.key,
        visitor_id=first["visitor_id"],
        session_id=first["session_id"],
        referrer="https://www.google.com/",
    )
    assert new_session["session_id"] != first["session_id"]
    assert shown(new_session) == shown(first)


async def test_lease_expires_after_hold_and_number_rests_for_the_cooldown(
    client: TestClient[Any, Any], engine: AsyncEngine, clock: Clock
) -> None:
    catalog = await make_catalog(engine, pool_size=1, hold=600, cooldown=120)
    first = await visit(client, catalog.key)
    assert shown(first) == catalog.pool[0]
    clock.advance(seconds=599)
    assert shown(await visit(client, catalog.key)) == FALLBACK
    clock.advance(seconds=2)  # expired 1 s ago: still cooling down
    assert shown(await visit(client, catalog.key)) == FALLBACK
    clock.advance(seconds=120)
    assert shown(await visit(client, catalog.key)) == catalog.pool[0]


async def test_lru_number_is_chosen_first(
    client: TestClient[Any, Any], engine: AsyncEngine, clock: Clock
) -> None:
    catalog = await make_catalog(engine, pool_size=3, hold=60, cooldown=0)
    a = await visit(client, catalog.key)
    clock.advance(seconds=10)
    b = await visit(client, catalog.key)
    clock.advance(seconds=10)
    c = await visit(client, catalog.key)
    # a expires first (t=60), then b (70), then c (80); by t=90 all are free again.
    clock.advance(seconds=70)
    order = [shown(await visit(client, catalog.key)) for _ in range(3)]
    assert order == [shown(a), shown(b), shown(c)]


async def test_heartbeats_keep_the_lease_alive(
    client: TestClient[Any, Any], engine: AsyncEngine, clock: Clock
) -> None:
    catalog = await make_catalog(engine, pool_size=1, hold=300, cooldown=0)
    first = await visit(client, catalog.key)
    for _ in range(20):  # 20 minutes of heartbeats, far past the 5 minute hold
        clock.advance(seconds=60)
        resp = await client.post(
            f"/api/v1/t/{catalog.key}/heartbeat", json={"session_id": first["session_id"]}
        )
        assert resp.status == 200
        assert (await resp.json())["ttl"] == 300
        assert shown(await visit(client, catalog.key)) == FALLBACK
    clock.advance(seconds=300 + 75 + 1)  # hold plus the write-ahead slack
    assert shown(await visit(client, catalog.key)) == catalog.pool[0]
    resp = await client.post(
        f"/api/v1/t/{catalog.key}/heartbeat", json={"session_id": first["session_id"]}
    )
    assert resp.status == 404


async def test_heartbeats_write_rarely(
    client: TestClient[Any, Any], engine: AsyncEngine, clock: Clock
) -> None:
    catalog = await make_catalog(engine, pool_size=1, hold=900, cooldown=0)
    first = await visit(client, catalog.key)
    expiries = set()
    for _ in range(10):
        clock.advance(seconds=30)
        await client.post(
            f"/api/v1/t/{catalog.key}/heartbeat", json={"session_id": first["session_id"]}
        )
        async with transaction(engine) as session:
            expiries.add(await session.scalar(select(Lease.expires_at)))
    assert len(expiries) <= 3  # 10 heartbeats over 5 minutes: at most a write every 2 minutes


async def test_utm_and_referrer_rules_pick_the_channel(
    client: TestClient[Any, Any], catalog: Catalog, engine: AsyncEngine
) -> None:
    await visit(
        client, catalog.key, url="https://shop.example/?utm_source=google&utm_medium=cpc&gclid=abc"
    )
    await visit(client, catalog.key, referrer="https://m.facebook.com/story")
    radio = await visit(client, catalog.key, url="https://shop.example/?utm_source=radio")
    assert shown(radio) == catalog.static_number
    assert radio["ttl"] is None
    await visit(client, catalog.key, referrer="https://yandex.ru/search/?text=x")
    async with transaction(engine) as session:
        rows = (
            await session.execute(
                select(Session.source, Session.gclid, Session.channel_id).order_by(
                    Session.started_at, Session.id
                )
            )
        ).all()
    sources = sorted((r[0], r[1]) for r in rows)
    assert (
        ("paid", "abc") in sources and ("social", None) in sources and ("organic", None) in sources
    )
    assert sum(1 for r in rows if r[2] is not None) == 3


async def test_bots_get_the_sites_own_number_and_no_lease(
    client: TestClient[Any, Any], catalog: Catalog, engine: AsyncEngine
) -> None:
    resp = await client.post(
        f"/api/v1/t/{catalog.key}/visit",
        json={"url": "https://shop.example/"},
        headers={
            "User-Agent": "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
        },
    )
    payload = await resp.json()
    assert shown(payload) == OWN_NUMBER
    assert payload["session_id"] is None
    async with transaction(engine) as session:
        assert await session.scalar(select(func.count()).select_from(Lease)) == 0


async def test_blocked_ip_range_gets_no_lease(
    aiohttp_client: Any, database_url: str, clock: Clock, engine: AsyncEngine
) -> None:
    catalog = await make_catalog(engine, blocked_cidrs=["127.0.0.0/8"])
    client = await _client(aiohttp_client, database_url, clock)
    assert shown(await visit(client, catalog.key)) == OWN_NUMBER


async def test_declined_consent_shows_static_or_own_number(
    aiohttp_client: Any, database_url: str, clock: Clock, engine: AsyncEngine
) -> None:
    catalog = await make_catalog(engine, consent_required=True)
    client = await _client(aiohttp_client, database_url, clock)
    declined = await visit(client, catalog.key, consent=False)
    assert shown(declined) == OWN_NUMBER and declined["visitor_id"] is None
    radio = await visit(
        client, catalog.key, consent=False, url="https://shop.example/?utm_source=radio"
    )
    assert shown(radio) == catalog.static_number
    assert shown(await visit(client, catalog.key, consent=True)) in catalog.pool


async def test_rate_limit_refuses_and_counts(
    aiohttp_client: Any, database_url: str, clock: Clock, catalog: Catalog, engine: AsyncEngine
) -> None:
    client = await _client(
        aiohttp_client, database_url, clock, ip_burst=3, ip_rate_per_second=0.001
    )
    for _ in range(3):
        await visit(client, catalog.key)
    resp = await client.post(
        f"/api/v1/t/{catalog.key}/visit", json={"url": "https://shop.example/"}
    )
    assert resp.status == 429
    assert (await resp.json())["error"] == "rate_limited"
    async with transaction(engine) as session:
        assert (
            await session.scalar(
                select(PoolCounter.count).where(PoolCounter.kind == "rate_limited")
            )
            == 1
        )


async def test_page_views_are_recorded(
    client: TestClient[Any, Any], catalog: Catalog, engine: AsyncEngine
) -> None:
    first = await visit(client, catalog.key)
    resp = await client.post(
        f"/api/v1/t/{catalog.key}/pageview",
        data=json.dumps(
            {"session_id": first["session_id"], "url": "https://shop.example/p", "title": "P"}
        ),
        headers={"Content-Type": "text/plain;charset=UTF-8", "Origin": ORIGIN},
    )
    assert resp.status == 204
    async with transaction(engine) as session:
        assert await session.scalar(select(PageView.url)) == "https://shop.example/p"


async def test_cors_answers_only_allowed_origins(
    client: TestClient[Any, Any], catalog: Catalog
) -> None:
    ok = await client.options(f"/api/v1/t/{catalog.key}/visit", headers={"Origin": ORIGIN})
    assert ok.status == 204 and ok.headers["Access-Control-Allow-Origin"] == ORIGIN
    bad = await client.options(
        f"/api/v1/t/{catalog.key}/visit", headers={"Origin": "https://evil.example"}
    )
    # Refused: no methods allowed (the 403 itself is readable, see test_refused_origins).
    assert bad.status == 403 and "Access-Control-Allow-Methods" not in bad.headers
    post = await client.post(
        f"/api/v1/t/{catalog.key}/visit",
        json={"url": "x"},
        headers={"Origin": "https://evil.example"},
    )
    assert post.status == 403


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b"{oops", 400, "not valid JSON"),
        (b'"just a string"', 400, "JSON object"),
        (b'{"referrer": "x"}', 400, "url: is required"),
        (b'{"url": 5}', 400, "url: must be a string"),
        (b'{"url": "https://shop.example/", "evil": "<script>"}', 400, "unknown field 'evil'"),
        (b'{"url": "https://shop.example/", "consent": "yes"}', 400, "consent"),
        (b'{"url": "' + b"a" * 17000 + b'"}', 413, "over 16384 bytes"),
    ],
)
async def test_bad_visit_bodies_get_clear_errors_and_write_nothing(
    client: TestClient[Any, Any],
    catalog: Catalog,
    engine: AsyncEngine,
    body: bytes,
    status: int,
    message: str,
) -> None:
    resp = await client.post(f"/api/v1/t/{catalog.key}/visit", data=body)
    assert resp.status == status
    assert message in (await resp.json())["message"]
    async with transaction(engine) as session:
        assert await session.scalar(select(func.count()).select_from(Session)) == 0


async def test_unknown_site_key_is_a_json_404(client: TestClient[Any, Any]) -> None:
    resp = await client.post("/api/v1/t/nope/visit", json={"url": "https://x/"})
    assert resp.status == 404
    assert (await resp.json())["error"] == "not_found"


async def test_heartbeat_for_unknown_session_is_404(
    client: TestClient[Any, Any], catalog: Catalog
) -> None:
    resp = await client.post(
        f"/api/v1/t/{catalog.key}/heartbeat",
        json={"session_id": "00000000-0000-4000-8000-000000000000"},
    )
    assert resp.status == 404
    bad = await client.post(f"/api/v1/t/{catalog.key}/heartbeat", json={"session_id": "x' OR 1=1"})
    assert bad.status == 400


async def test_snippet_is_served_with_the_sites_config(
    client: TestClient[Any, Any], catalog: Catalog
) -> None:
    resp = await client.get(f"/s/{catalog.key}.js")
    assert resp.status == 200
    assert resp.content_type == "application/javascript"
    text = await resp.text()
    assert OWN_NUMBER in text and f"/api/v1/t/{catalog.key}" in text
    assert "__CALLPOOL_CONFIG__" not in text
    again = await client.get(
        f"/s/{catalog.key}.js", headers={"If-None-Match": resp.headers["ETag"]}
    )
    assert again.status == 304
    assert (await client.get("/s/unknown.js")).status == 404


async def test_another_sites_key_cannot_touch_a_session(
    client: TestClient[Any, Any], catalog: Catalog, engine: AsyncEngine
) -> None:
    from callpool.catalog import store as catalog_store
    from callpool.catalog.spec import SiteSpec

    other = await catalog_store.add_site(engine, SiteSpec(name="other"), "RU")
    first = await visit(client, catalog.key)
    body = {"session_id": first["session_id"]}
    beat = await client.post(f"/api/v1/t/{other.public_key}/heartbeat", json=body)
    assert beat.status == 404
    view = await client.post(
        f"/api/v1/t/{other.public_key}/pageview", json={**body, "url": "https://other.example/"}
    )
    assert view.status == 404
    own = await client.post(
        f"/api/v1/t/{catalog.key}/heartbeat", json={"session_id": first["session_id"]}
    )
    assert own.status == 200


# ------------------------------------------------------------------ which numbers a campaign swaps

SERVICE = "+74959876543"  # the site's second number: its service line


def shown_all(payload: dict[str, Any]) -> dict[str, str]:
    return {entry["original"]: entry["number"] for entry in payload["numbers"]}


async def test_a_campaign_swaps_only_its_swap_numbers_and_returns_the_rest_as_they_are(
    client: TestClient[Any, Any], engine: AsyncEngine
) -> None:
    catalog = await make_catalog(
        engine,
        pool_size=1,
        own_numbers=[OWN_NUMBER, "8 (495) 987-65-43"],
        swap_numbers=("8 495 123 45 67",),  # any format: stored as E.164
    )
    assert shown_all(await visit(client, catalog.key)) == {
        OWN_NUMBER: catalog.pool[0],
        SERVICE: SERVICE,
    }
    # A static channel's number and the exhaustion fallback replace the swap number only.
    radio = await visit(client, catalog.key, url="https://shop.example/?utm_source=radio")
    assert shown_all(radio) == {OWN_NUMBER: catalog.static_number, SERVICE: SERVICE}
    assert shown_all(await visit(client, catalog.key)) == {OWN_NUMBER: FALLBACK, SERVICE: SERVICE}
    bot = await client.post(
        f"/api/v1/t/{catalog.key}/visit",
        json={"url": "https://shop.example/"},
        headers={"User-Agent": "Googlebot/2.1 (+http://www.google.com/bot.html)"},
    )
    assert shown_all(await bot.json()) == {OWN_NUMBER: OWN_NUMBER, SERVICE: SERVICE}


async def test_without_swap_numbers_a_campaign_swaps_every_site_number(
    client: TestClient[Any, Any], engine: AsyncEngine
) -> None:
    catalog = await make_catalog(engine, own_numbers=[OWN_NUMBER, SERVICE])
    payload = await visit(client, catalog.key)
    number = payload["numbers"][0]["number"]
    assert number in catalog.pool
    assert shown_all(payload) == {OWN_NUMBER: number, SERVICE: number}


async def test_heartbeat_interval_comes_from_the_settings(
    aiohttp_client: Any, database_url: str, clock: Clock, engine: AsyncEngine
) -> None:
    catalog = await make_catalog(engine)
    default = await _client(aiohttp_client, database_url, clock)
    assert (await visit(default, catalog.key))["heartbeat"] == 30
    default_js = await default.get(f"/s/{catalog.key}.js")
    assert '"heartbeat":30,' in await default_js.text()

    client = await _client(aiohttp_client, database_url, clock, heartbeat_interval=45)
    assert (await visit(client, catalog.key))["heartbeat"] == 45
    js = await client.get(f"/s/{catalog.key}.js")
    assert '"heartbeat":45,' in await js.text()
    # A browser holding the old snippet gets the new one, not a 304.
    assert js.headers["ETag"] != default_js.headers["ETag"]
    revalidated = await client.get(
        f"/s/{catalog.key}.js", headers={"If-None-Match": default_js.headers["ETag"]}
    )
    assert revalidated.status == 200
