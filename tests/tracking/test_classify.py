from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callpool.tracking.classify import (
    MAX_FIELD_LENGTH,
    ChannelRule,
    VisitSource,
    classify_visit,
    is_same_site,
)

pytestmark = pytest.mark.pure

SITE = ["example.com"]
LANDING = "https://example.com/"


def classify(
    landing: str | None = LANDING,
    referrer: str | None = None,
    rules: list[ChannelRule] | None = None,
) -> VisitSource:
    return classify_visit(landing, referrer, SITE, rules or [])


@pytest.mark.parametrize(
    ("referrer", "fallback"),
    [
        (None, "direct"),
        ("", "direct"),
        # Search engines, Google and Yandex on any country domain.
        ("https://www.google.com/", "organic"),
        ("https://google.com/search?q=x", "organic"),
        ("https://www.google.co.uk/", "organic"),
        ("https://www.google.de/", "organic"),
        ("https://www.google.com.tr/", "organic"),
        ("https://www.google.ru/", "organic"),
        ("https://yandex.ru/search/?text=x", "organic"),
        ("https://yandex.com/", "organic"),
        ("https://yandex.by/", "organic"),
        ("https://yandex.kz/", "organic"),
        ("https://yandex.com.tr/", "organic"),
        ("https://ya.ru/", "organic"),
        ("https://www.bing.com/", "organic"),
        ("https://cn.bing.com/", "organic"),
        ("https://duckduckgo.com/", "organic"),
        ("https://www.baidu.com/", "organic"),
        ("https://search.yahoo.com/", "organic"),
        ("https://uk.search.yahoo.com/", "organic"),
        ("https://www.ecosia.org/", "organic"),
        ("https://search.naver.com/", "organic"),
        ("https://search.seznam.cz/", "organic"),
        ("https://go.mail.ru/search", "organic"),
        ("https://www.startpage.com/", "organic"),
        ("https://search.brave.com/", "organic"),
        # Social networks.
        ("https://l.facebook.com/", "social"),
        ("https://m.facebook.com/", "social"),
        ("https://l.instagram.com/", "social"),
        ("https://vk.com/", "social"),
        ("https://away.vk.com/away.php", "social"),
        ("https://ok.ru/", "social"),
        ("https://t.co/abc", "social"),
        ("https://x.com/", "social"),
        ("https://twitter.com/", "social"),
        ("https://www.linkedin.com/", "social"),
        ("https://lnkd.in/abc", "social"),
        ("https://www.tiktok.com/", "social"),
        ("https://www.youtube.com/", "social"),
        ("https://t.me/channel", "social"),
        ("https://web.telegram.org/", "social"),
        ("https://www.pinterest.com/", "social"),
        ("https://www.reddit.com/", "social"),
        ("https://wa.me/123", "social"),
        ("https://dzen.ru/", "social"),
        # Webmail is email, even on a search engine's domain.
        ("https://mail.google.com/mail/u/0/", "email"),
        ("https://mail.yandex.ru/", "email"),
        ("https://e.mail.ru/inbox", "email"),
        # Look-alikes and other subdomains are plain referrals.
        ("https://maps.google.com/", "referral"),
        ("https://notgoogle.com/", "referral"),
        ("https://google.com.evil.example/", "referral"),
        ("https://box.com/", "referral"),
        ("https://partner.example.org/page", "referral"),
        ("http://203.0.113.7:8080/", "referral"),
        # Android apps.
        ("android-app://com.google.android.googlequicksearchbox/", "organic"),
        ("android-app://org.telegram.messenger/", "social"),
        ("android-app://com.google.android.gm/", "email"),
        ("android-app://com.example.reader/", "referral"),
        # Not a web referrer at all.
        ("javascript:alert(1)", "direct"),
        ("about:blank", "direct"),
        ("data:text/html,hi", "direct"),
        ("www.google.com/search", "direct"),  # no scheme: browsers never send that
    ],
)
def test_fallback_from_referrer(referrer: str | None, fallback: str) -> None:
    assert classify(referrer=referrer).fallback == fallback


