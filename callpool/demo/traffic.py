"""The traffic model: synthetic visits and the calls they lead to, with the ground truth.

Pure and deterministic with a seed: a ``TrafficShape`` and a time span in, a
``TrafficPlan`` out. Visits arrive as a Poisson process whose rate follows the hour of
the day and the day of the week; each visit has a channel (from the shape's mix), a
length and a few page views. A share of visitors call: during the visit, after it
ended (minutes later, the tab closed) or days later (the number was saved); some of
them call again. Callers of the static "print" channel call its number without a visit.
Every call says which visit prompted it; which *number* that visit was shown is only
known when the plan is run against a pool (``runner``), so the truth is completed there.

Call kinds follow the AMI simulator's scenarios: ``answered`` (a person talks past the
campaign's target), ``short`` (answered, hung up within seconds), ``abandoned`` (the
caller gave up while it rang), ``busy``; a missed call may get an agent's ``callback``.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Literal

CallKind = Literal["answered", "short", "abandoned", "busy"]
STATIC_CHANNEL = "print"


@dataclass(frozen=True, slots=True)
class ChannelSource:
    """How visitors of one channel arrive: the landing URL's query and the referrer."""

    name: str
    weight: float
    query: str = ""
    referrer: str | None = None


# The demo campaign's channels and how a browser shows each (see ``demo.catalog``).
CHANNELS: tuple[ChannelSource, ...] = (
    ChannelSource("paid-search", 30, "?utm_source=google&utm_medium=cpc&gclid=demo"),
    ChannelSource("organic-search", 25, "", "https://www.google.com/"),
    ChannelSource("social", 12, "", "https://vk.com/feed"),
    ChannelSource("referral", 8, "", "https://partner-blog.example/best-plumbers"),
    ChannelSource("direct", 15),
    ChannelSource("e-mail", 10, "?utm_source=newsletter&utm_medium=email"),
)
# A small business: quiet nights, a morning and an afternoon peak, slower weekends.
BUSINESS_HOURS = (
    0.2, 0.1, 0.1, 0.1, 0.1, 0.2, 0.5, 1.0, 2.0, 3.0, 3.5, 3.5,
    3.0, 3.2, 3.5, 3.3, 3.0, 2.5, 2.0, 1.6, 1.3, 1.0, 0.6, 0.3,
)  # fmt: skip
EVENING_PEAK = (
    0.3, 0.2, 0.1, 0.1, 0.1, 0.1, 0.2, 0.4, 0.7, 0.9, 1.0, 1.0,
    1.1, 1.1, 1.0, 1.0, 1.2, 1.8, 3.5, 6.0, 7.0, 5.0, 2.0, 0.8,
)  # fmt: skip
WORKWEEK = (1.1, 1.1, 1.05, 1.05, 1.0, 0.6, 0.5)
FLAT_DAY = (1.0,) * 24


@dataclass(frozen=True, slots=True)
class TrafficShape:
    """Who visits when, how long they stay, and how often and when they call."""

    name: str
    visitors_per_day: float
    hourly: tuple[float, ...] = BUSINESS_HOURS
    weekly: tuple[float, ...] = WORKWEEK
    channels: tuple[ChannelSource, ...] = CHANNELS
    mean_session_seconds: float = 180.0
    max_session_seconds: float = 1800.0
    mean_pages: float = 3.0
    returning_share: float = 0.15  # visits by an earlier visitor (a new session)
    call_share: float = 0.06  # visits that lead to a call
    # When a prompted call comes: during the visit, minutes after it, or days later.
    after_share: float = 0.25
    mean_after_seconds: float = 600.0
    days_later_share: float = 0.04
    repeat_share: float = 0.15  # callers who call the same number again, hours or days on
    static_calls_per_day: float = 1.5
    kinds: tuple[tuple[CallKind, float], ...] = (
        ("answered", 0.66),
        ("short", 0.1),
        ("abandoned", 0.17),
        ("busy", 0.07),
    )
    callback_share: float = 0.6  # missed calls an agent calls back
    ring_seconds: tuple[float, float] = (2.0, 15.0)
    talk_seconds: tuple[float, float] = (40.0, 400.0)
    short_talk_seconds: tuple[float, float] = (2.0, 8.0)
    callback_delay_seconds: tuple[float, float] = (120.0, 3600.0)
    # Repeat calls and calls "days later" come after this many seconds.
    later_range_seconds: tuple[float, float] = (3 * 3600.0, 7 * 86400.0)


