"""The report API (``/api/v1/reports/...``), call outcomes and spend import.

Each handler is the same three steps: check the token (``require_access``: viewers
read, admins write, a token sees only its user's sites), parse the query with its
declared model into one ``ReportQuery``, ask the data function for a ``ReportDoc`` and
answer it in the format asked for (``responses``). Every report also answers as a CSV,
xlsx or PDF file with ``?format=``; the channel report's xlsx and PDF are the shareable
workbook and summary (every table).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from callpool.accounts.access import Access
from callpool.catalog.spec import parse_spec
from callpool.db.engine import connection
from callpool.db.tables import Channel
from callpool.errors import ValidationError
from callpool.metrics import outcomes, spend
from callpool.metrics.model import Grouping
from callpool.phone import normalize_e164
from callpool.reports import data, params
from callpool.reports.call_feed import CallQuery, decode_cursor
from callpool.reports.call_list import CallFilter
from callpool.reports.responses import file_answer, json_answer
from callpool.reports.rows import ReportDoc
from callpool.web.auth import require_access
from callpool.web.body import read_json_object
from callpool.web.keys import ENGINE, SETTINGS
from callpool.web.openapi import Api, parse_query

IMPORT_MAX_BYTES = 1024 * 1024
api = Api("reports")
routes = api.routes


def _now() -> datetime:
    return datetime.now(UTC)


async def _answer(
    request: web.Request, found: params.PeriodFields, doc: ReportDoc
) -> web.StreamResponse:
    if found.format == "json":
        return json_answer(request, doc)
    settings = request.app[SETTINGS]
    return await file_answer(
        request, doc, found.format, settings, delimiter=found.csv_delimiter, bom=found.bom
    )


async def _scoped(
    request: web.Request, model: type[params.ReportParams]
) -> tuple[Any, data.Scope, AsyncEngine]:
    access = await require_access(request, "viewer")
    found = parse_query(model, request)
    engine = request.app[ENGINE]
    scope = await data.campaign_scope(engine, access, found.site, found.campaign)
    return found, scope, engine


def _grouped(grouping: Grouping) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handler(request: web.Request) -> web.StreamResponse:
        found, _, engine = await _scoped(request, params.ReportParams)
        query = found.report_query(found.site, found.campaign, by=grouping)
        full = grouping == "channel" and found.format in ("xlsx", "pdf")
        doc = await data.grouped_report(engine, query, _now(), full=full)
        return await _answer(request, found, doc)

    return handler


_GROUPED: tuple[tuple[str, Grouping, str, type[Any]], ...] = (
    ("channels", "channel", "Channel report: one row per channel, unattributed, untracked; "
     "the total (the xlsx and PDF hold every table)", params.ChannelsAnswer),
    ("daily", "day", "Daily trend", params.DailyAnswer),
    ("hourly", "hour", "Calls by hour of day", params.HourlyAnswer),
    ("weekdays", "weekday", "Calls by day of week", params.WeekdaysAnswer),
    ("agents", "agent", "Per agent", params.AgentsAnswer),
)  # fmt: skip
for _path, _grouping, _summary, _answer_model in _GROUPED:
    api.get(
        f"/api/v1/reports/{_path}",
        _summary,
        query=params.ReportParams,
        response=_answer_model,
        files=True,
    )(_grouped(_grouping))


@api.get(
    "/api/v1/reports/status",
    "Status breakdown and failure reasons",
    query=params.ReportParams,
    response=params.StatusAnswer,
    files=True,
)
async def status(request: web.Request) -> web.StreamResponse:
    found, scope, engine = await _scoped(request, params.ReportParams)
    query = found.report_query(found.site, found.campaign)
    return await _answer(request, found, await data.status_report(engine, scope, query, _now()))


@api.get(
    "/api/v1/reports/callers",
    "Callers by region, new and returning",
    query=params.ReportParams,
    response=params.CallersAnswer,
    files=True,
)
async def callers(request: web.Request) -> web.StreamResponse:
    found, scope, engine = await _scoped(request, params.ReportParams)
    query = found.report_query(found.site, found.campaign)
    doc = await data.callers_report(engine, scope, query.period, _now())
    return await _answer(request, found, doc)


@api.get(
    "/api/v1/reports/missed",
    "Missed callers nobody has reached yet, oldest first",
    query=params.ReportParams,
    response=params.MissedAnswer,
    files=True,
)
async def missed(request: web.Request) -> web.StreamResponse:
    found, scope, engine = await _scoped(request, params.ReportParams)
    query = found.report_query(found.site, found.campaign)
    return await _answer(
        request, found, await data.missed_report(engine, scope, query.period, _now())
    )


@api.get(
    "/api/v1/reports/calls",
    "The calls behind any figure: filtered, newest first, cursor-paged (files: every call)",
    query=params.CallsParams,
    response=params.CallsAnswer,
    files=True,
)
async def calls(request: web.Request) -> web.StreamResponse:
    found, scope, engine = await _scoped(request, params.CallsParams)
    query = found.report_query(found.site, found.campaign)
    now = _now()
    start, end = scope.resolve(query.period, now)
    call_query = CallQuery(
        CallFilter(
            campaign_id=scope.campaign_id,
            start=start,
            end=end,
            kind=found.row or ("channel" if found.channel else None),
            channel_id=await _channel_id(engine, scope, found.channel),
            figure=found.figure,
            status=found.status,
        ),
        target=found.target,
        caller=_caller(found.caller, request),
        outcome=found.outcome,
        after=decode_cursor(found.cursor) if found.cursor else None,
        limit=found.limit,
    )
    doc = await data.calls_report(engine, scope, call_query, now, stream=found.format != "json")
    return await _answer(request, found, doc)


async def _channel_id(engine: AsyncEngine, scope: data.Scope, name: str | None) -> int | None:
    if name is None:
        return None
    async with connection(engine) as conn:
        found = await conn.scalar(
            select(Channel.id).where(Channel.campaign_id == scope.campaign_id, Channel.name == name)
        )
    if found is None:
        raise ValidationError(f"channel: no channel {name[:40]!r} in campaign {scope.campaign!r}")
    return int(found)


def _caller(raw: str | None, request: web.Request) -> str | None:
    if raw is None:
        return None
    return normalize_e164(raw, request.app[SETTINGS].default_region, strict=False)


@api.get(
    "/api/v1/reports/compare/campaigns",
    "Two to five campaigns of a site side by side",
    query=params.CampaignsParams,
    response=params.CampaignsAnswer,
    files=True,
)
async def compare_campaigns(request: web.Request) -> web.StreamResponse:
    access = await require_access(request, "viewer")
    found = parse_query(params.CampaignsParams, request)
    engine = request.app[ENGINE]
    if len(set(found.campaign)) != len(found.campaign):
        raise ValidationError("campaign: name each campaign once")
    scopes = [await data.campaign_scope(engine, access, found.site, c) for c in found.campaign]
    queries = [found.report_query(found.site, c) for c in found.campaign]
    return await _answer(
        request, found, await data.campaigns_report(engine, scopes, queries, _now())
    )


@api.get(
    "/api/v1/reports/compare/periods",
    'One campaign in two periods: each metric\'s change in % ("n/a" where the base is 0)',
    query=params.TwoPeriodsParams,
    response=params.PeriodsAnswer,
    files=True,
)
async def compare_periods(request: web.Request) -> web.StreamResponse:
    found, scope, engine = await _scoped(request, params.TwoPeriodsParams)
    query = found.report_query(found.site, found.campaign, compare_to=found.compare_to)
    return await _answer(request, found, await data.periods_report(engine, scope, query, _now()))


# --------------------------------------------------------------------------- data in


async def _admin_body(
    request: web.Request, limit: int | None = None
) -> tuple[Access, dict[str, Any]]:
    access = await require_access(request, "admin")
    size = limit or request.app[SETTINGS].max_body_bytes
    return access, await read_json_object(request, size)


def _outcome_json(done: outcomes.OutcomeSet) -> dict[str, Any]:
    return {
        "call_id": done.call_id,
        "campaign": done.campaign,
        "outcome": done.outcome,
        "value": None if done.value is None else float(done.value),
        "changed": done.changed,
    }


@api.post(
    "/api/v1/calls/{call_id:\\d+}/outcome",
    "Set a call's outcome and value (idempotent; its day's figures are rolled up again)",
    body=params.OutcomeBody,
    response=params.OutcomeAnswer,
    role="admin",
)
async def set_outcome(request: web.Request) -> web.Response:
    access, body = await _admin_body(request)
    found = parse_spec(params.OutcomeBody, body)
    done = await outcomes.set_outcome(
        request.app[ENGINE], access, int(request.match_info["call_id"]), found.outcome,
        found.value, _now(),
    )  # fmt: skip
    return web.json_response(_outcome_json(done))


@api.post(
    "/api/v1/calls/outcome",
    "Set the outcome of the call from a number nearest a time (for CRMs without our id)",
    body=params.OutcomeByCallerBody,
    response=params.OutcomeAnswer,
    role="admin",
)
async def set_outcome_by_caller(request: web.Request) -> web.Response:
    access, body = await _admin_body(request)
    found = parse_spec(params.OutcomeByCallerBody, body)
    engine = request.app[ENGINE]
    region = request.app[SETTINGS].default_region
    call_id = await outcomes.find_call(engine, access, found.caller, found.at, region, found.site)
    done = await outcomes.set_outcome(engine, access, call_id, found.outcome, found.value, _now())
    return web.json_response(_outcome_json(done))


@api.post(
    "/api/v1/spend",
    "Import ad spend per channel and day (all or nothing; a day imported again is replaced)",
    body=params.SpendBody,
    response=params.SpendAnswer,
    role="admin",
)
async def import_spend(request: web.Request) -> web.Response:
    access, body = await _admin_body(request, IMPORT_MAX_BYTES)
    found = parse_spec(params.SpendBody, body)
    done = await spend.import_spend(request.app[ENGINE], access, found.rows, _now(), "api")
    return web.json_response({"rows": done.rows, "days": done.days, "replaced": done.replaced})
