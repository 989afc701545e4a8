"""Abuse rules for the number API: bots, blocked networks, and rate limits.

Every rule here costs the pool something to get wrong in one direction: a bot that gets
a number holds it for the whole hold time while no human can call it, and a human
refused a number is a call we cannot attribute. So bots and blocked networks get the
static number (no lease), and rate limits are generous enough for a person with many
tabs.

Headless Chrome. crawlerdetect flags ``HeadlessChrome`` user agents, and most scrapers
send one. Our own end-to-end tests drive the snippet in headless Chromium, though, and
must be served like a visitor, so by default ``HeadlessChrome`` is read as ``Chrome``;
pass ``headless_is_bot=True`` (a site setting) to refuse it in production. A headless
agent that also names a crawler (``... HeadlessChrome ... Googlebot``) is a bot either
way.

``RateLimiter`` is a token bucket per key that takes ``now`` (seconds, from a monotonic
clock) as an argument and keeps its state in memory, so it is per process: with
several workers each allows its own share.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections import OrderedDict
from collections.abc import Iterable
from functools import cache, lru_cache

from crawlerdetect import CrawlerDetect

from callpool.errors import ConfigError

__all__ = ["Network", "RateLimiter", "is_blocked_ip", "is_bot", "parse_networks"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# Real user agents are a few hundred characters; the bot patterns all occur early. A
# cap keeps one hostile header from costing a long regex scan (and crawlerdetect's
# per-instance cache from holding megabytes).
_MAX_USER_AGENT = 512
_HEADLESS = re.compile(r"HeadlessChrome", re.IGNORECASE)
# Keys are client-chosen (visitor ids), so they are cut before they are stored.
_MAX_KEY = 128


@cache
def _detector() -> CrawlerDetect:
    # Built on first use, not at import; its regexes compile once and are shared.
    return CrawlerDetect()


def is_bot(user_agent: str | None, *, headless_is_bot: bool = False) -> bool:
    """Whether a user agent belongs to a crawler, a script or a monitor.

    No user agent at all counts as a bot: every browser sends one. Neither does a
    browser send control characters, so they are dropped before looking.
    """
    return _is_bot(user_agent, headless_is_bot)


# Visitors share a few thousand user agents, and a look costs ~15 us of regular
# expressions: worth remembering.
@lru_cache(maxsize=4096)
def _is_bot(user_agent: str | None, headless_is_bot: bool) -> bool:
    raw = (user_agent or "")[:_MAX_USER_AGENT]
    agent = "".join(ch for ch in raw if ch.isprintable()).strip()
    if not agent:
        return True
    if not headless_is_bot:
        agent = _HEADLESS.sub("Chrome", agent)
    return bool(_detector().is_crawler(agent))


def parse_networks(cidrs: Iterable[str]) -> tuple[Network, ...]:
    """Parse a block list for settings, raising ``ConfigError`` naming a bad entry.

    Host bits are allowed (``10.1.2.3/8`` means ``10.0.0.0/8``): a block list is
    written by people, and refusing to start over that helps nobody.
    """
    networks = []
    for cidr in cidrs:
        try:
            networks.append(ipaddress.ip_network(cidr.strip(), strict=False))
        except ValueError as exc:
            raise ConfigError(f"not an IP network: {cidr[:60]!r}") from exc
    return tuple(networks)


def is_blocked_ip(ip: str | None, cidrs: Iterable[str | Network]) -> bool:
    """Whether ``ip`` falls in any of ``cidrs``; an unparsable address is not blocked.

    ``cidrs`` may mix strings and parsed networks; bad strings are skipped here (catch
    them at start-up with ``parse_networks``). An IPv4-mapped IPv6 address
    (``::ffff:203.0.113.7``, as a dual-stack socket reports IPv4 clients) is checked as
    the IPv4 address it carries.
    """
    if not cidrs:  # most sites block nothing: skip parsing the address
        return False
    address = _parse_address(ip)
    if address is None:
        return False
    mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
    for cidr in cidrs:
        network = _parse_network(cidr) if isinstance(cidr, str) else cidr
        if network is None:
            continue
        # `in` across versions is simply False, so no version check is needed.
        if address in network or (mapped is not None and mapped in network):
            return True
    return False


def _parse_address(ip: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if not ip or len(ip) > 64:
        return None
    try:
        return ipaddress.ip_address(ip.strip())
    except ValueError:
        return None


@lru_cache(maxsize=1024)
def _parse_network(cidr: str) -> Network | None:
    try:
        return ipaddress.ip_network(cidr.strip(), strict=False)
    except ValueError:
        return None


class RateLimiter:
    """Token buckets by key: ``rate`` requests per second, bursts of up to ``burst``.

    Use one limiter per kind of key, e.g. one for client IPs and a stricter one for
    visitor ids, and ask both::

        if not (by_ip.allow(ip, now) and by_visitor.allow(visitor_id, now)):
            raise RateLimited(...)

    Memory stays bounded: a key idle long enough to have refilled its bucket is the
    same as an absent key and is dropped, and past ``max_keys`` the least recently seen
    key goes first (which forgives it; the alternative is refusing strangers).
    """

    def __init__(self, rate: float, burst: float, max_keys: int = 100_000) -> None:
        if not (math.isfinite(rate) and rate > 0):
            raise ConfigError(f"rate limit must be a positive number, got {rate}")
        if not (math.isfinite(burst) and burst >= 1):
            raise ConfigError(f"rate limit burst must be at least 1, got {burst}")
        if max_keys < 1:
            raise ConfigError(f"rate limiter max_keys must be at least 1, got {max_keys}")
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self.refused = 0
        # key -> (tokens left, when they were counted); least recently seen first.
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def allow(self, key: str, now: float, cost: float = 1.0) -> bool:
        """Take ``cost`` tokens from ``key``'s bucket if it has them."""
        key = key[:_MAX_KEY]
        self._evict_refilled(now)
        tokens = self._tokens(key, now)
        if tokens >= cost:
            self._store(key, tokens - cost, now)
            return True
        self._store(key, tokens, now)
        self.refused += 1
        return False

    def retry_after(self, key: str, now: float, cost: float = 1.0) -> float:
        """Seconds until ``allow(key, ...)`` would succeed: for a ``Retry-After`` header."""
        missing = cost - self._tokens(key[:_MAX_KEY], now)
        return max(0.0, missing / self.rate)

    def _tokens(self, key: str, now: float) -> float:
        stored = self._buckets.get(key)
        if stored is None:
            return self.burst
        tokens, counted_at = stored
        # A clock that steps back refills nothing rather than draining the bucket.
        elapsed = max(0.0, now - counted_at)
        return min(self.burst, tokens + elapsed * self.rate)

    def _store(self, key: str, tokens: float, now: float) -> None:
        self._buckets[key] = (tokens, now)
        self._buckets.move_to_end(key)
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)

    def _evict_refilled(self, now: float) -> None:
        # The front of the dict is the longest idle, so stop at the first key that has
        # not refilled yet; each key is dropped once, so this is O(1) amortised.
        refill_seconds = self.burst / self.rate
        while self._buckets:
            key, (_, counted_at) = next(iter(self._buckets.items()))
            if now - counted_at < refill_seconds:
                break
            del self._buckets[key]
