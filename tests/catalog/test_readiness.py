"""What a site still lacks, from its facts alone."""

from __future__ import annotations

import pytest

from callpool.catalog.readiness import CampaignFacts, ChannelFacts, Finding, SiteFacts, check_site

pytestmark = pytest.mark.pure

EMBED = '<script async src="https://track.example/s/k.js"></script>'
GOOGLE = ChannelFacts("google", "pool", 0)
BILLBOARD = ChannelFacts("billboard", "static", 1)


def _site(*campaigns: CampaignFacts, **fields: object) -> SiteFacts:
    values: dict[str, object] = {
        "name": "shop",
        "key": "k",
        "allowed_origins": ("https://shop.example",),
        "own_numbers": ("+74951234567",),
        "campaigns": campaigns,
    } | fields
    return SiteFacts(**values)  # type: ignore[arg-type]


def _missing(findings: list[Finding]) -> list[str]:
    return [f.text for f in findings if f.level == "missing"]


def test_a_complete_site_lacks_nothing_and_shows_its_embed_line() -> None:
    site = _site(CampaignFacts("autumn", None, 3, (GOOGLE, BILLBOARD)))
    findings = check_site(site, EMBED, public_url_set=True)
    assert _missing(findings) == []
    assert findings[-1] == Finding("embed", EMBED)
    assert [f.level for f in findings] == ["ok", "ok", "ok", "ok", "embed"]


def test_a_new_site_lacks_origins_numbers_and_a_campaign() -> None:
    findings = check_site(_site(allowed_origins=(), own_numbers=()), EMBED, public_url_set=False)
    assert _missing(findings) == [
        "no allowed origin: the server refuses every visit from the site's pages (403)",
        "no own numbers: the snippet finds nothing on the pages to replace",
        "no campaign: every visitor sees the site's own numbers",
    ]
    fixes = [f.fix for f in findings if f.level == "missing"]
    assert fixes[0] == "callpool site update shop --add-origin https://www.example.com"
    assert any(f.level == "note" and "CALLPOOL_PUBLIC_URL" in f.text for f in findings)


def test_empty_pools_channels_and_static_numbers_are_named_per_campaign() -> None:
    first = CampaignFacts("autumn", "+74957654321", 0, ())
    static_only = CampaignFacts("print", None, 0, (ChannelFacts("radio", "static", 0),))
    assert _missing(check_site(_site(first, static_only), EMBED, public_url_set=True)) == [
        "campaign 'autumn': no channel, so calls are not told apart by traffic source",
        # The first campaign takes every visit no channel claims: it needs a pool.
        "campaign 'autumn': no numbers in its pool, so visitors are shown +74957654321",
        # A campaign with static channels only needs no pool, only their numbers.
        "campaign 'print': static channel 'radio' has no number",
    ]


def test_an_own_number_that_is_also_a_tracking_number_is_missing_with_its_fix() -> None:
    site = _site(
        CampaignFacts("autumn", None, 1, (GOOGLE,)),
        own_numbers_tracking=(("+74951234567", "a tracking number of campaign 'autumn'"),),
    )
    [finding] = [f for f in check_site(site, EMBED, public_url_set=True) if f.level == "missing"]
    assert finding.text.startswith("own number +74951234567 is also a tracking number")
    assert finding.fix == "callpool numbers retire +74951234567"


def test_fixes_quote_names_for_the_shell() -> None:
    site = _site(CampaignFacts("Black Friday", None, 0, (ChannelFacts("tv ad", "static", 0),)))
    fixes = [f.fix for f in check_site(site, EMBED, public_url_set=True) if f.fix]
    assert "callpool numbers add shop 'Black Friday' NUMBER --channel 'tv ad'" in fixes
