"""A phone number plays one role: a site's own line, a campaign's fallback, or a tracking number.

A tracking number is one the business does not publish: a call to it is credited to the
visitor who was shown it. If a site's own number (the main line on its pages) or a
campaign's fallback number were also in a pool, it would be leased to a visitor, and every
call to the business's main line would be credited to whoever held it at the time. So each
write that gives a number one of these roles checks, inside its transaction, that no other
row gives it the other role, and refuses with one line naming the number.

Two writers could each miss the other's uncommitted number, so each takes a lock before
it reads: on PostgreSQL one transaction-level advisory lock; on SQLite the database's own
write lock, taken by a write that changes nothing (the driver runs reads before a
transaction's first write outside it, so they would not otherwise be serialised). The
second writer waits for the first to commit, then reads its numbers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from callpool.db.tables import Campaign, Site, TrackingNumber

# Well under both databases' bound parameter limits (32,766 on SQLite, 32,767 on PostgreSQL).
CHUNK = 5_000
# A stable signed 64-bit key (PostgreSQL's bigint) for the advisory lock.
LOCK_KEY = int.from_bytes(
    hashlib.sha256(b"callpool:catalog:number-roles").digest()[:8], "big", signed=True
)


async def lock_number_roles(session: AsyncSession) -> None:
    """Serialise the writes that give numbers a role; held to the transaction's end.

    Call it first in the transaction, before anything the decision depends on is read.
    """
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
    else:
        await session.execute(text("UPDATE sites SET name = name WHERE 1 = 0"))


async def published_numbers(session: AsyncSession) -> dict[str, str]:
    """Every site's own numbers and every campaign's fallback, E.164 -> what it is."""
    roles: dict[str, str] = {}
    for name, own_numbers in await session.execute(select(Site.name, Site.own_numbers)):
        for number in own_numbers:
            roles.setdefault(number, f"an own number of site {name!r}")
    fallbacks = select(Campaign.fallback_number, Campaign.name, Site.name).join(
        Site, Site.id == Campaign.site_id
    )
    for fallback, campaign, site in await session.execute(fallbacks):
        if fallback is not None:
            roles.setdefault(
                fallback, f"the fallback number of campaign {campaign!r} of site {site!r}"
            )
    return roles


async def tracking_owners(session: AsyncSession, numbers: Iterable[str]) -> dict[str, str]:
    """Which of ``numbers`` are tracking numbers: E.164 -> whose."""
    owners: dict[str, str] = {}
    query = (
        select(TrackingNumber.e164, Campaign.name, Site.name)
        .join(Campaign, Campaign.id == TrackingNumber.campaign_id)
        .join(Site, Site.id == Campaign.site_id)
    )
    for chunk in chunks(list(numbers)):
        for number, campaign, site in await session.execute(
            query.where(TrackingNumber.e164.in_(chunk))
        ):
            owners[number] = f"a tracking number of campaign {campaign!r} of site {site!r}"
    return owners


def chunks(values: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]
