"""Benchmark: the dashboard's channel report page against the same report as JSON, a year of calls.

    .venv/bin/python bench/dashboard.py [--calls 1000000] [--backend sqlite|postgresql|both]
        [--pg-url postgresql://postgres@127.0.0.1:5432/test] [--repeat 7]

For each backend, the data of ``bench/metrics.py`` (its generator: ``--calls`` inbound
calls over the year up to today in 10 campaigns, plus call-backs; bulk-loaded), the facts
and roll-ups of campaign 1 built, one admin user with an API token. Then callpool's app
(``create_app``, scheduler off) serves on 127.0.0.1 and two aiohttp clients (one signed
in to the dashboard, one with the bearer token) alternate, ``--repeat`` times each,
measured in the same run:

- **page**: ``GET /app/?c=1&period=custom&from=<a year ago>&to=<today>``, the channel
  report as a browser gets it (session, CSRF token, campaign list, channel names,
  ``run_report``, the template, the chart's JSON island);
- **json**: the report API, ``GET /api/v1/reports/channels?site=shop&campaign=c1&period=
  <a year ago>..<today>``, the same query as JSON;
- **direct**: ``run_report`` + ``json.dumps(report_json(...))`` in-process, no HTTP.

The target is page <= 1.5 x json (best of each; the median is printed too). Then the
first load: a fresh signed-in client fetches the page and every stylesheet and script
it references, asking for gzip, and the bytes on the wire are summed (target < 300 KB).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp
from aiohttp import web

from bench._harness import throwaway_pg_database
from bench.metrics import NOW, ZONES, load_postgresql, load_sqlite, seed_catalog
from callpool.accounts import store as accounts_store
from callpool.app import create_app
from callpool.db.engine import create_engine
from callpool.metrics.render import report_json
from callpool.metrics.report_query import Period, ReportQuery, run_report
from callpool.metrics.rollups import rebuild_campaign
from callpool.settings import load_settings
from callpool.web.keys import ENGINE

PASSWORD = "bench password 1"
PAGE_RATIO = 1.5
FIRST_LOAD_LIMIT = 300 * 1024


def year_query() -> ReportQuery:
    today = NOW.astimezone(ZoneInfo(ZONES[1 % len(ZONES)])).date()  # campaign 1's zone
    return ReportQuery("shop", "c1", Period(today - timedelta(days=364), today))


async def sign_in(session: aiohttp.ClientSession, base: str) -> None:
    form = await (await session.get(f"{base}/app/login")).text()
    token = re.search(r'name="_csrf" value="([^"]+)"', form)
    assert token, "no CSRF field on the log-in page"
    data = {"username": "bench", "password": PASSWORD, "_csrf": token.group(1)}
    async with session.post(f"{base}/app/login", data=data, allow_redirects=False) as r:
        assert r.status == 302, f"log-in refused: {r.status}"


async def timed(func: Callable[[], Awaitable[Any]]) -> float:
    start = time.perf_counter()
    await func()
    return time.perf_counter() - start


async def measure(url: str, repeat: int) -> dict[str, Any]:
    engine = create_engine(url)
    out: dict[str, Any] = {}
    try:
        start = time.perf_counter()
        await rebuild_campaign(engine, 1, NOW)
        out["build_facts_s"] = time.perf_counter() - start
        await accounts_store.add_user(engine, "bench", PASSWORD, "admin")
        token = (await accounts_store.create_token(engine, "bench", "bench")).token
    finally:
        await engine.dispose()
    app = create_app(load_settings(database_url=url, scheduler_enabled=False))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    query = year_query()
    period = f"period=custom&from={query.period.start}&to={query.period.end}"
    page_url = f"{base}/app/?c=1&{period}"
    api_url = f"{base}/api/v1/reports/channels"
    api_query = {
        "site": "shop",
        "campaign": "c1",
        "period": f"{query.period.start}..{query.period.end}",
    }
    bearer = {"Authorization": f"Bearer {token}"}
    try:
        async with (
            aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session,
            aiohttp.ClientSession(headers=bearer) as api_session,
        ):
            await sign_in(session, base)

            async def page() -> None:
                async with session.get(page_url) as r:
                    assert r.status == 200, r.status
                    body = await r.text()
                    assert 'data-row="total"' in body

            async def api() -> None:
                async with api_session.get(api_url, params=api_query) as r:
                    assert r.status == 200, await r.text()
                    out["json_calls"] = (await r.json())["total"]["calls"]

            async def direct() -> None:
                result = await run_report(runner.app[ENGINE], query, datetime.now(UTC))
                json.dumps(report_json(result), default=str)

            await page()  # warm: templates compiled, caches filled, plans cached
            await api()
            times: dict[str, list[float]] = {"page": [], "json": [], "direct": []}
            for _ in range(repeat):
                times["page"].append(await timed(page))
                times["json"].append(await timed(api))
                times["direct"].append(await timed(direct))
            for name, values in times.items():
                out[f"{name}_best_s"] = min(values)
                out[f"{name}_median_s"] = statistics.median(values)
        out.update(await first_load(base, page_url))
    finally:
        await runner.cleanup()
    return out


async def first_load(base: str, page_url: str) -> dict[str, Any]:
    """Bytes on the wire for the page and its assets, as a browser asking for gzip gets them."""
    headers = {"Accept-Encoding": "gzip, deflate"}
    jar = aiohttp.CookieJar(unsafe=True)  # cookies for 127.0.0.1
    async with aiohttp.ClientSession(
        auto_decompress=False, headers=headers, cookie_jar=jar
    ) as session:
        await sign_in(session, base)
        async with session.get(page_url) as r:
            html_raw = await r.read()
            html_encoding = r.headers.get("Content-Encoding", "identity")
        html = html_raw.decode() if html_encoding == "identity" else ""
        assets = re.findall(r'(?:href|src)="(/app/static/[^"]+)"', html)
        sizes = {}
        for path in assets:
            async with session.get(base + path.replace("&amp;", "&")) as r:
                sizes[path.split("?")[0].rsplit("/", 1)[-1]] = (
                    len(await r.read()),
                    r.headers.get("Content-Encoding", "identity"),
                )
    return {
        "html_bytes": len(html_raw),
        "html_encoding": html_encoding,
        "assets": sizes,
        "first_load_bytes": len(html_raw) + sum(size for size, _enc in sizes.values()),
    }


def print_results(backend: str, rows: int, r: dict[str, Any]) -> None:
    print(
        f"\n{backend}: {rows:,} call rows; campaign 1's facts built in {r['build_facts_s']:.1f} s"
    )
    print(f"  year report of campaign 1: {r['json_calls']:,} calls")
    for name in ("page", "json", "direct"):
        print(f"  {name:<7} best {r[f'{name}_best_s'] * 1000:8.1f} ms   "
              f"median {r[f'{name}_median_s'] * 1000:8.1f} ms")  # fmt: skip
    for how in ("best", "median"):
        ratio = r[f"page_{how}_s"] / r[f"json_{how}_s"]
        verdict = "PASS" if ratio <= PAGE_RATIO else "FAIL"
        print(f"  page / json ({how:<6})  {ratio:5.2f} (target <= {PAGE_RATIO}) {verdict}")
    print(f"  page / direct (best)   {r['page_best_s'] / r['direct_best_s']:5.2f}")
    total = r["first_load_bytes"]
    verdict = "PASS" if total < FIRST_LOAD_LIMIT else "FAIL"
    print(f"  first load: HTML {r['html_bytes']:,} B ({r['html_encoding']})", end="")
    for name, (size, encoding) in r["assets"].items():
        print(f", {name} {size:,} B ({encoding})", end="")
    print(f"; total {total:,} B = {total / 1024:.1f} KB (target < 300 KB) {verdict}")
    print(json.dumps({"backend": backend, "rows": rows, **r}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    if args.backend in ("postgresql", "both"):
        with throwaway_pg_database(args.pg_url) as url:
            if url is not None:
                asyncio.run(seed_catalog(url))
                start = time.perf_counter()
                rows = asyncio.run(load_postgresql(url, args.calls))
                print(f"postgresql: loaded {rows:,} rows in {time.perf_counter() - start:.1f} s")
                print_results("postgresql", rows, asyncio.run(measure(url, args.repeat)))
    if args.backend in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as tmp:
            path = f"{tmp}/bench.db"
            url = f"sqlite+aiosqlite:///{path}"
            asyncio.run(seed_catalog(url))
            start = time.perf_counter()
            rows = load_sqlite(path, args.calls)
            print(f"sqlite: loaded {rows:,} rows in {time.perf_counter() - start:.1f} s")
            print_results("sqlite", rows, asyncio.run(measure(url, args.repeat)))


if __name__ == "__main__":
    main()
