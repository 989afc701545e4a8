"""HTTP for recordings: the signed audio route and the call's player page.

``GET /recordings/{id}?u&a&e&b&sig`` (on the root app, so that a bearer link from the
API works without a dashboard cookie, and a refused request is a plain 403/404, never
a log-in redirect): the signature and expiry are checked, a session-bound link needs
the same user's live dashboard session, and then, on every request, that the user may
still hear it (:mod:`policy`). Range requests are answered 206 (aiohttp's
``FileResponse``), so the player seeks. A play is written to the audit log once, on the
request that starts at the first byte (a seek asks for a later range and is not a new
play); every download is written.

The dashboard's player page is ``reports/dashboard/views/recordings.py``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

from aiohttp import web

from callpool.accounts import sessions
from callpool.accounts import store as accounts_store
from callpool.errors import Forbidden, NotFound
from callpool.recordings import store
from callpool.recordings.audio import playable_file
from callpool.recordings.naming import CONTENT_TYPES
from callpool.recordings.policy import may, recording_right
from callpool.recordings.service import SERVICES, RecordingService
from callpool.recordings.signing import verify_grant
from callpool.web.keys import ENGINE

RECORDINGS = web.AppKey("recordings", RecordingService)
SESSION_COOKIE = "callpool_session"  # the dashboard's (reports/dashboard/keys.py)

media_routes = web.RouteTableDef()


def _now() -> datetime:
    return datetime.now(UTC)


async def recordings_ctx(app: web.Application) -> AsyncIterator[None]:
    """Makes this app's recordings visible to the scheduler's jobs while it runs."""
    service = app[RECORDINGS]
    SERVICES.add(service)
    yield
    SERVICES.discard(service)


def _starts_a_play(request: web.Request) -> bool:
    ranges = request.headers.get("Range", "").strip()
    return not ranges or ranges.replace(" ", "").startswith("bytes=0-")


@media_routes.get(r"/recordings/{recording_id:\d+}")
async def serve_recording(request: web.Request) -> web.StreamResponse:
    engine = request.app[ENGINE]
    service = request.app[RECORDINGS]
    now = _now()
    recording_id = int(request.match_info["recording_id"])
    grant = verify_grant(service.secret, recording_id, request.query, now)
    if grant.session_bound:
        token = request.cookies.get(SESSION_COOKIE)
        live = await sessions.find_session(engine, token, now) if token else None
        if live is None or live.user_id != grant.user_id:
            raise Forbidden("sign in to the dashboard to play this recording")
    access = await accounts_store.access_for_user(engine, grant.user_id)
    if access is None:
        raise Forbidden("this recording link is not valid")
    rec = await store.recording(engine, recording_id)
    if rec is None:
        raise NotFound("no such recording")
    right = recording_right(
        access, rec.site_id, enabled=rec.recordings_enabled, for_viewers=rec.recordings_for_viewers
    )
    if right == "unseen":
        raise NotFound("no such recording")
    if not may(right, grant.action):
        raise Forbidden("you may not hear this recording")
    source = Path(rec.path) if rec.path else None
    if rec.state != "present" or source is None or not source.is_file():
        raise NotFound("the recording's file is missing")
    headers = {"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"}
    if grant.action == "download":
        path = source
        headers["Content-Disposition"] = f'attachment; filename="call-{rec.call_id}{source.suffix}"'
    else:
        path = await playable_file(source, rec.sha256 or str(rec.id), service.cache_dir)
    headers["Content-Type"] = CONTENT_TYPES.get(path.suffix.lower(), "application/octet-stream")
    if grant.action == "download" or _starts_a_play(request):
        await store.audit(
            engine,
            user_id=access.user_id,
            username=access.username,
            recording_id=rec.id,
            call_id=rec.call_id,
            action=grant.action,
            now=now,
        )
    return web.FileResponse(path, headers=headers)
