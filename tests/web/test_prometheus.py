"""``/metrics`` parses with the client library's parser and moves when things happen."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.ext.asyncio import AsyncEngine

from callpool.app import create_app
from callpool.pbx.sim.server import AmiSimulator
from callpool.pbx.sim.streams import load_capture as capture_frames
from callpool.scheduler import _guarded
from callpool.settings import load_settings
from callpool.tracking.expiry import expire_leases
from callpool.web.keys import LISTENERS
from callpool.web.prometheus import OPS_METRICS
from tests.pbx.captures import FIXTURES
from tests.pbx.listening import wait_until
from tests.seed import ORIGIN, make_catalog

TOKEN = "scrape-me-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(client: Any) -> Samples:
    resp = await client.get("/metrics", headers=AUTH)
    assert resp.status == 200, await resp.text()
    assert resp.headers["Content-Type"].startswith("text/plain; version=")
    samples: Samples = {}
    for family in text_string_to_metric_families(await resp.text()):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def test_metrics_need_their_token_and_are_off_without_one(
    aiohttp_client: Any, database_url: str
) -> None:
    off = await aiohttp_client(create_app(load_settings(database_url=database_url)))
    assert (await off.get("/metrics", headers=AUTH)).status == 404
    client = await aiohttp_client(
        create_app(load_settings(database_url=database_url, metrics_token=TOKEN))
    )
    assert (await client.get("/metrics")).status == 401
    resp = await client.get("/metrics", headers={"Authorization": "Bearer wrong"})
    assert resp.status == 401
    assert TOKEN not in await resp.text()
    assert (await client.get("/metrics", headers=AUTH)).status == 200


async def test_visits_move_the_counters_and_the_pool_gauges(
    aiohttp_client: Any, database_url: str, engine: AsyncEngine
) -> None:
    catalog = await make_catalog(engine, pool_size=1)
    client = await aiohttp_client(
        create_app(load_settings(database_url=database_url, metrics_token=TOKEN))
    )
    before = await scrape(client)
    (info,) = [k for k in before if k[0] == "callpool_campaign_info"]
    campaign_id = dict(info[1])["campaign_id"]
    site_id = dict(info[1])["site_id"]
    assert dict(info[1])["campaign"] == "main" and dict(info[1])["site"] == "shop"
    ids = {"site_id": site_id, "campaign_id": campaign_id}
    assert value(before, "callpool_pool_numbers", **ids) == 1
    assert value(before, "callpool_pool_leases_live", **ids) == 0
    assert value(before, "callpool_database_up") == 1

    path = f"/api/v1/t/{catalog.key}/visit"
    for _ in range(2):  # the pool has one number: the second visitor gets the fallback
        resp = await client.post(
            path,
            json={"url": "https://shop.example/"},
            headers={"Origin": ORIGIN, "User-Agent": "Mozilla/5.0 (X11; Linux) Chrome/120"},
        )
        assert resp.status == 200
    await client.post("/api/v1/t/no-such-key/visit", json={"url": "https://x.example/"})
    await client.get("/no/such/path/79161110001")

    after = await scrape(client)
    assert value(after, "callpool_visits_total", **ids, outcome="pool") == 1
    assert value(after, "callpool_visits_total", **ids, outcome="exhausted") == 1
    assert value(after, "callpool_pool_allocations_total", **ids) == 1
    assert value(after, "callpool_pool_exhaustions_total", **ids) == 1
    assert value(after, "callpool_pool_leases_live", **ids) == 1
    route = "/api/v1/t/{site_key}/visit"
    ok = {"method": "POST", "route": route, "status": "200"}
    assert value(after, "callpool_http_requests_total", **ok) == 2
    assert value(after, "callpool_http_requests_total", **{**ok, "status": "404"}) == 1
    assert (
        value(after, "callpool_http_request_duration_seconds_count", method="POST", route=route)
        == 3
    )
    unmatched = {"method": "GET", "route": "unmatched", "status": "404"}
    assert value(after, "callpool_http_requests_total", **unmatched) == 1
    # Bounded labels: no raw URL, no site key, no number, no session id.
    labels = {v for _, pairs in after for _, v in pairs}
    assert not [v for v in labels if catalog.key in v or "79161110001" in v or "no-such" in v]


async def test_a_call_and_a_job_move_their_series(
    aiohttp_client: Any, database_url: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    frames = capture_frames(FIXTURES / "callback.ami")
    async with AmiSimulator(fully_booted=False) as sim:
        pbx = {"name": "pbx-test", "port": sim.port, "username": "callpool", "secret": "secret"}
        settings = load_settings(
            database_url=database_url,
            ami_enabled=True,
            pbx=(pbx,),
            journal_dir=tmp_path / "journal",
            scheduler_enabled=True,  # expire_leases runs once at start
            metrics_token=TOKEN,
        )
        client = await aiohttp_client(create_app(settings))
        (listener,) = client.app[LISTENERS]
        await wait_until(lambda: sim.listening_sessions == 1)
        before = await scrape(client)
        assert value(before, "callpool_ami_link_state", pbx="pbx-test", state="logged_in") == 1
        assert value(before, "callpool_ami_role", pbx="pbx-test", role="listening") == 1
        assert value(before, "callpool_ami_calls_written_total", pbx="pbx-test") == 0
        sim.feed(frames)
        await wait_until(lambda: listener.stats.events >= len(frames))
        assert await listener.flush(now=datetime.now(UTC) + timedelta(minutes=2))
        for _ in range(100):  # the scheduler runs expire_leases once at start
            after = await scrape(client)
            if value(after, "callpool_job_runs_total", job="expire_leases"):
                break
            await asyncio.sleep(0.05)
        assert value(after, "callpool_ami_events_total", pbx="pbx-test") == len(frames)
        assert value(after, "callpool_ami_calls_written_total", pbx="pbx-test") >= 1
        backlog = listener.health()["journal_pending"]
        assert value(after, "callpool_ami_journal_backlog", pbx="pbx-test") == backlog
        assert value(after, "callpool_ami_database_up", pbx="pbx-test") == 1
        assert value(after, "callpool_ami_write_retries_total", pbx="pbx-test") == 0
        # The scheduler ran expire_leases at start.
        assert value(after, "callpool_job_runs_total", job="expire_leases") >= 1
        assert value(after, "callpool_job_failures_total", job="expire_leases") == 0
        assert value(after, "callpool_job_duration_seconds_count", job="expire_leases") >= 1
        assert value(after, "callpool_job_last_success_timestamp_seconds", job="expire_leases")
        await sim.refuse_connections()
        await sim.close_sessions()
        await wait_until(lambda: listener.health()["ami"] != "logged_in")
        down = await scrape(client)
        assert value(down, "callpool_ami_link_state", pbx="pbx-test", state="logged_in") == 0


async def test_job_runs_failures_and_durations(
    aiohttp_client: Any, database_url: str, engine: AsyncEngine
) -> None:
    client = await aiohttp_client(
        create_app(load_settings(database_url=database_url, metrics_token=TOKEN))
    )
    metrics = client.app[OPS_METRICS]

    async def broken(_engine: AsyncEngine, _now: datetime) -> None:
        raise RuntimeError("boom")

    await _guarded("expire_leases", expire_leases, engine, metrics)()
    await _guarded("broken", broken, engine, metrics)()
    await _guarded("broken", broken, engine, metrics)()
    samples = await scrape(client)
    assert value(samples, "callpool_job_runs_total", job="expire_leases") == 1
    assert value(samples, "callpool_job_failures_total", job="expire_leases") == 0
    assert value(samples, "callpool_job_runs_total", job="broken") == 2
    assert value(samples, "callpool_job_failures_total", job="broken") == 2
    assert value(samples, "callpool_job_duration_seconds_count", job="broken") == 2
    assert value(samples, "callpool_job_last_success_timestamp_seconds", job="broken") == 0
    fresh = value(samples, "callpool_job_last_success_timestamp_seconds", job="expire_leases")
    assert abs(fresh - time.time()) < 60
