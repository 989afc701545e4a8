"""What a visit is shown: the site's own number, a static channel's, or one from a pool.

Pure: a site's configuration and a classified visit in, a ``VisitPlan`` out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal
from urllib.parse import urlsplit

from callpool.tracking.classify import ChannelRule, VisitSource
from callpool.tracking.guard import Network

PlanKind = Literal["own", "static", "pool"]
# Why a visit got no lease: each is counted per hour for the pool status.
Refusal = Literal["bot", "blocked_ip", "consent_declined", "rate_limited"]


@dataclass(frozen=True, slots=True)
class CampaignConfig:
    id: int
    hold: timedelta
    cooldown: timedelta
    fallback_number: str | None
    # The site's own numbers this campaign replaces; empty: all of them.
    swap_numbers: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SiteConfig:
    """Everything the visit API needs about a site, loaded once and cached."""

    id: int
    key: str
    allowed_origins: frozenset[str]
    own_numbers: tuple[str, ...]
    blocked_networks: tuple[Network, ...]
    consent_required: bool
    consent_cookie: str | None
    campaigns: tuple[CampaignConfig, ...]
    rules: tuple[ChannelRule, ...]
    channel_campaign: dict[int, int] = field(default_factory=dict)
    static_numbers: dict[int, str] = field(default_factory=dict)
    # Named in the answer to a page whose origin is not allowed.
    name: str = ""
    # The allowed origins' host names, worked out once: every visit classifies with them.
    hosts: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        hosts = tuple(urlsplit(origin).hostname or "" for origin in sorted(self.allowed_origins))
        object.__setattr__(self, "hosts", hosts)

    def campaign(self, campaign_id: int) -> CampaignConfig:
        return next(c for c in self.campaigns if c.id == campaign_id)


@dataclass(frozen=True, slots=True)
class VisitPlan:
    kind: PlanKind
    campaign_id: int | None = None
    channel_id: int | None = None
    # The number to show for kind "static".
    number: str | None = None
    refusal: Refusal | None = None


def plan_visit(
    site: SiteConfig,
    source: VisitSource,
    *,
    is_bot: bool,
    is_blocked: bool,
    consent_declined: bool,
) -> VisitPlan:
    """Decide what the visit gets; no lease is planned for bots, blocked IPs or no consent."""
    if is_bot or is_blocked:
        return VisitPlan(kind="own", refusal="bot" if is_bot else "blocked_ip")
    channel_id = source.channel_id
    campaign_id = site.channel_campaign.get(channel_id) if channel_id is not None else None
    if campaign_id is None and site.campaigns:
        # Visits no rule claims go to the site's first campaign, channel by fallback only.
        campaign_id = site.campaigns[0].id
    static = site.static_numbers.get(channel_id) if channel_id is not None else None
    if consent_declined:
        if static is not None:
            return VisitPlan("static", campaign_id, channel_id, static, "consent_declined")
        return VisitPlan(kind="own", campaign_id=campaign_id, refusal="consent_declined")
    if static is not None:
        return VisitPlan(
            kind="static", campaign_id=campaign_id, channel_id=channel_id, number=static
        )
    if campaign_id is None:
        return VisitPlan(kind="own")
    return VisitPlan(kind="pool", campaign_id=campaign_id, channel_id=channel_id)


def numbers_to_show(
    site: SiteConfig, campaign: CampaignConfig | None, number: str | None
) -> list[tuple[str, str]]:
    """Each of the site's own numbers and what to show for it: ``number`` for the numbers
    the campaign swaps, the number itself for the rest (and for all without a ``number``)."""
    swapped = campaign.swap_numbers if campaign is not None and campaign.swap_numbers else None
    return [
        (own, number if number and (swapped is None or own in swapped) else own)
        for own in site.own_numbers
    ]


def is_new_source(source: VisitSource) -> bool:
    """Whether a page load says the visitor arrived anew (tags, click ids, outside referrer)."""
    return bool(
        source.utm_source or source.utm_medium or source.utm_campaign or source.click_ids
    ) or (source.referrer_host is not None)
