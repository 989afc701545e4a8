"""Who gets the credit for a call: pure, from the call, the number and the leases.

An inbound call is credited, in this order:

1. ``static``: the number belongs to a static channel; that channel gets it.
2. ``repeat_caller``: the caller's earlier call was credited to visitor V, and the lease
   that would get the credit (live, or within grace) is another visitor's, or there is
   none. Customers save a pool number and call it weeks later; the stranger now holding
   it did not cause the call. V's channel gets it.
3. ``lease``: the lease on the number that was live when the call started.
4. ``grace``: no lease was live; the last lease that ended within the campaign's grace
   window before the call (a visitor who closed the tab and then dialled).
5. ``unattributed``: a pool number with no lease to credit: the campaign, no channel.

``unknown_number`` marks an inbound call to a number that is not a tracking number;
outbound and internal calls get ``None`` (not attributed). ``reattribute`` replays a
history in start order, so a later job can recompute every credit from calls and leases.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

Method = Literal["static", "repeat_caller", "lease", "grace", "unattributed", "unknown_number"]


@dataclass(frozen=True, slots=True)
class CallFacts:
    key: str
    direction: str
    caller: str | None
    dialled: str | None
    started_at: datetime


@dataclass(frozen=True, slots=True)
class NumberFacts:
    id: int
    e164: str
    campaign_id: int
    # Set for a static channel's number.
    static_channel_id: int | None
    grace: timedelta


@dataclass(frozen=True, slots=True)
class LeaseFacts:
    number_id: int
    session_id: str
    visitor_id: str
    campaign_id: int
    channel_id: int | None
    leased_at: datetime
    expires_at: datetime
    released_at: datetime | None

    @property
    def ended_at(self) -> datetime:
        if self.released_at is None:
            return self.expires_at
        return min(self.released_at, self.expires_at)

    def was_live_at(self, moment: datetime) -> bool:
        return self.leased_at <= moment < self.ended_at


@dataclass(frozen=True, slots=True)
class Attribution:
    method: Method
    number_id: int | None = None
    campaign_id: int | None = None
    channel_id: int | None = None
    session_id: str | None = None
    visitor_id: str | None = None


def attribute_call(
    call: CallFacts,
    number: NumberFacts | None,
    leases: Sequence[LeaseFacts],
    prior: Attribution | None = None,
    *,
    credit_repeat_callers: bool = True,
) -> Attribution | None:
    """Credit one call. ``leases`` are the number's; ``prior`` the caller's last credit."""
    if call.direction != "inbound":
        return None
    if number is None:
        return Attribution("unknown_number")
    if number.static_channel_id is not None:
        return Attribution("static", number.id, number.campaign_id, number.static_channel_id)
    live = _live_lease(leases, call.started_at)
    if live is not None:
        candidate: tuple[Method, LeaseFacts] | None = ("lease", live)
    else:
        recent = _recent_lease(leases, call.started_at, number.grace)
        candidate = None if recent is None else ("grace", recent)
    known = prior if credit_repeat_callers and prior and prior.visitor_id else None
    if known is not None and (candidate is None or candidate[1].visitor_id != known.visitor_id):
        return Attribution(
            "repeat_caller",
            number_id=number.id,
            campaign_id=known.campaign_id,
            channel_id=known.channel_id,
            session_id=known.session_id,
            visitor_id=known.visitor_id,
        )
    if candidate is not None:
        return _credit(candidate[0], number, candidate[1])
    return Attribution("unattributed", number.id, number.campaign_id)


def _credit(method: Method, number: NumberFacts, lease: LeaseFacts) -> Attribution:
    return Attribution(
        method,
        number_id=number.id,
        campaign_id=lease.campaign_id,
        channel_id=lease.channel_id,
        session_id=lease.session_id,
        visitor_id=lease.visitor_id,
    )


def _live_lease(leases: Iterable[LeaseFacts], moment: datetime) -> LeaseFacts | None:
    live = [lease for lease in leases if lease.was_live_at(moment)]
    # Only one can be live by construction; the latest wins if the history says otherwise.
    return max(live, key=lambda lease: lease.leased_at, default=None)


def _recent_lease(
    leases: Iterable[LeaseFacts], moment: datetime, grace: timedelta
) -> LeaseFacts | None:
    ended = [
        lease for lease in leases if lease.ended_at <= moment and moment - lease.ended_at <= grace
    ]
    return max(ended, key=lambda lease: lease.ended_at, default=None)


def reattribute(
    calls: Sequence[CallFacts],
    numbers: Mapping[str, NumberFacts],
    leases_by_number: Mapping[int, Sequence[LeaseFacts]],
    *,
    credit_repeat_callers: bool = True,
    earlier: Mapping[str, Attribution] | None = None,
) -> dict[str, Attribution | None]:
    """Credit a history of calls in start order; ``earlier`` seeds callers' past credits."""
    last_credit: dict[str, Attribution] = dict(earlier or {})
    result: dict[str, Attribution | None] = {}
    for call in sorted(calls, key=lambda c: (c.started_at, c.key)):
        number = numbers.get(call.dialled or "")
        leases = leases_by_number.get(number.id, ()) if number else ()
        prior = last_credit.get(call.caller or "") if call.caller else None
        credit = attribute_call(
            call, number, leases, prior, credit_repeat_callers=credit_repeat_callers
        )
        result[call.key] = credit
        if credit is not None and credit.visitor_id is not None and call.caller:
            last_credit[call.caller] = credit
    return result
