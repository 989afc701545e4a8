"""The PBX listeners' lifecycle inside the app: one listener per configured PBX."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from callpool.pbx.listener import PbxListener
from callpool.web.keys import ENGINE, LISTENERS, SETTINGS


async def listeners_ctx(app: web.Application) -> AsyncIterator[None]:
    """One listener per configured PBX when ``ami_enabled`` (each waits for its lock)."""
    settings = app[SETTINGS]
    listeners: list[PbxListener] = []
    if settings.ami_enabled:
        listeners = [
            PbxListener(
                pbx,
                app[ENGINE],
                settings.journal_dir,
                region=settings.default_region,
                credit_repeat_callers=settings.credit_repeat_callers,
            )
            for pbx in settings.pbx
        ]
    app[LISTENERS] = tuple(listeners)
    for listener in listeners:
        await listener.start()
    yield
    for listener in listeners:
        await listener.close()
