"""The JSON admin API: the same catalog operations as the CLI, behind an admin token."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from callpool.catalog import store as catalog_store
from callpool.catalog.spec import (
    CampaignSpec,
    ChannelSpec,
    NumberSpec,
    SiteRecordings,
    SiteSpec,
    parse_spec,
)
from callpool.db.tables import Site
from callpool.errors import ValidationError
from callpool.tracking.embed import embed_tag
from callpool.tracking.snippet import api_base
from callpool.web.auth import require_access, require_role
from callpool.web.body import read_json_object
from callpool.web.keys import ENGINE, SETTINGS

IMPORT_MAX_BYTES = 1024 * 1024

routes = web.RouteTableDef()


@routes.get("/api/v1/admin/sites")
async def list_sites(request: web.Request) -> web.Response:
    await require_role(request, "viewer")
    sites = await catalog_store.list_sites(request.app[ENGINE])
    return web.json_response({"sites": [_site_dict(request, site) for site in sites]})


@routes.post("/api/v1/admin/sites")
async def add_site(request: web.Request) -> web.Response:
    await require_role(request, "admin")
    spec = parse_spec(SiteSpec, await _body(request))
    settings = request.app[SETTINGS]
    site = await catalog_store.add_site(request.app[ENGINE], spec, settings.default_region)
    return web.json_response(_site_dict(request, site), status=201)


@routes.patch("/api/v1/admin/sites/{site}")
async def update_site(request: web.Request) -> web.Response:
    """Change a site's recording settings; fields not in the body stay as they are."""
    access = await require_access(request, "admin")
    spec = parse_spec(SiteRecordings, await _body(request))
    if not spec.model_fields_set:
        raise ValidationError("body: give at least one recording setting to change")
    site = await catalog_store.set_site_recordings(
        request.app[ENGINE], request.match_info["site"], spec, access
    )
    return web.json_response(_site_dict(request, site))


def _site_dict(request: web.Request, site: Site) -> dict[str, Any]:
    """The site and the line its pages embed, as this server is reached."""
    return catalog_store.site_dict(site) | {"embed": embed_tag(api_base(request), site.public_key)}


@routes.get("/api/v1/admin/campaigns")
async def list_campaigns(request: web.Request) -> web.Response:
    await require_role(request, "viewer")
    site = request.query.get("site")
    campaigns = await catalog_store.list_campaigns(request.app[ENGINE], site)
    return web.json_response({"campaigns": campaigns})


@routes.post("/api/v1/admin/campaigns")
async def add_campaign(request: web.Request) -> web.Response:
    await require_role(request, "admin")
    spec = parse_spec(CampaignSpec, await _body(request))
    settings = request.app[SETTINGS]
    campaign = await catalog_store.add_campaign(request.app[ENGINE], spec, settings.default_region)
    return web.json_response(catalog_store.campaign_dict(campaign), status=201)


@routes.get("/api/v1/admin/channels")
async def list_channels(request: web.Request) -> web.Response:
    await require_role(request, "viewer")
    site, campaign = request.query.get("site"), request.query.get("campaign")
    if not site or not campaign:
        raise ValidationError("query parameters site and campaign are required")
    channels = await catalog_store.list_channels(request.app[ENGINE], site, campaign)
    return web.json_response({"channels": [catalog_store.channel_dict(c) for c in channels]})


@routes.post("/api/v1/admin/channels")
async def add_channel(request: web.Request) -> web.Response:
    await require_role(request, "admin")
    spec = parse_spec(ChannelSpec, await _body(request))
    channel = await catalog_store.add_channel(request.app[ENGINE], spec)
    return web.json_response(catalog_store.channel_dict(channel), status=201)


@routes.post("/api/v1/admin/numbers")
async def import_numbers(request: web.Request) -> web.Response:
    """Body: {"numbers": [{"number", "site", "campaign", "channel"?}, ...]}; all or nothing."""
    await require_role(request, "admin")
    body = await read_json_object(request, IMPORT_MAX_BYTES)
    rows = body.get("numbers")
    if set(body) != {"numbers"} or not isinstance(rows, list) or not rows:
        raise ValidationError('body must be {"numbers": [ ... ]} with at least one row')
    specs = [_number_row(row, line) for line, row in enumerate(rows, start=1)]
    settings = request.app[SETTINGS]
    added = await catalog_store.import_numbers(request.app[ENGINE], specs, settings.default_region)
    return web.json_response({"numbers": [catalog_store.number_dict(n) for n in added]}, status=201)


def _number_row(row: Any, line: int) -> NumberSpec:
    if not isinstance(row, dict):
        raise ValidationError(f"row {line}: must be an object")
    return parse_spec(NumberSpec, row, row=line)


async def _body(request: web.Request) -> dict[str, Any]:
    return await read_json_object(request, request.app[SETTINGS].max_body_bytes)
