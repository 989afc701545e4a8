"""Scoring credits against the ground truth: how many calls went to the right visit.

Pure. A call is credited to the *right session* when the credited session is one of the
visits that showed the caller the number dialled (``pool_run.DialledCall``), to the
*right channel* when the credited channel is the channel of the visit that prompted it
(the static channel for a "print" call). A call credited to no channel is
*unattributed* (a pool number nobody held, or the site's own number when the pool was
exhausted); one credited to another channel is *wrong*. Session accuracy counts the
calls a visit prompted; channel accuracy counts every call.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Credit:
    """Where attribution put a call: a session, a channel name and the method."""

    session_id: str | None
    channel: str | None
    method: str | None


@dataclass(frozen=True, slots=True)
class Truth:
    key: str
    channel: str
    sessions: frozenset[str]  # empty: a call nobody's visit prompted (static channel)


@dataclass(frozen=True, slots=True)
class Accuracy:
    calls: int
    session_calls: int  # calls prompted by a visit
    right_session: int
    right_channel: int
    unattributed: int
    wrong: int
    visits: int
    exhaustions: int
    methods: tuple[tuple[str, int], ...] = ()

    @property
    def right_session_share(self) -> float:
        return self.right_session / self.session_calls if self.session_calls else 1.0

    @property
    def right_channel_share(self) -> float:
        return self.right_channel / self.calls if self.calls else 1.0

    @property
    def unattributed_share(self) -> float:
        return self.unattributed / self.calls if self.calls else 0.0

    @property
    def wrong_share(self) -> float:
        return self.wrong / self.calls if self.calls else 0.0

    @property
    def exhaustion_share(self) -> float:
        return self.exhaustions / self.visits if self.visits else 0.0

    def summary(self) -> str:
        return (
            f"{self.calls} calls: right channel {self.right_channel_share:.2%}, "
            f"right session {self.right_session_share:.2%} (of {self.session_calls} "
            f"prompted by a visit), unattributed {self.unattributed_share:.2%}, "
            f"wrong {self.wrong_share:.2%}; pool exhausted for {self.exhaustions} of "
            f"{self.visits} visits ({self.exhaustion_share:.2%})"
        )


def score(
    truths: Iterable[Truth], credits: Mapping[str, Credit], visits: int, exhaustions: int
) -> Accuracy:
    calls = session_calls = right_session = right_channel = unattributed = wrong = 0
    methods: dict[str, int] = {}
    for truth in truths:
        credit = credits.get(truth.key, Credit(None, None, None))
        calls += 1
        methods[credit.method or "none"] = methods.get(credit.method or "none", 0) + 1
        if truth.sessions:
            session_calls += 1
            right_session += credit.session_id in truth.sessions
        if credit.channel is None:
            unattributed += 1
        elif credit.channel == truth.channel:
            right_channel += 1
        else:
            wrong += 1
    return Accuracy(
        calls,
        session_calls,
        right_session,
        right_channel,
        unattributed,
        wrong,
        visits,
        exhaustions,
        tuple(sorted(methods.items())),
    )
