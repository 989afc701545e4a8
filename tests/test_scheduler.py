"""The scheduler runs every room's jobs inside the app, each on its own trigger."""

from __future__ import annotations

from typing import Any

from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from callpool.app import create_app
from callpool.scheduler import JOBS, SCHEDULER, Daily
from callpool.settings import load_settings


async def test_every_job_is_scheduled_on_its_trigger(
    aiohttp_client: Any, database_url: str
) -> None:
    settings = load_settings(database_url=database_url, scheduler_enabled=True, metrics_interval=45)
    client = await aiohttp_client(create_app(settings))
    jobs = {job.id: job for job in client.app[SCHEDULER].get_jobs()}
    assert set(jobs) == {name for name, _, _ in JOBS}
    for name, _, when in JOBS:
        trigger = jobs[name].trigger
        if isinstance(when, Daily):
            assert isinstance(trigger, CronTrigger)
            assert str(trigger) == f"cron[hour='{when.hour}', minute='{when.minute}']"
        else:
            assert isinstance(trigger, IntervalTrigger)
    assert jobs["metrics_rollup"].trigger.interval.total_seconds() == 45


async def test_metrics_jobs_switch_off_apart_from_the_scheduler(
    aiohttp_client: Any, database_url: str
) -> None:
    settings = load_settings(
        database_url=database_url, scheduler_enabled=True, metrics_jobs_enabled=False
    )
    client = await aiohttp_client(create_app(settings))
    jobs = {job.id for job in client.app[SCHEDULER].get_jobs()}
    assert jobs == {name for name, _, _ in JOBS} - {"metrics_rollup", "metrics_nightly"}
    assert "expire_leases" in jobs
