"""A hand-built day, every figure worked out by hand: the metric definitions' golden test.

Campaign 1 (Europe/Moscow, UTC+3) on 2026-12-01, with two channels (google: daily spend
100; radio: 50 imported for the day), the site's main line +74951234567 (untracked
calls) and a telephony cost of 1.50 a minute. Callers A..F; two hidden caller ids.

    id  local time      who  row           what                           then
    0   11-20 10:00     A    google        answered, before the period
    14  12-01 00:10     B    google        answered w4 t15 (first ever)
    1   09:00           A    google        answered w5 t120, sale 1000
    2   09:30           A    google        answered w3 t8 (under target)
    3   10:00           B    google        no answer w30, cause 19      us 10:10 answered
    5   11:00           C    google        abandoned w40, cause 16      C got through 11:20
    6   11:20           C    radio         answered w10 t45
    10  12:00           E    google        short abandon w3, cause 16   us 12:03, no answer
    11  13:00           hidden unattributed answered w12 t30
    12  13:30           hidden google      failed w0, cause 34
    13  14:00           F    untracked     answered w25 t200
    7   23:50           D    radio         busy w2, cause 17            us 12-02 00:20 answered;
    9   12-02 00:05     D    radio         answered (next day: not "by themselves")
    15  11-30 23:55     F    google        the day before: outside the period

A second test: campaign 2 in America/New_York on 2026-03-08, the day clocks go forward
(23 hours long).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from callpool.metrics.definitions import compute_agent_metrics, compute_channel_metrics
from callpool.metrics.model import (
    CallRecord,
    ChannelInfo,
    Grouping,
    MetricSettings,
    PageViewRecord,
    SessionRecord,
    SpendRecord,
)

pytestmark = pytest.mark.pure

MSK = ZoneInfo("Europe/Moscow")
MAIN_LINE = "+74951234567"
POOL = "+74950000001"
A, B, C, D, E, F = (f"+7916000000{i}" for i in range(1, 7))
GOOGLE, RADIO = 10, 11
DAY = date(2026, 12, 1)

SETTINGS = MetricSettings(
    campaign_id=1,
    site_numbers=frozenset({MAIN_LINE}),
    timezone="Europe/Moscow",
    telephony_cost_per_minute=Decimal("1.50"),
)
CHANNELS = [
    ChannelInfo(GOOGLE, "google", Decimal("100"), date(2026, 11, 1)),
    ChannelInfo(RADIO, "radio", Decimal("0"), date(2026, 11, 1)),
]


def msk(day: int, hour: int, minute: int, month: int = 12) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=MSK).astimezone(UTC)


def inbound(
    id_: int,
    at: datetime,
    caller: str,
    disposition: str,
    wait: int,
    talk: int = 0,
    *,
    channel: int | None = GOOGLE,
    campaign: int | None = 1,
    called: str = POOL,
    **more: object,
) -> CallRecord:
    return CallRecord(
        id=id_,
        direction="inbound",
        caller_number=caller,
        called_number=called,
        started_at=at,
        ended_at=at + timedelta(seconds=wait + talk),
        wait_seconds=wait,
        talk_seconds=talk,
        disposition=disposition,
        campaign_id=campaign,
        channel_id=channel,
        **more,  # type: ignore[arg-type]
    )


def outbound(id_: int, at: datetime, customer: str, disposition: str, talk: int) -> CallRecord:
    return CallRecord(
        id=id_,
        direction="outbound",
        caller_number="101",
        called_number=customer,
        started_at=at,
        ended_at=at + timedelta(seconds=5 + talk),
        wait_seconds=5,
        talk_seconds=talk,
        disposition=disposition,
    )


CALLS = [
    inbound(0, msk(20, 10, 0, 11), A, "answered", 3, 50, answered_by="101"),
    inbound(14, msk(1, 0, 10), B, "answered", 4, 15, answered_by="101"),
    inbound(
        1,
        msk(1, 9, 0),
        A,
        "answered",
        5,
        120,
        answered_by="101",
        outcome="sale",
        value=Decimal("1000"),
    ),
    inbound(2, msk(1, 9, 30), A, "answered", 3, 8, answered_by="102"),
    inbound(3, msk(1, 10, 0), B, "no answer", 30, hangup_cause=19),
    outbound(4, msk(1, 10, 10), B, "answered", 60),
    inbound(5, msk(1, 11, 0), C, "abandoned", 40, hangup_cause=16),
    inbound(6, msk(1, 11, 20), C, "answered", 10, 45, channel=RADIO, answered_by="102"),
    inbound(10, msk(1, 12, 0), E, "abandoned", 3, hangup_cause=16),
    outbound(16, msk(1, 12, 3), E, "no answer", 0),
    inbound(11, msk(1, 13, 0), "anonymous", "answered", 12, 30, channel=None, answered_by="101"),
    inbound(12, msk(1, 13, 30), "", "failed", 0, hangup_cause=34),
    inbound(
        13,
        msk(1, 14, 0),
        F,
        "answered",
        25,
        200,
        channel=None,
        campaign=None,
        called=MAIN_LINE,
        answered_by="103",
    ),
    inbound(7, msk(1, 23, 50), D, "busy", 2, channel=RADIO, hangup_cause=17),
    inbound(9, msk(2, 0, 5), D, "answered", 3, 20, channel=RADIO, answered_by="101"),
    outbound(8, msk(2, 0, 20), D, "answered", 30),
    inbound(15, msk(30, 23, 55, 11), F, "answered", 3, 20),
    # Another campaign's call from A: not in campaign 1's report.
    inbound(17, msk(1, 15, 0), A, "answered", 3, 20, campaign=2, channel=99),
]
SESSIONS = [
    SessionRecord("s0", GOOGLE, msk(30, 23, 0, 11)),
    SessionRecord("s1", GOOGLE, msk(1, 8, 0)),
    SessionRecord("s2", GOOGLE, msk(1, 12, 0)),
    SessionRecord("s3", None, msk(1, 13, 0)),
]
PAGE_VIEWS = [
    PageViewRecord("s0", msk(30, 23, 0, 11)),  # the day before: not counted
    PageViewRecord("s0", msk(1, 0, 5)),
    *(PageViewRecord("s1", msk(1, 8, m)) for m in (0, 1, 2)),
    *(PageViewRecord("s2", msk(1, 12, m)) for m in (0, 1)),
    PageViewRecord("s3", msk(1, 13, 0)),
]
SPEND = [
    SpendRecord(RADIO, DAY, Decimal("50")),
    SpendRecord(RADIO, date(2026, 11, 30), Decimal("70")),  # outside the period
]

EMPTY_CALLBACKS = {
    "missed_callers": 0,
    "called_back": 0,
    "called_back_by_us": 0,
    "called_back_by_themselves": 0,
    "callback_rate": None,
    "callback_rate_by_us": None,
    "callback_rate_by_themselves": None,
    "never_attempted": 0,
    "callback_median_seconds": None,
    "callback_within_5m_pct": None,
    "callback_within_15m_pct": None,
    "callback_within_60m_pct": None,
}
NO_CAUSES = {
    f"hangup_{name}": 0
    for name in (
        "normal",
        "busy",
        "no_answer",
        "rejected",
        "invalid_number",
        "network_failure",
        "other",
        "unknown",
    )
}

GOOGLE_ROW = {
    "calls": 7,
    "unique_calls": 5,  # A, B, C, E and the hidden id 12
    "first_time_calls": 4,  # 14 (B's first), 5 (C), 10 (E), 12 (hidden)
    "returning_calls": 3,
    "answered": 3,
    "answered_pct": 42.86,
    "missed": 4,
    "missed_pct": 57.14,
    "no_answer": 1,
    "busy": 0,
    "failed": 1,
    "abandoned": 1,
    "short_abandons": 1,
    "abandonment_rate": 0.1667,  # 1 / (7 - 1)
    "target_calls": 2,  # 14 and 1; 2 talked 8 s
    "target_pct": 28.57,
    "unique_target_calls": 2,
    "missed_callers": 4,  # B, C, E, hidden
    "called_back": 2,
    "called_back_by_us": 1,  # B
    "called_back_by_themselves": 1,  # C
    "callback_rate": 0.5,
    "callback_rate_by_us": 0.25,
    "callback_rate_by_themselves": 0.25,
    "never_attempted": 1,  # the hidden caller
    "callback_median_seconds": 373.5,  # (177 + 570) / 2
    "callback_within_5m_pct": 33.33,  # E's 177 s of 3 known missed calls
    "callback_within_15m_pct": 66.67,
    "callback_within_60m_pct": 66.67,
    "wait_avg_seconds": 4.0,
    "wait_median_seconds": 4.0,
    "talk_avg_seconds": 47.7,  # 143 / 3
    "talk_median_seconds": 15.0,
    "service_level": 0.5,  # 3 / (7 - 1)
    **NO_CAUSES,
    "hangup_normal": 2,
    "hangup_no_answer": 1,
    "hangup_network_failure": 1,
    "successful_calls": 1,
    "conversion": 0.3333,
    "revenue": Decimal("1000.00"),
    "page_views": 6,
    "sessions": 2,
    "view_conversion": 1.1667,  # 7 / 6
    "session_conversion": 2.5,  # 5 / 2
    "ad_spend": Decimal("100.00"),
    "telephony_cost": Decimal("12.00"),  # 8 minutes
    "cost": Decimal("112.00"),
    "cost_per_call": Decimal("16.00"),
    "cost_per_unique_call": Decimal("22.40"),
    "cost_per_target_call": Decimal("56.00"),
    "roi": 7.9286,  # (1000 - 112) / 112
}
RADIO_ROW = {
    "calls": 2,
    "unique_calls": 2,
    "first_time_calls": 1,  # D; C had called at 11:00
    "returning_calls": 1,
    "answered": 1,
    "answered_pct": 50.0,
    "missed": 1,
    "missed_pct": 50.0,
    "no_answer": 0,
    "busy": 1,
    "failed": 0,
    "abandoned": 0,
    "short_abandons": 0,
    "abandonment_rate": 0.0,
    "target_calls": 1,
    "target_pct": 50.0,
    "unique_target_calls": 1,
    "missed_callers": 1,
    "called_back": 1,
    "called_back_by_us": 1,  # the next day at 00:20
    "called_back_by_themselves": 0,  # D got through after midnight: another day
    "callback_rate": 1.0,
    "callback_rate_by_us": 1.0,
    "callback_rate_by_themselves": 0.0,
    "never_attempted": 0,
    "callback_median_seconds": 1798.0,  # 23:50:02 -> 00:20:00
    "callback_within_5m_pct": 0.0,
    "callback_within_15m_pct": 0.0,
    "callback_within_60m_pct": 100.0,
    "wait_avg_seconds": 10.0,
    "wait_median_seconds": 10.0,
    "talk_avg_seconds": 45.0,
    "talk_median_seconds": 45.0,
    "service_level": 0.5,
    **NO_CAUSES,
    "hangup_busy": 1,
    "successful_calls": 0,
    "conversion": 0.0,
    "revenue": Decimal("0.00"),
    "page_views": 0,
    "sessions": 0,
    "view_conversion": None,
    "session_conversion": None,
    "ad_spend": Decimal("50.00"),
    "telephony_cost": Decimal("3.00"),
    "cost": Decimal("53.00"),
    "cost_per_call": Decimal("26.50"),
    "cost_per_unique_call": Decimal("26.50"),
    "cost_per_target_call": Decimal("53.00"),
    "roi": None,
}


def _one_answered(wait: int, talk: int, minutes: int, visits: int | None) -> dict[str, object]:
    cost = Decimal("1.50") * minutes
    return {
        "calls": 1,
        "unique_calls": 1,
        "first_time_calls": 1,
        "returning_calls": 0,
        "answered": 1,
        "answered_pct": 100.0,
        "missed": 0,
        "missed_pct": 0.0,
        "no_answer": 0,
        "busy": 0,
        "failed": 0,
        "abandoned": 0,
        "short_abandons": 0,
        "abandonment_rate": 0.0,
        "target_calls": 1,
        "target_pct": 100.0,
        "unique_target_calls": 1,
        **EMPTY_CALLBACKS,
        "wait_avg_seconds": float(wait),
        "wait_median_seconds": float(wait),
        "talk_avg_seconds": float(talk),
        "talk_median_seconds": float(talk),
        "service_level": 1.0 if wait <= 20 else 0.0,
        **NO_CAUSES,
        "successful_calls": 0,
        "conversion": 0.0,
        "revenue": Decimal("0.00"),
        "page_views": visits,
        "sessions": visits,
        "view_conversion": None if visits is None else 1.0,
        "session_conversion": None if visits is None else 1.0,
        "ad_spend": Decimal("0.00"),
        "telephony_cost": cost,
        "cost": cost,
        "cost_per_call": cost,
        "cost_per_unique_call": cost,
        "cost_per_target_call": cost,
        "roi": None,
    }


TOTAL = {
    "calls": 11,
    "unique_calls": 8,  # A..F and two hidden calls: not 5 + 2 + 1 + 1
    "first_time_calls": 7,
    "returning_calls": 4,
    "answered": 6,
    "answered_pct": 54.55,
    "missed": 5,
    "missed_pct": 45.45,
    "no_answer": 1,
    "busy": 1,
    "failed": 1,
    "abandoned": 1,
    "short_abandons": 1,
    "abandonment_rate": 0.1,
    "target_calls": 5,
    "target_pct": 45.45,
    "unique_target_calls": 5,  # A, B, C, F and the hidden id 11
    "missed_callers": 5,  # B, C, D, E, hidden
    "called_back": 3,
    "called_back_by_us": 2,
    "called_back_by_themselves": 1,
    "callback_rate": 0.6,
    "callback_rate_by_us": 0.4,
    "callback_rate_by_themselves": 0.2,
    "never_attempted": 1,
    "callback_median_seconds": 570.0,  # 177, 570, 1798
    "callback_within_5m_pct": 25.0,
    "callback_within_15m_pct": 50.0,
    "callback_within_60m_pct": 75.0,
    "wait_avg_seconds": 9.8,  # 59 / 6
    "wait_median_seconds": 7.5,  # 3 4 5 | 10 12 25
    "talk_avg_seconds": 69.7,  # 418 / 6
    "talk_median_seconds": 37.5,  # 8 15 30 | 45 120 200
    "service_level": 0.5,  # 5 / 10
    **NO_CAUSES,
    "hangup_normal": 2,
    "hangup_no_answer": 1,
    "hangup_network_failure": 1,
    "hangup_busy": 1,
    "successful_calls": 1,
    "conversion": 0.1667,
    "revenue": Decimal("1000.00"),
    "page_views": 7,
    "sessions": 3,
    "view_conversion": 1.5714,
    "session_conversion": 2.6667,
    "ad_spend": Decimal("150.00"),
    "telephony_cost": Decimal("22.50"),  # 15 minutes
    "cost": Decimal("172.50"),
    "cost_per_call": Decimal("15.68"),
    "cost_per_unique_call": Decimal("21.56"),
    "cost_per_target_call": Decimal("34.50"),
    "roi": 4.7971,
}


def test_hand_built_day_gives_every_figure_written_out_by_hand() -> None:
    report = compute_channel_metrics(
        CALLS,
        SETTINGS,
        CHANNELS,
        DAY,
        DAY,
        today=DAY,
        sessions=SESSIONS,
        page_views=PAGE_VIEWS,
        spend=SPEND,
    )
    assert [row.key for row in report.rows] == [
        {"channel": "google", "kind": "channel"},
        {"channel": "radio", "kind": "channel"},
        {"channel": None, "kind": "unattributed"},
        {"channel": None, "kind": "untracked"},
    ]
    google, radio, unattributed, untracked = (row.figures for row in report.rows)
    assert google == GOOGLE_ROW
    assert radio == RADIO_ROW
    assert unattributed == _one_answered(12, 30, 1, visits=1)
    assert untracked == _one_answered(25, 200, 4, visits=None)
    assert report.total == TOTAL


def test_total_unique_calls_is_its_own_distinct_count() -> None:
    report = compute_channel_metrics(CALLS, SETTINGS, CHANNELS, DAY, DAY, today=DAY)
    assert sum(row.figures["unique_calls"] for row in report.rows) == 9
    assert report.total["unique_calls"] == 8


def test_look_back_makes_an_old_caller_first_time_again() -> None:
    settings = MetricSettings(
        campaign_id=1,
        site_numbers=frozenset({MAIN_LINE}),
        timezone="Europe/Moscow",
        first_time_lookback_days=10,
    )
    report = compute_channel_metrics(CALLS, settings, CHANNELS, DAY, DAY, today=DAY)
    # A's call of 11-20 is 11 days before 09:00 on 12-01: id 1 is first-time again.
    assert report.rows[0].figures["first_time_calls"] == 5


def test_grouping_by_hour_puts_each_call_at_its_local_hour() -> None:
    report = compute_channel_metrics(
        CALLS, SETTINGS, CHANNELS, DAY, DAY, today=DAY, grouping="hour"
    )
    calls = {row.key["hour"]: row.figures["calls"] for row in report.rows}
    assert len(calls) == 24
    assert {h: n for h, n in calls.items() if n} == {
        0: 1,
        9: 2,
        10: 1,
        11: 2,
        12: 1,
        13: 2,
        14: 1,
        23: 1,
    }
    assert report.total["unique_calls"] == 8
    assert report.rows[0].figures["page_views"] is None  # visits: channel grouping only


def test_agents_answered_and_outbound_work() -> None:
    report = compute_agent_metrics(CALLS, SETTINGS, DAY, DAY)
    rows = {row.key["agent"]: row.figures for row in report.rows}
    assert set(rows) == {"101", "102", "103"}
    assert rows["101"] == {
        "answered": 3,  # 14, 1, 11 (9 is the next day)
        "wait_avg_seconds": 7.0,  # (4 + 5 + 12) / 3
        "talk_avg_seconds": 55.0,  # (15 + 120 + 30) / 3
        "target_calls": 3,
        "outbound_attempts": 2,  # 4 and 16 (8 is the next day)
        "outbound_reached": 1,
        "reach_rate": 0.5,
        "outbound_talk_avg_seconds": 60.0,
        "rang_but_missed": 0,  # who rang is not known for these calls
    }
    assert rows["102"]["answered"] == 2 and rows["102"]["target_calls"] == 1
    assert report.total["answered"] == 6


def test_agents_who_rang_but_missed_count_once_per_call() -> None:
    calls = [
        # Rang 101 and 102 (queue rounds), 103 answered: a miss each for 101 and 102.
        inbound(1, msk(1, 10, 0), A, "answered", 30, 60, answered_by="103",
                missed_by=("101", "102")),
        # Nobody answered; rang 101.
        inbound(2, msk(1, 11, 0), B, "no answer", 40, missed_by=("101",)),
        # The untracked main line is in the report too; rang 102, caller gave up.
        inbound(3, msk(1, 12, 0), "anonymous", "abandoned", 8, campaign=None, channel=None,
                called=MAIN_LINE, missed_by=("102",)),
        # The next day (outside the period) and another campaign's call: not counted.
        inbound(4, msk(2, 9, 0), A, "no answer", 20, missed_by=("101",)),
        inbound(5, msk(1, 9, 0), B, "no answer", 20, campaign=2, missed_by=("101",)),
    ]  # fmt: skip
    report = compute_agent_metrics(calls, SETTINGS, DAY, DAY)
    rows = {row.key["agent"]: row.figures for row in report.rows}
    assert {a: f["rang_but_missed"] for a, f in rows.items()} == {"101": 2, "102": 2, "103": 0}
    assert rows["103"]["answered"] == 1 and rows["101"]["answered"] == 0
    assert report.total["rang_but_missed"] == 4


# --------------------------------------------------------------------------- DST day

NY = ZoneInfo("America/New_York")
SPRING = date(2026, 3, 8)  # 02:00 EST -> 03:00 EDT
G = "+12125550100"


def _ny_calls() -> list[CallRecord]:
    utc = lambda *a: datetime(*a, tzinfo=UTC)  # noqa: E731
    return [
        inbound(1, utc(2026, 3, 8, 4, 59), "+12125550101", "answered", 2, 30, campaign=2),
        inbound(2, utc(2026, 3, 8, 5, 0), "+12125550102", "answered", 2, 30, campaign=2),
        inbound(3, utc(2026, 3, 8, 7, 30), "+12125550103", "answered", 2, 30, campaign=2),
        inbound(4, utc(2026, 3, 9, 3, 58), G, "no answer", 30, campaign=2, hangup_cause=19),
        inbound(5, utc(2026, 3, 9, 4, 1), G, "answered", 2, 30, campaign=2),
    ]


def test_dst_day_has_23_hours_and_a_miss_at_midnight_is_another_days_call_back() -> None:
    settings = MetricSettings(campaign_id=2, timezone="America/New_York")
    channels = [ChannelInfo(GOOGLE, "google")]
    report = compute_channel_metrics(
        _ny_calls(), settings, channels, SPRING, SPRING, today=SPRING, grouping="hour"
    )
    calls = {row.key["hour"]: row.figures["calls"] for row in report.rows}
    # 05:00 UTC is midnight EST; 07:30 UTC is 03:30 EDT; 03:58 UTC next day is 23:58 EDT.
    assert {h: n for h, n in calls.items() if n} == {0: 1, 3: 1, 23: 1}
    assert calls[2] == 0  # the hour that does not exist
    assert report.total["calls"] == 3
    assert report.total["called_back_by_themselves"] == 0
    assert report.total["never_attempted"] == 0  # the later answered call counts as reached
    settings = MetricSettings(
        campaign_id=2, timezone="America/New_York", self_callback_same_day=False
    )
    report = compute_channel_metrics(_ny_calls(), settings, channels, SPRING, SPRING, today=SPRING)
    assert report.total["called_back_by_themselves"] == 1
    assert report.total["callback_rate"] == 1.0


def test_callers_by_new_or_returning_region_and_line_type() -> None:
    moscow, mobile = "+74957770000", "+79161234567"
    calls = [
        inbound(1, msk(1, 9, 0), moscow, "answered", 5, 60),
        inbound(2, msk(1, 10, 0), moscow, "no answer", 30),
        inbound(3, msk(1, 11, 0), mobile, "answered", 5, 20),
        inbound(4, msk(1, 12, 0), "anonymous", "answered", 5, 20),
    ]

    def rows(grouping: Grouping) -> dict[Any, tuple[int, int]]:
        report = compute_channel_metrics(calls, SETTINGS, CHANNELS, DAY, DAY, today=DAY,
                                         grouping=grouping)  # fmt: skip
        return {
            row.key[grouping]: (row.figures["calls"], row.figures["unique_calls"])
            for row in report.rows
        }

    # New: the first call of each number (a hidden caller is new every time).
    assert rows("callers") == {"new": (3, 3), "returning": (1, 1)}
    # Fixed lines say where they are; mobile numbers only their country.
    assert rows("region") == {"Moscow": (2, 1), "Russia": (1, 1), None: (1, 1)}
    assert rows("line_type") == {"fixed_line": (2, 1), "mobile": (1, 1), None: (1, 1)}
