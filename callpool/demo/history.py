"""A played traffic plan written to the database: weeks of simulated history in seconds.

The pool is played in memory with the pool's own rules (``pool_run``); its visitors,
sessions, page views and leases are inserted in bulk, and its calls are generated as the
AMI simulator sends them (``pbx.sim.scenarios.call_frames``), assembled by the real call
assembly at the simulated times and written through the real call store, which
attributes them against those leases exactly as it does the listener's calls. The rows
are marked as simulated: the calls' PBX is ``simulated`` and the sessions' user agent
``callpool-simulator``. ``credits`` reads back what the call store decided.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from callpool.db.engine import connection
from callpool.db.tables import Call, Lease, PageView, Session, TrackingNumber, Visitor
from callpool.demo.catalog import DemoCatalog
from callpool.demo.pool_run import DialledCall, PoolRun
from callpool.demo.traffic import PlannedCall, PlannedVisit, TrafficPlan
from callpool.demo.truth import Credit
from callpool.pbx.assembly.call_state import AssembledCall
from callpool.pbx.assembly.calls import assemble_calls
from callpool.pbx.assembly.dialplan import PbxDialplan
from callpool.pbx.assembly.events import AmiMessage, parse_message
from callpool.pbx.call_store import SqlCallStore
from callpool.pbx.sim.scenarios import DEFAULT_AGENTS, SimCall, call_frames
from callpool.pbx.sim.streams import IdAllocator
from callpool.tracking.classify import classify_visit
from callpool.tracking.directory import SiteDirectory
from callpool.tracking.leases import new_id

SIMULATED_PBX = "simulated"
SIMULATOR_AGENT = "callpool-simulator"
ORIGIN = "https://demo.callpool.invalid"
_CHUNK = 500


@dataclass(frozen=True, slots=True)
class WrittenHistory:
    sessions: dict[str, str]  # planned session id -> stored session id
    linkedids: dict[str, str]  # planned call key -> stored linkedid
    calls: int
    callbacks: int


def sim_calls(call: PlannedCall, dialled: str, agent: str) -> list[tuple[SimCall, float]]:
    """The AMI simulator's calls for a planned call: the call, and an agent's call-back.

    Each with its start in seconds after the planned call's start."""
    kind = {"answered": "answered", "short": "answered", "abandoned": "missed", "busy": "busy"}
    customer = call.caller.lstrip("+")
    inbound = SimCall(
        kind[call.kind],  # type: ignore[arg-type]
        customer,
        did=dialled.lstrip("+"),
        agent=agent,
        ring=call.ring,
        talk=call.talk,
    )
    out = [(inbound, 0.0)]
    if call.callback_after is not None:
        ring = 4.0 if call.callback_answered else 20.0
        back = SimCall("callback", customer, agent=agent, ring=ring, talk=45.0)
        out.append((back, call.ring + call.callback_after))
    return out


def assembled(
    calls: Sequence[tuple[SimCall, datetime]], ids: IdAllocator, pbx: str
) -> list[AssembledCall]:
    """The calls as the listener would store them had it received their events then."""
    events: list[tuple[AmiMessage, datetime]] = []
    for sim, start in calls:
        at = start
        for timed in call_frames(sim, ids, start.replace(tzinfo=None)):
            at += timedelta(seconds=timed.delay)
            events.append((parse_message(timed.frame), at))
    events.sort(key=lambda item: item[1])
    return assemble_calls(events, PbxDialplan(pbx=pbx))


async def write_history(
    engine: AsyncEngine,
    demo: DemoCatalog,
    plan: TrafficPlan,
    run: PoolRun,
    region: str,
    now: datetime,
) -> WrittenHistory:
    site = await SiteDirectory(engine).get(demo.key)
    visitors = {v.visitor_id: new_id() for v in plan.visits}
    sessions = {v.session_id: new_id() for v in plan.visits}
    await _insert(engine, Visitor, _visitor_rows(plan.visits, visitors, demo.site_id))
    session_rows = []
    for visit in plan.visits:
        source = classify_visit(ORIGIN + visit.landing, visit.referrer, site.hosts, site.rules)
        channel_id = demo.channel_ids[visit.channel]
        assert source.channel_id == channel_id, f"{visit.channel} is classified otherwise"
        session_rows.append(
            _session_row(visit, sessions[visit.session_id], visitors[visit.visitor_id], demo)
            | {
                "source": source.fallback,
                "utm_source": source.utm_source,
                "utm_medium": source.utm_medium,
                "click_ids": dict(source.click_ids),
            }
        )
    await _insert(engine, Session, session_rows)
    views = [
        {"session_id": sessions[v.session_id], "url": ORIGIN + path, "viewed_at": at}
        for v in plan.visits
        for at, path in ((v.started_at, v.landing), *v.pages)
    ]
    await _insert(engine, PageView, views)
    await _insert(engine, Lease, await _lease_rows(engine, demo, run, sessions, visitors))
    linkedids, stored, callbacks = await _write_calls(engine, run.calls, region, now)
    return WrittenHistory(sessions, linkedids, stored, callbacks)


