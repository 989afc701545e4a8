"""The PBX listeners' lifecycle inside the app: one listener per configured PBX."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from callpool.db.problems import why_not_writable
from callpool.errors import ConfigError
from callpool.pbx.call_store import CallsSaved
from callpool.pbx.listener import PbxListener
from callpool.web.keys import ENGINE, LISTENERS, SETTINGS

# What else must be written with each batch of calls (the composition root fills it).
CALLS_SAVED = web.AppKey("calls_saved", tuple[CallsSaved, ...])


async def listeners_ctx(app: web.Application) -> AsyncIterator[None]:
    """One listener per configured PBX when ``ami_enabled`` (each waits for its lock)."""
    settings = app[SETTINGS]
    listeners: list[PbxListener] = []
    after_save: tuple[CallsSaved, ...] = app.get(CALLS_SAVED, ())
    if settings.ami_enabled:
        listeners = [
            PbxListener(
                pbx,
                app[ENGINE],
                settings.journal_dir,
                region=settings.default_region,
                credit_repeat_callers=settings.credit_repeat_callers,
                after_save=after_save,
            )
            for pbx in settings.pbx
        ]
    app[LISTENERS] = tuple(listeners)
    for pbx in settings.pbx if listeners else ():
        # The journal is opened later, in the listener's own task: a directory it cannot
        # write would fail there, unseen. Checked here, it stops start-up with one line.
        await asyncio.to_thread(check_journal_dir, settings.journal_dir / pbx.name)
    for listener in listeners:
        await listener.start()
    yield
    for listener in listeners:
        await listener.close()


def check_journal_dir(path: Path) -> None:
    """Create ``path`` and write (and fsync) a file in it; ``ConfigError`` if that fails."""
    probe = path / ".write-check"
    try:
        path.mkdir(parents=True, exist_ok=True)
        with open(probe, "wb") as file:
            file.write(b"callpool\n")
            file.flush()
            os.fsync(file.fileno())
        probe.unlink()
    except OSError as exc:
        raise ConfigError(
            f"the AMI journal directory {path} is not usable: {why_not_writable(exc, path)}; "
            "make it writable, free some space, or set CALLPOOL_JOURNAL_DIR"
        ) from None
