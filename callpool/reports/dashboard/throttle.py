"""Login throttling: failed log-ins are counted per name and address, and per address.

Pure: the caller passes ``now``. Five failures for one user name from one address in
15 minutes block that pair until the oldest failure ages out; 30 failures from one
address (guessing many names) block the address. A success clears the pair's count.

:func:`wait_for` is the rule; :class:`LoginThrottle` keeps the failures in memory (one
process), :class:`~callpool.reports.dashboard.throttle_store.SqlLoginThrottle` in the
database, so that every process behind a balancer counts the same failures (the
dashboard uses that one).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

WINDOW = 15 * 60.0
PER_NAME = 5
PER_ADDRESS = 30
MAX_KEYS = 100_000  # a flood of distinct names cannot grow memory without bound


@dataclass
class LoginThrottle:
    window: float = WINDOW
    per_name: int = PER_NAME
    per_address: int = PER_ADDRESS
    _failures: dict[str, deque[float]] = field(default_factory=dict)

    def retry_after(self, username: str, address: str, now: float) -> float:
        """Seconds until this pair may try again; 0 when it may try now."""
        waits = [
            self._wait(_pair(username, address), self.per_name, now),
            self._wait(_address(address), self.per_address, now),
        ]
        return max(waits)

    def failed(self, username: str, address: str, now: float) -> None:
        if len(self._failures) >= MAX_KEYS:
            self._forget_old(now)
        for key in (_pair(username, address), _address(address)):
            self._failures.setdefault(key, deque()).append(now)

    def succeeded(self, username: str, address: str) -> None:
        self._failures.pop(_pair(username, address), None)

    def _wait(self, key: str, limit: int, now: float) -> float:
        times = self._failures.get(key)
        if not times:
            return 0.0
        while times and times[0] <= now - self.window:
            times.popleft()
        return wait_for(times, limit, self.window, now)

    def _forget_old(self, now: float) -> None:
        for key in [k for k, t in self._failures.items() if not t or t[-1] <= now - self.window]:
            del self._failures[key]
        if len(self._failures) >= MAX_KEYS:
            self._failures.clear()


def wait_for(times: Sequence[float], limit: int, window: float, now: float) -> float:
    """Seconds until one more try is allowed, given the failure times (oldest first)."""
    recent = [t for t in times if t > now - window]
    if len(recent) < limit:
        return 0.0
    return max(0.0, recent[-limit] + window - now)


def pair_key(username: str, address: str) -> str:
    return f"u:{username.casefold()}|{address}"


def address_key(address: str) -> str:
    return f"a:{address}"


_pair = pair_key
_address = address_key
