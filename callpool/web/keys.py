"""Typed application state (``web.AppKey``), shared by the handlers."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from callpool.pbx.listener import PbxListener
from callpool.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
ENGINE = web.AppKey("engine", AsyncEngine)
LISTENERS = web.AppKey("listeners", tuple[PbxListener, ...])
