"""A small world for the dashboard tests: two customers' sites, their users and calls.

``shop`` (site A) has a campaign with two channels, calls with their metric facts and
visits (one visit's UTM source is a script tag); ``other`` (site B) has its own campaign
and one call. Users: ``boss`` (admin of every site), ``anna`` (viewer of shop), ``bob``
(admin of other only). Every password is ``PASSWORD``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from callpool.accounts import store as accounts_store
from callpool.catalog import store as catalog_store
from callpool.catalog.spec import CampaignSpec, ChannelSpec, SiteSpec
from callpool.db.engine import transaction
from callpool.db.tables import Call, Campaign, MetricCallFacts, Session, Visitor

PASSWORD = "correct horse battery"
XSS = "<script>alert(1)</script>"
TZ = "Europe/Moscow"


@dataclass(frozen=True)
class World:
    shop_campaign: int
    other_campaign: int
    channels: dict[str, int]
    shop_call_ids: list[int]
    other_call_id: int


async def make_world(engine: AsyncEngine, now: datetime | None = None) -> World:
    now = now or datetime.now(UTC)
    await catalog_store.add_site(
        engine, SiteSpec(name="shop", own_numbers=("+74951234567",), mask_callers=True), "RU"
    )
    await catalog_store.add_site(engine, SiteSpec(name="other"), "RU")
    shop = await catalog_store.add_campaign(
        engine, CampaignSpec(site="shop", name="autumn", timezone=TZ), "RU"
    )
    other = await catalog_store.add_campaign(
        engine, CampaignSpec(site="other", name="winter", timezone=TZ), "RU"
    )
    channels = {}
    for name in ("Google Ads", "Yandex Direct"):
        ch = await catalog_store.add_channel(
            engine, ChannelSpec(site="shop", campaign="autumn", name=name)
        )
        channels[name] = ch.id
    await accounts_store.add_user(engine, "boss", PASSWORD, "admin")
    await accounts_store.add_user(engine, "anna", PASSWORD, "viewer", sites=["shop"])
    await accounts_store.add_user(engine, "bob", PASSWORD, "admin", sites=["other"])
    async with transaction(engine) as session:
        await session.execute(
            update(Campaign).where(Campaign.id == shop.id).values(outcomes=["lead", "sale", "spam"])
        )
    today = now.astimezone(ZoneInfo(TZ)).date()
    # (caller, channel or None, status, talk, minutes ago, utm_source)
    plan = [
        ("+79161110001", "Google Ads", "answered", 120, 300, "google"),
        ("+79161110001", "Google Ads", "answered", 5, 200, "google"),
        ("+79161110002", "Google Ads", "no_answer", 0, 180, XSS),
        ("+79161110003", "Yandex Direct", "answered", 60, 120, "yandex"),
        ("+79161110004", "Yandex Direct", "busy", 0, 90, "yandex"),
        ("+79161110005", None, "answered", 30, 60, None),
    ]
    ids: list[int] = []
    async with transaction(engine) as session:
        session.add(Visitor(id="v-1", site_id=shop.site_id, first_seen_at=now, last_seen_at=now))
        await session.flush()
        for n, (caller, channel, status, talk, ago, utm) in enumerate(plan):
            started = min(now - timedelta(minutes=ago), now)
            session_id = None
            if utm is not None:
                session_id = f"s-{n}"
                session.add(
                    Session(
                        id=session_id,
                        visitor_id="v-1",
                        site_id=shop.site_id,
                        campaign_id=shop.id,
                        channel_id=channels[channel] if channel else None,
                        utm_source=utm,
                        utm_medium="cpc",
                        landing_url=f"https://shop.example/landing?n={n}&x={XSS}",
                        started_at=started - timedelta(minutes=2),
                        last_seen_at=started,
                    )
                )
                await session.flush()
            call = _call(f"shop-{n}", caller, started, status, talk, shop.id, session_id)
            call.channel_id = channels[channel] if channel else None
            session.add(call)
            await session.flush()
            ids.append(call.id)
            local = started.astimezone(ZoneInfo(TZ))
            session.add(
                _facts(call, shop.id, channels.get(channel or ""), local.date(), local.hour)
            )
        other_call = _call(
            "other-1", "+79995550000", now - timedelta(minutes=30), "answered", 40, other.id, None
        )
        session.add(other_call)
        await session.flush()
        local = other_call.started_at.astimezone(ZoneInfo(TZ))
        session.add(_facts(other_call, other.id, None, local.date(), local.hour))
    del today
    return World(shop.id, other.id, channels, ids, other_call.id)


def _call(
    linkedid: str,
    caller: str,
    started: datetime,
    status: str,
    talk: int,
    campaign_id: int,
    session_id: str | None,
) -> Call:
    answered = status == "answered"
    return Call(
        pbx="pbx1",
        linkedid=linkedid,
        uniqueid=linkedid,
        direction="inbound",
        caller_number=caller,
        called_number="+74950000001",
        started_at=started,
        answered_at=started + timedelta(seconds=8) if answered else None,
        ended_at=started + timedelta(seconds=8 + talk),
        wait_seconds=8,
        talk_seconds=talk,
        disposition="answered" if answered else status.replace("_", " "),
        campaign_id=campaign_id,
        session_id=session_id,
        created_at=started,
        updated_at=started,
    )


def _facts(
    call: Call, campaign_id: int, channel_id: int | None, day: object, hour: int
) -> MetricCallFacts:
    answered = call.disposition == "answered"
    return MetricCallFacts(
        campaign_id=campaign_id,
        call_id=call.id,
        kind="channel" if channel_id else "unattributed",
        channel_id=channel_id,
        local_day=day,
        hour=hour,
        weekday=1,
        customer=call.caller_number,
        status="answered" if answered else call.disposition.replace(" ", "_"),
        short_abandon=False,
        wait_seconds=call.wait_seconds,
        talk_seconds=call.talk_seconds,
        target=answered and call.talk_seconds >= 10,
        first_time=True,
        answered_in_sl=answered,
        billed_minutes=1,
        successful=False,
        value=None,
        hangup_cause=None,
        answered_by=None,
        called_back_by_us=False,
        called_back_by_themselves=False,
        attempted=False,
        attempt_delay=None,
    )
