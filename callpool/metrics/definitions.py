"""The metric definitions: calls, visits, spend and settings in; a campaign's figures out.

This module is the specification; ``docs/metrics.md`` says the same for readers of the
dashboard, and the SQL path (``callpool.metrics.report_query``) must give exactly these
numbers (a property test compares the two). Everything is per campaign, over a period of
local days ``[start, end]`` in the campaign's time zone. No clock, no I/O.

The work is done in three steps that the SQL path shares:

1. ``judge_calls`` turns each inbound call of the campaign into ``CallFacts``: its row
   (channel, unattributed, untracked), local day and hour, status, and the flags below.
2. ``tally_facts`` adds a row's facts up into a ``Tally`` (counts, distinct callers,
   histograms of wait, talk and call-back delay).
3. ``figures`` turns a ``Tally`` (plus visits and spend) into the named metrics of
   ``callpool.metrics.registry``.

Definitions (each in one sentence; the registry has the short form):

- **Rows.** An inbound call with the campaign and a channel belongs to that channel's row;
  with the campaign and no channel to the **unattributed** row; an inbound call with no
  campaign to one of the site's own numbers (its main line) to the **untracked** row. The
  **total** row counts every call of the rows above, each distinct caller once: it is its
  own distinct count, never the sum of the rows.
- **Calls**: inbound calls of the row whose start falls in the period.
- **Known caller.** A caller id is known when it is in E.164 form; hidden (empty,
  ``anonymous``) and invalid ids are not, and each such call counts as its own caller in
  every distinct count (unique calls, unique target calls, missed callers; such a caller
  can never be called back, so it also counts as never attempted).
- **Unique calls**: distinct callers. **First-time calls**: calls from a number with no
  earlier inbound call to the campaign (the untracked row: to the site's own numbers)
  within the look-back (default unlimited); a hidden caller is first-time every time.
- **Answered**: a person answered. **Missed**: everything else, one per call however
  many agents or rounds rang, split into no answer, busy, failed, abandoned and **short
  abandons** (abandoned with a wait under ``short_abandon_seconds``, default 5).
- **Target calls**: answered with talk ≥ ``target_seconds`` (default 10). **Unique
  target calls**: distinct callers with a target call.
- **Call-backs.** For a missed call M from a known number: our **attempts** are outbound
  calls to that number starting in ``[M.end, M.end + window)`` (window
  ``callback_window_days``, default 7); **called back by us**: one of them was answered;
  **called back by themselves**: a later answered inbound call from that number (any
  campaign) started at or after M's end on M's local day (or within the window, if
  ``self_callback_same_day`` is off); **attempted**: an attempt, or a later answered
  inbound call within the window. Counted per distinct caller of the row: **missed
  callers**, **called back** (by us or by themselves), each kind, and **never
  attempted** (missed callers none of whose missed calls was attempted). Credit goes to
  the row of the missed call. **Time to call back**: per missed call from a known number,
  whole seconds from its end to our first attempt; median over attempted missed calls;
  the share within 5/15/60 minutes is over all missed calls from known numbers.
- **Times.** Wait and talk averages and medians are over answered calls (the median of
  an even count is the mean of the two middle values). **Service level**: answered with
  wait ≤ ``service_level_seconds`` (default 20) ÷ (calls - short abandons).
  **Abandonment rate**: abandoned (not short) ÷ (calls - short abandons).
- **Failure reasons**: missed calls by the Q.850 cause of the customer's leg.
- **Outcomes**: successful calls have an outcome in ``successful_outcomes``;
  **conversion** = successful ÷ answered; **revenue** = the sum of call values.
- **Visits**: sessions of the row's channel started in the period, and their page views
  viewed in the period; view conversion = calls ÷ page views, session conversion =
  unique calls ÷ sessions.
- **Costs**: ad spend per channel and day (imported, else the channel's daily default
  for days from its creation up to today); telephony cost = cost per minute x the calls'
  minutes, each call's duration rounded up to a whole minute; cost per call, unique call
  and target call; ROI = (revenue - cost) ÷ cost where there is revenue.

This module is past 400 lines because it is the whole specification in one place; the
report assembly and agent sections at its end are the natural cut if it grows.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from callpool.metrics.callers import describe_number
from callpool.metrics.model import (
    CALLER_ROWS,
    DISPOSITION_STATUS,
    CallFacts,
    CallRecord,
    ChannelInfo,
    Grouping,
    Kind,
    MetricSettings,
    PageViewRecord,
    RowExtras,
    SessionRecord,
    SpendRecord,
    Tally,
)
from callpool.metrics.registry import AGENT_METRIC_NAMES, METRIC_NAMES

CENT = Decimal("0.01")
CALLBACK_SHARES = (5, 15, 60)  # minutes
# Q.850 cause classes for failure reasons.
CAUSE_CLASSES: Mapping[int, str] = {
    16: "normal",
    31: "normal",
    17: "busy",
    18: "no_answer",
    19: "no_answer",
    21: "rejected",
    1: "invalid_number",
    3: "invalid_number",
    22: "invalid_number",
    28: "invalid_number",
    27: "network_failure",
    **dict.fromkeys(range(34, 48), "network_failure"),
}
CAUSE_NAMES = (
    "normal",
    "busy",
    "no_answer",
    "rejected",
    "invalid_number",
    "network_failure",
    "other",
    "unknown",
)


def cause_class(cause: int | None) -> str:
    if cause is None:
        return "unknown"
    return CAUSE_CLASSES.get(cause, "other")


# --------------------------------------------------------------------------- periods


def period_bounds(start: date, end: date, tz: str) -> tuple[datetime, datetime]:
    """The UTC instants of local midnight at ``start`` and after ``end`` (DST-aware)."""
    zone = ZoneInfo(tz)
    first = datetime.combine(start, time(), zone).astimezone(UTC)
    after = datetime.combine(end + timedelta(days=1), time(), zone).astimezone(UTC)
    return first, after


def days_between(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


# --------------------------------------------------------------------------- judging


def call_kind(call: CallRecord, settings: MetricSettings) -> Kind | None:
    """The row an inbound call belongs to in this campaign's report, or None."""
    if call.direction != "inbound":
        return None
    if call.campaign_id == settings.campaign_id:
        return "unattributed" if call.channel_id is None else "channel"
    if call.campaign_id is None and call.called_number in settings.site_numbers:
        return "untracked"
    return None


