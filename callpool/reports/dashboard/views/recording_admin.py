"""The admin area's recordings: each site's four settings, and the audit log of plays.

Any admin reaches it, for the sites they may edit (an admin of every site: all of them);
the log shows only the plays and downloads of those sites' calls
(:mod:`callpool.recordings.audit_log`). ``admin.py`` hangs this on its ``recordings`` tab;
the new-site form there takes the same fields (:func:`recording_fields`).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from callpool.catalog import store as catalog_store
from callpool.catalog.spec import SiteRecordings, parse_spec
from callpool.recordings.audit_log import audit_page
from callpool.reports.dashboard.auth import require_admin
from callpool.reports.dashboard.selection import CampaignChoice
from callpool.web.keys import ENGINE

Form = MultiDictProxy[Any]
SWITCHES = ("recordings_enabled", "recordings_for_viewers", "recording_keep_target_only")


def recording_fields(form: Form) -> dict[str, Any]:
    """The four settings as a spec's input: a checkbox is on when sent; no days, forever."""
    fields: dict[str, Any] = {name: form.get(name) == "on" for name in SWITCHES}
    days = str(form.get("recording_retention_days", "")).strip()
    fields["recording_retention_days"] = days or None
    return fields


async def recordings_list(request: web.Request, campaign: CampaignChoice | None) -> dict[str, Any]:
    """The tab's content: the editable sites (``sites``, from the page) and a page of the log."""
    access = require_admin(request)
    raw = request.query.get("page", "1")
    page = int(raw) if raw.isdigit() and 0 < len(raw) < 7 else 1
    return {"audit": await audit_page(request.config_dict[ENGINE], access, page)}


async def set_recordings(request: web.Request, form: Form) -> str:
    """Save one site's settings (the form names it); another site's admin gets NotFound."""
    access = require_admin(request)
    spec = parse_spec(SiteRecordings, recording_fields(form))
    site = str(form.get("site", ""))
    await catalog_store.set_site_recordings(request.config_dict[ENGINE], site, spec, access)
    return "recordings"