@pytest.mark.parametrize(
    ("query", "referrer", "fallback"),
    [
        ("gclid=abc", None, "paid"),
        ("yclid=123", "https://yandex.ru/", "paid"),  # a click id beats the organic referrer
        ("fbclid=x", "https://l.facebook.com/", "paid"),
        ("utm_medium=organic&gclid=abc", None, "paid"),
        ("utm_source=yandex&utm_medium=cpc", None, "paid"),
        ("utm_medium=CPC", None, "paid"),
        ("utm_medium=paidsearch", None, "paid"),
        ("utm_medium=cpm", None, "paid"),
        ("utm_medium=display", None, "paid"),
        ("utm_medium=email", None, "email"),
        ("utm_medium=newsletter", "https://mail.google.com/", "email"),
        ("utm_medium=social", None, "social"),
        ("utm_medium=smm", None, "social"),
        ("utm_medium=organic", None, "organic"),
        ("utm_medium=referral", None, "referral"),
        ("utm_source=vk", None, "social"),
        ("utm_source=Telegram&utm_campaign=spring", None, "social"),
        ("utm_medium=print&utm_source=flyer", None, "other"),
        ("utm_campaign=spring", None, "other"),
        ("utm_medium=print", "https://partner.example.org/", "referral"),
        ("gclid=", None, "direct"),  # an empty click id is no click id
        ("q=shoes", None, "direct"),
    ],
)
def test_fallback_from_tags(query: str, referrer: str | None, fallback: str) -> None:
    assert classify(f"{LANDING}?{query}", referrer).fallback == fallback


def test_tags_and_click_ids_are_read() -> None:
    source = classify(
        "https://example.com/p?utm_source=Yandex&utm_medium=cpc&utm_campaign=spring"
        "&utm_content=ad1&utm_term=buy%20shoes&yclid=42&gclid=G&utm_source=second",
        "https://yandex.ru/",
    )
    assert (source.utm_source, source.utm_medium, source.utm_campaign) == (
        "Yandex",
        "cpc",
        "spring",
    )
    assert (source.utm_content, source.utm_term) == ("ad1", "buy shoes")
    assert source.click_ids == (("gclid", "G"), ("yclid", "42"))
    assert source.click_id("yclid") == "42"
    assert source.click_id("fbclid") is None
    assert source.referrer_host == "yandex.ru"


def test_param_names_are_case_insensitive() -> None:
    source = classify(f"{LANDING}?UTM_Source=vk&GCLID=abc")
    assert source.utm_source == "vk"
    assert source.click_id("gclid") == "abc"


@pytest.mark.parametrize(
    "referrer",
    [
        "https://example.com/page",
        "https://www.example.com/",
        "https://shop.example.com/",
        "http://EXAMPLE.com./",
    ],
)
def test_same_site_referrer_counts_as_none(referrer: str) -> None:
    source = classify(referrer=referrer)
    assert source.referrer_host is None
    assert source.fallback == "direct"
    assert is_same_site(referrer, SITE)


@pytest.mark.parametrize(
    ("referrer", "site_hosts", "same"),
    [
        ("https://example.com/", ["www.example.com"], True),  # www in settings means the domain
        ("https://example.com/", ["https://Example.com:8443/"], True),
        ("https://a.b.example.com/", ["example.com"], True),
        ("https://notexample.com/", ["example.com"], False),
        ("https://example.com.evil.io/", ["example.com"], False),
        ("https://other.org/", ["example.com", "other.org"], True),
        ("https://xn--e1afmkfd.xn--p1ai/", ["пример.рф"], True),  # IDN: punycode either side
        ("https://example.com/", [], False),
        ("https://example.com/", ["", "::::", "http://[::1"], False),
        (None, ["example.com"], False),
        ("javascript:alert(1)", ["example.com"], False),
    ],
)
def test_is_same_site(referrer: str | None, site_hosts: list[str], same: bool) -> None:
    assert is_same_site(referrer, site_hosts) is same


RULES = [
    ChannelRule(channel_id=10, priority=1, utm_source="yandex", utm_medium="cpc"),
    ChannelRule(channel_id=11, priority=2, click_id_param="yclid"),
    ChannelRule(channel_id=12, priority=3, referrer_host="yandex.ru"),
    ChannelRule(channel_id=13, priority=4, utm_campaign="Spring"),
    ChannelRule(channel_id=99, priority=1000),  # catch-all
]


@pytest.mark.parametrize(
    ("query", "referrer", "channel"),
    [
        ("utm_source=Yandex&utm_medium=CPC&yclid=1", None, 10),  # lowest priority number wins
        ("utm_source=yandex&yclid=1", None, 11),  # medium missing: rule 10 does not match
        ("yclid=1", "https://yandex.ru/", 11),
        ("", "https://yandex.ru/search", 12),
        ("", "https://www.yandex.ru/", 12),  # subdomain of the rule's host
        ("", "https://notyandex.ru/", 99),
        ("utm_campaign=spring", None, 13),
        ("", None, 99),
    ],
)
def test_first_matching_rule_by_priority(query: str, referrer: str | None, channel: int) -> None:
    assert classify(f"{LANDING}?{query}", referrer, RULES).channel_id == channel


