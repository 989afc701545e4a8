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
from dataclasses import dataclass
from datetime import UTC, datetime

from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.ext.asyncio import AsyncEngine

from callpool.metrics.jobs import recompute_yesterday, roll_up
from callpool.pbx.cdr_sweep import reconcile_last_day, reconcile_previous_day
from callpool.recordings.linker import apply_retention, link_recordings
from callpool.retention.prune import prune_job
from callpool.settings import Settings
from callpool.tracking.expiry import expire_leases
from callpool.web.keys import ENGINE, SETTINGS
from callpool.web.prometheus import OPS_METRICS, OpsMetrics

log = logging.getLogger("callpool.jobs")

Job = Callable[[AsyncEngine, datetime], Awaitable[object]]
SCHEDULER = web.AppKey("scheduler", AsyncIOScheduler)


@dataclass(frozen=True, slots=True)
class Daily:
    """Once a day at this UTC time (a job over "the previous day" needs no earlier run)."""

    hour: int
    minute: int = 0


# name, job, and when: an interval in seconds (or the setting that gives it), or Daily
JOBS: list[tuple[str, Job, int | Callable[[Settings], int] | Daily]] = [
    ("expire_leases", expire_leases, 60),
    ("metrics_rollup", roll_up, lambda settings: settings.metrics_interval),
    ("metrics_nightly", recompute_yesterday, 3600),  # acts once per local day
    ("reconcile_calls_last_day", reconcile_last_day, 3600),
    ("reconcile_calls_previous_day", reconcile_previous_day, Daily(hour=2, minute=30)),
    # Deletes in small batches what each site's retention lets go.
    ("prune_retention", prune_job, Daily(hour=3, minute=15)),
    ("link_recordings", link_recordings, 30),
    ("recording_retention", apply_retention, 3600),
]


# Jobs a setting can switch off apart from the scheduler as a whole.
SWITCHES: dict[str, Callable[[Settings], bool]] = {
    "metrics_rollup": lambda settings: settings.metrics_jobs_enabled,
    "metrics_nightly": lambda settings: settings.metrics_jobs_enabled,
}


def enabled_jobs(
    settings: Settings,
) -> list[tuple[str, Job, int | Callable[[Settings], int] | Daily]]:
    """The jobs this process schedules: every job its switch (if any) leaves on."""
    return [job for job in JOBS if job[0] not in SWITCHES or SWITCHES[job[0]](settings)]


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
    for name, job, when in enabled_jobs(app[SETTINGS]):
        run = _guarded(name, job, app[ENGINE], app.get(OPS_METRICS))
        if isinstance(when, Daily):
            scheduler.add_job(run, "cron", hour=when.hour, minute=when.minute, id=name)
            continue
        seconds = when(app[SETTINGS]) if callable(when) else when
        scheduler.add_job(
            run, "interval", seconds=seconds, id=name, next_run_time=datetime.now(UTC)
        )
    scheduler.start()
    app[SCHEDULER] = scheduler
    yield
    scheduler.shutdown(wait=False)
