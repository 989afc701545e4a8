"""A world for the report API tests: two customers' sites, users with tokens, calls with
visits full of hostile text, rolled up by the real metrics job.

``shop`` (Europe/Moscow, masks callers for viewers) has campaigns ``autumn`` (three
channels, one named like a formula, one in Cyrillic) and ``spring`` (for comparisons);
``other`` has ``winter``. Tokens: ``boss`` (admin, every site), ``anna`` (viewer of
shop), ``bob`` (admin of other only).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from callpool.accounts import store as accounts_store
from callpool.catalog import store as catalog_store
from callpool.catalog.spec import CampaignSpec, ChannelSpec, SiteSpec
from callpool.db.engine import transaction
from callpool.db.tables import Call, Campaign, Session, Visitor
from callpool.metrics.jobs import roll_up

TZ = "Europe/Moscow"
XSS = "<script>alert(1)</script>"
HYPERLINK = '=HYPERLINK("http://evil.example/?x","click")'
SUM = "@SUM(1+1)"
RTL = "\u05e9\u05dc\u05d5\u05dd \u202eevil 🎉"
LANDING = "https://shop.example/?q=<b>x</b>&r=" + "\u202e" + "gpj.exe"
FORMULA_CHANNEL = "=1+2 channel"
CYRILLIC_CHANNEL = "Яндекс Директ"
OWN_NUMBER = "+74951234567"
NOW = datetime.now(UTC).replace(microsecond=0)


@dataclass(frozen=True)
class World:
    tokens: dict[str, str]
    autumn: int
    spring: int
    winter: int
    channels: dict[str, int]
    call_ids: list[int]
    start: date
    end: date
    now: datetime


async def make_world(engine: AsyncEngine) -> World:
    await catalog_store.add_site(
        engine, SiteSpec(name="shop", own_numbers=(OWN_NUMBER,), mask_callers=True), "RU"
    )
    await catalog_store.add_site(engine, SiteSpec(name="other"), "RU")
    autumn = await catalog_store.add_campaign(
        engine, CampaignSpec(site="shop", name="autumn", timezone=TZ), "RU"
    )
    spring = await catalog_store.add_campaign(
        engine, CampaignSpec(site="shop", name="spring", timezone=TZ), "RU"
    )
    winter = await catalog_store.add_campaign(
        engine, CampaignSpec(site="other", name="winter", timezone=TZ), "RU"
    )
    channels: dict[str, int] = {}
    for campaign, name, spend in (
        ("autumn", "Google Ads", "150.00"),
        ("autumn", CYRILLIC_CHANNEL, "0"),
        ("autumn", FORMULA_CHANNEL, "0"),
        ("spring", "Radio", "10.00"),
    ):
        made = await catalog_store.add_channel(
            engine,
            ChannelSpec(site="shop", campaign=campaign, name=name, ad_spend_per_day=Decimal(spend)),
        )
        channels[name] = made.id
    await accounts_store.add_user(engine, "boss", "pw-boss-123", "admin")
    await accounts_store.add_user(engine, "anna", "pw-anna-123", "viewer", sites=["shop"])
    await accounts_store.add_user(engine, "bob", "pw-bob-1234", "admin", sites=["other"])
    tokens = {
        name: (await accounts_store.create_token(engine, name, "tests")).token
        for name in ("boss", "anna", "bob")
    }
    async with transaction(engine) as session:
        for campaign_id in (autumn.id, spring.id):
            await session.execute(
                update(Campaign)
                .where(Campaign.id == campaign_id)
                .values(outcomes=["lead", "sale", "spam"], telephony_cost_per_minute=Decimal("1.5"))
            )
    ids = await _calls(engine, autumn.site_id, autumn.id, spring.id, winter.id, channels)
    await roll_up(engine, NOW)
    today = NOW.astimezone(ZoneInfo(TZ)).date()
    return World(tokens, autumn.id, spring.id, winter.id, channels, ids,
                 today - timedelta(days=6), today, NOW)  # fmt: skip


# (campaign, caller, channel, disposition, wait, talk, hours ago, agent, outcome, value)
PLAN = [
    ("autumn", "+79161110001", "Google Ads", "answered", 8, 120, 50, "201", "sale", "1500.50"),
    ("autumn", "+79161110001", "Google Ads", "answered", 4, 5, 49, "202", None, None),
    ("autumn", "+79161110002", "Google Ads", "no answer", 30, 0, 30, None, None, None),
    ("autumn", "+79161110003", CYRILLIC_CHANNEL, "answered", 12, 60, 26, "201", "lead", None),
    ("autumn", "+79161110004", CYRILLIC_CHANNEL, "busy", 0, 0, 20, None, None, None),
    ("autumn", "+79161110005", FORMULA_CHANNEL, "abandoned", 40, 0, 8, None, None, None),
    ("autumn", "+79161110006", FORMULA_CHANNEL, "abandoned", 2, 0, 7, None, None, None),
    ("autumn", None, None, "answered", 5, 30, 6, "202", None, None),
    ("autumn", "=1+2", None, "failed", 0, 0, 5, None, None, None),
    ("autumn", "+79161110007", None, "answered", 9, 200, 4, "201", "spam", None),
    ("untracked", "+79161110008", None, "answered", 3, 44, 3, "202", None, None),
    ("spring", "+79161110009", "Radio", "answered", 5, 90, 28, "203", "sale", "99.99"),
    ("spring", "+79161110010", "Radio", "no answer", 20, 0, 27, None, None, None),
    ("winter", "+79995550000", None, "answered", 6, 40, 2, "301", None, None),
]


async def _calls(
    engine: AsyncEngine, site_id: int, autumn: int, spring: int, winter: int,
    channels: dict[str, int],
) -> list[int]:  # fmt: skip
    campaigns = {"autumn": autumn, "spring": spring, "winter": winter, "untracked": None}
    ids = []
    async with transaction(engine) as session:
        session.add(Visitor(id="v-1", site_id=site_id, first_seen_at=NOW, last_seen_at=NOW))
        await session.flush()
        for n, (campaign, caller, channel, disposition, wait, talk, ago, agent, outcome,
                value) in enumerate(PLAN):  # fmt: skip
            started = NOW - timedelta(hours=ago)
            session_id = None
            if channel is not None and campaign == "autumn":
                session_id = f"s-{n}"
                session.add(
                    Session(
                        id=session_id,
                        visitor_id="v-1",
                        site_id=site_id,
                        campaign_id=campaigns[campaign],
                        channel_id=channels[channel],
                        utm_source=XSS,
                        utm_medium=HYPERLINK,
                        utm_campaign=SUM,
                        utm_content=RTL,
                        utm_term="-2+3",
                        referrer="@evil.example",
                        landing_url=LANDING,
                        gclid="g-" + str(n),
                        click_ids={"ttclid": "=cmd|' /C calc'!A0"},
                        started_at=started - timedelta(minutes=3),
                        last_seen_at=started,
                    )
                )
                await session.flush()
            answered = disposition == "answered"
            call = Call(
                pbx="pbx1",
                linkedid=f"call-{n}",
                uniqueid=f"call-{n}",
                direction="inbound",
                caller_number=caller,
                called_number=OWN_NUMBER if campaign == "untracked" else f"+7495000000{n % 10}",
                started_at=started,
                answered_at=started + timedelta(seconds=wait) if answered else None,
                ended_at=started + timedelta(seconds=wait + talk),
                wait_seconds=wait,
                talk_seconds=talk,
                disposition=disposition,
                answered_by=agent,
                campaign_id=campaigns[campaign],
                channel_id=channels.get(channel or ""),
                session_id=session_id,
                attribution="lease" if session_id else None,
                outcome=outcome,
                value=Decimal(value) if value else None,
                hangup_cause=None if answered else 17 if disposition == "busy" else 19,
                created_at=started,
                updated_at=started,
            )
            session.add(call)
            await session.flush()
            ids.append(call.id)
        # Our call-back to the missed +79161110002 (answered): it leaves the missed list.
        back = NOW - timedelta(hours=29)
        call_back = Call(
            pbx="pbx1", linkedid="back-1", uniqueid="back-1", direction="outbound",
            caller_number="201", called_number="+79161110002", started_at=back,
            answered_at=back + timedelta(seconds=5), ended_at=back + timedelta(seconds=65),
            wait_seconds=5, talk_seconds=60, disposition="answered", created_at=back,
            updated_at=back,
        )  # fmt: skip
        session.add(call_back)
    return ids
