"""Pool health: per campaign, its size against the traffic it served and the sizes advised.

A pool is flagged too small when visitors found it empty (exhaustions) or when the
Erlang-B recommendation for the measured peak hour is above the pool's size.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from aiohttp import web

from callpool.reports.dashboard.views.common import filters_context, render, selection_for
from callpool.tracking.pool_status import PoolStatus, pool_status
from callpool.web.keys import ENGINE

routes = web.RouteTableDef()


@dataclass(frozen=True, slots=True)
class PoolHealth:
    status: PoolStatus
    campaign_id: int

    @property
    def too_small(self) -> bool:
        return self.status.exhaustions > 0 or self.status.recommended_size > self.status.size

    @property
    def shortfall(self) -> int:
        return max(0, self.status.recommended_size - self.status.size)


@routes.get("/pools", name="pools")
async def pools(request: web.Request) -> web.Response:
    selection, campaigns = await selection_for(request)
    engine = request.config_dict[ENGINE]
    now = datetime.now(UTC)
    # One campaign after another: a handful per customer, and SQLite has one connection.
    statuses = [
        PoolHealth(await pool_status(engine, campaign.site, campaign.name, now), campaign.id)
        for campaign in campaigns
    ]
    context = {
        **filters_context(selection, campaigns, period=False),
        "page": "pools",
        "pools": statuses,
    }
    return render(request, "pools.html", context)
