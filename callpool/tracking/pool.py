"""Number pool allocation rules: which tracking number a visit gets.

The same shape as cosmicpython's ``allocate``: plain values in, a choice or a domain
error (``PoolExhausted``) out; this module never sees a session or the clock. These rules
are the specification of the pool: the SQL store picks in one statement for speed
(``visit_sql``'s pick, with the same order and the same cool-down), and a test
(``test_sql_pick_agrees_with_the_pure_rules``) holds that pick against ``choose_number``
on random pools, on both databases.

The rules:

- A number is *free* when it is active, not retiring, held by no live lease, and was
  released at least ``cooldown`` ago, so a late call from the previous visitor is not
  credited to the next one.
- Among free numbers the least recently released wins (never released first, then the
  oldest release, then by E.164 for a deterministic tie-break): the longer a number has
  been quiet, the less likely a stray call on it belongs to someone else.
- A returning visitor whose lease is still live keeps that number: one number per
  visitor per campaign.
- A lease is live until ``expires_at`` (exclusive), which is the last heartbeat plus
  the hold time.

A lease that expired without an explicit release has, in effect, released its number at
``expires_at``. Callers may pass such expired leases along with the live ones and the
cool-down will count from their expiry, even if ``last_released_at`` was never updated.
All datetimes are expected timezone-aware (UTC); mixing naive and aware ones raises
``TypeError`` from the comparison, as Python does.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from callpool.errors import PoolExhausted

__all__ = [
    "Allocation",
    "LiveLease",
    "PoolNumber",
    "allocate_number",
    "choose_number",
    "find_reusable_lease",
    "is_free",
    "is_live",
    "last_release",
    "lease_expiry",
]


@dataclass(frozen=True, slots=True)
class PoolNumber:
    """A tracking number in a campaign's pool."""

    id: int
    e164: str
    last_released_at: datetime | None = None
    active: bool = True
    # Being drained before removal: keeps its current leases, gets no new ones.
    retiring: bool = False

    @property
    def can_be_handed_out(self) -> bool:
        return self.active and not self.retiring


@dataclass(frozen=True, slots=True)
class LiveLease:
    """A number held for one visit (session) of one visitor, as read from the store."""

    number_id: int
    session_id: str
    visitor_id: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Allocation:
    """The outcome of ``allocate_number``: the number, and the lease kept if any."""

    number: PoolNumber
    reused_lease: LiveLease | None = None

    @property
    def is_reused(self) -> bool:
        return self.reused_lease is not None


def lease_expiry(last_heartbeat: datetime, hold: timedelta) -> datetime:
    """When a lease stops being live if no further heartbeat arrives."""
    return last_heartbeat + hold


def is_live(lease: LiveLease, now: datetime) -> bool:
    return now < lease.expires_at


def last_release(number: PoolNumber, leases: Iterable[LiveLease], now: datetime) -> datetime | None:
    """When ``number`` was last let go: its recorded release or the latest expiry among
    its leases that are no longer live, whichever is later."""
    releases = [
        lease.expires_at
        for lease in leases
        if lease.number_id == number.id and not is_live(lease, now)
    ]
    if number.last_released_at is not None:
        releases.append(number.last_released_at)
    return max(releases, default=None)


def is_free(
    number: PoolNumber, live_leases: Iterable[LiveLease], now: datetime, cooldown: timedelta
) -> bool:
    """Whether ``number`` may be handed to a new visit at ``now``."""
    if not number.can_be_handed_out:
        return False
    leases = [lease for lease in live_leases if lease.number_id == number.id]
    if any(is_live(lease, now) for lease in leases):
        return False
    released = last_release(number, leases, now)
    # A release stamped in the future (clock skew between app servers) keeps the number
    # cooling down until the clock catches up, rather than handing it out early.
    return released is None or now - released >= cooldown


def choose_number(
    numbers: Iterable[PoolNumber],
    live_leases: Iterable[LiveLease],
    now: datetime,
    cooldown: timedelta,
) -> PoolNumber:
    """The free number released longest ago; raises ``PoolExhausted`` when none is free."""
    pool = list(numbers)
    by_number: dict[int, list[LiveLease]] = {}
    for lease in live_leases:
        by_number.setdefault(lease.number_id, []).append(lease)

    free = [n for n in pool if is_free(n, by_number.get(n.id, []), now, cooldown)]
    if not free:
        raise PoolExhausted(_exhausted_message(pool, by_number, now))

    def quiet_longest_first(number: PoolNumber) -> tuple[int, float, str]:
        released = last_release(number, by_number.get(number.id, []), now)
        # Never released sorts before any release; e164 breaks ties deterministically.
        return (0, 0.0, number.e164) if released is None else (1, released.timestamp(), number.e164)

    return min(free, key=quiet_longest_first)


def find_reusable_lease(
    visitor_id: str,
    leases: Iterable[LiveLease],
    now: datetime,
    numbers: Iterable[PoolNumber] | None = None,
) -> LiveLease | None:
    """The live lease a returning visitor keeps, if any (pass the campaign's leases).

    With several live leases (two tabs that raced), the one expiring last wins, then
    the smallest number id, so every tab converges on the same number. When
    ``numbers`` is given, a lease on a number that is inactive or retiring is not
    kept, so a retiring number drains instead of following its visitor forever. An
    empty ``visitor_id`` (no cookie) never matches: anonymous visits share nothing.
    """
    if not visitor_id:
        return None
    usable = None if numbers is None else {n.id for n in numbers if n.can_be_handed_out}
    candidates = [
        lease
        for lease in leases
        if lease.visitor_id == visitor_id
        and is_live(lease, now)
        and (usable is None or lease.number_id in usable)
    ]
    if not candidates:
        return None
    return max(candidates, key=lambda lease: (lease.expires_at, -lease.number_id))


def allocate_number(
    visitor_id: str,
    numbers: Sequence[PoolNumber],
    leases: Sequence[LiveLease],
    now: datetime,
    cooldown: timedelta,
) -> Allocation:
    """The number for a new visit: the visitor's live number if any, else the LRU free one.

    ``numbers`` and ``leases`` are one campaign's. Raises ``PoolExhausted`` when the
    visitor has no number and none is free; the caller then shows the static number.
    """
    kept = find_reusable_lease(visitor_id, leases, now, numbers)
    if kept is not None:
        number = next(n for n in numbers if n.id == kept.number_id)
        return Allocation(number=number, reused_lease=kept)
    return Allocation(number=choose_number(numbers, leases, now, cooldown))


def _exhausted_message(
    pool: list[PoolNumber], by_number: dict[int, list[LiveLease]], now: datetime
) -> str:
    # Why nothing is free, so an operator can tell "pool too small" from "pool disabled".
    unusable = sum(1 for n in pool if not n.can_be_handed_out)
    leased = sum(
        1
        for n in pool
        if n.can_be_handed_out and any(is_live(x, now) for x in by_number.get(n.id, []))
    )
    cooling = len(pool) - unusable - leased
    return (
        f"no free number in a pool of {len(pool)}: {leased} leased, "
        f"{cooling} cooling down, {unusable} inactive or retiring"
    )
