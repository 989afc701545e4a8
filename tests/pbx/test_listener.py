"""The real listener against the AMI simulator over loopback, on both databases."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from callpool.app import create_app
from callpool.db.engine import connection
from callpool.db.tables import AmiEvent
from callpool.pbx.assembly.calls import assemble_calls
from callpool.pbx.sim.server import AmiSimulator
from callpool.pbx.sim.streams import load_capture as capture_frames
from callpool.settings import load_settings
from callpool.web.keys import LISTENERS
from tests.pbx.captures import ALL_CAPTURES, FIXTURES, load_capture
from tests.pbx.listening import (
    finish,
    make_listener,
    running,
    shape,
    stored_calls,
    stored_event_calls,
    wait_until,
)


def expected_shapes(name: str) -> set[tuple[object, ...]]:
    return {shape(call) for call in assemble_calls(load_capture(name).events)}


@pytest.mark.parametrize("name", ALL_CAPTURES)
async def test_every_capture_through_the_listener(
    name: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    frames = capture_frames(FIXTURES / f"{name}.ami")
    async with AmiSimulator.from_capture(FIXTURES / f"{name}.ami") as sim:
        listener = make_listener(engine, tmp_path, sim.port)
        async with running(listener):
            await wait_until(lambda: listener.stats.events >= len(frames))
            await finish(listener)
            stored = await stored_calls(engine)
            assert {shape(row) for row in stored.values()} == expected_shapes(name)
            # Times: the listener's calls are the pure assembly of the events it stored.
            rebuilt = {c.linkedid: c for c in await stored_event_calls(engine)}
            assert set(rebuilt) == set(stored)
            for linkedid, row in stored.items():
                call = rebuilt[linkedid]
                assert (row["started_at"], row["answered_at"], row["ended_at"]) == (
                    call.started_at,
                    call.answered_at,
                    call.ended_at,
                )
                assert (row["wait_seconds"], row["talk_seconds"]) == (
                    call.wait_seconds,
                    call.talk_seconds,
                )
            health = listener.health()
            assert health["role"] == "listening" and health["ami"] == "logged_in"
            assert health["database"] == "ok" and health["open_calls"] == 0
            # The journal keeps a call's events while the assembler may still amend it
            # (a late CDR within its retention), then lets them go.
            assert health["journal_pending"] > 0
            assert await listener.flush(now=datetime.now(UTC) + timedelta(minutes=2))
            assert listener.health()["journal_pending"] == 0
    # Only what the assembly folds is journalled and kept.
    async with connection(engine) as conn:
        kept = await conn.scalar(select(func.count()).select_from(AmiEvent))
    assert kept == listener.stats.journalled < len(frames)


async def test_serve_runs_the_listener_and_healthz_shows_it(
    aiohttp_client: Any, database_url: str, tmp_path: Path
) -> None:
    frames = capture_frames(FIXTURES / "callback.ami")
    async with AmiSimulator(frames, fully_booted=False) as sim:
        pbx = {"name": "pbx-test", "port": sim.port, "username": "callpool", "secret": "secret"}
        settings = load_settings(
            database_url=database_url,
            ami_enabled=True,
            pbx=(pbx,),
            journal_dir=tmp_path / "journal",
            scheduler_enabled=False,
        )
        client = await aiohttp_client(create_app(settings))
        (listener,) = client.app[LISTENERS]
        await wait_until(lambda: listener.stats.events >= len(frames))
        body = await (await client.get("/healthz")).json()
        state = body["checks"]["ami:pbx-test"]
        assert body["status"] == "ok"
        assert state["ok"] and state["role"] == "listening" and state["ami"] == "logged_in"
        assert state["events"] == len(frames) and state["database"] == "ok"
        assert "secret" not in json.dumps(body)
        await sim.refuse_connections()
        await sim.close_sessions()
        await wait_until(lambda: listener.health()["ami"] != "logged_in")
        resp = await client.get("/healthz")
        assert resp.status == 503
        assert (await resp.json())["checks"]["ami:pbx-test"]["ok"] is False