def steady_b2c(visitors_per_day: float = 400.0) -> TrafficShape:
    return TrafficShape("steady-b2c", visitors_per_day)


def evening_peak(visitors_per_day: float = 400.0) -> TrafficShape:
    return TrafficShape("evening-peak", visitors_per_day, hourly=EVENING_PEAK, weekly=(1.0,) * 7)


def live_demo() -> TrafficShape:
    """The demo's live traffic, sped up so that a minute shows every kind of call."""
    return TrafficShape(
        "live-demo",
        visitors_per_day=86400 / 1.0,  # a visitor a second
        hourly=FLAT_DAY,
        weekly=(1.0,) * 7,
        mean_session_seconds=15.0,
        max_session_seconds=40.0,
        mean_pages=3.0,
        returning_share=0.1,
        call_share=0.7,
        after_share=0.3,
        mean_after_seconds=8.0,
        days_later_share=0.0,
        repeat_share=0.15,
        static_calls_per_day=86400 / 40,
        ring_seconds=(1.0, 4.0),
        talk_seconds=(11.0, 18.0),
        short_talk_seconds=(2.0, 5.0),
        callback_delay_seconds=(3.0, 8.0),
        later_range_seconds=(10.0, 30.0),
    )


@dataclass(frozen=True, slots=True)
class PlannedVisit:
    visitor_id: str
    session_id: str
    channel: str
    started_at: datetime
    ended_at: datetime  # the last page view or heartbeat
    landing: str  # path and query
    referrer: str | None
    pages: tuple[tuple[datetime, str], ...] = ()  # later page views: when, path


@dataclass(frozen=True, slots=True)
class PlannedCall:
    """A call, and the visit that prompted it (None: a call on the static channel)."""

    key: str
    at: datetime
    caller: str  # E.164
    kind: CallKind
    ring: float
    talk: float
    channel: str
    session_id: str | None = None
    visitor_id: str | None = None
    callback_after: float | None = None  # an agent calls back this many seconds later
    callback_answered: bool = True
    timing: Literal["during", "after", "days_later", "repeat", "static"] = "during"

    @property
    def ends_at(self) -> datetime:
        return self.at + timedelta(seconds=self.ring + (self.talk if self.is_answered else 0))

    @property
    def is_answered(self) -> bool:
        return self.kind in ("answered", "short")


@dataclass(frozen=True, slots=True)
class TrafficPlan:
    visits: tuple[PlannedVisit, ...]
    calls: tuple[PlannedCall, ...]
    channels: tuple[str, ...] = field(default=())


PAGES = ("/demo/services", "/demo/prices", "/demo/contact", "/demo/about")


def plan_traffic(shape: TrafficShape, start: datetime, end: datetime, seed: int) -> TrafficPlan:
    """Visits arriving in [start, end) and the calls they lead to, in time order."""
    rng = random.Random(f"{shape.name}:{seed}")
    visits: list[PlannedVisit] = []
    calls: list[PlannedCall] = []
    visitors: list[str] = []
    weights = [c.weight for c in shape.channels]
    for n, arrived in enumerate(_arrivals(shape, start, end, rng)):
        channel = rng.choices(shape.channels, weights)[0]
        if visitors and rng.random() < shape.returning_share:
            visitor = rng.choice(visitors[-200:])
        else:
            visitor = f"v{seed}-{n}"
            visitors.append(visitor)
        visit = _visit(shape, rng, visitor, f"s{seed}-{n}", channel, arrived)
        visits.append(visit)
        if rng.random() < shape.call_share:
            calls += _calls_of(shape, rng, visit, phone_of(visitor))
    calls += _static_calls(shape, rng, start, end, seed)
    calls.sort(key=lambda c: (c.at, c.key))
    return TrafficPlan(tuple(visits), tuple(calls), tuple(c.name for c in shape.channels))


def phone_of(visitor: str) -> str:
    """A stable, unique mobile number per visitor (the visitor's caller id)."""
    digits = sum(ord(ch) * 131**i for i, ch in enumerate(visitor)) % 10**7
    return f"+7916{digits:07d}"


