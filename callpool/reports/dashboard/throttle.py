"""Login throttling: failed log-ins are counted per name and address, and per address.

Pure: the caller passes ``now``. Five failures for one user name from one address in
15 minutes block that pair until the oldest failure ages out; 30 failures from one
address (guessing many names) block the address. A success clears the pair's count.
Counts live in the process: with several processes behind a balancer each counts its
own share, which still bounds a guesser to a few tries a minute per process.
"""

from __future__ import annotations

from collections import deque
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
        if len(times) < limit:
            return 0.0
        return times[-limit] + self.window - now

    def _forget_old(self, now: float) -> None:
        for key in [k for k, t in self._failures.items() if not t or t[-1] <= now - self.window]:
            del self._failures[key]
        if len(self._failures) >= MAX_KEYS:
            self._failures.clear()


def _pair(username: str, address: str) -> str:
    return f"u:{username.casefold()}|{address}"


def _address(address: str) -> str:
    return f"a:{address}"
