"""A separate process that allocates numbers through the lease store (concurrency test).

Usage: python -m tests.tracking.alloc_worker DATABASE_URL SITE_KEY VISITS START_AT
Waits until START_AT (epoch seconds) so all workers start together, then sends VISITS
concurrent new visits and prints how many got a pool number.
"""

from __future__ import annotations

import asyncio
import sys
import time
from datetime import UTC, datetime

from callpool.db.engine import create_engine
from callpool.tracking.classify import classify_visit
from callpool.tracking.directory import SiteDirectory
from callpool.tracking.leases import SqlLeaseStore, VisitRequest
from callpool.tracking.visits import plan_visit


async def main(url: str, key: str, visits: int, start_at: float) -> None:
    engine = create_engine(url, pool_size=5)
    try:
        site = await SiteDirectory(engine).get(key)
        store = SqlLeaseStore(engine)
        source = classify_visit("https://shop.example/", None, site.hosts, site.rules)
        plan = plan_visit(site, source, is_bot=False, is_blocked=False, consent_declined=False)
        assert plan.campaign_id is not None
        campaign = site.campaign(plan.campaign_id)
        await asyncio.sleep(max(0.0, start_at - time.time()))

        async def one() -> bool:
            request = VisitRequest(
                site.id,
                None,
                None,
                "https://shop.example/",
                None,
                None,
                "test",
                "127.0.0.1",
                source,
                plan,
                campaign,
            )
            result = await store.record_visit(request, datetime.now(UTC))
            return result.expires_at is not None

        results = await asyncio.gather(*(one() for _ in range(visits)))
        print(sum(results))
    finally:
        await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])))
