"""What a page shows: the campaign and the period, parsed once from the query string.

Every page of the dashboard reads ``?c=<campaign id>&period=<name>`` (``period=custom``
with ``from`` and ``to``) into one frozen ``Selection``; links between pages carry the
same parameters, so switching pages keeps the choice. The report pages turn it into the
metrics engine's ``ReportQuery``; nothing else parses these parameters.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from callpool.accounts.access import Access
from callpool.db.engine import connection
from callpool.db.tables import Campaign, Site
from callpool.errors import ValidationError
from callpool.metrics.report_query import NAMED_PERIODS
from callpool.metrics.report_query import resolve_named as resolve_period

PERIODS = ("today", "yesterday", "last_7_days", "last_30_days", "this_month", "last_month")
DEFAULT_PERIOD = "last_7_days"
MAX_DAYS = 366


@dataclass(frozen=True, slots=True)
class CampaignChoice:
    id: int
    site_id: int
    site: str
    name: str
    timezone: str
    mask_callers: bool = False

    @property
    def label(self) -> str:
        return f"{self.site} · {self.name}"

    def today(self, now: datetime) -> date:
        return now.astimezone(ZoneInfo(self.timezone)).date()


@dataclass(frozen=True, slots=True)
class Selection:
    campaign: CampaignChoice | None
    period: str  # one of PERIODS, or "custom"
    start: date | None = None  # custom only
    end: date | None = None

    @property
    def period_arg(self) -> str:
        """The period as the metrics engine parses it (a name, or ``D..D``)."""
        if self.period == "custom":
            return f"{self.start}..{self.end}"
        return self.period

    def resolve(self, today: date) -> tuple[date, date]:
        """The period's first and last local day, for the campaign's ``today``."""
        if self.period == "custom":
            assert self.start is not None and self.end is not None
            return self.start, self.end
        return resolve_named(self.period, today)

    def params(self, **extra: str | int | None) -> dict[str, str]:
        out: dict[str, str] = {}
        if self.campaign is not None:
            out["c"] = str(self.campaign.id)
        out["period"] = self.period
        if self.period == "custom":
            out["from"], out["to"] = str(self.start), str(self.end)
        out.update({k: str(v) for k, v in extra.items() if v is not None and v != ""})
        return out

    def api_query(self, **extra: str | int | None) -> str:
        """The same selection as the report API reads it (site and campaign by name)."""
        out: dict[str, str] = {}
        if self.campaign is not None:
            out["site"], out["campaign"] = self.campaign.site, self.campaign.name
        if self.period == "custom":
            out["from"], out["to"] = str(self.start), str(self.end)
        else:
            out["period"] = self.period
        out.update({k: str(v) for k, v in extra.items() if v is not None and v != ""})
        return urlencode(out)

    def query(self, **extra: str | int | None) -> str:
        return urlencode(self.params(**extra))


def resolve_named(name: str, today: date) -> tuple[date, date]:
    """The metrics engine's named periods, refusing a name it does not know."""
    if name not in NAMED_PERIODS:
        raise ValidationError(f"period: unknown period {name[:20]!r}")
    return resolve_period(name, today)  # type: ignore[arg-type]


async def visible_campaigns(engine: AsyncEngine, access: Access) -> list[CampaignChoice]:
    query = (
        select(Campaign.id, Site.id, Site.name, Campaign.name, Campaign.timezone, Site.mask_callers)
        .join(Site, Site.id == Campaign.site_id)
        .order_by(Site.name, Campaign.name)
    )
    async with connection(engine) as conn:
        rows = (await conn.execute(query)).all()
    return [CampaignChoice(*row) for row in rows if access.can_see_site(row[1])]


def parse_selection(query: Mapping[str, str], campaigns: Sequence[CampaignChoice]) -> Selection:
    """The selection a query string asks for; the first campaign when none (or an unknown
    or hidden one) is named, so a shared link never shows another customer's campaign."""
    campaign = campaigns[0] if campaigns else None
    raw = query.get("c", "")
    if raw.isdigit():
        campaign = next((c for c in campaigns if c.id == int(raw)), campaign)
    period = query.get("period") or DEFAULT_PERIOD
    if period == "custom":
        start = _date(query.get("from", ""), "from")
        end = _date(query.get("to", "") or query.get("from", ""), "to")
        if end < start:
            raise ValidationError(f"period: the end {end} is before the start {start}")
        if (end - start).days >= MAX_DAYS:
            raise ValidationError(f"period: at most {MAX_DAYS} days at once")
        return Selection(campaign, period, start, end)
    if period not in PERIODS:
        raise ValidationError(f"period: must be one of {', '.join(PERIODS)} or custom")
    return Selection(campaign, period)


def _date(value: str, what: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationError(f"{what}: must be a date like 2026-12-01") from None
