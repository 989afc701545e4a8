"""Channel report (the home page), trends, compare and live.

These pages render the metrics engine's report (``callpool.metrics``: one parsed
``ReportQuery``, one function that answers it). Until that function is part of this
build they say so plainly and point to what already works, rather than computing
figures of their own that could disagree with it.
"""

from __future__ import annotations

from aiohttp import web

from callpool.reports.dashboard.i18n import N_
from callpool.reports.dashboard.i18n import gettext as _
from callpool.reports.dashboard.views.common import filters_context, render, selection_for

PAGES = {
    "channels": ("/", N_("Channel report")),
    "trends": ("/trends", N_("Trends")),
    "compare": ("/compare", N_("Compare")),
    "live": ("/live", N_("Live")),
}


def _pending(key: str, title: str) -> web.RouteDef:
    async def handler(request: web.Request) -> web.Response:
        selection, campaigns = await selection_for(request)
        context = {
            **filters_context(selection, campaigns, period=key != "live"),
            "page": key,
            "title": _(title),
        }
        return render(request, "pending.html", context)

    return web.get(PAGES[key][0], handler, name=key)


routes_list = [_pending(key, title) for key, (_path, title) in PAGES.items()]