def judge_calls(
    subjects: Iterable[CallRecord], history: Iterable[CallRecord], settings: MetricSettings
) -> list[CallFacts]:
    """The facts of each subject call in the campaign's report (others are skipped).

    ``history`` holds the calls the flags look at: earlier calls of the same numbers (for
    first-time) and later ones (for call-backs); it may include the subjects.
    """
    index = _History(history, settings)
    zone = ZoneInfo(settings.timezone)
    facts = []
    for call in subjects:
        kind = call_kind(call, settings)
        if kind is not None:
            facts.append(_judge(call, kind, index, settings, zone))
    return facts


class _History:
    """The history's calls by customer, in start order, for the look-ups."""

    def __init__(self, calls: Iterable[CallRecord], settings: MetricSettings) -> None:
        self.scoped: dict[tuple[Kind, str], list[tuple[datetime, int]]] = defaultdict(list)
        self.outbound: dict[str, list[tuple[datetime, bool]]] = defaultdict(list)
        self.answered_in: dict[str, list[datetime]] = defaultdict(list)
        for call in calls:
            customer = call.customer
            if customer is None:
                continue
            if call.direction == "outbound":
                self.outbound[customer].append((call.started_at, call.answered))
            elif call.direction == "inbound":
                if call.answered:
                    self.answered_in[customer].append(call.started_at)
                kind = call_kind(call, settings)
                if kind is not None:  # the campaign's own calls, or the site's main line
                    scope: Kind = "untracked" if kind == "untracked" else "channel"
                    self.scoped[(scope, customer)].append((call.started_at, call.id))
        for values in (self.scoped, self.outbound, self.answered_in):
            for items in values.values():
                items.sort()


