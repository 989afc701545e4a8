from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callpool.errors import ConfigError
from callpool.tracking.guard import RateLimiter, is_blocked_ip, is_bot, parse_networks

pytestmark = pytest.mark.pure

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
)
HEADLESS = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) HeadlessChrome/124.0.6367.29 Safari/537.36"
)
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)
YANDEX_BROWSER = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/122.0.0.0 YaBrowser/24.4.0.0 Safari/537.36"
)


@pytest.mark.parametrize(
    ("user_agent", "bot"),
    [
        (CHROME, False),
        (IPHONE, False),
        (YANDEX_BROWSER, False),
        ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", True),
        ("Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)", True),
        ("Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", True),
        ("curl/8.4.0", True),
        ("python-requests/2.31.0", True),
        ("", True),
        ("   ", True),
        (None, True),
        (HEADLESS, False),  # our own end-to-end tests
        (HEADLESS + " Googlebot/2.1", True),
        ("Ж" * 10_000, False),
        ("\x00\r\n", True),
    ],
)
def test_is_bot(user_agent: str | None, bot: bool) -> None:
    assert is_bot(user_agent) is bot


def test_headless_chrome_is_a_bot_when_the_site_says_so() -> None:
    assert is_bot(HEADLESS, headless_is_bot=True)
    assert not is_bot(CHROME, headless_is_bot=True)


def test_is_bot_answers_the_same_twice() -> None:
    # crawlerdetect keeps per-instance state; a bot must not make the next human a bot.
    assert is_bot("curl/8.4.0")
    assert not is_bot(CHROME)


BLOCKLIST = ["203.0.113.0/24", "198.51.100.7", "2001:db8::/32", "garbage", ""]


@pytest.mark.parametrize(
    ("ip", "blocked"),
    [
        ("203.0.113.9", True),
        ("203.0.114.9", False),
        ("198.51.100.7", True),
        ("198.51.100.8", False),
        ("2001:db8::1", True),
        ("2001:db9::1", False),
        ("::ffff:203.0.113.9", True),  # IPv4 client on a dual-stack socket
        (" 203.0.113.9 ", True),
        ("fe80::1%eth0", False),
        ("", False),
        (None, False),
        ("not an ip", False),
        ("999.1.1.1", False),
        ("1" * 10_000, False),
    ],
)
def test_is_blocked_ip(ip: str | None, blocked: bool) -> None:
    assert is_blocked_ip(ip, BLOCKLIST) is blocked


def test_is_blocked_ip_takes_parsed_networks() -> None:
    networks = parse_networks(["10.1.2.3/8", "2001:db8::/32"])
    assert networks[0] == ipaddress.ip_network("10.0.0.0/8")
    assert is_blocked_ip("10.200.0.1", networks)
    assert not is_blocked_ip("11.0.0.1", networks)


def test_parse_networks_names_the_bad_entry() -> None:
    with pytest.raises(ConfigError, match=r"'10\.0\.0\.0/33'"):
        parse_networks(["10.0.0.0/8", "10.0.0.0/33"])


@given(st.text(max_size=100), st.lists(st.text(max_size=50), max_size=5))
def test_is_blocked_ip_never_raises(ip: str, cidrs: list[str]) -> None:
    is_blocked_ip(ip, cidrs)


def test_burst_is_allowed_then_refused() -> None:
    limiter = RateLimiter(rate=1.0, burst=3)
    assert [limiter.allow("ip", now=100.0) for _ in range(4)] == [True, True, True, False]
    assert limiter.refused == 1


def test_tokens_refill_with_time() -> None:
    limiter = RateLimiter(rate=2.0, burst=2)
    assert limiter.allow("ip", 0.0)
    assert limiter.allow("ip", 0.0)
    assert not limiter.allow("ip", 0.0)
    assert not limiter.allow("ip", 0.4)  # 0.8 tokens
    assert limiter.allow("ip", 0.5)  # 1.0 token
    assert limiter.refused == 2


def test_keys_are_limited_separately() -> None:
    limiter = RateLimiter(rate=1.0, burst=1)
    assert limiter.allow("a", 0.0)
    assert limiter.allow("b", 0.0)
    assert not limiter.allow("a", 0.0)


def test_retry_after_says_when_a_token_is_back() -> None:
    limiter = RateLimiter(rate=0.5, burst=1)
    assert limiter.retry_after("a", 0.0) == 0.0
    limiter.allow("a", 0.0)
    assert limiter.retry_after("a", 0.0) == pytest.approx(2.0)
    assert limiter.retry_after("a", 1.5) == pytest.approx(0.5)


def test_clock_stepping_back_does_not_refill_or_crash() -> None:
    limiter = RateLimiter(rate=1.0, burst=1)
    assert limiter.allow("a", 100.0)
    assert not limiter.allow("a", 50.0)


def test_refilled_keys_are_forgotten() -> None:
    limiter = RateLimiter(rate=1.0, burst=5)
    for i in range(100):
        limiter.allow(f"visitor-{i}", now=0.0)
    assert len(limiter) == 100
    limiter.allow("late", now=5.0)  # everyone else has refilled by now
    assert len(limiter) == 1


def test_key_count_is_bounded() -> None:
    limiter = RateLimiter(rate=1.0, burst=1, max_keys=10)
    for i in range(1000):
        limiter.allow(f"ip-{i}", now=0.0)
    assert len(limiter) == 10
    assert limiter.allow("ip-0", now=0.0)  # the oldest was forgiven
    assert not limiter.allow("ip-999", now=0.0)  # the newest is still limited


def test_long_keys_are_cut() -> None:
    limiter = RateLimiter(rate=1.0, burst=1)
    assert limiter.allow("x" * 10_000, 0.0)
    assert not limiter.allow("x" * 20_000, 0.0)  # the same first 128 characters


@pytest.mark.parametrize(
    ("rate", "burst", "max_keys"),
    [(0.0, 1.0, 10), (-1.0, 1.0, 10), (float("inf"), 1.0, 10), (1.0, 0.5, 10), (1.0, 1.0, 0)],
)
def test_bad_limits_are_a_config_error(rate: float, burst: float, max_keys: int) -> None:
    with pytest.raises(ConfigError):
        RateLimiter(rate, burst, max_keys)


@given(st.lists(st.tuples(st.sampled_from("abc"), st.floats(0, 100)), max_size=50))
def test_never_allows_more_than_burst_plus_refill(calls: list[tuple[str, float]]) -> None:
    limiter = RateLimiter(rate=1.0, burst=2)
    calls.sort(key=lambda c: c[1])
    allowed: dict[str, int] = {}
    for key, now in calls:
        if limiter.allow(key, now):
            allowed[key] = allowed.get(key, 0) + 1
    for key, count in allowed.items():
        span = max(now for k, now in calls if k == key) - min(now for k, now in calls if k == key)
        assert count <= 2 + span * 1.0 + 1e-9
