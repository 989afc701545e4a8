"""What several pages share: the campaign/period selection and the page render call."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from callpool.reports.dashboard.i18n import N_
from callpool.reports.dashboard.i18n import gettext as _
from callpool.reports.dashboard.keys import ACCESS
from callpool.reports.dashboard.page import render
from callpool.reports.dashboard.selection import (
    PERIODS,
    CampaignChoice,
    Selection,
    parse_selection,
    visible_campaigns,
)
from callpool.web.keys import ENGINE

PERIOD_LABELS = {
    "today": N_("Today"),
    "yesterday": N_("Yesterday"),
    "last_7_days": N_("Last 7 days"),
    "last_30_days": N_("Last 30 days"),
    "this_month": N_("This month"),
    "last_month": N_("Last month"),
    "custom": N_("Custom…"),
}

__all__ = ["filters_context", "render", "selection_for"]


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
