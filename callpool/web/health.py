"""``/healthz``: is the database reachable and at the current schema; how each PBX listens.

``status`` is ``ok``; ``warning`` (200) when something needs a look but restarting would
not help: a listener's ``warnings`` (a call open far longer than any real call, a gap it
could not recover); or ``unhealthy`` (503) when the database or a listening PBX is down.
"""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import text

from callpool.db.engine import connection
from callpool.db.migrate import head_revision
from callpool.errors import StoreUnavailable
from callpool.web.keys import ENGINE, LISTENERS

routes = web.RouteTableDef()


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    checks: dict[str, object] = {}
    try:
        async with connection(request.app[ENGINE]) as conn:
            revision = await conn.scalar(text("SELECT version_num FROM alembic_version"))
        checks["database"] = {
            "ok": True,
            "schema": revision,
            "schema_current": revision == head_revision(),
        }
    except StoreUnavailable:
        checks["database"] = {"ok": False, "error": "unreachable"}
    except Exception:
        checks["database"] = {"ok": False, "error": "not migrated"}
    for listener in request.app.get(LISTENERS, ()):
        state = listener.health()
        # A standby process is healthy: another one holds the PBX's lock and listens.
        state["ok"] = state["role"] == "standby" or (
            state["ami"] == "logged_in" and state["database"] == "ok"
        )
        checks[f"ami:{listener.name}"] = state
    states = [check for check in checks.values() if isinstance(check, dict)]
    healthy = all(bool(check.get("ok")) for check in states)
    warned = any(check.get("warnings") for check in states)
    status = "unhealthy" if not healthy else "warning" if warned else "ok"
    return web.json_response({"status": status, "checks": checks}, status=200 if healthy else 503)
