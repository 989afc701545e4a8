"""A call's page with a player for each of its recordings (``/app/calls/{id}/recording``).

The links are the signed, session-bound ones of :mod:`callpool.recordings.links`; a file
that never appeared or was removed by retention says so instead of a player. Callers
are masked here as in the calls list.
"""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from callpool.errors import NotFound
from callpool.recordings import store
from callpool.recordings.links import recording_links
from callpool.recordings.web import RECORDINGS
from callpool.reports.call_list import mask_number
from callpool.reports.dashboard.keys import ACCESS
from callpool.reports.dashboard.views.common import render
from callpool.web.keys import ENGINE

routes = web.RouteTableDef()


@routes.get(r"/calls/{call_id:\d+}/recording", name="call_recording")
async def call_recording(request: web.Request) -> web.Response:
    engine = request.config_dict[ENGINE]
    access = request[ACCESS]
    call_id = int(request.match_info["call_id"])
    call = await store.call_summary(engine, call_id)
    seen = call is not None and (
        access.can_see_site(call.site_id) if call.site_id is not None else access.all_sites
    )
    if call is None or not seen:
        raise NotFound(f"no call with id {call_id}")
    found = await recording_links(
        engine,
        request.config_dict[RECORDINGS],
        access,
        [call_id],
        datetime.now(UTC),
        session_bound=True,
    )
    links = found.get(call_id)
    masked = call.mask_callers and not access.is_admin
    context = {
        "call": call,
        "caller": mask_number(call.caller_number) if masked else call.caller_number,
        "links": links,
        "timezone": call.timezone or "UTC",
    }
    return render(request, "recording.html", context)
