"""A traffic plan played against a number pool in memory, with the pool's own rules.

Pure: ``run_pool`` hands out numbers with ``tracking.pool.allocate_number`` (the rules
the SQL pick is tested against) in visit order, keeps each lease live until the visit's
last heartbeat plus the hold time, and decides which number each call dials: the one
its visit was shown (a caller who saved it dials it days later), the site's own number
when the pool was exhausted, the static number for a "print" call. ``credit_calls``
then credits the calls with ``attribution.reattribute``, exactly as the call store does.

The ground truth of a call is every visit of its caller that showed the number dialled
before the call: the visit that prompted it, and a later visit of the same visitor that
kept the same number (a returning visitor keeps a live number).
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from callpool.attribution import Attribution, CallFacts, LeaseFacts, NumberFacts, reattribute
from callpool.demo.traffic import STATIC_CHANNEL, PlannedCall, PlannedVisit, TrafficPlan
from callpool.demo.truth import Accuracy, Credit, Truth, score
from callpool.errors import PoolExhausted
from callpool.tracking.pool import LiveLease, PoolNumber, allocate_number


@dataclass(frozen=True, slots=True)
class PoolConfig:
    numbers: tuple[str, ...]  # the pool, E.164
    hold: timedelta = timedelta(minutes=15)
    cooldown: timedelta = timedelta(seconds=60)
    grace: timedelta = timedelta(minutes=30)
    own_number: str = "+74951230000"
    static_number: str = "+74951239999"
    credit_repeat_callers: bool = True
    campaign_id: int = 1


@dataclass(frozen=True, slots=True)
class DialledCall:
    call: PlannedCall
    dialled: str
    # The visits (session ids) that showed the caller the number dialled.
    truth_sessions: frozenset[str]


@dataclass
class PoolRun:
    leases: list[LeaseFacts] = field(default_factory=list)
    shown: dict[str, str | None] = field(default_factory=dict)  # session -> pool number
    calls: list[DialledCall] = field(default_factory=list)
    exhaustions: int = 0
    peak_leased: int = 0


def run_pool(plan: TrafficPlan, config: PoolConfig, *, exact: bool = False) -> PoolRun:
    """Allocate numbers to the plan's visits in time order and dial the plan's calls.

    ``exact`` asks ``tracking.pool.allocate_number`` for every visit; the default keeps
    the free numbers in release order, which gives the same choices (a test holds the
    two together) without looking at every number for every visit.
    """
    run = PoolRun()
    e164s = {i + 1: e164 for i, e164 in enumerate(config.numbers)}
    released: dict[int, datetime] = {}
    live: dict[int, LeaseFacts] = {}  # number id -> its current lease
    holder: dict[str, int] = {}  # visitor -> the number id of its live lease
    free = [(0, 0.0, e164, nid) for nid, e164 in e164s.items()]  # quiet longest first
    free.sort()
    for visit in plan.visits:
        now = visit.started_at
        for ended, lease in list(live.items()):
            if lease.expires_at <= now:
                released[ended] = lease.expires_at
                run.leases.append(live.pop(ended))
                holder.pop(lease.visitor_id, None)
                bisect.insort(free, (1, lease.expires_at.timestamp(), e164s[ended], ended))
        number_id: int | None
        if exact:
            number_id = _allocate_exactly(e164s, released, live, visit, config)
        else:
            number_id = holder.get(visit.visitor_id)
            if number_id is None and free and _rested(free[0], now, config.cooldown):
                number_id = free.pop(0)[3]
        if number_id is None:
            run.exhaustions += 1
            run.shown[visit.session_id] = None
            continue
        if exact and number_id not in live:
            free = [item for item in free if item[3] != number_id]
        expires = visit.ended_at + config.hold
        kept = live.get(number_id)
        if kept is not None:  # a returning visitor keeps the number: the old lease ends now
            run.leases.append(replace(kept, released_at=now))
            expires = max(expires, kept.expires_at)
        live[number_id] = LeaseFacts(
            number_id,
            visit.session_id,
            visit.visitor_id,
            config.campaign_id,
            None,
            now,
            expires,
            None,
        )
        holder[visit.visitor_id] = number_id
        run.shown[visit.session_id] = e164s[number_id]
        run.peak_leased = max(run.peak_leased, len(live))
    run.leases += live.values()
    run.calls = _dial(plan, config, run.shown)
    return run


def _rested(item: tuple[int, float, str, int], now: datetime, cooldown: timedelta) -> bool:
    return item[0] == 0 or now.timestamp() - item[1] >= cooldown.total_seconds()


def _allocate_exactly(
    e164s: dict[int, str],
    released: dict[int, datetime],
    live: dict[int, LeaseFacts],
    visit: PlannedVisit,
    config: PoolConfig,
) -> int | None:
    pool = [PoolNumber(nid, e164, released.get(nid)) for nid, e164 in e164s.items()]
    leases = [LiveLease(nid, x.session_id, x.visitor_id, x.expires_at) for nid, x in live.items()]
    try:
        found = allocate_number(visit.visitor_id, pool, leases, visit.started_at, config.cooldown)
    except PoolExhausted:
        return None
    return found.number.id


def _dial(plan: TrafficPlan, config: PoolConfig, shown: dict[str, str | None]) -> list[DialledCall]:
    sessions_of: dict[str, list[PlannedVisit]] = {}
    for visit in plan.visits:
        sessions_of.setdefault(visit.visitor_id, []).append(visit)
    out = []
    for call in plan.calls:
        if call.session_id is None or call.visitor_id is None:
            out.append(DialledCall(call, config.static_number, frozenset()))
            continue
        number = shown.get(call.session_id)
        if number is None:  # the pool was exhausted: the page kept the site's own number
            out.append(DialledCall(call, config.own_number, frozenset({call.session_id})))
            continue
        truth = {
            v.session_id
            for v in sessions_of[call.visitor_id]
            if v.started_at <= call.at and shown.get(v.session_id) == number
        }
        out.append(DialledCall(call, number, frozenset(truth | {call.session_id})))
    return out


def credit_calls(run: PoolRun, config: PoolConfig, plan: TrafficPlan) -> dict[str, Credit]:
    """Each call's credit by its key, as the call store gives it (pure)."""
    ids = {name: i + 1 for i, name in enumerate((STATIC_CHANNEL, *plan.channels))}
    names = {i: name for name, i in ids.items()}
    channel_of = {v.session_id: ids[v.channel] for v in plan.visits}
    grace = config.grace
    numbers = {
        e164: NumberFacts(i + 1, e164, config.campaign_id, None, grace)
        for i, e164 in enumerate(config.numbers)
    }
    static = config.static_number
    numbers[static] = NumberFacts(0, static, config.campaign_id, ids[STATIC_CHANNEL], grace)
    leases: dict[int, list[LeaseFacts]] = {}
    for lease in run.leases:
        leases.setdefault(lease.number_id, []).append(
            replace(lease, channel_id=channel_of[lease.session_id])
        )
    facts = [
        CallFacts(d.call.key, "inbound", d.call.caller, d.dialled, d.call.at) for d in run.calls
    ]
    credits = reattribute(
        facts, numbers, leases, credit_repeat_callers=config.credit_repeat_callers
    )
    return {key: credit_of(found, names) for key, found in credits.items()}


def credit_of(found: Attribution | None, channel_names: Mapping[int, str]) -> Credit:
    if found is None:
        return Credit(None, None, None)
    channel = None if found.channel_id is None else channel_names.get(found.channel_id)
    return Credit(found.session_id, channel, found.method)


def truths_of(run: PoolRun) -> list[Truth]:
    return [Truth(d.call.key, d.call.channel, d.truth_sessions) for d in run.calls]


def simulate_in_memory(plan: TrafficPlan, config: PoolConfig) -> Accuracy:
    """Accuracy of the plan on this pool, all in memory (the benchmark's path)."""
    run = run_pool(plan, config)
    return score(truths_of(run), credit_calls(run, config, plan), len(plan.visits), run.exhaustions)
