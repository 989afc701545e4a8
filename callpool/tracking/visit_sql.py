"""The statements a visit runs, built once per process with bound parameters.

Building a statement and computing its cache key on every visit costs more CPU than the
database spends running it, so the hot statements are built here at import and executed
with a dict of values (``pick_params``, and rows named by column).

The pick (``TAKE_FREE_NUMBER``) is the SQL form of ``pool.choose_number``: free = active,
not retiring, no open lease, released at least the cool-down ago; least recently
released first (never released before any release), then by E.164. It is one probe of
the partial index ``ix_tracking_numbers_pick`` (the numbers free to hand out, in pick
order), takes a row lock (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so concurrent visits
take different numbers) and marks the number leased (``leased_until``) in the same
statement.

``FIRST_VISIT`` (PostgreSQL only) is a first visit to a pool campaign as one statement:
insert the visitor and the session, take a number, insert the lease, in one round trip.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    CompoundSelect,
    Select,
    Subquery,
    Update,
    bindparam,
    insert,
    literal_column,
    select,
    true,
    union_all,
    update,
)

from callpool.db.tables import Lease, Session, TrackingNumber, Visitor

VISITOR_COLUMNS = ("id", "site_id", "client_id", "first_seen_at", "last_seen_at")
SESSION_COLUMNS = (
    "id",
    "visitor_id",
    "site_id",
    "campaign_id",
    "channel_id",
    "source",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_content",
    "utm_term",
    "referrer",
    "landing_url",
    "gclid",
    "yclid",
    "fbclid",
    "msclkid",
    "click_ids",
    "client_id",
    "user_agent",
    "ip",
    "started_at",
    "last_seen_at",
)
LEASE_COLUMNS = ("number_id", "session_id", "visitor_id", "campaign_id", "leased_at", "expires_at")


def _free_number_query() -> CompoundSelect[int, str]:
    """The least recently released free number of a campaign: (id, e164).

    Each database sorts NULL (never released) at a different end of an index, so the two
    groups are two probes of ``ix_tracking_numbers_pick``, the never-released one first:
    ``UNION ALL`` returns its branches in order and ``LIMIT 1`` stops at the first row,
    so the second probe runs only when there is no never-released number.
    """
    campaign_id: BindParameter[Any] = bindparam("pick_campaign_id")
    never_released = _first_free(campaign_id, TrackingNumber.last_released_at.is_(None))
    cooled_down = _first_free(
        campaign_id, TrackingNumber.last_released_at <= bindparam("pick_cooled_before")
    )
    return union_all(
        select(never_released.c.id, never_released.c.e164),
        select(cooled_down.c.id, cooled_down.c.e164),
    ).limit(1)


def _first_free(campaign_id: BindParameter[Any], released: ColumnElement[bool]) -> Subquery:
    """The first free number of the campaign in index order, locked, among ``released``.

    The WHERE repeats ``ix_tracking_numbers_pick``'s predicate as each database renders
    it (``active``, ``NOT retiring``; ``active = 1``, ``retiring = 0`` on SQLite), so that
    the planner sees the query implies it. The open-lease check is the invariant behind
    ``leased_until`` spelt out: with ``leased_until`` kept, it never rejects a row.
    """
    # OFFSET 0 keeps the check a per-row probe of ``uq_leases_open_number``. Without it
    # PostgreSQL may turn it into an anti-join that reads every open lease for each pick:
    # it does so when statistics say there are none, and a generic plan keeps that
    # choice while open leases grow (3.8 ms a pick with 2,600 of them).
    open_lease = (
        select(Lease.id)
        .where(Lease.number_id == TrackingNumber.id, Lease.released_at.is_(None))
        .limit(literal_column("1"))
        .offset(literal_column("0"))
        .exists()
    )
    return (
        select(TrackingNumber.id, TrackingNumber.e164)
        .where(
            TrackingNumber.campaign_id == campaign_id,
            TrackingNumber.channel_id.is_(None),
            TrackingNumber.active,
            ~TrackingNumber.retiring,
            TrackingNumber.leased_until.is_(None),
            released,
            ~open_lease,
        )
        .order_by(TrackingNumber.last_released_at, TrackingNumber.e164)
        .limit(1)
        .with_for_update(skip_locked=True, of=TrackingNumber)
        .subquery()
    )


def _binds(prefix: str, table: Any, columns: tuple[str, ...]) -> dict[str, BindParameter[Any]]:
    return {name: bindparam(f"{prefix}_{name}", type_=table.c[name].type) for name in columns}


# A new visitor's rows with values named as ``first_visit_params`` names them.
VISITOR_ROW = insert(Visitor).values(_binds("visitor", Visitor.__table__, VISITOR_COLUMNS))
SESSION_ROW = insert(Session).values(_binds("session", Session.__table__, SESSION_COLUMNS))
# The lease with its number as ``lease_number_id`` (FIRST_VISIT takes it from the pick).
LEASE_ROW = insert(Lease).values(
    _binds("lease", Lease.__table__, ("number_id", *LEASE_COLUMNS[1:]))
)


def _first_visit(take: Update) -> Select[int, str]:
    picked = take.cte("picked")
    lease_values = _binds("lease", Lease.__table__, LEASE_COLUMNS)
    lease = insert(Lease).from_select(
        list(LEASE_COLUMNS),
        select(picked.c.id, *(lease_values[name] for name in LEASE_COLUMNS[1:])),
    )
    # Exactly one row, NULLs when nothing was free: batched runs (asyncpg's fetchmany)
    # return one flat list of rows, which must line up with the visits.
    one = select(literal_column("1").label("one")).subquery("one")
    return (
        select(picked.c.id, picked.c.e164)
        .select_from(one.outerjoin(picked, true()))
        .add_cte(
            VISITOR_ROW.cte("new_visitor"), SESSION_ROW.cte("new_session"), lease.cte("new_lease")
        )
    )


def _take(free_number: CompoundSelect[int, str], leased_until: Any) -> Update:
    """Mark the number ``free_number`` finds leased until ``leased_until``: (id, e164)."""
    return (
        update(TrackingNumber)
        .where(TrackingNumber.id == select(free_number.subquery().c.id).scalar_subquery())
        .values(leased_until=leased_until)
        .returning(TrackingNumber.id, TrackingNumber.e164)
    )


FREE_NUMBER = _free_number_query()
TAKE_FREE_NUMBER = _take(
    FREE_NUMBER, bindparam("pick_leased_until", type_=TrackingNumber.leased_until.type)
)
FIRST_VISIT = _first_visit(TAKE_FREE_NUMBER)
INSERT_VISITOR = insert(Visitor)
INSERT_SESSION = insert(Session)
INSERT_LEASE = insert(Lease)


def pick_params(
    campaign_id: int, cooldown: timedelta, now: datetime, leased_until: datetime | None = None
) -> dict[str, Any]:
    """The values of ``FREE_NUMBER`` (and with ``leased_until``, ``TAKE_FREE_NUMBER``)."""
    params: dict[str, Any] = {"pick_campaign_id": campaign_id, "pick_cooled_before": now - cooldown}
    if leased_until is not None:
        params["pick_leased_until"] = leased_until
    return params


def first_visit_params(
    visitor: dict[str, Any], session: dict[str, Any], lease: dict[str, Any], pick: dict[str, Any]
) -> dict[str, Any]:
    """The values of ``FIRST_VISIT``: the three rows by column name, and the pick's."""
    params = dict(pick)
    for keys, row in ((_VISITOR_KEYS, visitor), (_SESSION_KEYS, session), (_LEASE_KEYS, lease)):
        params.update((keys[name], value) for name, value in row.items())
    return params


def _keys(prefix: str, columns: tuple[str, ...]) -> dict[str, str]:
    return {name: f"{prefix}_{name}" for name in columns}


_VISITOR_KEYS = _keys("visitor", VISITOR_COLUMNS)
_SESSION_KEYS = _keys("session", SESSION_COLUMNS)
_LEASE_KEYS = _keys("lease", ("number_id", *LEASE_COLUMNS))


def free_number_query(
    campaign_id: int, cooldown: timedelta, now: datetime
) -> CompoundSelect[int, str]:
    """The pick as a plain query with its values bound, for tests and EXPLAIN."""
    return FREE_NUMBER.params(pick_params(campaign_id, cooldown, now))


def take_free_number_statement(
    campaign_id: int, cooldown: timedelta, now: datetime, leased_until: datetime
) -> Update:
    """``TAKE_FREE_NUMBER`` with its values bound, for tests and EXPLAIN."""
    return _take(free_number_query(campaign_id, cooldown, now), leased_until)
