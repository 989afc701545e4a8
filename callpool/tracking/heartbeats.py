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

from callpool.tracking.leases import SqlLeaseStore

MAX_SLACK = timedelta(minutes=2)


@dataclass(slots=True)
class _Entry:
    site_id: int
    lease_id: int | None
    hold: timedelta
    stored_expiry: datetime | None


class HeartbeatCache:
    def __init__(self, store: SqlLeaseStore, max_entries: int = 200_000) -> None:
        self._store = store
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._max = max_entries

    async def beat(self, site_id: int, session_id: str, now: datetime) -> timedelta | None:
        """The lease's time to live after this heartbeat, or None when it is gone.

        A session is only found through its own site's key.
        """
        entry = self._entries.get(session_id)
        if entry is not None and entry.site_id != site_id:
            return None
        if entry is None or (entry.stored_expiry is not None and entry.stored_expiry <= now):
            entry = await self._load(site_id, session_id)
            if entry is None:
                self._entries.pop(session_id, None)
                return None
        if entry.lease_id is None or entry.stored_expiry is None:
            return entry.hold
        if entry.stored_expiry < now + entry.hold:
            slack = min(MAX_SLACK, entry.hold / 4)
            new_expiry = now + entry.hold + slack
            if not await self._store.extend_lease(entry.lease_id, session_id, new_expiry, now):
                self._entries.pop(session_id, None)
                return None
            entry.stored_expiry = new_expiry
        self._remember(session_id, entry)
        return entry.hold

    def forget(self, session_id: str) -> None:
        self._entries.pop(session_id, None)

    async def _load(self, site_id: int, session_id: str) -> _Entry | None:
        lease = await self._store.open_lease(site_id, session_id)
        if lease is not None:
            lease_id, expiry, hold_seconds = lease
            return _Entry(site_id, lease_id, timedelta(seconds=hold_seconds), expiry)
        if await self._store.is_leaseless_session(site_id, session_id):
            # A session shown a static or the site's own number: nothing to keep alive.
            return _Entry(site_id, None, timedelta(minutes=15), None)
        return None

    def _remember(self, session_id: str, entry: _Entry) -> None:
        self._entries[session_id] = entry
        self._entries.move_to_end(session_id)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)