def _judge(
    call: CallRecord, kind: Kind, index: _History, settings: MetricSettings, zone: ZoneInfo
) -> CallFacts:
    local = call.started_at.astimezone(zone)
    status = DISPOSITION_STATUS[call.disposition]
    answered = status == "answered"
    customer = call.customer
    duration = max(0, int((call.ended_at - call.started_at).total_seconds()))
    region, line_type = describe_number(customer)
    facts = CallFacts(
        call_id=call.id,
        kind=kind,
        channel_id=call.channel_id if kind == "channel" else None,
        local_day=local.date(),
        hour=local.hour,
        weekday=local.isoweekday(),
        customer=customer,
        status=status,
        short_abandon=status == "abandoned" and call.wait_seconds < settings.short_abandon_seconds,
        wait_seconds=call.wait_seconds,
        talk_seconds=call.talk_seconds,
        target=answered and call.talk_seconds >= settings.target_seconds,
        first_time=_is_first_time(call, kind, customer, index, settings),
        answered_in_sl=answered and call.wait_seconds <= settings.service_level_seconds,
        billed_minutes=(duration + 59) // 60,
        successful=call.outcome in settings.successful_outcomes,
        value=call.value,
        hangup_cause=call.hangup_cause,
        answered_by=call.answered_by if answered else None,
        caller_region=region,
        line_type=line_type,
        missed_by=call.missed_by,
    )
    if answered or customer is None:
        return facts
    return _with_callbacks(facts, call, customer, index, settings, zone)


def _is_first_time(
    call: CallRecord, kind: Kind, customer: str | None, index: _History, settings: MetricSettings
) -> bool:
    if customer is None:
        return True
    scope: Kind = "untracked" if kind == "untracked" else "channel"
    earlier = index.scoped.get((scope, customer), [])
    position = bisect.bisect_left(earlier, (call.started_at, call.id))
    if position == 0:
        return True
    if settings.first_time_lookback_days is None:
        return False
    previous = earlier[position - 1][0]
    return previous < call.started_at - timedelta(days=settings.first_time_lookback_days)


def _with_callbacks(
    facts: CallFacts,
    call: CallRecord,
    customer: str,
    index: _History,
    settings: MetricSettings,
    zone: ZoneInfo,
) -> CallFacts:
    since = call.ended_at
    until = since + timedelta(days=settings.callback_window_days)
    attempts = [
        (at, answered) for at, answered in index.outbound.get(customer, []) if since <= at < until
    ]
    later = [at for at in index.answered_in.get(customer, []) if at >= since]
    if settings.self_callback_same_day:
        themselves = any(at.astimezone(zone).date() == facts.local_day for at in later)
    else:
        themselves = any(at < until for at in later)
    delay = int((attempts[0][0] - since).total_seconds()) if attempts else None
    return _replace_callbacks(
        facts,
        by_us=any(answered for _, answered in attempts),
        by_themselves=themselves,
        attempted=bool(attempts) or any(at < until for at in later),
        delay=delay,
    )


def _replace_callbacks(
    facts: CallFacts, *, by_us: bool, by_themselves: bool, attempted: bool, delay: int | None
) -> CallFacts:
    return replace(
        facts,
        called_back_by_us=by_us,
        called_back_by_themselves=by_themselves,
        attempted=attempted,
        attempt_delay=delay,
    )


# --------------------------------------------------------------------------- tallies


