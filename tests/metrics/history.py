"""Random call histories for the property test, and writing one to a database as is."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st
from sqlalchemy import delete, insert
from sqlalchemy.ext.asyncio import AsyncEngine

from callpool.db.engine import connection
from callpool.db.tables import (
    AdSpend,
    Base,
    Call,
    Campaign,
    Channel,
    PageView,
    Session,
    Site,
    Visitor,
)
from callpool.metrics.model import (
    CallRecord,
    ChannelInfo,
    MetricSettings,
    PageViewRecord,
    SessionRecord,
    SpendRecord,
)

MAIN_LINE = "+74951234567"
POOL = "+74950000001"
# Mobile (region: the country), fixed lines in three regions, a toll-free line (no
# region), a number libphonenumber does not know, hidden ids.
CUSTOMERS = [
    "+79160000001",
    "+79160000002",
    "+79160000003",
    "+12125550100",
    "+74957770000",
    "+4930123456",
    "+78001234567",
    "+7916",
    "",
    "anonymous",
]
ZONES = ["Europe/Moscow", "America/New_York", "Europe/Berlin", "UTC"]
# Around the spring DST change in New York (03-08) and the autumn one in Berlin (10-25).
BASES = [datetime(2026, 3, 6, tzinfo=UTC), datetime(2026, 10, 23, tzinfo=UTC)]
CHANNELS = (1, 2)
CREATED = datetime(2026, 1, 1, tzinfo=UTC)
KINDS = ["channel"] * 3 + ["unattributed", "untracked", "other"] + ["outbound"] * 2
DISPOSITIONS = ["answered", "answered", "no answer", "busy", "failed", "abandoned"]


@dataclass(frozen=True)
class History:
    settings: MetricSettings
    channels: tuple[ChannelInfo, ...]
    calls: tuple[CallRecord, ...]
    sessions: tuple[SessionRecord, ...]
    page_views: tuple[PageViewRecord, ...]
    spend: tuple[SpendRecord, ...]
    start: date
    end: date
    now: datetime


@st.composite
def calls_strategy(draw: st.DrawFn, base: datetime, count: int) -> list[CallRecord]:
    calls = []
    for i in range(1, count + 1):
        at = base + timedelta(minutes=draw(st.integers(0, 5 * 720)))
        kind = draw(st.sampled_from(KINDS))
        customer = draw(st.sampled_from(CUSTOMERS))
        disposition = draw(st.sampled_from(DISPOSITIONS))
        wait = draw(st.integers(0, 40))
        talk = draw(st.integers(0, 90)) if disposition == "answered" else 0
        outbound = kind == "outbound"
        calls.append(
            CallRecord(
                id=i,
                direction="outbound" if outbound else "inbound",
                caller_number=draw(st.sampled_from(["101", "102"])) if outbound else customer,
                called_number=customer
                if outbound
                else (MAIN_LINE if kind == "untracked" else POOL),
                started_at=at,
                ended_at=at + timedelta(seconds=wait + talk + draw(st.integers(0, 1))),
                wait_seconds=wait,
                talk_seconds=talk,
                disposition=disposition,
                answered_by=(
                    answered_by := (
                        draw(st.sampled_from(["201", "202", None]))
                        if disposition == "answered" and not outbound
                        else None
                    )
                ),
                missed_by=()
                if outbound
                else tuple(
                    a
                    for a in draw(st.lists(st.sampled_from(["201", "202", "203"]), unique=True))
                    if a != answered_by
                ),
                hangup_cause=draw(st.sampled_from([None, 16, 17, 19, 21, 34, 99])),
                campaign_id={"channel": 1, "unattributed": 1, "other": 2}.get(kind),
                channel_id=draw(st.sampled_from(CHANNELS)) if kind == "channel" else None,
                outcome=draw(st.sampled_from([None, None, "lead", "spam", "sale"])),
                value=draw(st.sampled_from([None, None, Decimal("10.50"), Decimal("3.00")])),
            )
        )
    return calls


@st.composite
def histories(draw: st.DrawFn, max_calls: int = 30) -> History:
    base = draw(st.sampled_from(BASES))
    settings = MetricSettings(
        campaign_id=1,
        site_numbers=frozenset({MAIN_LINE}),
        timezone=draw(st.sampled_from(ZONES)),
        target_seconds=draw(st.sampled_from([10, 30])),
        short_abandon_seconds=5,
        service_level_seconds=draw(st.sampled_from([10, 20])),
        callback_window_days=draw(st.sampled_from([1, 7])),
        self_callback_same_day=draw(st.booleans()),
        first_time_lookback_days=draw(st.sampled_from([None, 1])),
        successful_outcomes=frozenset({"lead", "sale"}),
        telephony_cost_per_minute=draw(st.sampled_from([Decimal("0"), Decimal("1.25")])),
    )
    channels = (
        ChannelInfo(1, "google", Decimal("100.00"), date(2026, 1, 1)),
        ChannelInfo(2, "radio", Decimal("0.00"), date(2026, 1, 1)),
    )
    calls = draw(calls_strategy(base, draw(st.integers(0, max_calls))))
    sessions = []
    views = []
    for i in range(draw(st.integers(0, 4))):
        at = base + timedelta(minutes=draw(st.integers(0, 4 * 1440)))
        sessions.append(SessionRecord(f"s{i}", draw(st.sampled_from([1, 2, None])), at))
        for _ in range(draw(st.integers(0, 3))):
            views.append(PageViewRecord(f"s{i}", at + timedelta(minutes=draw(st.integers(0, 90)))))
    first_day = base.date()
    spend = {
        (channel, first_day + timedelta(days=offset)): Decimal(draw(st.sampled_from(["5", "7.25"])))
        for channel, offset in draw(
            st.lists(st.tuples(st.sampled_from(CHANNELS), st.integers(0, 4)), max_size=3)
        )
    }
    start = first_day + timedelta(days=draw(st.integers(0, 1)))
    end = start + timedelta(days=draw(st.integers(1, 3)))
    # After every call (calls are never in the future); the period may pass today.
    now = base + timedelta(days=draw(st.sampled_from([5, 6])), hours=draw(st.integers(0, 23)))
    return History(
        settings,
        channels,
        tuple(calls),
        tuple(sessions),
        tuple(views),
        tuple(SpendRecord(c, d, a) for (c, d), a in spend.items()),
        start,
        end,
        now,
    )


async def write_history(engine: AsyncEngine, h: History) -> None:
    """The history's rows, with the same ids, in an emptied database."""
    s = h.settings
    async with connection(engine) as conn:
        for table in reversed(Base.metadata.sorted_tables):
            await conn.execute(delete(table))
        await conn.execute(
            insert(Site).values(
                id=1,
                name="shop",
                public_key="k" * 32,
                allowed_origins=[],
                own_numbers=[MAIN_LINE],
                blocked_cidrs=[],
                consent_required=False,
                created_at=CREATED,
            )
        )
        common: dict[str, Any] = {
            "site_id": 1,
            "created_at": CREATED,
            "swap_numbers": [],
            "outcomes": [],
            "hold_seconds": 900,
            "cooldown_seconds": 60,
            "attribution_grace_seconds": 1800,
        }
        await conn.execute(
            insert(Campaign).values(
                id=1,
                name="main",
                timezone=s.timezone,
                target_seconds=s.target_seconds,
                short_abandon_seconds=s.short_abandon_seconds,
                service_level_seconds=s.service_level_seconds,
                callback_window_days=s.callback_window_days,
                self_callback_same_day=s.self_callback_same_day,
                first_time_lookback_days=s.first_time_lookback_days,
                successful_outcomes=sorted(s.successful_outcomes),
                telephony_cost_per_minute=s.telephony_cost_per_minute,
                **common,
            )
        )
        await conn.execute(
            insert(Campaign).values(
                id=2,
                name="other",
                timezone="UTC",
                target_seconds=10,
                short_abandon_seconds=5,
                service_level_seconds=20,
                callback_window_days=7,
                self_callback_same_day=True,
                successful_outcomes=[],
                telephony_cost_per_minute=Decimal("0"),
                **common,
            )
        )
        for c in h.channels:
            await conn.execute(
                insert(Channel).values(
                    id=c.id,
                    campaign_id=1,
                    name=c.name,
                    kind="pool",
                    priority=10,
                    ad_spend_per_day=c.daily_spend,
                    created_at=CREATED,
                )
            )
        await conn.execute(
            insert(Channel).values(
                id=99,
                campaign_id=2,
                name="x",
                kind="pool",
                priority=10,
                ad_spend_per_day=Decimal("0"),
                created_at=CREATED,
            )
        )
        if h.calls:
            await conn.execute(insert(Call), [_call_row(c) for c in h.calls])
        if h.sessions:
            await conn.execute(
                insert(Visitor).values(
                    id="v", site_id=1, first_seen_at=CREATED, last_seen_at=CREATED
                )
            )
            await conn.execute(
                insert(Session),
                [
                    {
                        "id": x.id,
                        "visitor_id": "v",
                        "site_id": 1,
                        "campaign_id": 1,
                        "channel_id": x.channel_id,
                        "started_at": x.started_at,
                        "last_seen_at": x.started_at,
                        "source": "direct",
                        "click_ids": {},
                    }
                    for x in h.sessions
                ],
            )
        if h.page_views:
            await conn.execute(
                insert(PageView),
                [
                    {
                        "session_id": v.session_id,
                        "url": "https://shop.example/",
                        "viewed_at": v.viewed_at,
                    }
                    for v in h.page_views
                ],
            )
        if h.spend:
            await conn.execute(
                insert(AdSpend),
                [
                    {
                        "campaign_id": 1,
                        "channel_id": x.channel_id,
                        "day": x.day,
                        "amount": x.amount,
                        "currency": "RUB",
                        "updated_at": CREATED,
                    }
                    for x in h.spend
                ],
            )


def _call_row(c: CallRecord) -> dict[str, Any]:
    return {
        "id": c.id,
        "pbx": "pbx",
        "linkedid": f"l{c.id}",
        "uniqueid": f"u{c.id}",
        "direction": c.direction,
        "caller_number": c.caller_number,
        "called_number": c.called_number,
        "started_at": c.started_at,
        "answered_at": None,
        "ended_at": c.ended_at,
        "wait_seconds": c.wait_seconds,
        "talk_seconds": c.talk_seconds,
        "disposition": c.disposition,
        "answered_by": c.answered_by,
        "transfers": [],
        "missed_by": list(c.missed_by),
        "campaign_id": c.campaign_id,
        "channel_id": c.channel_id,
        "raw_cdrs": [],
        "hangup_cause": c.hangup_cause,
        "outcome": c.outcome,
        "value": c.value,
        "created_at": c.started_at,
        "updated_at": c.ended_at,
    }
