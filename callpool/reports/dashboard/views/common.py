"""What several pages share: the campaign/period selection and the page render call."""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
from aiohttp import web

from callpool.reports.dashboard.i18n import gettext as _
from callpool.reports.dashboard.keys import ACCESS
from callpool.reports.dashboard.selection import (
    PERIODS,
    CampaignChoice,
    Selection,
    parse_selection,
    visible_campaigns,
)
from callpool.web.keys import ENGINE

PERIOD_LABELS = {
    "today": "Today",
    "yesterday": "Yesterday",
    "last_7_days": "Last 7 days",
    "last_30_days": "Last 30 days",
    "this_month": "This month",
    "last_month": "Last month",
    "custom": "Custom…",
}


async def selection_for(request: web.Request) -> tuple[Selection, list[CampaignChoice]]:
    campaigns = await visible_campaigns(request.config_dict[ENGINE], request[ACCESS])
    return parse_selection(request.query, campaigns), campaigns


def filters_context(
    selection: Selection, campaigns: list[CampaignChoice], *, period: bool = True
) -> dict[str, Any]:
    """What the filter bar of the base layout needs."""
    sites: dict[str, list[CampaignChoice]] = {}
    for campaign in campaigns:
        sites.setdefault(campaign.site, []).append(campaign)
    return {
        "selection": selection,
        "campaign_groups": sites,
        "period_choices": [(key, _(PERIOD_LABELS[key])) for key in (*PERIODS, "custom")]
        if period
        else [],
    }


def render(
    request: web.Request, template: str, context: dict[str, Any], status: int = 200
) -> web.Response:
    return aiohttp_jinja2.render_template(template, request, context, status=status)
