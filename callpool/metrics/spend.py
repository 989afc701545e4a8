"""Ad spend import: per channel and local day, from a CSV file or the API.

A file is ``date,campaign,channel,amount[,currency][,site]`` with a header row. An
import is all or nothing (one transaction; the first bad row names itself and nothing
is written), and importing a campaign's day again replaces that day: every channel's
spend of each (campaign, day) in the import is deleted first, so a channel left out of
the new file no longer has spend that day. ``site`` may be left out when the campaign's
name is unique among the sites the importer may edit.

The report reads ``ad_spend`` when it runs (``metrics.report_sql``), so an import shows
in the next report without a roll-up.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from pydantic import Field
from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from callpool.accounts.access import Access
from callpool.catalog.spec import NAME_PATTERN, Spec, parse_spec
from callpool.db.engine import connection
from callpool.db.tables import AdSpend, Campaign, Channel, Site
from callpool.errors import NotFound, ValidationError

REQUIRED = ("date", "campaign", "channel", "amount")
OPTIONAL = ("currency", "site")
MAX_ROWS = 100_000


class SpendRowBody(Spec):
    date: date
    site: str | None = Field(default=None, pattern=NAME_PATTERN)
    campaign: str = Field(pattern=NAME_PATTERN)
    channel: str = Field(pattern=NAME_PATTERN)
    amount: Decimal = Field(ge=0, max_digits=14, decimal_places=2)
    currency: str = Field(default="RUB", pattern=r"^[A-Z]{3}$")


@dataclass(frozen=True, slots=True)
class SpendImport:
    rows: int
    days: int  # (campaign, day) pairs written
    replaced: int  # earlier rows those days held


def parse_spend_csv(text: str) -> list[SpendRowBody]:
    """The rows of a spend file; ValidationError naming the first bad row."""
    reader = csv.DictReader(io.StringIO(text.removeprefix("\ufeff")))
    header = [h.strip().lower() for h in reader.fieldnames or []]
    missing = [name for name in REQUIRED if name not in header]
    if missing:
        raise ValidationError(
            f"spend file: the header must name {', '.join(REQUIRED)} "
            f"(and optionally {', '.join(OPTIONAL)}); missing {', '.join(missing)}"
        )
    unknown = [h for h in header if h not in REQUIRED + OPTIONAL]
    if unknown:
        raise ValidationError(f"spend file: unknown column {unknown[0][:40]!r}")
    reader.fieldnames = header
    rows: list[SpendRowBody] = []
    for line, raw in enumerate(reader, start=1):  # data rows, as the numbers import counts
        if len(rows) >= MAX_ROWS:
            raise ValidationError(f"spend file: at most {MAX_ROWS} rows at once")
        data = {k: (v or "").strip() for k, v in raw.items() if k is not None}
        data = {k: v for k, v in data.items() if v != "" or k in REQUIRED}
        rows.append(parse_spec(SpendRowBody, data, row=line))
    if not rows:
        raise ValidationError("spend file: no rows")
    return rows


async def import_spend(
    engine: AsyncEngine,
    access: Access,
    rows: Sequence[SpendRowBody],
    now: datetime,
    source: str,
) -> SpendImport:
    """Write the rows in one transaction, replacing the (campaign, day)s they cover."""
    async with connection(engine) as conn:
        found = await conn.execute(
            select(Site.id, Site.name, Campaign.id, Campaign.name, Channel.id, Channel.name)
            .join(Campaign, Campaign.site_id == Site.id)
            .join(Channel, Channel.campaign_id == Campaign.id)
        )
        channels: dict[tuple[str, str, str], tuple[int, int]] = {}
        sites_of: dict[str, set[str]] = {}
        for site_id, site, campaign_id, campaign, channel_id, channel in found:
            if not access.can_edit_site(site_id):
                continue
            channels[(site, campaign, channel)] = (campaign_id, channel_id)
            sites_of.setdefault(campaign, set()).add(site)
        values = []
        seen: set[tuple[int, object]] = set()
        days: set[tuple[int, object]] = set()
        for line, row in enumerate(rows, start=1):
            site = row.site or _only_site(sites_of.get(row.campaign, set()), row, line)
            key = channels.get((site, row.campaign, row.channel))
            if key is None:
                raise NotFound(
                    f"row {line}: no channel {row.channel!r} in campaign {row.campaign!r} "
                    f"of site {site!r} that you may edit"
                )
            campaign_id, channel_id = key
            if (channel_id, row.date) in seen:
                raise ValidationError(f"row {line}: {row.channel!r} on {row.date} twice")
            seen.add((channel_id, row.date))
            days.add((campaign_id, row.date))
            values.append(
                {
                    "campaign_id": campaign_id,
                    "channel_id": channel_id,
                    "day": row.date,
                    "amount": row.amount,
                    "currency": row.currency,
                    "source": source[:64],
                    "updated_at": now,
                }
            )
        replaced = 0
        for campaign_id, day in sorted(days, key=str):
            result = await conn.execute(
                delete(AdSpend).where(AdSpend.campaign_id == campaign_id, AdSpend.day == day)
            )
            replaced += result.rowcount or 0
        await conn.execute(insert(AdSpend), values)
    return SpendImport(len(values), len(days), replaced)


def _only_site(sites: set[str], row: SpendRowBody, line: int) -> str:
    if len(sites) == 1:
        return next(iter(sites))
    if not sites:
        raise NotFound(f"row {line}: no campaign {row.campaign!r} that you may edit")
    raise ValidationError(f"row {line}: campaign {row.campaign!r} is in several sites: add site")
