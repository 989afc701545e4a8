"""The recordings' runtime settings, built once by the composition root.

Holds what the jobs and the web handlers share: the settings, where files are copied
and conversions cached, and the key that signs links (the setting, or a random key for
this process when it is unset). Registered in :data:`SERVICES` while the app runs, so
the scheduler's jobs (which get only the engine) find it, like the listeners' sweeps.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from callpool.settings import PbxSettings, Settings

log = logging.getLogger("callpool.recordings")


@dataclass(eq=False)
class RecordingService:
    settings: Settings
    secret: bytes = field(repr=False, default=b"")

    def __post_init__(self) -> None:
        if not self.secret:
            given = self.settings.recordings_secret
            if given is not None:
                self.secret = given.get_secret_value().encode()
            else:
                self.secret = secrets.token_bytes(32)

    @property
    def pbxes(self) -> tuple[PbxSettings, ...]:
        """The PBXes whose recordings callpool can read."""
        return tuple(p for p in self.settings.pbx if p.recordings_dir is not None)

    @property
    def copies(self) -> bool:
        return self.settings.recordings_storage == "copy"

    @property
    def files_dir(self) -> Path:
        return self.settings.recordings_storage_dir / "files"

    @property
    def cache_dir(self) -> Path:
        return self.settings.recordings_storage_dir / "cache"


SERVICES: set[RecordingService] = set()
