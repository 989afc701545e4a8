"""A small catalog for tracking tests: one site, one campaign, a pool and a static channel."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from callpool.catalog import store as catalog_store
from callpool.catalog.spec import CampaignSpec, ChannelSpec, NumberSpec, SiteSpec

ORIGIN = "https://shop.example"
OWN_NUMBER = "+74951234567"
FALLBACK = "+74957654321"


@dataclass(frozen=True)
class Catalog:
    key: str
    pool: tuple[str, ...]
    static_number: str


async def make_catalog(
    engine: AsyncEngine,
    pool_size: int = 3,
    hold: int = 900,
    cooldown: int = 60,
    swap_numbers: tuple[str, ...] = (),
    **site: object,
) -> Catalog:
    spec = SiteSpec.model_validate(
        {"name": "shop", "allowed_origins": [ORIGIN], "own_numbers": [OWN_NUMBER], **site}
    )
    created = await catalog_store.add_site(engine, spec, "RU")
    await catalog_store.add_campaign(
        engine,
        CampaignSpec(
            site="shop",
            name="main",
            hold_seconds=hold,
            cooldown_seconds=cooldown,
            fallback_number=FALLBACK,
            swap_numbers=swap_numbers,
        ),
        "RU",
    )
    for name, fields in [
        ("google", {"utm_source": "google", "utm_medium": "cpc", "priority": 10}),
        ("facebook", {"referrer_host": "facebook.com", "priority": 20}),
        ("radio", {"kind": "static", "utm_source": "radio", "priority": 5}),
    ]:
        await catalog_store.add_channel(
            engine,
            ChannelSpec(site="shop", campaign="main", name=name, **fields),  # type: ignore[arg-type]
        )
    pool = tuple(f"+749500000{i:02d}" for i in range(1, pool_size + 1))
    static = "+74950000099"
    rows = [NumberSpec(number=n, site="shop", campaign="main") for n in pool]
    rows.append(NumberSpec(number=static, site="shop", campaign="main", channel="radio"))
    await catalog_store.import_numbers(engine, rows, "RU")
    return Catalog(key=created.public_key, pool=pool, static_number=static)
