"""Typed application state (``web.AppKey``) shared by every room's handlers.

Rooms keep their own keys beside their handlers; the keys here are the ones the shared
toolkit reads. ``LISTENERS`` is typed by what health needs, so that no handler imports
the AMI stack for a type.
"""

from __future__ import annotations

from typing import Any, Protocol

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from callpool.settings import Settings


class ListenerHealth(Protocol):
    """What ``/healthz`` needs of a PBX listener."""

    name: str

    def health(self) -> dict[str, Any]: ...


SETTINGS = web.AppKey("settings", Settings)
ENGINE = web.AppKey("engine", AsyncEngine)
LISTENERS = web.AppKey("listeners", tuple[ListenerHealth, ...])
