"""Heartbeats without a database write each time.

A lease must live until the last heartbeat plus the hold time. Writing that on every
heartbeat (every 30 s per visitor) would make heartbeats the busiest writer, so the
stored expiry runs ahead: when a heartbeat finds the stored expiry short of
``now + hold``, it stores ``now + hold + slack``. The stored expiry is thus never earlier
than the true one (no number is handed out under a live visitor) and at most ``slack``
later (a number rests at most that long after the visitor left). Writes drop to about one
per ``slack`` per visitor. The cache is per process; a process that misses reads the lease.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta

from callpool.tracking.leases import SessionLease, SqlLeaseStore

MAX_SLACK = timedelta(minutes=2)
# The time to live answered for a session without a lease.
LEASELESS_HOLD = timedelta(minutes=15)


def renewed_expiry(stored: datetime, hold: timedelta, now: datetime) -> datetime | None:
    """The expiry to store after a heartbeat at ``now``; None when ``stored`` will do."""
    if stored >= now + hold:
        return None
    return now + hold + min(MAX_SLACK, hold / 4)


@dataclass(slots=True)
class _Entry:
    site_id: int
    lease_id: int | None
    hold: timedelta
    stored_expiry: datetime | None


def _entry(site_id: int, found: SessionLease) -> _Entry:
    if found.lease_id is None or found.hold_seconds is None:
        # A session shown a static or the site's own number: nothing to keep alive.
        return _Entry(site_id, None, LEASELESS_HOLD, None)
    return _Entry(site_id, found.lease_id, timedelta(seconds=found.hold_seconds), found.expires_at)


class HeartbeatCache:
    def __init__(self, store: SqlLeaseStore, max_entries: int = 200_000) -> None:
        self._store = store
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._max = max_entries

    async def beat(self, site_id: int, session_id: str, now: datetime) -> timedelta | None:
        """The lease's time to live after this heartbeat, or None when it is gone.

        A session is only found through its own site's key. A miss (first heartbeat in
        this process, or a stored expiry already past) looks the lease up and extends it
        in one transaction.
        """
        entry = self._entries.get(session_id)
        if entry is not None and entry.site_id != site_id:
            return None
        if entry is None or (entry.stored_expiry is not None and entry.stored_expiry <= now):
            found = await self._store.renew_session_lease(site_id, session_id, now, renewed_expiry)
            if found is None:
                self._entries.pop(session_id, None)
                return None
            entry = _entry(site_id, found)
        elif entry.lease_id is not None and entry.stored_expiry is not None:
            new_expiry = renewed_expiry(entry.stored_expiry, entry.hold, now)
            if new_expiry is not None:
                if not await self._store.extend_lease(entry.lease_id, session_id, new_expiry, now):
                    self._entries.pop(session_id, None)
                    return None
                entry.stored_expiry = new_expiry
        self._remember(session_id, entry)
        return entry.hold

    def forget(self, session_id: str) -> None:
        self._entries.pop(session_id, None)

    def _remember(self, session_id: str, entry: _Entry) -> None:
        self._entries[session_id] = entry
        self._entries.move_to_end(session_id)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)
