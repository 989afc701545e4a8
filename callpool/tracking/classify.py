"""Channel classification: where a visit came from, from its landing URL and referrer.

``classify_visit`` reads the UTM tags and ad click ids of the landing URL and the
referrer's host, tries the campaign's channel rules, and always also gives a built-in
``fallback`` category, so a visit no rule claims still lands somewhere in reports.

Rules are tried in ascending ``priority`` (1 before 10; ties by channel id, so the
outcome never depends on row order); the first whose given fields all match wins.
Fields left ``None`` or blank are not checked: a rule with none matches every visit (a
catch-all; give it the largest number). Text compares case-insensitively;
``referrer_host`` matches the host or a subdomain (``google.com`` matches
``www.google.com``, not ``notgoogle.com``); ``click_id_param`` matches when the landing
URL carries that parameter with a value.

Fallback, first match wins (the tables are the constants below):

    a click id (gclid, yclid, fbclid...)              paid
    utm_medium in MEDIUM_FALLBACK (cpc, email, smm...)  its entry there
    utm_source in SOCIAL_SOURCES (vk, fb, tg...)        social
    an Android app referrer in APP_FALLBACK             its entry; other apps referral
    referrer in WEBMAIL_HOSTS / SEARCH_* / SOCIAL_HOSTS   email / organic / social
    any other referrer                                  referral
    UTM tags but none of the above                      other
    nothing                                             direct

A referrer from the site itself (its hosts or subdomains) counts as no referrer: that
is a page view inside a visit, and ``is_same_site`` lets the API keep the session's
channel. Input is hostile: nothing here raises on bad URLs, and every field is cleaned
of control characters and cut to ``MAX_FIELD_LENGTH``.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal
from urllib.parse import SplitResult, parse_qsl, urlsplit

__all__ = [
    "CLICK_ID_PARAMS",
    "ChannelRule",
    "Fallback",
    "VisitSource",
    "classify_visit",
    "is_same_site",
]

Fallback = Literal["paid", "organic", "social", "email", "referral", "other", "direct"]

MAX_FIELD_LENGTH = 255
# URLs are cut before parsing: tags past 8 KB are lost, a 1 MB query costs nothing.
MAX_URL_LENGTH = 8192

CLICK_ID_PARAMS = ("gclid", "gbraid", "wbraid", "yclid", "fbclid", "msclkid", "ttclid")
UTM_PARAMS = ("utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term")

# The tables are packed by hand: one entry per line would triple this module.
# fmt: off
MEDIUM_FALLBACK: dict[str, Fallback] = {
    **dict.fromkeys(["cpc", "ppc", "paid", "paidsearch", "paid_search", "paid-search", "cpm",
                     "cpa", "cpv", "display", "banner", "retargeting", "paid_social",
                     "paidsocial"], "paid"),
    **dict.fromkeys(["email", "e-mail", "e_mail", "newsletter"], "email"),
    **dict.fromkeys(["social", "smm", "social-network", "social_network", "sm"], "social"),
    **dict.fromkeys(["organic", "seo"], "organic"),
    **dict.fromkeys(["referral", "referal"], "referral"),
    **dict.fromkeys(["(none)", "none", "direct"], "direct"),
}
SOCIAL_SOURCES = frozenset({
    "facebook", "fb", "instagram", "ig", "vk", "vkontakte", "ok", "odnoklassniki", "telegram",
    "tg", "twitter", "x", "linkedin", "tiktok", "youtube", "pinterest", "reddit", "whatsapp",
    "dzen", "threads",
})
# Brands searched on any country domain, bare or www: google.de, www.google.co.uk,
# yandex.kz, yandex.com.tr. Other subdomains (maps.google.com) are plain referrals.
SEARCH_BRANDS = frozenset({"google", "yandex"})
# Host suffixes: the host itself or any subdomain of it.
SEARCH_HOSTS = frozenset({
    "bing.com", "duckduckgo.com", "baidu.com", "search.yahoo.com", "search.yahoo.co.jp",
    "ecosia.org", "search.naver.com", "seznam.cz", "go.mail.ru", "startpage.com",
    "search.brave.com", "ya.ru", "nova.rambler.ru", "qwant.com", "search.aol.com", "ask.com",
    "sogou.com", "so.com", "yep.com", "kagi.com", "mojeek.com", "swisscows.com",
    "petalsearch.com",
})
SOCIAL_HOSTS = frozenset({
    "facebook.com", "fb.com", "fb.me", "messenger.com", "instagram.com", "vk.com", "vk.ru",
    "vkontakte.ru", "ok.ru", "odnoklassniki.ru", "twitter.com", "x.com", "t.co",
    "linkedin.com", "lnkd.in", "tiktok.com", "youtube.com", "youtu.be", "telegram.org",
    "telegram.me", "t.me", "pinterest.com", "pin.it", "reddit.com", "whatsapp.com", "wa.me",
    "threads.net", "snapchat.com", "tumblr.com", "quora.com", "dzen.ru", "zen.yandex.ru",
    "pikabu.ru", "discord.com", "bsky.app", "weibo.com", "line.me",
})
# Checked before search: mail.google.com and e.mail.ru are not searches.
WEBMAIL_HOSTS = frozenset({
    "mail.google.com", "mail.yandex.ru", "mail.yandex.com", "e.mail.ru", "outlook.live.com",
    "outlook.office.com", "outlook.office365.com", "mail.yahoo.com", "email.seznam.cz",
    "mail.proton.me", "mail.rambler.ru",
})
# Android apps send ``android-app://<package>/`` as the referrer; other apps: referral.
APP_FALLBACK: dict[str, Fallback] = {
    "com.google.android.googlequicksearchbox": "organic",
    "ru.yandex.searchplugin": "organic",
    "com.google.android.gm": "email",
    **dict.fromkeys(["com.facebook.katana", "com.instagram.android", "org.telegram.messenger",
                     "com.vkontakte.android", "com.twitter.android", "com.linkedin.android",
                     "com.zhiliaoapp.musically", "com.google.android.youtube", "com.whatsapp",
                     "com.pinterest", "com.reddit.frontpage"], "social"),
}
# fmt: on

_VALID_HOST = re.compile(r"[\w.:-]{1,253}")
_TLD = re.compile(r"[a-z]{2,3}(\.[a-z]{2,3})?")


@dataclass(frozen=True, slots=True)
class ChannelRule:
    """One of a campaign's rules mapping visits to a channel (see the module docstring)."""

    channel_id: int
    priority: int
    utm_source: str | None = None
    utm_medium: str | None = None
    utm_campaign: str | None = None
    referrer_host: str | None = None
    click_id_param: str | None = None


