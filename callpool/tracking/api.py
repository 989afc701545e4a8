"""The visitor tracking API the snippet calls: visit, heartbeat, page view.

Bodies are JSON whatever their content type (the snippet sends ``text/plain`` to avoid a
CORS preflight, and ``sendBeacon`` can send nothing else), at most ``max_body_bytes``.
CORS answers only the site's allowed origins; error answers (a refused origin too) are
readable by any page with a well-formed origin, so the snippet can tell its owner why.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from callpool.errors import NotFound, OriginNotAllowed, RateLimited, ValidationError
from callpool.tracking.classify import classify_visit
from callpool.tracking.directory import SiteDirectory
from callpool.tracking.guard import RateLimiter, is_blocked_ip, is_bot
from callpool.tracking.heartbeats import HeartbeatCache
from callpool.tracking.leases import SqlLeaseStore, VisitRequest, VisitResult, is_valid_id
from callpool.tracking.visits import SiteConfig, VisitPlan, numbers_to_show, plan_visit
from callpool.web.body import read_json_object
from callpool.web.errors import ERROR_HEADERS
from callpool.web.keys import SETTINGS
from callpool.web.prometheus import OPS_METRICS, VisitOutcome

DIRECTORY = web.AppKey("site_directory", SiteDirectory)
LEASES = web.AppKey("lease_store", SqlLeaseStore)
HEARTBEATS = web.AppKey("heartbeats", HeartbeatCache)
IP_LIMITER = web.AppKey("ip_limiter", RateLimiter)
VISITOR_LIMITER = web.AppKey("visitor_limiter", RateLimiter)

# The wall clock, replaceable so tests can move time.
Clock = Callable[[], datetime]
CLOCK: web.AppKey[Clock] = web.AppKey("clock")

VISIT_FIELDS = {"visitor_id", "session_id", "url", "referrer", "client_id", "consent", "title"}
BEAT_FIELDS = {"visitor_id", "session_id"}
VIEW_FIELDS = {"visitor_id", "session_id", "url", "title", "referrer"}
CORS_HEADERS = {
    "Access-Control-Allow-Methods": "POST, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type",
    "Access-Control-Max-Age": "86400",
    "Vary": "Origin",
}

# What a browser sends as Origin: scheme, host (a name or a bracketed IPv6), port. Only
# such a value is ever echoed, and only as a header.
ORIGIN = re.compile(
    r"https?://([a-z0-9-]{1,63}(\.[a-z0-9-]{1,63})*|\[[0-9a-f:.]{2,45}\])(:[0-9]{1,5})?",
    re.IGNORECASE | re.ASCII,
)

routes = web.RouteTableDef()


def wall_clock() -> datetime:
    return datetime.now(UTC)


async def _site(request: web.Request) -> SiteConfig:
    origin = request.headers.get("Origin")
    if origin is not None and len(origin) <= 300 and ORIGIN.fullmatch(origin):
        # The page's script may read our error answers: a refusal says why.
        request[ERROR_HEADERS] = {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
    site = await request.app[DIRECTORY].get(request.match_info["site_key"])
    if origin is not None and origin not in site.allowed_origins:
        raise OriginNotAllowed(_refusal(site))
    return site


def _refusal(site: SiteConfig) -> str:
    """Why a page of another origin is refused, for the site's owner (never the origins)."""
    none_yet = "" if site.allowed_origins else " (the site allows no origin yet)"
    return (
        f"this page's origin is not allowed for site {site.name!r}{none_yet}; "
        "allowed origins are given with --origin at `callpool site add`"
    )


