"""Pool sizing: how many tracking numbers a campaign needs.

A number pool is a loss system. Each new visit holds a number for the length of the
visit plus the hold time after its last heartbeat (plus any cool-down before the number
may be handed out again); a visit that finds every number held is not tracked (it
keeps the site's static number) and does not wait. That is exactly the Erlang B model,
so the chance a visit goes untracked is ``erlang_b(pool_size, offered_load)``.

``rule_of_thumb_pool_size`` is the number the sales deck quotes; ``peak_concurrency``
measures what the pool actually carried, from lease intervals, to check either.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from callpool.errors import ValidationError

__all__ = [
    "MAX_POOL_SIZE",
    "erlang_b",
    "peak_concurrency",
    "recommended_pool_size",
    "rule_of_thumb_pool_size",
]

# Beyond this a pool is a configuration mistake (or a typo in the traffic estimate),
# and the search for N would loop for a long time.
MAX_POOL_SIZE = 100_000
VISITORS_PER_NUMBER = 20

_SECONDS_PER_HOUR = 3600.0


def erlang_b(servers: int, load_erlangs: float) -> float:
    """Blocking probability with ``servers`` numbers and ``load_erlangs`` offered load.

    Uses the recursion B(0) = 1, B(n) = A·B(n-1) / (n + A·B(n-1)): every step stays in
    [0, 1], where the textbook formula's A**n / n! overflows a float past n ≈ 170.
    """
    if servers < 0:
        raise ValidationError(f"servers must be >= 0, got {servers}")
    _check_non_negative("load_erlangs", load_erlangs)
    blocking = 1.0
    for n in range(1, servers + 1):
        blocking = load_erlangs * blocking / (n + load_erlangs * blocking)
    return blocking


def recommended_pool_size(
    peak_new_sessions_per_hour: float,
    mean_visit_seconds: float,
    hold_seconds: float,
    target_blocking: float = 0.01,
    *,
    cooldown_seconds: float = 0.0,
) -> int:
    """The smallest pool whose Erlang B blocking at the peak hour is <= ``target_blocking``.

    Offered load A = arrivals per second * (mean visit + hold + cool-down) seconds.
    A number in cool-down is as unavailable as a leased one, so it counts as holding
    time; the default of 0 matches the plain formula. At least 1 number.
    """
    _check_non_negative("peak_new_sessions_per_hour", peak_new_sessions_per_hour)
    _check_non_negative("mean_visit_seconds", mean_visit_seconds)
    _check_non_negative("hold_seconds", hold_seconds)
    _check_non_negative("cooldown_seconds", cooldown_seconds)
    if not 0.0 < target_blocking < 1.0:
        raise ValidationError(f"target_blocking must be between 0 and 1, got {target_blocking}")
    holding_seconds = mean_visit_seconds + hold_seconds + cooldown_seconds
    load = peak_new_sessions_per_hour / _SECONDS_PER_HOUR * holding_seconds
    # The same recursion as erlang_b, stopped at the first N that meets the target.
    blocking = 1.0
    for n in range(1, MAX_POOL_SIZE + 1):
        blocking = load * blocking / (n + load * blocking)
        if blocking <= target_blocking:
            return n
    raise ValidationError(
        f"an offered load of {load:.1f} erlangs needs more than {MAX_POOL_SIZE} numbers"
    )


def rule_of_thumb_pool_size(daily_visitors: int) -> int:
    """One number per 20 daily visitors, rounded up, and at least 1."""
    if daily_visitors < 0:
        raise ValidationError(f"daily_visitors must be >= 0, got {daily_visitors}")
    return max(1, math.ceil(daily_visitors / VISITORS_PER_NUMBER))


def peak_concurrency(
    intervals: list[tuple[datetime, datetime]],
    bucket: timedelta = timedelta(hours=1),
) -> dict[datetime, int]:
    """The most leases held at the same instant, per time bucket.

    Intervals are half-open, [start, end): a lease ending at 10:00 and one starting at
    10:00 never overlap. Buckets are aligned to the Unix epoch in UTC (hours on the
    hour) and keyed by their start; aware inputs are converted to UTC, naive ones are
    taken as UTC already (don't mix the two). The result runs, in order and without
    gaps, from the bucket of the first start to the bucket of the last end; empty
    intervals are ignored; no intervals give ``{}``.
    """
    if bucket <= timedelta(0):
        raise ValidationError(f"bucket must be positive, got {bucket}")
    events: list[tuple[datetime, int]] = []
    for start, end in intervals:
        start, end = _as_utc(start), _as_utc(end)
        if end < start:
            raise ValidationError(f"interval ends before it starts: {start} > {end}")
        if end > start:
            events += [(start, +1), (end, -1)]
    if not events:
        return {}
    events.sort()
    last_end = events[-1][0]
    peaks: dict[datetime, int] = {}
    held = 0
    i = 0
    bucket_start = _floor(events[0][0], bucket)
    while bucket_start < last_end:
        bucket_end = bucket_start + bucket
        # What was held at the bucket's first instant, unless events at that very
        # instant change it (they are applied below, and counted after).
        peak = held if events[i][0] > bucket_start else 0
        while i < len(events) and events[i][0] < bucket_end:
            instant = events[i][0]
            # Apply every start and end at one instant before measuring, so a lease
            # handed over at 10:00 sharp is not counted twice.
            while i < len(events) and events[i][0] == instant:
                held += events[i][1]
                i += 1
            peak = max(peak, held)
        peaks[bucket_start] = peak
        bucket_start = bucket_end
    return peaks


def _as_utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is None else moment.astimezone(UTC)


def _floor(moment: datetime, bucket: timedelta) -> datetime:
    epoch = datetime(1970, 1, 1, tzinfo=moment.tzinfo)
    return epoch + (moment - epoch) // bucket * bucket


def _check_non_negative(name: str, value: float) -> None:
    if not (math.isfinite(value) and value >= 0):
        raise ValidationError(f"{name} must be a finite number >= 0, got {value}")