@dataclass(frozen=True, slots=True)
class VisitSource:
    """Where a visit came from: its tags, click ids, referrer and channel."""

    fallback: Fallback
    channel_id: int | None = None
    utm_source: str | None = None
    utm_medium: str | None = None
    utm_campaign: str | None = None
    utm_content: str | None = None
    utm_term: str | None = None
    # (param, value) in ``CLICK_ID_PARAMS`` order: a tuple keeps the value hashable.
    click_ids: tuple[tuple[str, str], ...] = ()
    # None for no referrer and for a same-site one.
    referrer_host: str | None = None

    def click_id(self, param: str) -> str | None:
        return dict(self.click_ids).get(param)


def classify_visit(
    landing_url: str | None,
    referrer: str | None,
    site_hosts: Iterable[str],
    rules: Sequence[ChannelRule],
) -> VisitSource:
    """Classify one visit; never raises on bad input."""
    params = _query_params(landing_url)
    utm = {name: params.get(name) for name in UTM_PARAMS}
    click_ids = tuple((name, params[name]) for name in CLICK_ID_PARAMS if name in params)
    ref_host, app_fallback = _referrer(referrer)
    if ref_host is not None and _is_site_host(ref_host, site_hosts):
        ref_host = None
    ordered = sorted(rules, key=lambda r: (r.priority, r.channel_id))
    rule = next((r for r in ordered if _rule_matches(r, params, ref_host)), None)
    return VisitSource(
        fallback=_fallback(click_ids, utm, ref_host, app_fallback),
        channel_id=None if rule is None else rule.channel_id,
        click_ids=click_ids,
        referrer_host=ref_host,
        **utm,
    )


def is_same_site(referrer: str | None, site_hosts: Iterable[str]) -> bool:
    """Whether ``referrer`` is a page of the site itself (any of its hosts or subdomains)."""
    host, _ = _referrer(referrer)
    return host is not None and _is_site_host(host, site_hosts)