def _arrivals(
    shape: TrafficShape, start: datetime, end: datetime, rng: random.Random
) -> Iterator[datetime]:
    """Poisson arrivals, hour by hour, the rate scaled by the hour and the weekday."""
    hour_total = sum(shape.hourly)
    week_mean = sum(shape.weekly) / len(shape.weekly)
    hour = start
    while hour < end:
        span = min(timedelta(hours=1), end - hour)
        rate = (
            shape.visitors_per_day
            * shape.hourly[hour.hour]
            / hour_total
            * shape.weekly[hour.weekday()]
            / week_mean
        )
        expected = rate * span / timedelta(hours=1)
        offsets = sorted(
            rng.random() * span.total_seconds() for _ in range(_poisson(rng, expected))
        )
        for offset in offsets:
            yield hour + timedelta(seconds=offset)
        hour += span


def _poisson(rng: random.Random, mean: float) -> int:
    if mean > 50:  # normal approximation: Knuth's loop is slow and underflows
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return k


def _visit(
    shape: TrafficShape,
    rng: random.Random,
    visitor: str,
    session: str,
    channel: ChannelSource,
    started: datetime,
) -> PlannedVisit:
    length = min(rng.expovariate(1 / shape.mean_session_seconds), shape.max_session_seconds)
    pages = min(int(rng.expovariate(1 / max(shape.mean_pages - 1, 0.01))), 8)
    moments = sorted(rng.uniform(0, length) for _ in range(pages))
    views = tuple((started + timedelta(seconds=m), rng.choice(PAGES)) for m in moments)
    return PlannedVisit(
        visitor_id=visitor,
        session_id=session,
        channel=channel.name,
        started_at=started,
        ended_at=started + timedelta(seconds=length),
        landing="/demo/" + channel.query,
        referrer=channel.referrer,
        pages=views,
    )


def _calls_of(
    shape: TrafficShape, rng: random.Random, visit: PlannedVisit, phone: str
) -> list[PlannedCall]:
    draw = rng.random()
    length = (visit.ended_at - visit.started_at).total_seconds()
    timing: Literal["during", "after", "days_later"]
    if draw < shape.days_later_share:
        timing, at = "days_later", visit.ended_at + _later(shape, rng)
    elif draw < shape.days_later_share + shape.after_share:
        delay = rng.expovariate(1 / shape.mean_after_seconds)
        timing, at = "after", visit.ended_at + timedelta(seconds=1 + delay)
    else:
        timing, at = "during", visit.started_at + timedelta(seconds=rng.uniform(0.3, 1) * length)
    first = _call(shape, rng, f"{visit.session_id}/1", at, phone, visit, timing)
    calls = [first]
    if rng.random() < shape.repeat_share:
        again = first.ends_at + _later(shape, rng)
        calls.append(_call(shape, rng, f"{visit.session_id}/2", again, phone, visit, "repeat"))
    return calls


def _later(shape: TrafficShape, rng: random.Random) -> timedelta:
    return timedelta(seconds=rng.uniform(*shape.later_range_seconds))


def _call(
    shape: TrafficShape,
    rng: random.Random,
    key: str,
    at: datetime,
    phone: str,
    visit: PlannedVisit | None,
    timing: Literal["during", "after", "days_later", "repeat", "static"],
) -> PlannedCall:
    kinds, weights = zip(*shape.kinds, strict=True)
    kind: CallKind = rng.choices(kinds, weights)[0]
    talk_range = shape.short_talk_seconds if kind == "short" else shape.talk_seconds
    call = PlannedCall(
        key=key,
        at=at,
        caller=phone,
        kind=kind,
        ring=round(rng.uniform(*shape.ring_seconds), 1),
        talk=round(rng.uniform(*talk_range), 1),
        channel=visit.channel if visit else STATIC_CHANNEL,
        session_id=visit.session_id if visit else None,
        visitor_id=visit.visitor_id if visit else None,
        timing=timing,
    )
    if not call.is_answered and rng.random() < shape.callback_share:
        after = round(rng.uniform(*shape.callback_delay_seconds), 1)
        call = replace(call, callback_after=after, callback_answered=rng.random() < 0.75)
    return call


def _static_calls(
    shape: TrafficShape, rng: random.Random, start: datetime, end: datetime, seed: int
) -> list[PlannedCall]:
    """Calls to the printed number: nobody visited the site first."""
    static = TrafficShape(
        "static", shape.static_calls_per_day, hourly=shape.hourly, weekly=shape.weekly
    )
    return [
        _call(shape, rng, f"print-{seed}-{n}", at, phone_of(f"p{seed}-{n}"), None, "static")
        for n, at in enumerate(_arrivals(static, start, end, rng))
    ]
