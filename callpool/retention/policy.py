"""How long each site keeps its raw AMI events, page views and sessions. Pure.

A site says, per kind, how many days to keep (``None``: forever). Calls and rollups are
never pruned: they are what the reports are made of, and a call keeps its campaign,
channel and visitor when its session goes.

A raw event belongs to the site of its call's campaign. An event of no site's call
(internal and outbound calls, calls on no tracking number, events of no call) is kept
as long as the longest-keeping site would keep it: forever if any site keeps its events
forever, or if there are no sites.

A session's age is its last activity (``last_seen_at``), not its start, so a session
still in use is never pruned; deleting a session deletes its page views and leases with
it (foreign keys), and its calls keep everything but the session id.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

Kind = Literal["raw_events", "page_views", "sessions"]
KINDS: tuple[Kind, ...] = ("raw_events", "page_views", "sessions")
MAX_DAYS = 36500


@dataclass(frozen=True)
class SiteRetention:
    raw_events: int | None = None
    page_views: int | None = None
    sessions: int | None = None

    def days(self, kind: Kind) -> int | None:
        days: int | None = getattr(self, kind)
        return days


@dataclass(frozen=True)
class RetentionPolicy:
    sites: Mapping[int, SiteRetention] = field(default_factory=dict)

    def days(self, kind: Kind, site_id: int | None) -> int | None:
        """Days ``kind`` rows of ``site_id`` (None: of no site) are kept; None: forever."""
        if site_id is not None and site_id in self.sites:
            return self.sites[site_id].days(kind)
        if site_id is None:
            every = [site.days(kind) for site in self.sites.values()]
            if not every or None in every:
                return None
            return max(d for d in every if d is not None)
        return None  # a site created after the policy was read: keep

    def cutoff(self, kind: Kind, site_id: int | None, now: datetime) -> datetime | None:
        """Rows of ``kind`` and ``site_id`` older than this go; None: none go."""
        days = self.days(kind, site_id)
        return None if days is None else now - timedelta(days=days)

    def newest_cutoff(self, kind: Kind, now: datetime) -> datetime | None:
        """No row at or after this goes, whatever its site: where a walk can stop."""
        cutoffs = [self.cutoff(kind, site_id, now) for site_id in self.sites]
        known = [c for c in cutoffs if c is not None]
        return max(known) if known else None


def expired(
    rows: Iterable[tuple[object, datetime, int | None]],
    policy: RetentionPolicy,
    kind: Kind,
    now: datetime,
) -> list[object]:
    """The ids of ``(id, age_at, site_id)`` rows older than their site's cutoff."""
    cutoffs: dict[int | None, datetime | None] = {}
    gone = []
    for row_id, at, site_id in rows:
        if site_id not in cutoffs:
            cutoffs[site_id] = policy.cutoff(kind, site_id, now)
        cutoff = cutoffs[site_id]
        if cutoff is not None and at < cutoff:
            gone.append(row_id)
    return gone
