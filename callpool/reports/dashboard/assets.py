"""The dashboard's static files, served from memory with their gzip twins.

The built files are small and few: read once at start-up, each is compressed once, and
URLs carry a content hash (``?v=``) so browsers may keep them for a year.
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

STATIC_DIR = Path(__file__).parent / "static"


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    gzipped: bytes
    content_type: str
    version: str


def load_assets(directory: Path = STATIC_DIR) -> dict[str, Asset]:
    assets: dict[str, Asset] = {}
    for path in sorted(directory.iterdir()):
        if not path.is_file() or path.name.startswith("."):
            continue
        body = path.read_bytes()
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        assets[path.name] = Asset(
            body,
            gzip.compress(body, compresslevel=9, mtime=0),
            content_type,
            hashlib.sha256(body).hexdigest()[:12],
        )
    return assets


ASSETS = web.AppKey("dashboard_assets", dict[str, Asset])


async def serve_asset(request: web.Request) -> web.Response:
    asset = request.app[ASSETS].get(request.match_info["name"])
    if asset is None:
        raise web.HTTPNotFound()
    headers = {
        "Cache-Control": "public, max-age=31536000, immutable",
        "ETag": f'"{asset.version}"',
        "Vary": "Accept-Encoding",
    }
    if request.headers.get("If-None-Match") == headers["ETag"]:
        return web.Response(status=304, headers=headers)
    body = asset.body
    if "gzip" in request.headers.get("Accept-Encoding", ""):
        body = asset.gzipped
        headers["Content-Encoding"] = "gzip"
    charset = (
        "utf-8"
        if asset.content_type.startswith("text/") or "javascript" in asset.content_type
        else None
    )
    return web.Response(
        body=body, content_type=asset.content_type, charset=charset, headers=headers
    )
