"""Every metric's name, unit and one-sentence definition, declared once.

The JSON of ``callpool report``, the report API, the dashboard and the exports all use
these names as flat keys, in this order. ``docs/metrics.md`` says the same in more words;
``callpool.metrics.definitions`` computes them. Units:

- ``count``: a whole number;
- ``pct``: a percentage, 0 to 100, two decimals (only the keys ending in ``_pct``);
- ``ratio``: a fraction, 0 to 1, four decimals (rates, conversions, service level);
- ``seconds``: one decimal;
- ``money``: the campaign's currency, two decimals.

A metric whose denominator is zero is ``None`` (JSON ``null``), never 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Unit = Literal["count", "pct", "ratio", "seconds", "money"]


@dataclass(frozen=True, slots=True)
class Metric:
    name: str
    unit: Unit
    definition: str


_M = Metric

METRICS: tuple[Metric, ...] = (
    _M("calls", "count", "Inbound calls in the row."),
    _M("unique_calls", "count", "Distinct callers; a hidden caller id counts once per call."),
    _M("first_time_calls", "count", "Calls from a number that never called the campaign before."),
    _M("returning_calls", "count", "Calls minus first-time calls."),
    _M("answered", "count", "Calls a person answered."),
    _M("answered_pct", "pct", "Answered ÷ calls."),
    _M("missed", "count", "Calls nobody answered, however many agents rang."),
    _M("missed_pct", "pct", "Missed ÷ calls."),
    _M("no_answer", "count", "Missed: the PBX gave up ringing."),
    _M("busy", "count", "Missed: every agent rung was busy."),
    _M("failed", "count", "Missed: the call could not be put through."),
    _M("abandoned", "count", "Missed: the caller hung up while waiting, after the short limit."),
    _M("short_abandons", "count", "Missed: the caller hung up within the short limit."),
    _M("abandonment_rate", "ratio", "Abandoned ÷ (calls - short abandons)."),
    _M("target_calls", "count", "Answered calls with talk time ≥ the campaign's threshold."),
    _M("target_pct", "pct", "Target calls ÷ calls."),
    _M("unique_target_calls", "count", "Distinct callers with at least one target call."),
    _M("missed_callers", "count", "Distinct callers with a missed call."),
    _M("called_back", "count", "Missed callers reached afterwards, by us or by themselves."),
    _M("called_back_by_us", "count", "Missed callers we reached by an answered outbound call."),
    _M("called_back_by_themselves", "count", "Missed callers who got through the same day."),
    _M("callback_rate", "ratio", "Called back ÷ missed callers."),
    _M("callback_rate_by_us", "ratio", "Called back by us ÷ missed callers."),
    _M("callback_rate_by_themselves", "ratio", "Called back by themselves ÷ missed callers."),
    _M("never_attempted", "count", "Missed callers with no attempt of ours and no later call."),
    _M("callback_median_seconds", "seconds", "Median time from a missed call to our attempt."),
    _M("callback_within_5m_pct", "pct", "Missed calls we attempted within 5 minutes."),
    _M("callback_within_15m_pct", "pct", "Missed calls we attempted within 15 minutes."),
    _M("callback_within_60m_pct", "pct", "Missed calls we attempted within 60 minutes."),
    _M("wait_avg_seconds", "seconds", "Average wait before answer, answered calls."),
    _M("wait_median_seconds", "seconds", "Median wait before answer, answered calls."),
    _M("talk_avg_seconds", "seconds", "Average talk time, answered calls."),
    _M("talk_median_seconds", "seconds", "Median talk time, answered calls."),
    _M("service_level", "ratio", "Answered within N s ÷ (calls - short abandons)."),
    _M("hangup_normal", "count", "Missed calls cleared normally (Q.850 16, 31)."),
    _M("hangup_busy", "count", "Missed calls with Q.850 cause 17 (user busy)."),
    _M("hangup_no_answer", "count", "Missed calls with Q.850 cause 18 or 19 (no answer)."),
    _M("hangup_rejected", "count", "Missed calls with Q.850 cause 21 (call rejected)."),
    _M("hangup_invalid_number", "count", "Missed calls with Q.850 cause 1, 3, 22 or 28."),
    _M("hangup_network_failure", "count", "Missed calls with a Q.850 network cause (27, 34-47)."),
    _M("hangup_other", "count", "Missed calls with any other Q.850 cause."),
    _M("hangup_unknown", "count", "Missed calls without a recorded cause."),
    _M("successful_calls", "count", "Calls whose outcome is one of the campaign's successes."),
    _M("conversion", "ratio", "Successful calls ÷ answered."),
    _M("revenue", "money", "Sum of the values set on the calls."),
    _M("page_views", "count", "Page views of the row's sessions."),
    _M("sessions", "count", "Sessions (visits) of the row's channel."),
    _M("view_conversion", "ratio", "Calls ÷ page views."),
    _M("session_conversion", "ratio", "Unique calls ÷ sessions."),
    _M("ad_spend", "money", "Imported spend per day, else the channel's daily default."),
    _M("telephony_cost", "money", "Cost per minute x minutes, each call rounded up."),
    _M("cost", "money", "Ad spend + telephony cost."),
    _M("cost_per_call", "money", "Cost ÷ calls."),
    _M("cost_per_unique_call", "money", "Cost ÷ unique calls."),
    _M("cost_per_target_call", "money", "Cost ÷ target calls."),
    _M("roi", "ratio", "(Revenue - cost) ÷ cost, where there is revenue."),
)

# Per-agent rows (grouping by agent) have their own figures.
AGENT_METRICS: tuple[Metric, ...] = (
    _M("answered", "count", "Inbound calls the agent answered first."),
    _M("wait_avg_seconds", "seconds", "Average wait of the calls the agent answered."),
    _M("talk_avg_seconds", "seconds", "Average talk of the calls the agent answered."),
    _M("target_calls", "count", "Calls the agent answered that were target calls."),
    _M("outbound_attempts", "count", "Outbound calls the agent placed (any campaign)."),
    _M("outbound_reached", "count", "Outbound calls a person answered."),
    _M("reach_rate", "ratio", "Outbound reached ÷ outbound attempts."),
    _M("outbound_talk_avg_seconds", "seconds", "Average talk of the reached outbound calls."),
    _M(
        "rang_but_missed",
        "count",
        "Inbound calls that rang the agent who never answered them (once per call).",
    ),
)

METRIC_NAMES: tuple[str, ...] = tuple(m.name for m in METRICS)
AGENT_METRIC_NAMES: tuple[str, ...] = tuple(m.name for m in AGENT_METRICS)
BY_NAME: dict[str, Metric] = {m.name: m for m in METRICS + AGENT_METRICS}