def _fallback(
    click_ids: tuple[tuple[str, str], ...],
    utm: dict[str, str | None],
    ref_host: str | None,
    app_fallback: Fallback | None,
) -> Fallback:
    if click_ids:
        return "paid"
    medium = MEDIUM_FALLBACK.get((utm["utm_medium"] or "").casefold())
    if medium is not None:
        return medium
    if (utm["utm_source"] or "").casefold() in SOCIAL_SOURCES:
        return "social"
    if app_fallback is not None:
        return app_fallback
    if ref_host is not None:
        return _host_fallback(ref_host)
    return "other" if any(utm.values()) else "direct"


def _host_fallback(host: str) -> Fallback:
    brand, _, tld = host.removeprefix("www.").partition(".")
    if _in_suffixes(host, WEBMAIL_HOSTS):
        return "email"
    if (brand in SEARCH_BRANDS and _TLD.fullmatch(tld)) or _in_suffixes(host, SEARCH_HOSTS):
        return "organic"
    if _in_suffixes(host, SOCIAL_HOSTS):
        return "social"
    return "referral"


def _rule_matches(rule: ChannelRule, params: dict[str, str], ref_host: str | None) -> bool:
    for name, expected in (
        ("utm_source", rule.utm_source),
        ("utm_medium", rule.utm_medium),
        ("utm_campaign", rule.utm_campaign),
    ):
        wanted = (expected or "").strip().casefold()
        if wanted and params.get(name, "").casefold() != wanted:
            return False
    wanted_host = _host_of(rule.referrer_host or "")
    if wanted_host and not (ref_host and _is_subdomain(ref_host, wanted_host)):
        return False
    wanted_param = (rule.click_id_param or "").strip().lower()
    return not wanted_param or wanted_param in params


def _query_params(url: str | None) -> dict[str, str]:
    """The landing URL's query as {lower-cased name: first non-empty cleaned value}."""
    parts = _split(url)
    if parts is None or parts.scheme not in ("http", "https", ""):
        return {}
    params: dict[str, str] = {}
    for name, value in parse_qsl(parts.query, errors="replace"):
        cleaned = _clean(value)
        if cleaned is not None:
            params.setdefault(name.strip().lower()[:64], cleaned)
    return params


def _referrer(referrer: str | None) -> tuple[str | None, Fallback | None]:
    """The referrer's host (or Android package), and the fallback an app referrer implies."""
    parts = _split(referrer)
    if parts is None:
        return None, None
    host = _valid_host(parts.hostname)
    if parts.scheme == "android-app":
        return host, None if host is None else APP_FALLBACK.get(host, "referral")
    if parts.scheme not in ("http", "https"):
        return None, None  # javascript:, data:, about:blank, or no scheme at all
    return host, None


def _split(url: str | None) -> SplitResult | None:
    text = (url or "").strip()[:MAX_URL_LENGTH]
    if not text:
        return None
    try:
        parts = urlsplit(text)
        _ = parts.hostname  # raises ValueError on a malformed IPv6 literal
    except ValueError:
        return None
    return parts


def _host_of(text: str) -> str | None:
    """A host from a bare host, a host:port or a URL (for settings and rules)."""
    parts = _split(text if "//" in text else "//" + text.strip())
    return None if parts is None else _valid_host(parts.hostname)


def _valid_host(host: str | None) -> str | None:
    host = (host or "").rstrip(".")
    # Browsers send IDN hosts as punycode; settings may spell them in Unicode. Punycode
    # for both (пример.рф -> xn--e1afmkfd.xn--p1ai); a host IDNA refuses stays as it is.
    with contextlib.suppress(UnicodeError):
        host = host.encode("idna").decode("ascii").lower()
    if not _VALID_HOST.fullmatch(host) or ".." in host:
        return None
    return host


def _is_site_host(host: str, site_hosts: Iterable[str]) -> bool:
    # www.example.com in the settings means the whole of example.com.
    bases = (_host_of(site) for site in site_hosts)
    return any(_is_subdomain(host, base.removeprefix("www.")) for base in bases if base)


def _is_subdomain(host: str, parent: str) -> bool:
    return host == parent or host.endswith("." + parent)


def _in_suffixes(host: str, suffixes: frozenset[str]) -> bool:
    labels = host.split(".")
    return any(".".join(labels[i:]) in suffixes for i in range(len(labels)))


def _clean(value: str) -> str | None:
    text = "".join(ch for ch in value[: MAX_FIELD_LENGTH * 4] if ch.isprintable()).strip()
    return text[:MAX_FIELD_LENGTH] or None