def test_no_rule_matches_gives_no_channel() -> None:
    rules = [ChannelRule(channel_id=1, priority=1, utm_source="google")]
    assert classify(f"{LANDING}?utm_source=bing", None, rules).channel_id is None


def test_rule_order_in_the_list_does_not_matter() -> None:
    rules = [ChannelRule(channel_id=2, priority=5), ChannelRule(channel_id=1, priority=1)]
    assert classify(rules=rules).channel_id == 1
    assert classify(rules=rules[::-1]).channel_id == 1


def test_equal_priorities_tie_break_by_channel_id() -> None:
    rules = [ChannelRule(channel_id=7, priority=1), ChannelRule(channel_id=3, priority=1)]
    assert classify(rules=rules).channel_id == 3


def test_blank_rule_fields_are_not_checked() -> None:
    rules = [
        ChannelRule(channel_id=5, priority=1, utm_source="  ", referrer_host="", click_id_param="")
    ]
    assert classify(rules=rules).channel_id == 5


def test_rule_referrer_host_may_be_written_as_a_url() -> None:
    rules = [ChannelRule(channel_id=5, priority=1, referrer_host="https://Facebook.com/")]
    assert classify(referrer="https://l.facebook.com/", rules=rules).channel_id == 5


def test_same_site_referrer_does_not_match_a_referrer_rule() -> None:
    rules = [ChannelRule(channel_id=5, priority=1, referrer_host="example.com")]
    assert classify(referrer="https://example.com/", rules=rules).channel_id is None


@pytest.mark.parametrize(
    ("landing", "referrer"),
    [
        ("javascript:alert(1)?utm_source=evil", "javascript:void(0)"),
        ("http://[::1", "http://[::1"),
        ("%%%?utm_source=%ZZ", "%%%"),
        ("\x00\x01\x02", "\x00"),
        ("http://", "http://"),
        ("https://example.com/?" + "a=b&" * 100_000, "https://" + "a" * 100_000 + ".com/"),
        ("https://example.com/?utm_source=%ff%fe", "https://ex ample.com/"),
        (None, None),
    ],
)
def test_hostile_input_never_raises(landing: str | None, referrer: str | None) -> None:
    source = classify(landing, referrer)
    assert source.fallback in {"direct", "other", "referral"}


def test_javascript_landing_url_yields_no_tags() -> None:
    assert classify("javascript:alert(1)?utm_source=evil").utm_source is None


def test_non_ascii_tags_survive() -> None:
    source = classify(f"{LANDING}?utm_campaign=%D0%92%D0%B5%D1%81%D0%BD%D0%B0&utm_term=обувь")
    assert source.utm_campaign == "Весна"
    assert source.utm_term == "обувь"


def test_control_characters_are_dropped_from_tags() -> None:
    assert classify(f"{LANDING}?utm_source=a%0D%0Ab%00c%1B").utm_source == "abc"


def test_long_values_are_truncated() -> None:
    source = classify(f"{LANDING}?utm_campaign={'x' * 1000}&gclid={'g' * 1000}")
    assert source.utm_campaign == "x" * MAX_FIELD_LENGTH
    assert source.click_id("gclid") == "g" * MAX_FIELD_LENGTH


def test_overlong_referrer_host_is_dropped() -> None:
    source = classify(referrer="https://" + "a" * 300 + ".com/")
    assert source.referrer_host is None


@given(st.text(max_size=300), st.text(max_size=300), st.lists(st.text(max_size=30), max_size=3))
def test_any_text_classifies_without_raising(landing: str, referrer: str, hosts: list[str]) -> None:
    rules = [ChannelRule(channel_id=1, priority=1, referrer_host=hosts[0] if hosts else None)]
    source = classify_visit(landing, referrer, hosts, rules)
    fields = [source.utm_source, source.utm_medium, source.utm_campaign, source.referrer_host]
    assert all(f is None or len(f) <= MAX_FIELD_LENGTH for f in fields)


@given(st.from_regex(r"https?://[a-zA-Z0-9.\-]{1,40}(:[0-9]{1,5})?/[ -~]{0,40}", fullmatch=True))
def test_url_shaped_referrers_classify_without_raising(referrer: str) -> None:
    classify(referrer=referrer)


def test_tags_past_the_url_limit_are_ignored() -> None:
    source = classify(f"{LANDING}?pad={'p' * 10_000}&utm_source=late")
    assert source.utm_source is None
