"""``callpool demo``: the whole system on one machine, with simulated customers.

The order: upgrade the (SQLite) database; create the demo site, campaign, channels,
pool and log-in; write 90 days of simulated history and roll the metrics up; start the
AMI simulator as the PBX; start the app (API, snippet, dashboard, the real AMI listener
connected to the simulator, the scheduler) with the landing site under ``/demo/``; then
drive live traffic and print one progress line a second until ``--duration`` is over
or SIGINT/SIGTERM arrives. Stopping cancels the traffic, closes the app (the listener
writes what it has), stops the simulator, rolls the metrics up once more and prints how
many live calls were credited to the right visit and channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import signal
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiohttp import web
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from callpool.app import create_app, prepare_database
from callpool.db.engine import connection, create_engine
from callpool.db.tables import Call, Lease, MetricState
from callpool.demo import catalog, history, traffic
from callpool.demo.landing import landing_routes
from callpool.demo.live import LIVE_PBX, LiveTraffic, score_live
from callpool.demo.pool_run import run_pool, truths_of
from callpool.demo.truth import score
from callpool.metrics.jobs import roll_up
from callpool.pbx.sim.server import AmiSimulator
from callpool.settings import PbxSettings, Settings

HISTORY_DAYS = 90
HISTORY_VISITORS_PER_DAY = 120.0

Echo = Callable[[str], None]


async def run_demo(
    settings: Settings,
    *,
    duration: float | None,
    with_history: bool,
    seed: int,
    echo: Echo,
    truth_file: Path | None = None,
) -> None:
    started = time.monotonic()
    await prepare_database(settings)
    engine = create_engine(settings.database_url.get_secret_value())
    base_url = f"http://{_browser_host(settings.host)}:{settings.port}"
    live_shape = traffic.live_demo()
    try:
        size, rule = catalog.demo_pool_size(live_shape)
        origins = sorted(
            {base_url, f"http://127.0.0.1:{settings.port}", f"http://localhost:{settings.port}"}
        )
        demo = await catalog.ensure_demo_catalog(
            engine, origins, size, rule, settings.default_region
        )
        password = await catalog.reset_demo_login(engine)
        echo(
            f"demo site {catalog.SITE!r}: {len(demo.pool)} pool numbers (Erlang-B for the live "
            "traffic: a visitor a second, hold 60 s), 7 channels"
        )
        if with_history and not await _has_history(engine):
            await _seed_history(engine, demo, settings.default_region, seed, echo)
        await roll_up(engine, datetime.now(UTC), wait=True)
    finally:
        await engine.dispose()
    await _serve_live(
        settings, demo, password, base_url, live_shape, duration, seed, echo, started, truth_file
    )


def _browser_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host


async def _has_history(engine: AsyncEngine) -> bool:
    async with connection(engine) as conn:
        found = await conn.scalar(select(Call.id).where(Call.pbx == history.SIMULATED_PBX).limit(1))
    return found is not None


async def _seed_history(
    engine: AsyncEngine, demo: catalog.DemoCatalog, region: str, seed: int, echo: Echo
) -> None:
    clock = time.monotonic()
    now = datetime.now(UTC)
    end = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    shape = traffic.steady_b2c(HISTORY_VISITORS_PER_DAY)
    plan = traffic.plan_traffic(shape, end - timedelta(days=HISTORY_DAYS), end, seed)
    config = demo.pool_config()
    run = run_pool(plan, config)
    written = await history.write_history(engine, demo, plan, run, region, now)
    credits = await history.credits(engine, demo, written)
    accuracy = score(truths_of(run), credits, len(plan.visits), run.exhaustions)
    echo(
        f"simulated history: {HISTORY_DAYS} days, {len(plan.visits)} visits, "
        f"{written.calls} calls (PBX {history.SIMULATED_PBX!r}) in "
        f"{time.monotonic() - clock:.1f} s; {accuracy.summary()}"
    )


async def _serve_live(
    settings: Settings,
    demo: catalog.DemoCatalog,
    password: str,
    base_url: str,
    shape: traffic.TrafficShape,
    duration: float | None,
    seed: int,
    echo: Echo,
    started: float,
    truth_file: Path | None,
) -> None:
    secret = secrets.token_urlsafe(16)
    sim = AmiSimulator(username="callpool", secret=secret, speed=0.0)
    await sim.start()
    pbx = PbxSettings(name=LIVE_PBX, port=sim.port, username="callpool", secret=SecretStr(secret))
    app_settings = settings.model_copy(
        update={"ami_enabled": True, "pbx": (pbx,), "heartbeat_interval": 5, "metrics_interval": 10}
    )
    app = create_app(app_settings)
    app.add_routes(landing_routes(demo.key))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    engine = create_engine(settings.database_url.get_secret_value())
    deadline = None if duration is None else datetime.now(UTC) + timedelta(seconds=duration)
    live = LiveTraffic(base_url, demo.key, sim, shape, seed, deadline)
    traffic_task: asyncio.Task[None] | None = None
    try:
        await web.TCPSite(runner, settings.host, settings.port).start()
        echo(f"dashboard: {base_url}/app/  (log in as {catalog.USERNAME!r}, password {password!r})")
        echo(f"demo site: {base_url}/demo/  (its number is swapped for a tracking number)")
        echo(f"ready in {time.monotonic() - started:.1f} s; Ctrl-C stops")
        traffic_task = asyncio.create_task(live.run())
        await _progress(engine, live, stop, duration, echo)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        if traffic_task is not None:
            traffic_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await traffic_task
        await runner.cleanup()
        await sim.stop()
        try:
            await roll_up(engine, datetime.now(UTC), wait=True)
            names = {cid: name for name, cid in demo.channel_ids.items()}
            accuracy = await score_live(engine, live, names)
            echo(f"live: {accuracy.summary()}")
            if truth_file is not None:
                rows = [
                    asdict(c) | {"truth_sessions": sorted(c.truth_sessions)} for c in live.placed
                ]
                await asyncio.to_thread(truth_file.write_text, json.dumps(rows, default=str))
        finally:
            await engine.dispose()
    echo("stopped")


async def _progress(
    engine: AsyncEngine, live: LiveTraffic, stop: asyncio.Event, duration: float | None, echo: Echo
) -> None:
    began = time.monotonic()
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)
        elapsed = time.monotonic() - began
        echo(await _status_line(engine, live, elapsed))
        if duration is not None and elapsed >= duration:
            return


async def _status_line(engine: AsyncEngine, live: LiveTraffic, elapsed: float) -> str:
    now = datetime.now(UTC)
    async with connection(engine) as conn:
        leases = await conn.scalar(
            select(func.count()).where(Lease.released_at.is_(None), Lease.expires_at > now)
        )
        stored = await conn.scalar(select(func.count()).where(Call.pbx == LIVE_PBX))
        fresh = await conn.scalar(select(func.max(MetricState.fresh_at)))
    s = live.stats
    age = "-" if fresh is None else f"{(now - _aware(fresh)).total_seconds():.0f} s ago"
    return (
        f"[{elapsed:5.0f} s] visitors {s.visitors} · live leases {leases} · calls ringing "
        f"{s.ringing}, talking {s.talking} · live calls placed {s.placed}, stored {stored} · "
        f"metrics {age}"
    )


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