def tally_facts(facts: Iterable[CallFacts]) -> Tally:
    """Add up one row's facts; distinct counts are counted here, over these facts."""
    tally = Tally()
    callers: set[str] = set()
    target: set[str] = set()
    missed: set[str] = set()
    back: set[str] = set()
    by_us: set[str] = set()
    themselves: set[str] = set()
    attempted: set[str] = set()
    hidden = hidden_target = hidden_missed = 0
    for fact in facts:
        tally.calls += 1
        tally.first_time_calls += fact.first_time
        tally.target_calls += fact.target
        tally.answered_in_sl += fact.answered_in_sl
        tally.successful_calls += fact.successful
        tally.billed_minutes += fact.billed_minutes
        if fact.value is not None:
            tally.revenue += fact.value
        customer = fact.customer
        if customer is None:
            hidden += 1
            hidden_target += fact.target
            hidden_missed += fact.missed
        else:
            callers.add(customer)
            if fact.target:
                target.add(customer)
        if fact.status == "answered":
            tally.answered += 1
            _bump(tally.wait_hist, fact.wait_seconds)
            _bump(tally.talk_hist, fact.talk_seconds)
            continue
        _count_missed(tally, fact)
        if customer is None:
            continue
        tally.known_missed_calls += 1
        missed.add(customer)
        if fact.called_back_by_us or fact.called_back_by_themselves:
            back.add(customer)
        if fact.called_back_by_us:
            by_us.add(customer)
        if fact.called_back_by_themselves:
            themselves.add(customer)
        if fact.attempted:
            attempted.add(customer)
        if fact.attempt_delay is not None:
            _bump(tally.delay_hist, fact.attempt_delay)
    tally.unique_calls = len(callers) + hidden
    tally.unique_target_calls = len(target) + hidden_target
    tally.missed_callers = len(missed) + hidden_missed
    tally.called_back = len(back)
    tally.called_back_by_us = len(by_us)
    tally.called_back_by_themselves = len(themselves)
    tally.attempted_callers = len(attempted)
    return tally


def _count_missed(tally: Tally, fact: CallFacts) -> None:
    if fact.short_abandon:
        tally.short_abandons += 1
    elif fact.status == "abandoned":
        tally.abandoned += 1
    elif fact.status == "no_answer":
        tally.no_answer += 1
    elif fact.status == "busy":
        tally.busy += 1
    else:
        tally.failed += 1
    _bump(tally.causes, cause_class(fact.hangup_cause))


def _bump(counts: dict[Any, int], key: Any, by: int = 1) -> None:
    counts[key] = counts.get(key, 0) + by


# --------------------------------------------------------------------------- figures


def figures(tally: Tally, settings: MetricSettings, extras: RowExtras) -> dict[str, Any]:
    """Every metric of the registry for one row, in the registry's order."""
    t = tally
    missed = t.calls - t.answered
    judged = t.calls - t.short_abandons
    wait_sum = sum(v * n for v, n in t.wait_hist.items())
    talk_sum = sum(v * n for v, n in t.talk_hist.items())
    telephony = (settings.telephony_cost_per_minute * t.billed_minutes).quantize(CENT)
    ad_spend = None if extras.ad_spend is None else extras.ad_spend.quantize(CENT)
    cost = None if ad_spend is None else ad_spend + telephony
    revenue = t.revenue.quantize(CENT)
    out: dict[str, Any] = {
        "calls": t.calls,
        "unique_calls": t.unique_calls,
        "first_time_calls": t.first_time_calls,
        "returning_calls": t.calls - t.first_time_calls,
        "answered": t.answered,
        "answered_pct": pct(t.answered, t.calls),
        "missed": missed,
        "missed_pct": pct(missed, t.calls),
        "no_answer": t.no_answer,
        "busy": t.busy,
        "failed": t.failed,
        "abandoned": t.abandoned,
        "short_abandons": t.short_abandons,
        "abandonment_rate": ratio(t.abandoned, judged),
        "target_calls": t.target_calls,
        "target_pct": pct(t.target_calls, t.calls),
        "unique_target_calls": t.unique_target_calls,
        "missed_callers": t.missed_callers,
        "called_back": t.called_back,
        "called_back_by_us": t.called_back_by_us,
        "called_back_by_themselves": t.called_back_by_themselves,
        "callback_rate": ratio(t.called_back, t.missed_callers),
        "callback_rate_by_us": ratio(t.called_back_by_us, t.missed_callers),
        "callback_rate_by_themselves": ratio(t.called_back_by_themselves, t.missed_callers),
        "never_attempted": t.missed_callers - t.attempted_callers,
        "callback_median_seconds": median(t.delay_hist),
    }
    for minutes in CALLBACK_SHARES:
        within = sum(n for v, n in t.delay_hist.items() if v <= minutes * 60)
        out[f"callback_within_{minutes}m_pct"] = pct(within, t.known_missed_calls)
    out |= {
        "wait_avg_seconds": average(wait_sum, t.answered),
        "wait_median_seconds": median(t.wait_hist),
        "talk_avg_seconds": average(talk_sum, t.answered),
        "talk_median_seconds": median(t.talk_hist),
        "service_level": ratio(t.answered_in_sl, judged),
    }
    for name in CAUSE_NAMES:
        out[f"hangup_{name}"] = t.causes.get(name, 0)
    out |= {
        "successful_calls": t.successful_calls,
        "conversion": ratio(t.successful_calls, t.answered),
        "revenue": revenue,
        "page_views": extras.page_views,
        "sessions": extras.sessions,
        "view_conversion": ratio(t.calls, extras.page_views),
        "session_conversion": ratio(t.unique_calls, extras.sessions),
        "ad_spend": ad_spend,
        "telephony_cost": telephony,
        "cost": cost,
        "cost_per_call": money_per(cost, t.calls),
        "cost_per_unique_call": money_per(cost, t.unique_calls),
        "cost_per_target_call": money_per(cost, t.target_calls),
        "roi": None if cost is None or not revenue or not cost else ratio(revenue - cost, cost),
    }
    assert tuple(out) == METRIC_NAMES, "figures must follow the registry"
    return out


