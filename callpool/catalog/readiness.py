"""What a site still lacks before its visits get tracking numbers, and how to fix each. Pure.

``callpool site check NAME`` loads a site's facts (``store.site_facts``) and prints these
findings. A site tracks calls once its origins let the snippet's visits in, it has own
numbers for the snippet to replace, and a campaign has channels to tell sources apart
and numbers to hand out: in its pool (the site's first campaign takes every visit no
channel claims, so it always needs a pool) or on its static channels.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Literal

Level = Literal["ok", "missing", "note", "embed"]


@dataclass(frozen=True)
class ChannelFacts:
    name: str
    kind: str  # "pool" or "static"
    numbers: int  # a static channel's active numbers


@dataclass(frozen=True)
class CampaignFacts:
    name: str
    fallback_number: str | None
    pool_numbers: int  # active, not retiring, no channel
    channels: tuple[ChannelFacts, ...]


@dataclass(frozen=True)
class SiteFacts:
    name: str
    key: str
    allowed_origins: tuple[str, ...]
    own_numbers: tuple[str, ...]
    campaigns: tuple[CampaignFacts, ...]  # in the order visits see them (the first takes the rest)
    # Own numbers that are tracking numbers too, E.164 -> whose (only older data has these).
    own_numbers_tracking: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Finding:
    level: Level
    text: str
    fix: str | None = None


def check_site(site: SiteFacts, embed: str, public_url_set: bool) -> list[Finding]:
    """Every finding about ``site``, in the order a newcomer sets things up."""
    name = shlex.quote(site.name)
    findings = [*_origins(site, name), *_own_numbers(site, name)]
    if not site.campaigns:
        findings.append(
            Finding(
                "missing",
                "no campaign: every visitor sees the site's own numbers",
                f"callpool campaign add {name} CAMPAIGN --fallback-number NUMBER",
            )
        )
    for index, campaign in enumerate(site.campaigns):
        findings += _campaign(campaign, name, takes_the_rest=index == 0)
    if not public_url_set:
        findings.append(
            Finding(
                "note",
                "CALLPOOL_PUBLIC_URL is not set: the embed line uses the address callpool "
                "listens on, which browsers elsewhere may not reach",
                "set CALLPOOL_PUBLIC_URL to the https address browsers reach callpool at",
            )
        )
    findings.append(Finding("embed", embed))
    return findings


def _origins(site: SiteFacts, name: str) -> list[Finding]:
    if site.allowed_origins:
        return [Finding("ok", f"allowed origins: {', '.join(site.allowed_origins)}")]
    return [
        Finding(
            "missing",
            "no allowed origin: the server refuses every visit from the site's pages (403)",
            f"callpool site update {name} --add-origin https://www.example.com",
        )
    ]


def _own_numbers(site: SiteFacts, name: str) -> list[Finding]:
    if not site.own_numbers:
        return [
            Finding(
                "missing",
                "no own numbers: the snippet finds nothing on the pages to replace",
                f'callpool site update {name} --add-number "NUMBER AS ON THE PAGE"',
            )
        ]
    findings = [Finding("ok", f"own numbers: {', '.join(site.own_numbers)}")]
    findings += [
        Finding(
            "missing",
            f"own number {number} is also {whose}: calls to it are credited to visitors",
            f"callpool numbers retire {number}",
        )
        for number, whose in site.own_numbers_tracking
    ]
    return findings


def _campaign(campaign: CampaignFacts, site: str, takes_the_rest: bool) -> list[Finding]:
    label = f"campaign {campaign.name!r}"
    name = shlex.quote(campaign.name)
    findings: list[Finding] = []
    if campaign.channels:
        listed = ", ".join(f"{c.name!r} ({c.kind})" for c in campaign.channels)
        findings.append(Finding("ok", f"{label}: channels {listed}"))
    else:
        findings.append(
            Finding(
                "missing",
                f"{label}: no channel, so calls are not told apart by traffic source",
                f"callpool channel add {site} {name} CHANNEL --utm-source google "
                "(or --kind static for a number printed on an ad)",
            )
        )
    needs_pool = takes_the_rest or any(c.kind == "pool" for c in campaign.channels)
    if campaign.pool_numbers:
        findings.append(Finding("ok", f"{label}: {campaign.pool_numbers} numbers in its pool"))
    elif needs_pool:
        shown = campaign.fallback_number or "the site's own numbers"
        findings.append(
            Finding(
                "missing",
                f"{label}: no numbers in its pool, so visitors are shown {shown}",
                f"callpool numbers add {site} {name} NUMBER...",
            )
        )
    findings += [
        Finding(
            "missing",
            f"{label}: static channel {channel.name!r} has no number",
            f"callpool numbers add {site} {name} NUMBER --channel {shlex.quote(channel.name)}",
        )
        for channel in campaign.channels
        if channel.kind == "static" and not channel.numbers
    ]
    return findings
