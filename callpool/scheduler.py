"""The APScheduler adapter: scheduled jobs inside the server's event loop.

APScheduler 3.x ``AsyncIOScheduler`` with ``coalesce`` (a late job runs once, not once per
missed run), ``max_instances=1`` and a misfire grace time. Jobs are idempotent, so a run
repeated by a restart or by a second process does no harm. A failing job is logged and
retried at its next run; it never stops the scheduler.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime

from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.ext.asyncio import AsyncEngine

from callpool.retention.prune import prune_job
from callpool.tracking.expiry import expire_leases
from callpool.web.keys import ENGINE
from callpool.web.prometheus import OPS_METRICS, OpsMetrics

log = logging.getLogger("callpool.jobs")

Job = Callable[[AsyncEngine, datetime], Awaitable[object]]
SCHEDULER = web.AppKey("scheduler", AsyncIOScheduler)

# name, job, interval in seconds
JOBS: list[tuple[str, Job, int]] = [
    ("expire_leases", expire_leases, 60),
    # Daily (and once at start): deletes in small batches what retention lets go.
    ("prune_retention", prune_job, 24 * 3600),
]


def _guarded(
    name: str, job: Job, engine: AsyncEngine, metrics: OpsMetrics | None = None
) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        started = time.perf_counter()
        ok = False
        try:
            await job(engine, datetime.now(UTC))
            ok = True
        except Exception:
            log.exception("job %s failed; it runs again at its next time", name)
        finally:
            if metrics is not None:
                metrics.job_finished(name, time.perf_counter() - started, ok)

    return run


async def scheduler_ctx(app: web.Application) -> AsyncIterator[None]:
    scheduler = AsyncIOScheduler(
        timezone=UTC,
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 30},
    )
    for name, job, seconds in JOBS:
        scheduler.add_job(
            _guarded(name, job, app[ENGINE], app.get(OPS_METRICS)),
            "interval",
            seconds=seconds,
            id=name,
            next_run_time=datetime.now(UTC),
        )
    scheduler.start()
    app[SCHEDULER] = scheduler
    yield
    scheduler.shutdown(wait=False)
