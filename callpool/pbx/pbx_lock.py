"""One listener per PBX: a file lock on this machine, an advisory lock across machines.

Two processes listening to one PBX would both write its calls (harmless: writes are
idempotent) and both journal its events under clashing numbers (not harmless). So a
listener holds, while it listens:

- an exclusive ``flock`` on ``<journal dir>/lock``: one process per journal directory;
  the kernel releases it when the process dies, however it dies;
- on PostgreSQL, a session-level ``pg_advisory_lock`` on a connection kept for that
  purpose: one listener per PBX among every process sharing the database. PostgreSQL
  releases it when the session ends, so a killed listener's lock is free as soon as its
  socket closes, and a waiting process takes over on its next poll (every
  ``poll_interval`` seconds).

While the database is unreachable the advisory lock's state is unknown: the listener
keeps listening (its journal keeps the events) and re-takes the lock when the database
returns. If another process took it meanwhile, ``check`` reports it lost and the
listener stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import logging
import os
from pathlib import Path
from typing import Literal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = logging.getLogger("callpool.ami")

LockState = Literal["held", "unknown", "lost"]


def advisory_key(pbx: str) -> int:
    """A stable signed 64-bit key for ``pbx`` (PostgreSQL's bigint)."""
    digest = hashlib.sha256(f"callpool:ami-listener:{pbx}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class PbxLock:
    def __init__(
        self, pbx: str, engine: AsyncEngine, lock_dir: Path, *, poll_interval: float = 2.0
    ):
        self.pbx = pbx
        self._engine = engine
        self._path = lock_dir / "lock"
        self._poll = poll_interval
        self._fd: int | None = None
        self._conn: AsyncConnection | None = None
        self._key = advisory_key(pbx)
        self._shared = engine.dialect.name == "postgresql"

    async def acquire(self) -> None:
        """Wait until this process holds both locks."""
        waiting_logged = False
        while True:
            if self._fd is None:
                self._fd = self._try_flock()
            if self._fd is not None and (not self._shared or await self._try_advisory()):
                log.info("AMI %s: this process is the listener", self.pbx)
                return
            if not waiting_logged:
                log.info("AMI %s: another process is the listener; standing by", self.pbx)
                waiting_logged = True
            await asyncio.sleep(self._poll)

    async def check(self) -> LockState:
        """Whether the lock is still ours; re-takes it after the database came back."""
        if not self._shared:
            return "held"
        if self._conn is not None:
            try:
                await self._conn.execute(text("SELECT 1"))
                return "held"
            except Exception:
                await self._drop_connection()
                log.warning("AMI %s: lost the database session holding the lock", self.pbx)
        try:
            return "held" if await self._try_advisory(raise_errors=True) else "lost"
        except Exception:
            return "unknown"

    async def release(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.execute(
                    text("SELECT pg_advisory_unlock(:key)"), {"key": self._key}
                )
            await self._drop_connection()
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None

    def _try_flock(self) -> int | None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        return fd

    async def _try_advisory(self, *, raise_errors: bool = False) -> bool:
        try:
            if self._conn is None:
                self._conn = await self._engine.connect()
            got = await self._conn.scalar(
                text("SELECT pg_try_advisory_lock(:key)"), {"key": self._key}
            )
            # Autocommit-like: end the implicit transaction, keep the session (and lock).
            await self._conn.commit()
        except Exception:
            await self._drop_connection()
            if raise_errors:
                raise
            return False
        if not got:
            conn, self._conn = self._conn, None
            await conn.close()  # back to the pool: it holds no lock
        return bool(got)

    async def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.invalidate()
            with contextlib.suppress(Exception):
                await conn.close()