def pct(part: int, whole: int | None) -> float | None:
    return None if not whole else round(100 * part / whole, 2)


def ratio(part: int | Decimal, whole: int | Decimal | None) -> float | None:
    return None if not whole else round(float(part) / float(whole), 4)


def average(total: int, count: int) -> float | None:
    return None if not count else round(total / count, 1)


def money_per(cost: Decimal | None, count: int) -> Decimal | None:
    return None if cost is None or not count else (cost / count).quantize(CENT)


def median(hist: Mapping[int, int]) -> float | None:
    """The median of a value histogram; an even count gives the mean of the middle two."""
    count = sum(hist.values())
    if not count:
        return None
    wanted = [(count - 1) // 2, count // 2]
    found: list[int] = []
    seen = 0
    for value in sorted(hist):
        seen += hist[value]
        while wanted and wanted[0] < seen:
            found.append(value)
            wanted.pop(0)
    return round(sum(found) / 2, 1)


# --------------------------------------------------------------------------- visits, spend


def visit_counts(
    sessions: Iterable[SessionRecord],
    page_views: Iterable[PageViewRecord],
    first: datetime,
    after: datetime,
) -> dict[int | None, tuple[int, int]]:
    """(page views, sessions) per channel id: sessions started and views made in the period."""
    channel_of: dict[str, int | None] = {}
    counts: dict[int | None, list[int]] = defaultdict(lambda: [0, 0])
    for session in sessions:
        channel_of[session.id] = session.channel_id
        if first <= session.started_at < after:
            counts[session.channel_id][1] += 1
    for view in page_views:
        if view.session_id in channel_of and first <= view.viewed_at < after:
            counts[channel_of[view.session_id]][0] += 1
    return {key: (views, visits) for key, (views, visits) in counts.items()}


def channel_spend(
    channel: ChannelInfo, imported: Mapping[date, Decimal], start: date, end: date, today: date
) -> Decimal:
    """Imported spend of each day, else the daily default (from creation up to today)."""
    total = sum(imported.values(), Decimal("0"))
    first, last = max(start, channel.created_on), min(end, today)
    if first <= last:
        defaulted = (last - first).days + 1 - sum(1 for day in imported if first <= day <= last)
        total += channel.daily_spend * defaulted
    return total


# --------------------------------------------------------------------------- reports


@dataclass(frozen=True, slots=True)
class ReportRow:
    key: dict[str, Any]  # {"channel", "kind"} or {"day"} / {"hour"} / {"weekday"} / {"agent"}
    figures: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Report:
    rows: list[ReportRow]
    total: dict[str, Any]


ChannelKey = tuple[Kind, int | None]


def fact_key(fact: CallFacts, grouping: Grouping) -> Any:
    if grouping == "channel":
        return (fact.kind, fact.channel_id)
    if grouping == "day":
        return fact.local_day
    if grouping == "hour":
        return fact.hour
    if grouping == "callers":
        return CALLER_ROWS[0] if fact.first_time else CALLER_ROWS[1]
    if grouping == "region":
        return fact.caller_region
    if grouping == "line_type":
        return fact.line_type
    return fact.weekday


def group_keys(grouping: Grouping, start: date, end: date, found: Iterable[Any]) -> list[Any]:
    """Every row of a grouping, empty ones included, in display order."""
    if grouping == "day":
        return list(days_between(start, end))
    if grouping == "hour":
        return list(range(24))
    if grouping == "weekday":
        return list(range(1, 8))
    if grouping == "callers":
        return list(CALLER_ROWS)
    # Regions and line types as found; hidden and unknown numbers (None) last.
    return sorted(set(found), key=lambda k: (k is None, str(k)))


def channel_row_keys(channels: Sequence[ChannelInfo], found: Iterable[ChannelKey]) -> list[Any]:
    keys: list[ChannelKey] = [("channel", c.id) for c in channels]
    extra = sorted({k for k in found if k[0] == "channel" and k not in keys}, key=str)
    return [*keys, *extra, ("unattributed", None), ("untracked", None)]


def row_label(grouping: Grouping, key: Any, names: Mapping[int, str]) -> dict[str, Any]:
    if grouping == "channel":
        kind, channel_id = key
        name = None if channel_id is None else names.get(channel_id, f"channel {channel_id}")
        return {"channel": name, "kind": kind}
    if grouping == "day":
        return {"day": key.isoformat()}
    return {grouping: key}


def assemble_report(
    grouping: Grouping,
    tallies: Mapping[Any, Tally],
    total: Tally,
    extras: Mapping[Any, RowExtras],
    total_extras: RowExtras,
    settings: MetricSettings,
    channels: Sequence[ChannelInfo],
    start: date,
    end: date,
) -> Report:
    """Rows in display order and the total, from tallies keyed by ``fact_key``."""
    if grouping == "channel":
        keys = channel_row_keys(channels, tallies)
    else:
        keys = group_keys(grouping, start, end, tallies)
    names = {c.id: c.name for c in channels}
    rows = [
        ReportRow(
            row_label(grouping, key, names),
            figures(tallies.get(key, Tally()), settings, extras.get(key, RowExtras())),
        )
        for key in keys
    ]
    return Report(rows, figures(total, settings, total_extras))


def channel_extras(
    channels: Sequence[ChannelInfo],
    visits: Mapping[int | None, tuple[int, int]],
    spend: Mapping[int, Decimal],
) -> tuple[dict[Any, RowExtras], RowExtras]:
    """Visits and spend of the channel rows, the unattributed row and the total."""
    extras: dict[Any, RowExtras] = {}
    for channel in channels:
        views, visits_ = visits.get(channel.id, (0, 0))
        extras[("channel", channel.id)] = RowExtras(views, visits_, spend.get(channel.id))
    views, visits_ = visits.get(None, (0, 0))
    extras[("unattributed", None)] = RowExtras(views, visits_, Decimal("0"))
    extras[("untracked", None)] = RowExtras(None, None, Decimal("0"))
    all_views = sum(v for v, _ in visits.values())
    all_sessions = sum(s for _, s in visits.values())
    total = RowExtras(all_views, all_sessions, sum(spend.values(), Decimal("0")))
    return extras, total


def compute_channel_metrics(
    calls: Sequence[CallRecord],
    settings: MetricSettings,
    channels: Sequence[ChannelInfo],
    start: date,
    end: date,
    *,
    today: date,
    sessions: Sequence[SessionRecord] = (),
    page_views: Sequence[PageViewRecord] = (),
    spend: Sequence[SpendRecord] = (),
    grouping: Grouping = "channel",
) -> Report:
    """The campaign's report over local days ``[start, end]``: the specification.

    ``calls`` is the whole history the flags may need; ``sessions``, ``page_views`` and
    ``spend`` are the campaign's; ``today`` (the campaign's local date) bounds the daily
    default spend. Grouping by agent is ``compute_agent_metrics``.
    """
    if grouping == "agent":
        raise ValueError("use compute_agent_metrics for the agent grouping")
    facts = [f for f in judge_calls(calls, calls, settings) if start <= f.local_day <= end]
    grouped: dict[Any, list[CallFacts]] = defaultdict(list)
    for fact in facts:
        grouped[fact_key(fact, grouping)].append(fact)
    tallies = {key: tally_facts(items) for key, items in grouped.items()}
    extras: dict[Any, RowExtras] = {}
    total_extras = RowExtras()
    if grouping == "channel":
        first, after = period_bounds(start, end, settings.timezone)
        visits = visit_counts(sessions, page_views, first, after)
        imported: dict[int, dict[date, Decimal]] = defaultdict(dict)
        for row in spend:
            if start <= row.day <= end:
                imported[row.channel_id][row.day] = row.amount
        money = {
            c.id: channel_spend(c, imported.get(c.id, {}), start, end, today) for c in channels
        }
        extras, total_extras = channel_extras(channels, visits, money)
    return assemble_report(
        grouping, tallies, tally_facts(facts), extras, total_extras, settings, channels, start, end
    )


# --------------------------------------------------------------------------- agents


@dataclass(slots=True)
class AgentTally:
    answered: int = 0
    wait_sum: int = 0
    talk_sum: int = 0
    target_calls: int = 0
    rang_but_missed: int = 0
    outbound_attempts: int = 0
    outbound_reached: int = 0
    outbound_talk_sum: int = 0

    def add(self, other: AgentTally) -> None:
        for name in AgentTally.__slots__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


def agent_figures(t: AgentTally) -> dict[str, Any]:
    out = {
        "answered": t.answered,
        "wait_avg_seconds": average(t.wait_sum, t.answered),
        "talk_avg_seconds": average(t.talk_sum, t.answered),
        "target_calls": t.target_calls,
        "outbound_attempts": t.outbound_attempts,
        "outbound_reached": t.outbound_reached,
        "reach_rate": ratio(t.outbound_reached, t.outbound_attempts),
        "outbound_talk_avg_seconds": average(t.outbound_talk_sum, t.outbound_reached),
        "rang_but_missed": t.rang_but_missed,
    }
    assert tuple(out) == AGENT_METRIC_NAMES
    return out


def agent_report(tallies: Mapping[str, AgentTally]) -> Report:
    total = AgentTally()
    for tally in tallies.values():
        total.add(tally)
    rows = [ReportRow({"agent": agent}, agent_figures(tallies[agent])) for agent in sorted(tallies)]
    return Report(rows, agent_figures(total))


def compute_agent_metrics(
    calls: Sequence[CallRecord], settings: MetricSettings, start: date, end: date
) -> Report:
    """Per agent: the campaign's inbound calls each answered (the agent who answered
    first), those that rang the agent who never answered them (rang but missed), and
    every outbound call each placed in the period. Outbound calls carry no campaign, so
    the outbound figures are the agent's whole outbound work."""
    first, after = period_bounds(start, end, settings.timezone)
    tallies: dict[str, AgentTally] = defaultdict(AgentTally)
    for fact in judge_calls(calls, (), settings):
        if not start <= fact.local_day <= end:
            continue
        for agent in fact.missed_by:
            tallies[agent].rang_but_missed += 1
        if fact.answered_by:
            t = tallies[fact.answered_by]
            t.answered += 1
            t.wait_sum += fact.wait_seconds
            t.talk_sum += fact.talk_seconds
            t.target_calls += fact.target
    for call in calls:
        if call.direction == "outbound" and call.caller_number and first <= call.started_at < after:
            t = tallies[call.caller_number]
            t.outbound_attempts += 1
            if call.answered:
                t.outbound_reached += 1
                t.outbound_talk_sum += call.talk_seconds
    return agent_report(tallies)
