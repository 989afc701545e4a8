"""Reading and changing a site's retention (the three ``*_retention_days`` columns)."""

from __future__ import annotations

from typing import Any

from pydantic import Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from callpool.catalog.spec import Spec
from callpool.db.engine import transaction
from callpool.db.tables import Site
from callpool.errors import NotFound
from callpool.retention.policy import KINDS, MAX_DAYS

COLUMNS = {kind: f"{kind}_retention_days" for kind in KINDS}


class RetentionSpec(Spec):
    """A change to a site's retention: days per kind, null for forever; absent: unchanged."""

    raw_events_retention_days: int | None = Field(default=None, ge=1, le=MAX_DAYS)
    page_views_retention_days: int | None = Field(default=None, ge=1, le=MAX_DAYS)
    sessions_retention_days: int | None = Field(default=None, ge=1, le=MAX_DAYS)


def retention_dict(site: Site) -> dict[str, Any]:
    return {"site": site.name, **{col: getattr(site, col) for col in COLUMNS.values()}}


async def list_retention(engine: AsyncEngine) -> list[dict[str, Any]]:
    async with transaction(engine) as session:
        sites = (await session.scalars(select(Site).order_by(Site.name))).all()
    return [retention_dict(site) for site in sites]


async def set_retention(engine: AsyncEngine, site_name: str, spec: RetentionSpec) -> dict[str, Any]:
    """Apply the fields ``spec`` was given; the site's retention after the change."""
    async with transaction(engine) as session:
        site = await session.scalar(select(Site).where(Site.name == site_name))
        if site is None:
            raise NotFound(f"no site named {site_name!r}")
        for column in spec.model_fields_set:
            setattr(site, column, getattr(spec, column))
        return retention_dict(site)
