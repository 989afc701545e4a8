"""Helpers for listener tests: a PBX setting for a simulator, waiting, reading calls back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from callpool.db.engine import connection
from callpool.db.tables import AmiEvent, Call
from callpool.pbx.assembly.call_state import AssembledCall
from callpool.pbx.assembly.calls import assemble_calls
from callpool.pbx.assembly.events import FrameSplitter, MalformedFrame
from callpool.pbx.listener import PbxListener
from callpool.settings import PbxSettings

FAST_AMI = {
    "ping_interval": 0.5,
    "ping_timeout": 1.0,
    "connect_timeout": 1.0,
    "login_timeout": 1.0,
    "action_timeout": 2.0,
    "backoff_initial": 0.05,
    "backoff_max": 0.2,
}


def pbx_for(port: int, name: str = "pbx-test", **fields: Any) -> PbxSettings:
    return PbxSettings(
        name=name,
        host="127.0.0.1",
        port=port,
        username="callpool",
        secret=SecretStr("secret"),
        **fields,
    )


def make_listener(engine: AsyncEngine, journal_dir: Path, port: int, **kwargs: Any) -> PbxListener:
    settings = kwargs.pop("pbx", None) or pbx_for(port)
    kwargs.setdefault("write_interval", 0.05)
    kwargs.setdefault("lock_poll", 0.2)
    kwargs.setdefault("ami_overrides", FAST_AMI)
    return PbxListener(settings, engine, journal_dir, region="RU", **kwargs)


@asynccontextmanager
async def running(listener: PbxListener) -> AsyncIterator[PbxListener]:
    await listener.start()
    try:
        yield listener
    finally:
        await listener.close()


async def wait_until(condition: Callable[[], bool], within: float = 10.0) -> None:
    """Poll counters kept by the code under test; fail after ``within`` seconds."""
    async with asyncio.timeout(within):
        while not condition():  # noqa: ASYNC110 - counters have no event to wait on
            await asyncio.sleep(0.02)


async def finish(listener: PbxListener) -> None:
    """Write every call whose CDR grace would have run out (no need to sleep through it)."""
    later = datetime.now(UTC) + timedelta(seconds=5)
    assert await listener.flush(now=later)


async def stored_calls(engine: AsyncEngine) -> dict[str, Any]:
    async with connection(engine) as conn:
        rows = (await conn.execute(select(Call).order_by(Call.id))).mappings().all()
    by_linkedid = {row["linkedid"]: row for row in rows}
    assert len(by_linkedid) == len(rows), "a call was stored twice"
    return by_linkedid


async def stored_event_calls(engine: AsyncEngine, pbx: str = "pbx-test") -> list[AssembledCall]:
    """The calls the pure assembly makes of the raw events the listener stored."""
    async with connection(engine) as conn:
        rows = (
            await conn.execute(
                select(AmiEvent.frame, AmiEvent.received_at)
                .where(AmiEvent.pbx == pbx)
                .order_by(AmiEvent.seq)
            )
        ).all()
    events = []
    for frame, received_at in rows:
        (msg,) = FrameSplitter().feed(frame.encode() + b"\r\n\r\n")
        assert not isinstance(msg, MalformedFrame)
        events.append((msg, received_at))
    from callpool.pbx.assembly.dialplan import PbxDialplan

    return assemble_calls(events, PbxDialplan(pbx=pbx))


def shape(call: AssembledCall | Any) -> tuple[Any, ...]:
    """What does not depend on timing: who called whom, how it went."""
    if isinstance(call, AssembledCall):
        return (
            call.linkedid,
            call.direction,
            call.caller_number.lstrip("+"),
            call.dialled_number.lstrip("+"),
            call.outcome.replace("_", " "),
            call.answered_by,
            tuple(call.transfers),
        )
    return (
        call["linkedid"],
        call["direction"],
        call["caller_number"].lstrip("+"),
        call["called_number"].lstrip("+"),
        call["disposition"],
        call["answered_by"],
        tuple(call["transfers"]),
    )