def _cors(request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
    origin = request.headers.get("Origin")
    if origin:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers.update(CORS_HEADERS)
    return response


@routes.options("/api/v1/t/{site_key}/{action}")
async def preflight(request: web.Request) -> web.StreamResponse:
    await _site(request)
    return _cors(request, web.Response(status=204))


async def _body(request: web.Request, allowed: set[str]) -> dict[str, Any]:
    body = await read_json_object(request, request.app[SETTINGS].max_body_bytes)
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise ValidationError(f"unknown field {unknown[0][:40]!r}")
    return body


def _text(body: dict[str, Any], name: str, limit: int, required: bool = False) -> str | None:
    value = body.get(name)
    if value is None or value == "":
        if required:
            raise ValidationError(f"{name}: is required")
        return None
    if not isinstance(value, str):
        raise ValidationError(f"{name}: must be a string")
    return value[:limit]


def _client_ip(request: web.Request) -> str | None:
    return request.remote


def _check_rate(request: web.Request, visitor_id: str | None) -> None:
    now = time.monotonic()
    ip = _client_ip(request) or "-"
    if not request.app[IP_LIMITER].allow(ip, now):
        raise RateLimited("too many requests from this address; slow down")
    if visitor_id and not request.app[VISITOR_LIMITER].allow(visitor_id, now):
        raise RateLimited("too many requests for this visitor; slow down")


@routes.post("/api/v1/t/{site_key}/visit")
async def visit(request: web.Request) -> web.StreamResponse:
    site = await _site(request)
    body = await _body(request, VISIT_FIELDS)
    url = _text(body, "url", 2048, required=True)
    referrer = _text(body, "referrer", 2048)
    visitor_id = _text(body, "visitor_id", 64)
    consent = body.get("consent")
    if consent is not None and not isinstance(consent, bool):
        raise ValidationError("consent: must be true, false or null")
    now = request.app[CLOCK]()
    store = request.app[LEASES]
    try:
        _check_rate(request, visitor_id)
    except RateLimited:
        await store.count(site.id, None, "rate_limited", now)
        raise
    user_agent = request.headers.get("User-Agent")
    source = classify_visit(url, referrer, site.hosts, site.rules)
    declined = site.consent_required and consent is not True
    plan = plan_visit(
        site,
        source,
        is_bot=is_bot(user_agent),
        is_blocked=is_blocked_ip(_client_ip(request), site.blocked_networks),
        consent_declined=declined,
    )
    if plan.refusal is not None:
        await store.count(site.id, plan.campaign_id, plan.refusal, now)
    campaign = site.campaign(plan.campaign_id) if plan.campaign_id is not None else None
    result = await store.record_visit(
        VisitRequest(
            site_id=site.id,
            visitor_id=visitor_id,
            session_id=_text(body, "session_id", 64),
            url=url,
            referrer=referrer,
            client_id=_text(body, "client_id", 100),
            user_agent=user_agent,
            ip=_client_ip(request),
            source=source,
            plan=plan,
            campaign=campaign,
            track=plan.refusal is None,
        ),
        now,
    )
    if (metrics := request.app.get(OPS_METRICS)) is not None:
        metrics.count_visit(site.id, plan.campaign_id, visit_outcome(plan, result))
    ttl = int((result.expires_at - now).total_seconds()) if result.expires_at else None
    payload = {
        "visitor_id": result.visitor_id,
        "session_id": result.session_id,
        "ttl": ttl,
        "heartbeat": request.app[SETTINGS].heartbeat_interval,
        # Every own number, those the campaign does not swap as themselves.
        "numbers": [
            {"original": own, "number": shown}
            for own, shown in numbers_to_show(site, campaign, result.number)
        ],
    }
    return _cors(request, web.json_response(payload))


def visit_outcome(plan: VisitPlan, result: VisitResult) -> VisitOutcome:
    """What the visit was shown, for ``callpool_visits_total``."""
    if plan.refusal is not None:
        return "refused"
    if result.exhausted:
        return "exhausted"
    if plan.kind == "pool" and result.number is not None:
        return "pool"
    return plan.kind


@routes.post("/api/v1/t/{site_key}/heartbeat")
async def heartbeat(request: web.Request) -> web.StreamResponse:
    site = await _site(request)
    body = await _body(request, BEAT_FIELDS)
    session_id = _text(body, "session_id", 64, required=True)
    if not is_valid_id(session_id):
        raise ValidationError("session_id: is not a session id")
    assert session_id is not None
    _check_rate(request, _text(body, "visitor_id", 64))
    ttl = await request.app[HEARTBEATS].beat(site.id, session_id, request.app[CLOCK]())
    if ttl is None:
        raise NotFound("the session's lease has ended; send a new visit")
    return _cors(request, web.json_response({"ttl": int(ttl.total_seconds())}))


@routes.post("/api/v1/t/{site_key}/pageview")
async def pageview(request: web.Request) -> web.StreamResponse:
    site = await _site(request)
    body = await _body(request, VIEW_FIELDS)
    session_id = _text(body, "session_id", 64, required=True)
    url = _text(body, "url", 2048, required=True)
    if not is_valid_id(session_id):
        raise ValidationError("session_id: is not a session id")
    assert session_id is not None and url is not None
    _check_rate(request, _text(body, "visitor_id", 64))
    if not await request.app[LEASES].page_view(
        site.id, session_id, url, _text(body, "title", 255), request.app[CLOCK]()
    ):
        raise NotFound("unknown session; send a new visit")
    return _cors(request, web.Response(status=204))
