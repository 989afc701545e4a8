"""``/api/v1/openapi.json``, and the declarations of the routes built before the
declared ``Api`` (catalog admin, pools, visitor tracking, health).

The report API declares its routes where it registers them (``reports.api``). The
admin routes below validate their bodies with the catalog's specs, which these
declarations name, so their schemas are the handlers' own; the tracking API reads its
bodies field by field (for speed), and ``VisitBody`` and friends describe those fields.
The composition root hands every declaration to ``OPENAPI`` at start-up; this module sits
beside it because it names every room's specs.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from callpool.catalog.spec import (
    CampaignSpec,
    ChannelSpec,
    NumberSpec,
    SiteRecordings,
    SiteSpec,
)
from callpool.retention.store import RetentionSpec
from callpool.web.openapi import Endpoint, openapi_document

OPENAPI = web.AppKey("openapi_endpoints", tuple[Endpoint, ...])
routes = web.RouteTableDef()


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SiteAndCampaign(_Body):
    site: str
    campaign: str


class SiteFilter(_Body):
    site: str | None = None


class PoolQuery(SiteAndCampaign):
    days: float = Field(default=7, ge=1 / 24, le=366)
    target: float = Field(default=0.01, ge=0.0001, le=0.5)


class NumbersBody(_Body):
    numbers: list[NumberSpec] = Field(min_length=1)


class RetireBody(_Body):
    numbers: list[str] = Field(min_length=1)


class VisitBody(_Body):
    visitor_id: str | None = None
    session_id: str | None = None
    url: str
    referrer: str | None = None
    client_id: str | None = None
    consent: bool | None = None
    title: str | None = None


class BeatBody(_Body):
    visitor_id: str
    session_id: str


class PageViewBody(BeatBody):
    url: str
    title: str | None = None
    referrer: str | None = None


class AnyObject(BaseModel):
    model_config = ConfigDict(extra="allow")


def _e(method: str, path: str, summary: str, tag: str, **kwargs: Any) -> Endpoint:
    return Endpoint(method, path, summary, tag, **kwargs)


ENDPOINTS: tuple[Endpoint, ...] = (
    _e("GET", "/healthz", "Database and PBX listeners' health", "ops", role=None,
       response=AnyObject),
    _e("GET", "/api/v1/openapi.json", "This document", "ops", role=None, response=AnyObject),
    _e("GET", "/api/v1/admin/sites", "Sites", "admin", response=AnyObject),
    _e("POST", "/api/v1/admin/sites", "Add a site", "admin", body=SiteSpec, role="admin",
       status=201, response=AnyObject),
    _e("PATCH", "/api/v1/admin/sites/{site}", "Change a site's recording settings", "admin",
       body=SiteRecordings, role="admin", response=AnyObject),
    _e("GET", "/api/v1/admin/campaigns", "Campaigns", "admin", query=SiteFilter,
       response=AnyObject),
    _e("POST", "/api/v1/admin/campaigns", "Add a campaign", "admin", body=CampaignSpec,
       role="admin", status=201, response=AnyObject),
    _e("GET", "/api/v1/admin/channels", "A campaign's channels", "admin",
       query=SiteAndCampaign, response=AnyObject),
    _e("POST", "/api/v1/admin/channels", "Add a channel", "admin", body=ChannelSpec,
       role="admin", status=201, response=AnyObject),
    _e("POST", "/api/v1/admin/numbers", "Import tracking numbers (all or nothing)", "admin",
       body=NumbersBody, role="admin", status=201, response=AnyObject),
    _e("GET", "/api/v1/admin/pool", "A campaign's pool status and sizing", "admin",
       query=PoolQuery, response=AnyObject),
    _e("POST", "/api/v1/admin/numbers/retire", "Retire numbers", "admin", body=RetireBody,
       role="admin", response=AnyObject),
    _e("GET", "/api/v1/admin/retention", "Each site's retention (days; null keeps forever)",
       "admin", response=AnyObject),
    _e("PUT", "/api/v1/admin/retention/{site}", "Set a site's retention", "admin",
       body=RetentionSpec, role="admin", response=AnyObject),
    _e("GET", "/metrics", "Prometheus text format (bearer CALLPOOL_METRICS_TOKEN)", "ops",
       role=None),
    _e("GET", "/recordings/{recording_id}", "A call's recording, through a signed URL "
       "(range requests; the call's JSON gives the URL)", "recordings", role=None),
    _e("GET", "/s/{site_key}.js", "The site's snippet (JavaScript)", "tracking", role=None),
    _e("POST", "/api/v1/t/{site_key}/visit", "A visit: its number(s)", "tracking",
       body=VisitBody, role=None, response=AnyObject),
    _e("POST", "/api/v1/t/{site_key}/heartbeat", "Keep a number leased", "tracking",
       body=BeatBody, role=None, response=AnyObject),
    _e("POST", "/api/v1/t/{site_key}/pageview", "A page view of a session", "tracking",
       body=PageViewBody, role=None, response=AnyObject),
)  # fmt: skip


def _version() -> str:
    try:
        return version("callpool")
    except PackageNotFoundError:
        return "0"


@routes.get("/api/v1/openapi.json")
async def openapi_json(request: web.Request) -> web.Response:
    endpoints: tuple[Endpoint, ...] = request.app[OPENAPI]
    return web.json_response(openapi_document(endpoints, version=_version()))