async def _insert(engine: AsyncEngine, table: type, rows: list[dict[str, object]]) -> None:
    for start in range(0, len(rows), _CHUNK):
        async with connection(engine) as conn:
            await conn.execute(insert(table), rows[start : start + _CHUNK])


def _visitor_rows(
    visits: Iterable[PlannedVisit], ids: dict[str, str], site_id: int
) -> list[dict[str, object]]:
    seen: dict[str, dict[str, object]] = {}
    for visit in visits:
        row = seen.setdefault(
            visit.visitor_id,
            {"id": ids[visit.visitor_id], "site_id": site_id, "first_seen_at": visit.started_at},
        )
        row["last_seen_at"] = visit.ended_at
    return list(seen.values())


def _session_row(
    visit: PlannedVisit, session_id: str, visitor_id: str, demo: DemoCatalog
) -> dict[str, object]:
    return {
        "id": session_id,
        "visitor_id": visitor_id,
        "site_id": demo.site_id,
        "campaign_id": demo.campaign_id,
        "channel_id": demo.channel_ids[visit.channel],
        "referrer": visit.referrer,
        "landing_url": ORIGIN + visit.landing,
        "click_ids": {},
        "user_agent": SIMULATOR_AGENT,
        "started_at": visit.started_at,
        "last_seen_at": visit.ended_at,
    }


async def _lease_rows(
    engine: AsyncEngine,
    demo: DemoCatalog,
    run: PoolRun,
    sessions: dict[str, str],
    visitors: dict[str, str],
) -> list[dict[str, object]]:
    async with connection(engine) as conn:
        ids = dict(
            (
                await conn.execute(
                    select(TrackingNumber.e164, TrackingNumber.id).where(
                        TrackingNumber.campaign_id == demo.campaign_id
                    )
                )
            ).all()
        )
    config = demo.pool_config()
    return [
        {
            "number_id": ids[config.numbers[lease.number_id - 1]],
            "session_id": sessions[lease.session_id],
            "visitor_id": visitors[lease.visitor_id],
            "campaign_id": demo.campaign_id,
            "leased_at": lease.leased_at,
            "expires_at": lease.expires_at,
            "released_at": lease.released_at or lease.expires_at,
        }
        for lease in run.leases
    ]


async def _write_calls(
    engine: AsyncEngine, calls: Sequence[DialledCall], region: str, now: datetime
) -> tuple[dict[str, str], int, int]:
    ids = IdAllocator(epoch=1_700_000_000)
    linkedids: dict[str, str] = {}
    everything: list[AssembledCall] = []
    callbacks = 0
    for n, dialled in enumerate(calls):
        agent = DEFAULT_AGENTS[n % len(DEFAULT_AGENTS)]
        parts = sim_calls(dialled.call, dialled.dialled, agent)
        made = assembled(
            [(sim, dialled.call.at + timedelta(seconds=after)) for sim, after in parts],
            ids,
            SIMULATED_PBX,
        )
        inbound = [c for c in made if c.direction == "inbound"]
        assert len(inbound) == 1, "one inbound call per planned call"
        linkedids[dialled.call.key] = inbound[0].linkedid
        callbacks += len(made) - 1
        everything += made
    everything.sort(key=lambda c: c.started_at)
    store = SqlCallStore(engine, region)
    for start in range(0, len(everything), _CHUNK):
        await store.save_calls(everything[start : start + _CHUNK], now)
    return linkedids, len(everything), callbacks


async def credits(
    engine: AsyncEngine, demo: DemoCatalog, written: WrittenHistory, pbx: str = SIMULATED_PBX
) -> dict[str, Credit]:
    """What the call store credited each planned call with, in planned ids and names."""
    planned_session = {stored: planned for planned, stored in written.sessions.items()}
    names = {cid: name for name, cid in demo.channel_ids.items()}
    async with connection(engine) as conn:
        rows = (
            await conn.execute(
                select(Call.linkedid, Call.session_id, Call.channel_id, Call.attribution).where(
                    Call.pbx == pbx
                )
            )
        ).all()
    by_linkedid = {row[0]: row for row in rows}
    out = {}
    for key, linkedid in written.linkedids.items():
        _l, session, channel, method = by_linkedid[linkedid]
        out[key] = Credit(
            planned_session.get(session) if session else None,
            names.get(channel) if channel is not None else None,
            method,
        )
    return out
