"""Admin forms: sites, campaigns, channels, numbers, recordings, users and API tokens.

The same operations as the CLI and the admin API, with the same specs and stores, so a
bad value gets the same one-line message. Sites, users and tokens are for admins of
every site; an admin of some sites manages their campaigns, channels and numbers only.
Each form posts, then redirects to its tab with a notice (no resubmission on reload).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import replace
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from callpool.accounts import store as accounts_store
from callpool.catalog import store as catalog_store
from callpool.catalog.spec import CampaignSpec, ChannelSpec, NumberSpec, SiteSpec, parse_spec
from callpool.errors import CallpoolError, ValidationError
from callpool.reports.dashboard.auth import require_admin, require_superadmin
from callpool.reports.dashboard.i18n import N_
from callpool.reports.dashboard.i18n import gettext as _
from callpool.reports.dashboard.keys import PREFIX
from callpool.reports.dashboard.selection import CampaignChoice
from callpool.reports.dashboard.views.common import filters_context, render, selection_for
from callpool.reports.dashboard.views.recording_admin import (
    recording_fields,
    recordings_list,
    set_recordings,
)
from callpool.web.errors import status_for
from callpool.web.keys import ENGINE, SETTINGS

routes = web.RouteTableDef()
TABS = ("sites", "campaigns", "channels", "numbers", "recordings", "users", "tokens")
SUPER_TABS = frozenset({"sites", "users", "tokens"})
TAB_LABELS = {
    "sites": N_("Sites"),
    "campaigns": N_("Campaigns"),
    "channels": N_("Channels"),
    "numbers": N_("Numbers"),
    "recordings": N_("Recordings"),
    "users": N_("Users"),
    "tokens": N_("API tokens"),
}
Form = MultiDictProxy[Any]


@routes.get("/admin", name="admin")
async def admin_home(request: web.Request) -> web.StreamResponse:
    access = require_admin(request)
    raise web.HTTPFound(f"{PREFIX}/admin/{'sites' if access.all_sites else 'campaigns'}")


@routes.get("/admin/{tab}")
async def admin_tab(request: web.Request) -> web.Response:
    return await _page(request, request.match_info["tab"], error=None, form=None)


@routes.post("/admin/{tab}")
async def admin_post(request: web.Request) -> web.Response:
    tab = request.match_info["tab"]
    _guard(request, tab)
    form = await request.post()
    action = ACTIONS.get(tab)
    if action is None:
        raise web.HTTPNotFound()
    try:
        notice = await action(request, form)
    except CallpoolError as exc:
        return await _page(request, tab, error=str(exc), form=form, status=status_for(exc))
    if notice.startswith("token:"):
        # A new token is shown once, on this answer, never in a URL or a log.
        return await _page(
            request, tab, error=None, form=None, secret=notice.removeprefix("token:")
        )
    raise web.HTTPFound(f"{PREFIX}/admin/{tab}?{_keep_campaign(request, form)}done={notice}")


def _keep_campaign(request: web.Request, form: Form) -> str:
    campaign = form.get("c") or request.query.get("c")
    return f"c={campaign}&" if campaign and str(campaign).isdigit() else ""


def _guard(request: web.Request, tab: str) -> None:
    if tab not in TABS:
        raise web.HTTPNotFound()
    if tab in SUPER_TABS:
        require_superadmin(request)
    else:
        require_admin(request)


async def _page(
    request: web.Request,
    tab: str,
    *,
    error: str | None,
    form: Form | None,
    status: int = 200,
    secret: str | None = None,
) -> web.Response:
    _guard(request, tab)
    access = require_admin(request)
    selection, campaigns = await selection_for(request)
    form_campaign = form.get("c") if form is not None else None
    if form_campaign and str(form_campaign).isdigit():
        chosen = next((c for c in campaigns if c.id == int(str(form_campaign))), None)
        if chosen is not None:
            selection = replace(selection, campaign=chosen)
    editable = [c for c in campaigns if access.can_edit_site(c.site_id)]
    engine = request.config_dict[ENGINE]
    sites = [s for s in await catalog_store.list_sites(engine) if access.can_edit_site(s.id)]
    context: dict[str, Any] = {
        **filters_context(selection, editable, period=False),
        "page": "admin",
        "tab": tab,
        "tabs": [(t, _(TAB_LABELS[t])) for t in TABS if access.all_sites or t not in SUPER_TABS],
        "error": error,
        "form": form or {},
        "notice": request.query.get("done") if error is None else None,
        "secret": secret,
        "sites": sites,
        "editable_campaigns": editable,
    }
    context.update(await LISTS[tab](request, selection.campaign))
    return render(request, f"admin/{tab}.html", context, status=status)


# ------------------------------------------------------------------ lists


async def _no_list(request: web.Request, campaign: CampaignChoice | None) -> dict[str, Any]:
    return {}


async def _campaign_list(request: web.Request, campaign: CampaignChoice | None) -> dict[str, Any]:
    access = require_admin(request)
    rows = await catalog_store.list_campaigns(request.config_dict[ENGINE])
    sites = {s.name: s.id for s in await catalog_store.list_sites(request.config_dict[ENGINE])}
    return {"campaigns": [r for r in rows if access.can_see_site(sites[r["site"]])]}


async def _channel_list(request: web.Request, campaign: CampaignChoice | None) -> dict[str, Any]:
    if campaign is None:
        return {"channels": []}
    channels = await catalog_store.list_channels(
        request.config_dict[ENGINE], campaign.site, campaign.name
    )
    return {"channels": channels}


async def _number_list(request: web.Request, campaign: CampaignChoice | None) -> dict[str, Any]:
    if campaign is None:
        return {"numbers": [], "static_channels": []}
    engine = request.config_dict[ENGINE]
    numbers = await catalog_store.list_numbers(engine, campaign.site, campaign.name)
    channels = await catalog_store.list_channels(engine, campaign.site, campaign.name)
    return {"numbers": numbers, "static_channels": [c for c in channels if c.kind == "static"]}


async def _user_list(request: web.Request, campaign: CampaignChoice | None) -> dict[str, Any]:
    return {"users": await accounts_store.list_users(request.config_dict[ENGINE])}


async def _token_list(request: web.Request, campaign: CampaignChoice | None) -> dict[str, Any]:
    engine = request.config_dict[ENGINE]
    return {
        "tokens": await accounts_store.list_tokens(engine),
        "users": await accounts_store.list_users(engine),
    }


LISTS: dict[
    str, Callable[[web.Request, CampaignChoice | None], Coroutine[Any, Any, dict[str, Any]]]
] = {
    "sites": _no_list,
    "campaigns": _campaign_list,
    "channels": _channel_list,
    "numbers": _number_list,
    "recordings": recordings_list,
    "users": _user_list,
    "tokens": _token_list,
}


# ------------------------------------------------------------------ actions


def _lines(form: Form, name: str) -> tuple[str, ...]:
    raw = str(form.get(name, ""))
    return tuple(line.strip() for line in raw.replace(",", "\n").splitlines() if line.strip())


def _fields(form: Form, names: tuple[str, ...]) -> dict[str, Any]:
    """Form fields as a spec's input: empty fields are left out (the spec's default)."""
    return {name: str(form[name]).strip() for name in names if str(form.get(name, "")).strip()}


async def _campaign_of(request: web.Request, form: Form) -> CampaignChoice:
    _selection, campaigns = await selection_for(request)
    raw = str(form.get("c", ""))
    found = next((c for c in campaigns if raw.isdigit() and c.id == int(raw)), None)
    if found is None:
        raise ValidationError(_("campaign: choose a campaign"))
    request_access = require_admin(request)
    request_access.require_edit(found.site_id, found.site)
    return found


async def _add_site(request: web.Request, form: Form) -> str:
    data = _fields(form, ("name", "consent_cookie"))
    data["allowed_origins"] = _lines(form, "allowed_origins")
    data["own_numbers"] = _lines(form, "own_numbers")
    data["blocked_cidrs"] = _lines(form, "blocked_cidrs")
    data["consent_required"] = form.get("consent_required") == "on"
    data.update(recording_fields(form))
    spec = parse_spec(SiteSpec, data)
    await catalog_store.add_site(
        request.config_dict[ENGINE], spec, request.config_dict[SETTINGS].default_region
    )
    return "site"


async def _add_campaign(request: web.Request, form: Form) -> str:
    access = require_admin(request)
    site = str(form.get("site", ""))
    sites = {s.name: s.id for s in await catalog_store.list_sites(request.config_dict[ENGINE])}
    if site not in sites:
        raise ValidationError(_("site: choose a site"))
    access.require_edit(sites[site], site)
    data = _fields(
        form,
        (
            "site",
            "name",
            "timezone",
            "target_seconds",
            "hold_seconds",
            "cooldown_seconds",
            "attribution_grace_seconds",
            "fallback_number",
        ),
    )
    data["swap_numbers"] = _lines(form, "swap_numbers")
    spec = parse_spec(CampaignSpec, data)
    await catalog_store.add_campaign(
        request.config_dict[ENGINE], spec, request.config_dict[SETTINGS].default_region
    )
    return "campaign"


async def _add_channel(request: web.Request, form: Form) -> str:
    campaign = await _campaign_of(request, form)
    data = _fields(
        form,
        (
            "name",
            "kind",
            "utm_source",
            "utm_medium",
            "utm_campaign",
            "referrer_host",
            "click_id_param",
            "priority",
            "ad_spend_per_day",
        ),
    )
    spec = parse_spec(ChannelSpec, {"site": campaign.site, "campaign": campaign.name, **data})
    await catalog_store.add_channel(request.config_dict[ENGINE], spec)
    return "channel"


async def _add_numbers(request: web.Request, form: Form) -> str:
    campaign = await _campaign_of(request, form)
    numbers = _lines(form, "numbers")
    if not numbers:
        raise ValidationError(_("numbers: give at least one number, one a line"))
    channel = str(form.get("channel", "")).strip() or None
    specs = [
        parse_spec(
            NumberSpec,
            {"number": n, "site": campaign.site, "campaign": campaign.name, "channel": channel},
            row=line,
        )
        for line, n in enumerate(numbers, start=1)
    ]
    await catalog_store.import_numbers(
        request.config_dict[ENGINE], specs, request.config_dict[SETTINGS].default_region
    )
    return "numbers"


async def _add_user(request: web.Request, form: Form) -> str:
    sites = None if form.get("all_sites") == "on" else [str(s) for s in form.getall("sites", [])]
    if sites == []:
        raise ValidationError(_("sites: grant at least one site, or all sites"))
    await accounts_store.add_user(
        request.config_dict[ENGINE],
        str(form.get("username", "")).strip(),
        str(form.get("password", "")),
        str(form.get("role", "viewer")),
        sites,
    )
    return "user"


async def _add_token(request: web.Request, form: Form) -> str:
    name = str(form.get("name", "")).strip() or "api"
    if len(name) > 120:
        raise ValidationError("name: at most 120 characters")
    revoke = str(form.get("revoke", ""))
    if revoke.isdigit():
        await accounts_store.revoke_token(request.config_dict[ENGINE], int(revoke))
        return "revoked"
    new = await accounts_store.create_token(
        request.config_dict[ENGINE], str(form.get("username", "")), name
    )
    return "token:" + new.token


ACTIONS: dict[str, Callable[[web.Request, Form], Coroutine[Any, Any, str]]] = {
    "sites": _add_site,
    "campaigns": _add_campaign,
    "channels": _add_channel,
    "numbers": _add_numbers,
    "recordings": set_recordings,
    "users": _add_user,
    "tokens": _add_token,
}
