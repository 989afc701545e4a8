"""Retention: pruning removes exactly what is older than each site keeps, nothing else."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from callpool.app import create_app
from callpool.catalog import store as catalog_store
from callpool.catalog.spec import CampaignSpec, SiteSpec
from callpool.cli import main
from callpool.db.engine import connection
from callpool.db.tables import (
    AmiEvent,
    Call,
    Campaign,
    Lease,
    PageView,
    Session,
    Site,
    TrackingNumber,
    Visitor,
)
from callpool.retention import store
from callpool.retention.policy import RetentionPolicy, SiteRetention, expired
from callpool.retention.prune import prune, prune_job
from callpool.scheduler import JOBS, Daily
from callpool.settings import load_settings
from callpool.tracking.leases import new_id
from tests.seed import make_catalog

NOW = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
DAY = timedelta(days=1)
SECOND = timedelta(seconds=1)


@pytest.mark.pure
def test_a_site_keeps_its_own_days_and_rows_of_no_site_the_longest() -> None:
    policy = RetentionPolicy({1: SiteRetention(raw_events=30), 2: SiteRetention(raw_events=90)})
    assert policy.days("raw_events", 1) == 30
    assert policy.days("raw_events", None) == 90
    assert policy.days("raw_events", 3) is None  # a site the policy does not know: keep
    assert policy.newest_cutoff("raw_events", NOW) == NOW - 30 * DAY
    forever = RetentionPolicy({1: SiteRetention(raw_events=30), 2: SiteRetention()})
    assert forever.days("raw_events", None) is None
    assert RetentionPolicy().newest_cutoff("sessions", NOW) is None
    rows = [("a", NOW - 30 * DAY - SECOND, 1), ("b", NOW - 30 * DAY, 1), ("c", NOW - 99 * DAY, 2)]
    assert expired(rows, policy, "raw_events", NOW) == ["a", "c"]


def test_prune_runs_daily_in_the_scheduler() -> None:
    assert ("prune_retention", prune_job, Daily(hour=3, minute=15)) in JOBS


async def _site(engine: AsyncEngine, name: str) -> tuple[int, int]:
    await catalog_store.add_site(engine, SiteSpec(name=name), "RU")
    await catalog_store.add_campaign(engine, CampaignSpec(site=name, name="c"), "RU")
    async with connection(engine) as conn:
        row = (
            await conn.execute(
                select(Site.id, Campaign.id)
                .join(Campaign, Campaign.site_id == Site.id)
                .where(Site.name == name)
            )
        ).one()
    return row[0], row[1]


class Seeder:
    """Rows at chosen ages, each named, so a test can say which must go."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.sessions: dict[str, str] = {}  # name -> id
        self.views: dict[str, int] = {}
        self.events: dict[str, int] = {}
        self._seq = 0

    async def session(
        self,
        name: str,
        site_id: int,
        campaign_id: int,
        age: timedelta,
        seen: timedelta | None = None,
    ) -> str:
        visitor, session = new_id(), new_id()
        started, last = NOW - age, NOW - (age if seen is None else seen)
        async with connection(self.engine) as conn:
            await conn.execute(
                insert(Visitor).values(
                    id=visitor, site_id=site_id, first_seen_at=started, last_seen_at=last
                )
            )
            await conn.execute(
                insert(Session).values(
                    id=session,
                    visitor_id=visitor,
                    site_id=site_id,
                    campaign_id=campaign_id,
                    source="direct",
                    click_ids={},
                    started_at=started,
                    last_seen_at=last,
                )
            )
            view = await conn.scalar(
                insert(PageView)
                .values(session_id=session, url="https://x.example/", viewed_at=started)
                .returning(PageView.id)
            )
        self.sessions[name] = session
        self.views[name] = int(view or 0)
        return session

    async def call(self, linkedid: str, campaign_id: int | None, session: str | None) -> None:
        async with connection(self.engine) as conn:
            await conn.execute(
                insert(Call).values(
                    pbx="main",
                    linkedid=linkedid,
                    uniqueid=linkedid,
                    direction="inbound",
                    caller_number="+79161110001",
                    started_at=NOW - 400 * DAY,
                    ended_at=NOW - 400 * DAY,
                    disposition="answered",
                    transfers=[],
                    campaign_id=campaign_id,
                    session_id=session,
                    raw_cdrs=[],
                    created_at=NOW,
                    updated_at=NOW,
                )
            )

    async def event(self, name: str, linkedid: str | None, age: timedelta) -> None:
        self._seq += 1
        async with connection(self.engine) as conn:
            row = await conn.scalar(
                insert(AmiEvent)
                .values(
                    pbx="main",
                    seq=self._seq,
                    received_at=NOW - age,
                    event="Hangup",
                    linkedid=linkedid,
                    frame="Event: Hangup",
                )
                .returning(AmiEvent.id)
            )
        self.events[name] = int(row or 0)

    async def left(self) -> tuple[set[str], set[str], set[str]]:
        async with connection(self.engine) as conn:
            sessions = set((await conn.scalars(select(Session.id))).all())
            views = set((await conn.scalars(select(PageView.id))).all())
            events = set((await conn.scalars(select(AmiEvent.id))).all())
        return (
            {n for n, i in self.sessions.items() if i in sessions},
            {n for n, i in self.views.items() if i in views},
            {n for n, i in self.events.items() if i in events},
        )


