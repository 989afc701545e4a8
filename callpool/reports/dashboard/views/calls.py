"""Calls (the filterable list behind every figure) and the missed-callers work list."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from aiohttp import web
from sqlalchemy import select, update

from callpool.catalog import store as catalog_store
from callpool.db.engine import connection
from callpool.db.tables import Call, Campaign
from callpool.errors import NotFound, ValidationError
from callpool.recordings.links import recording_links
from callpool.recordings.web import RECORDINGS
from callpool.reports.call_list import (
    FIGURE_CALLS,
    STATUSES,
    CallFilter,
    list_calls,
    mask_number,
    missed_work_list,
)
from callpool.reports.dashboard.auth import require_admin
from callpool.reports.dashboard.keys import ACCESS, PREFIX
from callpool.reports.dashboard.selection import CampaignChoice, Selection
from callpool.reports.dashboard.views.common import filters_context, render, selection_for
from callpool.web.keys import ENGINE

routes = web.RouteTableDef()


def _int(raw: str | None, what: str, default: int | None = None) -> int | None:
    if raw is None or raw == "":
        return default
    if not raw.isdigit():
        raise ValidationError(f"{what}: must be a whole number")
    return int(raw)


def call_filter(request: web.Request, selection: Selection, campaign: CampaignChoice) -> CallFilter:
    """The list a query string asks for: ``row`` (``channel:<id>``, ``unattributed``,
    ``untracked``), ``figure`` (a metric name), ``status`` and ``page``."""
    start, end = selection.resolve(campaign.today(datetime.now(UTC)))
    row = request.query.get("row", "")
    kind, _, channel = row.partition(":")
    return CallFilter(
        campaign_id=campaign.id,
        start=start,
        end=end,
        kind=kind or None,
        channel_id=_int(channel, "row"),
        figure=request.query.get("figure") or None,
        status=request.query.get("status") or None,
        page=_int(request.query.get("page"), "page", 1) or 1,
        with_recording=request.query.get("recording") == "1",
    )


@routes.get("/calls", name="calls")
async def calls(request: web.Request) -> web.Response:
    selection, campaigns = await selection_for(request)
    context = {**filters_context(selection, campaigns), "page": "calls", "list": None}
    campaign = selection.campaign
    if campaign is not None:
        found = call_filter(request, selection, campaign)
        engine = request.config_dict[ENGINE]
        page = await list_calls(engine, found)
        masked = campaign.mask_callers and not request[ACCESS].is_admin
        outcomes = await _outcomes(request, campaign.id)
        channels = await catalog_store.list_channels(engine, campaign.site, campaign.name)
        recordings = await recording_links(
            engine,
            request.config_dict[RECORDINGS],
            request[ACCESS],
            [row.id for row in page.rows],
            datetime.now(UTC),
            session_bound=True,
        )
        context.update(
            {
                "list": page,
                "filter": found,
                "shown_caller": (lambda n: mask_number(n)) if masked else (lambda n: n),
                "channels": channels,
                "statuses": STATUSES,
                "figures": sorted(FIGURE_CALLS),
                "outcomes": outcomes,
                "row_arg": request.query.get("row", ""),
                "can_edit": request[ACCESS].can_edit_site(campaign.site_id),
                "start_end": (found.start, found.end),
                "recordings": recordings,
            }
        )
    return render(request, "calls.html", context)


async def _outcomes(request: web.Request, campaign_id: int) -> list[str]:
    async with connection(request.config_dict[ENGINE]) as conn:
        found = await conn.scalar(select(Campaign.outcomes).where(Campaign.id == campaign_id))
    return list(found or [])


@routes.post("/calls/{call_id:\\d+}/outcome")
async def set_outcome(request: web.Request) -> web.StreamResponse:
    """An admin of the call's site sets its outcome and value; the metrics job rolls it up
    again because ``updated_at`` moves."""
    access = require_admin(request)
    call_id = int(request.match_info["call_id"])
    form = await request.post()
    engine = request.config_dict[ENGINE]
    async with connection(engine) as conn:
        row = (
            await conn.execute(
                select(Campaign.site_id, Campaign.outcomes)
                .join(Call, Call.campaign_id == Campaign.id)
                .where(Call.id == call_id)
            )
        ).first()
        if row is None or not access.can_edit_site(row[0]):
            raise NotFound(f"no call with id {call_id}")
        outcome = str(form.get("outcome", "")).strip() or None
        if outcome is not None and outcome not in row[1]:
            raise ValidationError(f"outcome: must be one of {', '.join(row[1])}")
        value = _money(str(form.get("value", "")))
        await conn.execute(
            update(Call)
            .where(Call.id == call_id)
            .values(outcome=outcome, value=value, updated_at=datetime.now(UTC))
        )
    back = str(form.get("next", ""))
    raise web.HTTPFound(back if back.startswith(f"{PREFIX}/calls") else f"{PREFIX}/calls")


def _money(raw: str) -> Decimal | None:
    raw = raw.strip().replace(" ", "").replace(",", ".")
    if not raw:
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise ValidationError("value: must be an amount like 1500.00") from None
    if value < 0 or value >= Decimal("1e12"):
        raise ValidationError("value: must be between 0 and 999,999,999,999.99")
    return value.quantize(Decimal("0.01"))


@routes.get("/missed", name="missed")
async def missed(request: web.Request) -> web.Response:
    selection, campaigns = await selection_for(request)
    context = {**filters_context(selection, campaigns), "page": "missed", "callers": None}
    campaign = selection.campaign
    if campaign is not None:
        start, end = selection.resolve(campaign.today(datetime.now(UTC)))
        callers = await missed_work_list(request.config_dict[ENGINE], campaign.id, start, end)
        masked = campaign.mask_callers and not request[ACCESS].is_admin
        context.update(
            {
                "callers": callers,
                "masked": masked,
                "shown_caller": (lambda n: mask_number(n)) if masked else (lambda n: n),
                "timezone": campaign.timezone,
            }
        )
    return render(request, "missed.html", context)
