"""Live demo traffic in real time: visitors through the real tracking API over HTTP, and
their calls through the AMI simulator, which the real listener hears over AMI.

Each planned visit posts ``/visit`` (as a browser would, with its landing URL, referrer
and Origin), then page views and heartbeats until it ends; each planned call dials the
number its visit was shown (the site's own number when the pool had none) with the
visitor's phone as caller id, and a missed call may get an agent's call-back. The
ground truth of every call placed is kept in ``placed``; ``score_live`` compares it with
what the listener stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from callpool.db.engine import connection
from callpool.db.tables import Call
from callpool.demo.catalog import OWN_NUMBER, STATIC_NUMBER
from callpool.demo.history import sim_calls
from callpool.demo.traffic import PlannedCall, PlannedVisit, TrafficShape, plan_traffic
from callpool.demo.truth import Accuracy, Credit, Truth, score
from callpool.pbx.sim.scenarios import DEFAULT_AGENTS, SimCall, call_frames
from callpool.pbx.sim.server import AmiSimulator
from callpool.pbx.sim.streams import IdAllocator, TimedFrame

log = logging.getLogger("callpool.demo")
LIVE_PBX = "demo"
CHUNK = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class PlacedCall:
    key: str
    caller: str
    dialled: str
    channel: str
    truth_sessions: frozenset[str]
    kind: str
    at: datetime


@dataclass
class LiveStats:
    visitors: int = 0
    exhausted: int = 0
    ringing: int = 0
    talking: int = 0
    placed: int = 0
    errors: int = 0


@dataclass
class LiveTraffic:
    base_url: str
    site_key: str
    sim: AmiSimulator
    shape: TrafficShape
    seed: int
    deadline: datetime | None = None  # place no call that would not end before it
    stats: LiveStats = field(default_factory=LiveStats)
    placed: list[PlacedCall] = field(default_factory=list)
    _shown: dict[str, str | None] = field(default_factory=dict)  # planned session -> number
    _real: dict[str, str] = field(default_factory=dict)  # planned session -> real session
    _visitor: dict[str, str] = field(default_factory=dict)  # planned visitor -> real visitor
    _sessions_of: dict[str, list[tuple[datetime, str]]] = field(default_factory=dict)
    _ready: dict[str, asyncio.Event] = field(default_factory=dict)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _ids: IdAllocator = field(default_factory=lambda: IdAllocator(epoch=int(time.time())))

    async def run(self) -> None:
        """Play the shape from now on, ten minutes of plan at a time, until cancelled."""
        headers = {"Origin": self.base_url, "User-Agent": "Mozilla/5.0 (callpool demo visitor)"}
        async with aiohttp.ClientSession(self.base_url, headers=headers) as http:
            start, chunk = datetime.now(UTC), 0
            try:
                while True:
                    plan = plan_traffic(
                        self.shape,
                        start + chunk * CHUNK,
                        start + (chunk + 1) * CHUNK,
                        self.seed + chunk,
                    )
                    events: list[tuple[datetime, int, PlannedVisit | PlannedCall]] = [
                        (v.started_at, 0, v) for v in plan.visits
                    ]
                    events += [(c.at, 1, c) for c in plan.calls]
                    events.sort(key=lambda e: (e[0], e[1]))
                    for at, _order, item in events:
                        await _sleep_until(at)
                        if isinstance(item, PlannedVisit):
                            self._spawn(self._visit(http, item))
                        else:
                            self._spawn(self._call(item))
                    chunk += 1
            finally:
                await self.stop()

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _visit(self, http: aiohttp.ClientSession, visit: PlannedVisit) -> None:
        ready = self._ready.setdefault(visit.session_id, asyncio.Event())
        try:
            body = {"url": self.base_url + visit.landing, "referrer": visit.referrer}
            if visit.visitor_id in self._visitor:
                body["visitor_id"] = self._visitor[visit.visitor_id]
            async with http.post(f"/api/v1/t/{self.site_key}/visit", json=body) as response:
                answer = await response.json()
                response.raise_for_status()
            number = answer["numbers"][0]["number"]
            shown = None if number == OWN_NUMBER else number
            self._visitor[visit.visitor_id] = answer["visitor_id"]
            session = answer["session_id"]
            self._real[visit.session_id] = session
            self._shown[visit.session_id] = shown
            self._sessions_of.setdefault(visit.visitor_id, []).append((visit.started_at, session))
            self.stats.visitors += 1
            self.stats.exhausted += shown is None
        except (aiohttp.ClientError, KeyError, IndexError, ValueError) as exc:
            self.stats.errors += 1
            log.warning("demo visit failed: %s", exc)
            return
        finally:
            ready.set()
        ids = {"visitor_id": answer["visitor_id"], "session_id": session}
        beats = _beats(visit, seconds=5.0)
        moments = sorted(
            [(at, "beat", "") for at in beats] + [(at, "view", p) for at, p in visit.pages]
        )
        for at, what, path in moments:
            await _sleep_until(at)
            with contextlib.suppress(aiohttp.ClientError):
                if what == "beat":
                    async with http.post(f"/api/v1/t/{self.site_key}/heartbeat", json=ids):
                        pass
                else:
                    view = ids | {"url": self.base_url + path}
                    async with http.post(f"/api/v1/t/{self.site_key}/pageview", json=view):
                        pass

    async def _call(self, call: PlannedCall) -> None:
        if self.deadline is not None and call.ends_at + timedelta(seconds=8) > self.deadline:
            return  # it would still ring or talk when the demo stops
        if call.session_id is None:
            dialled, truth = STATIC_NUMBER, frozenset[str]()
        else:
            ready = self._ready.setdefault(call.session_id, asyncio.Event())
            await ready.wait()
            if call.session_id not in self._real:
                return  # the visit itself failed: nobody saw a number
            number = self._shown.get(call.session_id)
            dialled = number or OWN_NUMBER
            truth = frozenset(
                session
                for started, session in self._sessions_of.get(call.visitor_id or "", [])
                if started <= call.at
                and self._shown.get(self._planned(session)) == number
                and number is not None
            ) | {self._real[call.session_id]}
        self.placed.append(
            PlacedCall(call.key, call.caller, dialled, call.channel, truth, call.kind, call.at)
        )
        self.stats.placed += 1
        agent = DEFAULT_AGENTS[self.stats.placed % len(DEFAULT_AGENTS)]
        for sim_call, after in sim_calls(call, dialled, agent):
            lasts = after + sim_call.ring + sim_call.talk + 8
            if self.deadline is None or call.at + timedelta(seconds=lasts) <= self.deadline:
                self._spawn(self._place(sim_call, after))

    def _planned(self, real: str) -> str:
        return next((p for p, r in self._real.items() if r == real), "")

    async def _place(self, sim_call: SimCall, after: float) -> None:
        """Send the call's events at their real moments (the simulator's stream is one
        sequence: its own delays would make calls wait for each other)."""
        await asyncio.sleep(after)
        start = datetime.now(UTC)
        frames = call_frames(sim_call, self._ids, start.replace(tzinfo=None))
        talking = sim_call.kind in ("answered", "callback") and sim_call.ring < 20
        self.stats.ringing += 1
        state = "ringing"
        try:
            for timed in frames:
                if timed.delay:
                    await asyncio.sleep(timed.delay)
                    if state == "ringing":
                        self.stats.ringing -= 1
                        state = "talking" if talking else "done"
                        self.stats.talking += talking
                    elif state == "talking":
                        self.stats.talking -= 1
                        state = "done"
                self.sim.feed([TimedFrame(0.0, timed.frame)])
        finally:
            self.stats.ringing -= state == "ringing"
            self.stats.talking -= state == "talking"


def _beats(visit: PlannedVisit, seconds: float) -> list[datetime]:
    out, at = [], visit.started_at + timedelta(seconds=seconds)
    while at < visit.ended_at:
        out.append(at)
        at += timedelta(seconds=seconds)
    return out


async def _sleep_until(at: datetime) -> None:
    delay = (at - datetime.now(UTC)).total_seconds()
    if delay > 0:
        await asyncio.sleep(delay)


async def live_credits(engine: AsyncEngine, channel_names: dict[int, str]) -> list[tuple[Any, ...]]:
    """The listener's stored inbound calls: caller, dialled, start, credit."""
    async with connection(engine) as conn:
        rows = (
            await conn.execute(
                select(
                    Call.caller_number,
                    Call.called_number,
                    Call.started_at,
                    Call.session_id,
                    Call.channel_id,
                    Call.attribution,
                )
                .where(Call.pbx == LIVE_PBX, Call.direction == "inbound")
                .order_by(Call.started_at)
            )
        ).all()
    return [
        (
            caller,
            called,
            started,
            Credit(session, channel_names.get(channel) if channel else None, method),
        )
        for caller, called, started, session, channel, method in rows
    ]


def match_live(
    placed: list[PlacedCall], stored: list[tuple[Any, ...]]
) -> tuple[list[Truth], dict[str, Credit]]:
    """Each stored call paired with the placed call of the same caller and number, in order."""
    waiting: dict[tuple[str, str], list[PlacedCall]] = {}
    for call in sorted(placed, key=lambda c: c.at):
        waiting.setdefault((call.caller, call.dialled), []).append(call)
    truths, credits = [], {}
    for caller, called, _started, credit in stored:
        queue = waiting.get((caller, called))
        if not queue:
            continue
        call = queue.pop(0)
        truths.append(Truth(call.key, call.channel, call.truth_sessions))
        credits[call.key] = credit
    return truths, credits


async def score_live(
    engine: AsyncEngine, traffic: LiveTraffic, channel_names: dict[int, str]
) -> Accuracy:
    truths, credits = match_live(traffic.placed, await live_credits(engine, channel_names))
    return score(truths, credits, traffic.stats.visitors, traffic.stats.exhausted)
