"""The pool sizes a traffic shape gets: the Erlang-B recommendation and the rule of thumb."""

from __future__ import annotations

from callpool.demo.traffic import TrafficShape
from callpool.tracking.capacity import recommended_pool_size, rule_of_thumb_pool_size


def peak_visits_per_hour(shape: TrafficShape) -> float:
    week_mean = sum(shape.weekly) / len(shape.weekly)
    return (
        shape.visitors_per_day
        * max(shape.hourly)
        / sum(shape.hourly)
        * max(shape.weekly)
        / week_mean
    )


def recommended_for(shape: TrafficShape, hold: float, cooldown: float = 60.0) -> tuple[int, int]:
    """(Erlang-B size at the peak hour, one number per 20 daily visitors)."""
    size = recommended_pool_size(
        peak_visits_per_hour(shape), shape.mean_session_seconds, hold, cooldown_seconds=cooldown
    )
    return size, rule_of_thumb_pool_size(round(shape.visitors_per_day))