async def test_pruning_removes_exactly_what_is_older_than_each_site_keeps(
    engine: AsyncEngine,
) -> None:
    shop, shop_campaign = await _site(engine, "shop")
    other, other_campaign = await _site(engine, "other")
    await store.set_retention(
        engine,
        "shop",
        store.RetentionSpec(
            raw_events_retention_days=30,
            page_views_retention_days=60,
            sessions_retention_days=90,
        ),
    )
    await store.set_retention(engine, "other", store.RetentionSpec(page_views_retention_days=10))
    seed = Seeder(engine)
    for days in (5, 9, 11, 59, 61, 89, 91, 200):
        for site, campaign, prefix in ((shop, shop_campaign, "s"), (other, other_campaign, "o")):
            await seed.session(f"{prefix}{days}", site, campaign, days * DAY)
    # Just inside and just past the shop's 90 days; an old session still in use.
    await seed.session("s90-in", shop, shop_campaign, 90 * DAY - SECOND)
    await seed.session("s90-out", shop, shop_campaign, 90 * DAY + SECOND)
    await seed.session("s-active", shop, shop_campaign, 300 * DAY, seen=DAY)
    leased = await seed.session("s-leased", shop, shop_campaign, 300 * DAY)
    await _open_lease(engine, leased, shop_campaign)
    await seed.call("shop-call", shop_campaign, seed.sessions["s200"])
    await seed.call("other-call", other_campaign, None)
    await seed.call("internal", None, None)
    for days in (29, 31, 400):
        await seed.event(f"shop{days}", "shop-call", days * DAY)
        await seed.event(f"other{days}", "other-call", days * DAY)
        await seed.event(f"internal{days}", "internal", days * DAY)
        await seed.event(f"nocall{days}", None, days * DAY)
    await seed.event("shop30-in", "shop-call", 30 * DAY - SECOND)

    report = await prune(engine, NOW, batch=3, pause=0)

    sessions, views, events = await seed.left()
    gone_sessions = {"s91", "s200", "s90-out"}
    assert set(seed.sessions) - sessions == gone_sessions
    # The shop's page views older than 60 days go (and those of its deleted sessions);
    # the other site's older than 10 days.
    gone_views = {"s61", "s89", "s90-in", "s-active", "s-leased", *gone_sessions}
    gone_views |= {f"o{d}" for d in (11, 59, 61, 89, 91, 200)}
    assert set(seed.views) - views == gone_views
    # Raw events: the shop's call's older than 30 days; the other site keeps its own
    # forever, so do events of no site.
    assert set(seed.events) - events == {"shop31", "shop400"}
    assert report.deleted == {"raw_events": 2, "page_views": len(gone_views), "sessions": 3}
    assert report.batches > 5  # small batches, not one statement
    async with connection(engine) as conn:
        calls = {r[0]: r[1] for r in (await conn.execute(select(Call.linkedid, Call.session_id)))}
        leases = (await conn.scalars(select(Lease.session_id))).all()
    assert calls == {"shop-call": None, "other-call": None, "internal": None}  # calls stay
    assert leases == [leased]

    # Once no site keeps events forever, events of no site go after the longest (100).
    await store.set_retention(engine, "other", store.RetentionSpec(raw_events_retention_days=100))
    again = await prune(engine, NOW, pause=0)
    _, _, events = await seed.left()
    assert set(seed.events) - events == {
        "shop31", "shop400", "other400", "internal400", "nocall400",
    }  # fmt: skip
    assert again.deleted["sessions"] == again.deleted["page_views"] == 0
    assert (await prune(engine, NOW, pause=0)).deleted == dict.fromkeys(again.deleted, 0)


