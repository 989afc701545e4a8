"""The metrics engine's inputs and intermediate values: plain frozen data, no I/O.

``CallRecord`` is a stored call as the definitions see it; ``CallFacts`` is one inbound
call judged once (its local day, status, target, first-time and call-back flags): the
pure path computes them in memory, the SQL path keeps them in ``metric_call_facts``.
Both paths add facts up into a ``Tally`` and turn it into figures with the same code.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Literal

Kind = Literal["channel", "unattributed", "untracked"]
Status = Literal["answered", "no_answer", "busy", "failed", "abandoned"]
Grouping = Literal["channel", "day", "hour", "weekday", "agent", "callers", "region", "line_type"]
# The ``callers`` grouping's rows: calls from first-time callers, and from the others.
CALLER_ROWS = ("new", "returning")

# calls.disposition as written by the call store.
DISPOSITION_STATUS: Mapping[str, Status] = {
    "answered": "answered",
    "no answer": "no_answer",
    "busy": "busy",
    "failed": "failed",
    "abandoned": "abandoned",
}


@dataclass(frozen=True, slots=True)
class CallRecord:
    """A stored call. For inbound calls the customer is ``caller_number``; for outbound
    calls (an agent calling out) it is ``called_number`` and the agent ``caller_number``."""

    id: int
    direction: str  # inbound | outbound | internal
    caller_number: str | None
    called_number: str | None
    started_at: datetime
    ended_at: datetime
    wait_seconds: int = 0
    talk_seconds: int = 0
    disposition: str = "answered"
    answered_by: str | None = None
    hangup_cause: int | None = None
    campaign_id: int | None = None
    channel_id: int | None = None
    outcome: str | None = None
    value: Decimal | None = None
    missed_by: tuple[str, ...] = ()  # inbound: agents who rang and never answered

    @property
    def answered(self) -> bool:
        return self.disposition == "answered"

    @property
    def customer(self) -> str | None:
        """The outside party's number if it is known (see ``known_number``)."""
        number = self.caller_number if self.direction == "inbound" else self.called_number
        return number if known_number(number) else None


def known_number(number: str | None) -> bool:
    """A caller id is known when it is in E.164 form (a ``+`` then digits); the call store
    normalises every number it can parse, so anything else is hidden or invalid."""
    return bool(number) and number is not None and number.startswith("+")


@dataclass(frozen=True, slots=True)
class MetricSettings:
    """One campaign's metric settings (columns of ``campaigns``)."""

    campaign_id: int
    # The site's own numbers: inbound calls to them without a campaign are "untracked".
    site_numbers: frozenset[str] = frozenset()
    timezone: str = "UTC"
    target_seconds: int = 10
    short_abandon_seconds: int = 5
    service_level_seconds: int = 20
    callback_window_days: int = 7
    # True: a caller "called back by themselves" only on the missed call's local day;
    # False: anywhere within the call-back window.
    self_callback_same_day: bool = True
    # None: unlimited; else a call is first-time if the number did not call the
    # campaign in the preceding N days.
    first_time_lookback_days: int | None = None
    successful_outcomes: frozenset[str] = frozenset({"lead", "sale"})
    telephony_cost_per_minute: Decimal = Decimal("0")


@dataclass(frozen=True, slots=True)
class ChannelInfo:
    id: int
    name: str
    daily_spend: Decimal = Decimal("0")
    # The first local day the daily default spend applies to (the channel's creation).
    created_on: date = date.min


@dataclass(frozen=True, slots=True)
class SessionRecord:
    id: str
    channel_id: int | None
    started_at: datetime


@dataclass(frozen=True, slots=True)
class PageViewRecord:
    session_id: str
    viewed_at: datetime


@dataclass(frozen=True, slots=True)
class SpendRecord:
    channel_id: int
    day: date
    amount: Decimal


@dataclass(frozen=True, slots=True)
class CallFacts:
    """One inbound call of a campaign's report, judged once."""

    call_id: int
    kind: Kind
    channel_id: int | None
    local_day: date
    hour: int
    weekday: int  # ISO: Monday 1 .. Sunday 7
    customer: str | None  # None: hidden or invalid caller id
    status: Status
    short_abandon: bool
    wait_seconds: int
    talk_seconds: int
    target: bool
    first_time: bool
    answered_in_sl: bool
    billed_minutes: int
    successful: bool
    value: Decimal | None
    hangup_cause: int | None
    answered_by: str | None
    called_back_by_us: bool = False
    called_back_by_themselves: bool = False
    attempted: bool = False  # an attempt of ours, or a later answered call, in the window
    attempt_delay: int | None = None  # seconds from the miss to our first attempt
    caller_region: str | None = None  # from the number (``metrics.callers``)
    line_type: str | None = None
    missed_by: tuple[str, ...] = ()  # agents who rang and never answered (not a column)

    @property
    def missed(self) -> bool:
        return self.status != "answered"


@dataclass(slots=True)
class Tally:
    """What a row's figures are computed from: counts, sums and value histograms.

    Distinct counts are already distinct (never a sum of other rows' distinct counts).
    """

    calls: int = 0
    unique_calls: int = 0
    first_time_calls: int = 0
    answered: int = 0
    no_answer: int = 0
    busy: int = 0
    failed: int = 0
    abandoned: int = 0  # long abandons only
    short_abandons: int = 0
    target_calls: int = 0
    unique_target_calls: int = 0
    missed_callers: int = 0
    called_back: int = 0
    called_back_by_us: int = 0
    called_back_by_themselves: int = 0
    attempted_callers: int = 0
    known_missed_calls: int = 0
    answered_in_sl: int = 0
    successful_calls: int = 0
    billed_minutes: int = 0
    revenue: Decimal = Decimal("0")
    wait_hist: dict[int, int] = field(default_factory=dict)  # answered calls' wait
    talk_hist: dict[int, int] = field(default_factory=dict)  # answered calls' talk
    delay_hist: dict[int, int] = field(default_factory=dict)  # call-back attempt delays
    causes: dict[str, int] = field(default_factory=dict)  # missed calls by cause class


@dataclass(frozen=True, slots=True)
class RowExtras:
    """Figures from outside the calls: visits and spend (channel grouping only)."""

    page_views: int | None = None
    sessions: int | None = None
    ad_spend: Decimal | None = None
