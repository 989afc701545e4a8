"""Login throttling shared by every process: failed log-ins counted in the database.

The rule is :func:`~callpool.reports.dashboard.throttle.wait_for` (five failures per
name and address, thirty per address, in 15 minutes). Each failure is a row of
``login_failures`` under the SHA-256 of its key (a mistyped password in the name field
is never stored); a check reads the newest rows of the two keys in the window, a
success deletes the pair's rows, and rows past the window are purged at most once a
minute per process. Log-ins are rare: two or three short statements each.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from callpool.db.engine import connection
from callpool.db.tables import LoginFailure
from callpool.reports.dashboard.throttle import (
    PER_ADDRESS,
    PER_NAME,
    WINDOW,
    address_key,
    pair_key,
    wait_for,
)

PURGE_EVERY = timedelta(minutes=1)


def _hashed(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class SqlLoginThrottle:
    def __init__(
        self, window: float = WINDOW, per_name: int = PER_NAME, per_address: int = PER_ADDRESS
    ) -> None:
        self.window = window
        self.limits = (per_name, per_address)
        self._purged_at: datetime | None = None

    def _keys(self, username: str, address: str) -> tuple[str, str]:
        return _hashed(pair_key(username, address)), _hashed(address_key(address))

    async def retry_after(
        self, engine: AsyncEngine, username: str, address: str, now: datetime
    ) -> float:
        """Seconds until this pair may try again; 0 when it may try now."""
        since = now - timedelta(seconds=self.window)
        waits = []
        async with connection(engine) as conn:
            for key, limit in zip(self._keys(username, address), self.limits, strict=True):
                rows = await conn.execute(
                    select(LoginFailure.failed_at)
                    .where(LoginFailure.key == key, LoginFailure.failed_at > since)
                    .order_by(LoginFailure.failed_at.desc())
                    .limit(limit)
                )
                times = sorted(at.timestamp() for (at,) in rows)
                waits.append(wait_for(times, limit, self.window, now.timestamp()))
        return max(waits)

    async def failed(self, engine: AsyncEngine, username: str, address: str, now: datetime) -> None:
        async with connection(engine) as conn:
            await conn.execute(
                insert(LoginFailure),
                [{"key": key, "failed_at": now} for key in self._keys(username, address)],
            )
            if self._purged_at is None or now - self._purged_at >= PURGE_EVERY:
                self._purged_at = now
                horizon = now - timedelta(seconds=self.window)
                await conn.execute(delete(LoginFailure).where(LoginFailure.failed_at <= horizon))

    async def succeeded(self, engine: AsyncEngine, username: str, address: str) -> None:
        pair, _address = self._keys(username, address)
        async with connection(engine) as conn:
            await conn.execute(delete(LoginFailure).where(LoginFailure.key == pair))
