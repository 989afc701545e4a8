"""Serves the snippet: ``GET /s/{site_key}.js`` with the site's configuration built in.

The built file (``tracking/static/callpool.min.js``, built from ``web_snippet/`` and
committed, so that it ships in the wheel) holds the placeholder
``/*__CALLPOOL_CONFIG__*/null``; it is replaced by the site's JSON configuration. The body
is cached per site and served with an ETag, so browsers revalidate cheaply; a changed
site or snippet changes the ETag.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from aiohttp import web

from callpool.errors import NotFound
from callpool.tracking.visits import SiteConfig
from callpool.web.keys import SETTINGS

SNIPPET_PATH = Path(__file__).resolve().parent / "static" / "callpool.min.js"
PLACEHOLDER = "/*__CALLPOOL_CONFIG__*/null"

routes = web.RouteTableDef()


def load_snippet(path: Path = SNIPPET_PATH) -> str:
    source = path.read_text(encoding="utf-8")
    if PLACEHOLDER not in source:
        raise RuntimeError(f"{path} has no config placeholder; rebuild web_snippet")
    return source


def render_snippet(
    source: str, site: SiteConfig, api_base: str, version: str, heartbeat: int
) -> str:
    config = {
        "key": site.key,
        "api": f"{api_base}/api/v1/t/{site.key}",
        "numbers": list(site.own_numbers),
        "heartbeat": heartbeat,
        "consent": {"required": site.consent_required, "cookie": site.consent_cookie},
        "timeout": 1500,
        "v": version,
    }
    # "</" cannot close a <script> when the snippet is inlined; JSON allows the escape.
    text = json.dumps(config, separators=(",", ":")).replace("</", "<\\/")
    return source.replace(PLACEHOLDER, text, 1)


def api_base(request: web.Request) -> str:
    public = request.app[SETTINGS].public_url
    if public:
        return public.rstrip("/")
    return f"{request.scheme}://{request.host}"


@routes.get("/s/{site_key}.js")
async def snippet(request: web.Request) -> web.StreamResponse:
    from callpool.tracking.api import DIRECTORY

    try:
        site = await request.app[DIRECTORY].get(request.match_info["site_key"])
    except NotFound:
        return web.Response(
            status=404,
            text="/* callpool: unknown site key */",
            content_type="application/javascript",
        )
    source = request.app[SNIPPET_SOURCE]
    heartbeat = request.app[SETTINGS].heartbeat_interval
    digest = hashlib.sha256(source.encode()).hexdigest()
    etag_input = f"{digest}{site!r}{api_base(request)}{heartbeat}"
    etag = hashlib.sha256(etag_input.encode()).hexdigest()[:32]
    headers = {
        "ETag": f'"{etag}"',
        # Short max-age plus revalidation: number changes reach browsers within minutes.
        "Cache-Control": "public, max-age=300, stale-while-revalidate=86400",
        "Access-Control-Allow-Origin": "*",
        "X-Content-Type-Options": "nosniff",
    }
    if request.headers.get("If-None-Match") == f'"{etag}"':
        return web.Response(status=304, headers=headers)
    body = render_snippet(source, site, api_base(request), etag[:8], heartbeat)
    return web.Response(
        text=body, content_type="application/javascript", charset="utf-8", headers=headers
    )


SNIPPET_SOURCE = web.AppKey("snippet_source", str)
