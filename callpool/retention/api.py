"""The admin API for retention: read every site's, change one site's."""

from __future__ import annotations

from aiohttp import web

from callpool.catalog.spec import parse_spec
from callpool.retention import store
from callpool.web.auth import require_role
from callpool.web.body import read_json_object
from callpool.web.keys import ENGINE

routes = web.RouteTableDef()


@routes.get("/api/v1/admin/retention")
async def list_retention(request: web.Request) -> web.Response:
    await require_role(request, "viewer")
    return web.json_response({"sites": await store.list_retention(request.app[ENGINE])})


@routes.put("/api/v1/admin/retention/{site}")
async def set_retention(request: web.Request) -> web.Response:
    await require_role(request, "admin")
    spec = parse_spec(store.RetentionSpec, await read_json_object(request, 16 * 1024))
    changed = await store.set_retention(request.app[ENGINE], request.match_info["site"], spec)
    return web.json_response(changed)