async def _open_lease(engine: AsyncEngine, session_id: str, campaign_id: int) -> None:
    async with connection(engine) as conn:
        visitor = await conn.scalar(select(Session.visitor_id).where(Session.id == session_id))
        number_id = await conn.scalar(
            insert(TrackingNumber)
            .values(e164="+74950000077", campaign_id=campaign_id, created_at=NOW)
            .returning(TrackingNumber.id)
        )
        await conn.execute(
            insert(Lease).values(
                number_id=number_id,
                session_id=session_id,
                visitor_id=visitor,
                campaign_id=campaign_id,
                leased_at=NOW - DAY,
                expires_at=NOW + DAY,
            )
        )


async def test_retention_through_the_admin_api(
    aiohttp_client: Any, database_url: str, engine: AsyncEngine
) -> None:
    await make_catalog(engine)
    client = await aiohttp_client(
        create_app(load_settings(database_url=database_url, admin_token="admin-token-1234"))
    )
    auth = {"Authorization": "Bearer admin-token-1234"}
    resp = await client.put(
        "/api/v1/admin/retention/shop", json={"sessions_retention_days": 90}, headers=auth
    )
    assert resp.status == 200
    assert await resp.json() == {
        "site": "shop",
        "raw_events_retention_days": None,
        "page_views_retention_days": None,
        "sessions_retention_days": 90,
    }
    bad = await client.put(
        "/api/v1/admin/retention/shop", json={"sessions_retention_days": 0}, headers=auth
    )
    assert bad.status == 400 and "sessions_retention_days" in (await bad.json())["message"]
    missing = await client.put("/api/v1/admin/retention/nope", json={}, headers=auth)
    assert missing.status == 404
    listed = await (await client.get("/api/v1/admin/retention", headers=auth)).json()
    assert listed["sites"][0]["sessions_retention_days"] == 90
    added = await client.post(
        "/api/v1/admin/sites", json={"name": "blog", "raw_events_retention_days": 14}, headers=auth
    )
    assert (await added.json())["raw_events_retention_days"] == 14


def test_retention_through_the_cli(database_url: str) -> None:
    runner = CliRunner()
    added = runner.invoke(main, ["--database-url", database_url, "site", "add", "shop"])
    assert added.exit_code == 0, added.output
    base = ["--database-url", database_url, "retention"]
    result = runner.invoke(main, [*base, "set", "shop", "--raw-events-days", "30"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, [*base, "set", "shop", "--sessions-days", "forever"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, [*base, "show", "--json"])
    rows = {row["site"]: row for row in json.loads(result.output)}
    assert rows["shop"]["raw_events_retention_days"] == 30
    assert rows["shop"]["sessions_retention_days"] is None
    result = runner.invoke(main, [*base, "set", "shop", "--page-views-days", "zero"])
    assert result.exit_code == 2 and "neither a number of days" in result.output
    result = runner.invoke(main, [*base, "prune"])
    assert result.exit_code == 0 and result.output.startswith("deleted 0 raw events")
