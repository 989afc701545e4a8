"""Channel report (the home page), trends and compare: renderings of the metrics engine.

Every figure comes from ``callpool.metrics.report_query.run_report`` for one
``ReportQuery`` built from the page's selection, the same function the report API, the
CLI and the exports call; nothing here counts calls itself.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

from aiohttp import web

from callpool.catalog import store as catalog_store
from callpool.errors import ValidationError
from callpool.metrics.registry import BY_NAME
from callpool.metrics.report_query import Period, ReportQuery, ReportResult, run_report
from callpool.reports.dashboard.i18n import N_, fmt_day_short
from callpool.reports.dashboard.i18n import gettext as _
from callpool.reports.dashboard.keys import LOCALE
from callpool.reports.dashboard.selection import CampaignChoice, Selection
from callpool.reports.dashboard.views.common import filters_context, render, selection_for
from callpool.web.keys import ENGINE

routes = web.RouteTableDef()

# The channel table's columns, in the order a marketer reads them.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("calls", N_("Calls")),
    ("unique_calls", N_("Unique callers")),
    ("first_time_calls", N_("First-time")),
    ("target_calls", N_("Target")),
    ("unique_target_calls", N_("Unique target")),
    ("answered", N_("Answered")),
    ("missed", N_("Missed")),
    ("missed_pct", N_("Missed %")),
    ("called_back", N_("Called back")),
    ("callback_rate", N_("Call-back rate")),
    ("page_views", N_("Page views")),
    ("view_conversion", N_("Calls per view")),
    ("wait_avg_seconds", N_("Avg wait")),
    ("talk_avg_seconds", N_("Avg talk")),
    ("cost", N_("Cost")),
    ("cost_per_call", N_("Per call")),
    ("cost_per_unique_call", N_("Per unique")),
    ("cost_per_target_call", N_("Per target")),
    ("roi", N_("ROI")),
)
LINKED = frozenset(
    {
        "calls",
        "unique_calls",
        "first_time_calls",
        "target_calls",
        "unique_target_calls",
        "answered",
        "missed",
        "called_back",
    }
)
COMPARED = (
    "calls",
    "unique_calls",
    "target_calls",
    "answered",
    "missed",
    "missed_pct",
    "callback_rate",
    "wait_avg_seconds",
    "talk_avg_seconds",
    "cost",
    "cost_per_target_call",
)


def report_query(
    selection: Selection,
    campaign: CampaignChoice,
    grouping: str = "channel",
    compare: Period | None = None,
) -> ReportQuery:
    if selection.period == "custom":
        period = Period(selection.start, selection.end)
    else:
        period = Period(named=selection.period)  # type: ignore[arg-type]
    return ReportQuery(campaign.site, campaign.name, period, grouping, compare)  # type: ignore[arg-type]


async def _report(request: web.Request, query: ReportQuery) -> ReportResult:
    return await run_report(request.config_dict[ENGINE], query, datetime.now(UTC))


def _row_arg(key: dict[str, Any], channel_ids: dict[str, int]) -> str:
    if key["kind"] == "channel":
        return f"channel:{channel_ids.get(key['channel'], 0)}"
    return str(key["kind"])


@routes.get("/", name="channels")
async def channels(request: web.Request) -> web.Response:
    selection, campaigns = await selection_for(request)
    context: dict[str, Any] = {**filters_context(selection, campaigns), "page": "channels"}
    campaign = selection.campaign
    if campaign is None:
        return render(request, "channels.html", {**context, "result": None})
    result = await _report(request, report_query(selection, campaign))
    engine = request.config_dict[ENGINE]
    ids = {
        c.name: c.id
        for c in await catalog_store.list_channels(engine, campaign.site, campaign.name)
    }
    sort = request.query.get("sort", "calls")
    if sort not in BY_NAME:
        raise ValidationError(f"sort: unknown figure {sort[:40]!r}")
    descending = request.query.get("dir", "desc") != "asc"
    rows = sorted(
        result.report.rows,
        key=lambda r: (r.figures.get(sort) is None, r.figures.get(sort) or 0),
        reverse=descending,
    )
    if descending:  # rows without the figure stay last either way
        rows = [r for r in rows if r.figures.get(sort) is not None] + [
            r for r in rows if r.figures.get(sort) is None
        ]
    channel_rows = [r for r in result.report.rows if r.key["kind"] == "channel"]
    chart = {
        "type": "bar",
        "horizontal": True,
        "labels": [r.key["channel"] for r in channel_rows],
        "datasets": [
            {"label": _("Calls"), "data": [r.figures["calls"] for r in channel_rows]},
            {
                "label": _("Unique callers"),
                "data": [r.figures["unique_calls"] for r in channel_rows],
            },
            {"label": _("Target"), "data": [r.figures["target_calls"] for r in channel_rows]},
        ],
    }
    context.update(
        {
            "result": result,
            "rows": [(r, _row_arg(r.key, ids)) for r in rows],
            "columns": [(name, _(label), BY_NAME[name].unit) for name, label in COLUMNS],
            "linked": LINKED,
            "sort": sort,
            "descending": descending,
            "chart_json": json.dumps(chart, ensure_ascii=False),
            "definitions": {name: _(BY_NAME[name].definition) for name, _l in COLUMNS},
        }
    )
    return render(request, "channels.html", context)


@routes.get("/trends", name="trends")
async def trends(request: web.Request) -> web.Response:
    selection, campaigns = await selection_for(request)
    context: dict[str, Any] = {**filters_context(selection, campaigns), "page": "trends"}
    campaign = selection.campaign
    if campaign is None:
        return render(request, "trends.html", {**context, "daily": None})
    daily = await _report(request, report_query(selection, campaign, "day"))
    hourly = await _report(request, report_query(selection, campaign, "hour"))
    weekly = await _report(request, report_query(selection, campaign, "weekday"))
    days = daily.report.rows
    day_chart = {
        "type": "bar",
        "stacked": True,
        "labels": [
            fmt_day_short(date.fromisoformat(r.key["day"]), request.get(LOCALE, "en")) for r in days
        ],
        "datasets": [
            {
                "label": _("Target"),
                "data": [r.figures["target_calls"] for r in days],
                "color": "#1f9d6b",
            },
            {
                "label": _("Answered, not target"),
                "data": [r.figures["answered"] - r.figures["target_calls"] for r in days],
                "color": "#8fc9ad",
            },
            {"label": _("Missed"), "data": [r.figures["missed"] for r in days], "color": "#c23b52"},
        ],
    }
    weekday_names = [_("Mon"), _("Tue"), _("Wed"), _("Thu"), _("Fri"), _("Sat"), _("Sun")]

    def distribution(result: ReportResult, labels: list[str]) -> dict[str, Any]:
        rows = result.report.rows
        return {
            "type": "bar",
            "labels": labels,
            "datasets": [
                {"label": _("Calls"), "data": [r.figures["calls"] for r in rows]},
                {
                    "label": _("Answered %"),
                    "type": "line",
                    "axis": "pct",
                    "color": "#e08a00",
                    "data": [r.figures["answered_pct"] for r in rows],
                },
            ],
        }

    total = daily.report.total
    context.update(
        {
            "daily": daily,
            "day_json": json.dumps(day_chart, ensure_ascii=False),
            "hour_json": json.dumps(
                distribution(hourly, [f"{r.key['hour']:02d}" for r in hourly.report.rows]),
                ensure_ascii=False,
            ),
            "weekday_json": json.dumps(
                distribution(
                    weekly, [weekday_names[int(r.key["weekday"]) - 1] for r in weekly.report.rows]
                ),
                ensure_ascii=False,
            ),
            "statuses": [(_(label), total.get(name)) for name, label in STATUS_ROWS],
            "causes": [(_(label), total.get(name)) for name, label in CAUSE_ROWS],
            "total": total,
        }
    )
    return render(request, "trends.html", context)


STATUS_ROWS = (
    ("answered", N_("answered")),
    ("no_answer", N_("no answer")),
    ("busy", N_("busy")),
    ("failed", N_("failed")),
    ("abandoned", N_("abandoned")),
    ("short_abandons", N_("short abandon")),
)
CAUSE_ROWS = (
    ("hangup_no_answer", N_("no answer")),
    ("hangup_busy", N_("busy")),
    ("hangup_rejected", N_("rejected")),
    ("hangup_invalid_number", N_("invalid number")),
    ("hangup_network_failure", N_("network failure")),
    ("hangup_normal", N_("cleared normally")),
    ("hangup_other", N_("other")),
    ("hangup_unknown", N_("unknown")),
)


def change_pct(now: Any, before: Any) -> float | None:
    """Change in % from ``before`` to ``now``; None (shown "n/a") when there is no base."""
    if now is None or before is None or float(before) == 0:
        return None
    return (float(now) - float(before)) / float(before) * 100


@routes.get("/compare", name="compare")
async def compare(request: web.Request) -> web.Response:
    selection, campaigns = await selection_for(request)
    context: dict[str, Any] = {**filters_context(selection, campaigns), "page": "compare"}
    wanted = [c for c in request.query.getall("with", []) if c.isdigit()]
    others = [c for c in campaigns if str(c.id) in wanted and c != selection.campaign][:4]
    campaign = selection.campaign
    if campaign is None:
        return render(request, "compare.html", {**context, "result": None})
    now = datetime.now(UTC)
    start, end = selection.resolve(campaign.today(now))
    length = end - start + timedelta(days=1)
    previous = Period(start - length, start - timedelta(days=1))
    result = await _report(request, report_query(selection, campaign, "channel", previous))
    assert result.compare is not None
    side = [(campaign, result)] + [
        (other, await _report(request, report_query(selection, other))) for other in others
    ]
    metrics = [(name, _(dict(COLUMNS)[name]), BY_NAME[name].unit) for name in COMPARED]
    context.update(
        {
            "result": result,
            "previous": result.compare,
            "metrics": metrics,
            "changes": {
                name: change_pct(
                    result.report.total.get(name), result.compare.report.total.get(name)
                )
                for name in COMPARED
            },
            "side": side,
            "choices": [c for c in campaigns if c != campaign],
            "chosen": {str(c.id) for c in others},
        }
    )
    return render(request, "compare.html", context)
