"""The live page: calls ringing and talking right now, pushed as they happen, beside today.

``/live`` renders the page with the calls in progress and today's counters (the metrics
engine's ``run_report`` for "today", the same figures as the channel report). The page's
script then opens ``/live/events``, a server-sent event stream that sends the calls
table again, rendered and escaped here, each time the process's
:class:`~callpool.reports.dashboard.live_feed.LiveFeed` sees ``live_calls`` change, and
today's counters every ``COUNTERS_EVERY`` seconds (the roll-up job refreshes them once a
``metrics_interval``). Without the script the page is still right when loaded.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import aiohttp_jinja2
from aiohttp import web
from aiohttp_sse import sse_response

from callpool.catalog import store as catalog_store
from callpool.errors import NotFound
from callpool.metrics.report_query import Period, ReportQuery, run_report
from callpool.reports.call_list import mask_number
from callpool.reports.dashboard.keys import ACCESS, LIVE_FEED
from callpool.reports.dashboard.live_feed import LiveEntry, LiveFeed
from callpool.reports.dashboard.page import page_context
from callpool.reports.dashboard.selection import CampaignChoice
from callpool.reports.dashboard.views.common import filters_context, render, selection_for
from callpool.web.keys import ENGINE

routes = web.RouteTableDef()

COUNTERS_EVERY = 20.0  # seconds between today's counters on an open live page
KEEPALIVE = 15.0
FIRST_READ_WAIT = 5.0


def subscribe(request: web.Request) -> LiveFeed:
    feed = request.app[LIVE_FEED]
    feed.subscribe(request.config_dict[ENGINE])
    return feed


async def _first_read(feed: LiveFeed) -> None:
    """Wait for the feed's first read (a few seconds at most: then show what is known)."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(feed.loaded.wait(), FIRST_READ_WAIT)


async def live_cleanup(app: web.Application) -> None:
    await app[LIVE_FEED].close()


async def _calls_context(
    request: web.Request, feed: LiveFeed, campaign: CampaignChoice
) -> dict[str, Any]:
    engine = request.config_dict[ENGINE]
    channels = {
        c.id: c.name
        for c in await catalog_store.list_channels(engine, campaign.site, campaign.name)
    }
    masked = campaign.mask_callers and not request[ACCESS].is_admin
    now = datetime.now(UTC)
    entries = [e for e in feed.entries if e.campaign_id == campaign.id]
    rows = [_row(e, channels, masked, now) for e in entries]
    by_channel: Counter[tuple[str | None, str]] = Counter(
        (row["channel"], row["state"]) for row in rows
    )
    channel_names = sorted({row["channel"] for row in rows}, key=lambda c: (c is None, c or ""))
    agents: dict[str, str] = {}
    for row in rows:
        for agent in (row["agent"] or "").split(","):
            if agent and agents.get(agent) != "talking":
                agents[agent] = row["state"]
    return {
        "live_rows": rows,
        "ringing": sum(1 for r in rows if r["state"] == "ringing"),
        "talking": sum(1 for r in rows if r["state"] == "talking"),
        "by_channel": [
            (name, by_channel[(name, "ringing")], by_channel[(name, "talking")])
            for name in channel_names
        ],
        "agents": sorted(agents.items()),
        "version": feed.version,
        "server_now_ms": int(now.timestamp() * 1000),
    }


def _row(entry: LiveEntry, channels: dict[int, str], masked: bool, now: datetime) -> dict[str, Any]:
    since = (
        entry.answered_at if entry.state == "talking" and entry.answered_at else entry.started_at
    )
    return {
        "linkedid": entry.linkedid,
        "state": entry.state,
        "caller": mask_number(entry.caller_number) if masked else entry.caller_number,
        "dialled": entry.dialled_number,
        "channel": channels.get(entry.channel_id) if entry.channel_id is not None else None,
        "agent": entry.agent,
        "since_ms": int(since.timestamp() * 1000),
        "elapsed": max(0.0, (now - since).total_seconds()),
    }


async def _today(request: web.Request, campaign: CampaignChoice) -> dict[str, Any]:
    query = ReportQuery(campaign.site, campaign.name, Period(named="today"))
    result = await run_report(request.config_dict[ENGINE], query, datetime.now(UTC))
    return {"today": result.report.total, "today_result": result}


@routes.get("/live", name="live")
async def live(request: web.Request) -> web.Response:
    selection, campaigns = await selection_for(request)
    context: dict[str, Any] = {
        **filters_context(selection, campaigns, period=False),
        "page": "live",
    }
    campaign = selection.campaign
    if campaign is None:
        return render(request, "live.html", {**context, "today": None})
    feed = subscribe(request)  # the first read; the feed stays warm for the stream that follows
    try:
        await _first_read(feed)
        context.update(await _calls_context(request, feed, campaign))
    finally:
        feed.unsubscribe()
    context.update(await _today(request, campaign))
    context["events_url"] = (
        request.app.router["live_events"].url_for().with_query(c=str(campaign.id))
    )
    return render(request, "live.html", context)


@routes.get("/live/events", name="live_events")
async def live_events(request: web.Request) -> web.StreamResponse:
    selection, _campaigns = await selection_for(request)
    campaign = selection.campaign
    if campaign is None:
        raise NotFound("no campaign to watch")
    feed = subscribe(request)
    try:
        await _first_read(feed)
        async with sse_response(request, ping_interval=KEEPALIVE) as stream:
            seen = -1
            counters_at = time.monotonic()
            while stream.is_connected():
                version = await feed.wait_newer(seen, within=1.0)
                payload: dict[str, Any] = {}
                if version != seen:
                    seen = version
                    context = {
                        **page_context(request),
                        **await _calls_context(request, feed, campaign),
                    }
                    payload["html"] = aiohttp_jinja2.render_string(
                        "_live_calls.html", request, context
                    )
                    payload["version"] = version
                if time.monotonic() - counters_at >= COUNTERS_EVERY:
                    counters_at = time.monotonic()
                    today = await _today(request, campaign)
                    context = {**page_context(request), "selection": selection, **today}
                    payload["counters"] = aiohttp_jinja2.render_string(
                        "_live_today.html", request, context
                    )
                if payload:
                    await stream.send(json.dumps(payload, ensure_ascii=False), event="calls")
    finally:
        feed.unsubscribe()
    return stream
