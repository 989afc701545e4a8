"""The lease expiry job: releases expired leases and switches off drained retiring numbers.

Allocation also releases lazily when it finds nothing free, so the job keeps history
tidy (``released_at`` set, ``last_released_at`` stamped) rather than being needed for
correctness. Idempotent: running it twice releases nothing more.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from callpool.tracking.leases import SqlLeaseStore
from callpool.tracking.pool_status import deactivate_drained

log = logging.getLogger("callpool.jobs")


async def expire_leases(engine: AsyncEngine, now: datetime) -> tuple[int, int]:
    released = await SqlLeaseStore(engine).release_expired(now)
    retired = await deactivate_drained(engine, now)
    if released or retired:
        log.info(
            "lease expiry: %d numbers released, %d retired numbers switched off", released, retired
        )
    return released, retired
