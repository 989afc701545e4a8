"""The report API at scale: the channel report over a year, as JSON and as xlsx, against
the metrics engine's own query in the same run; the calls list of a month as xlsx.

    .venv/bin/python bench/reports.py [--calls 1000000] [--month-calls 100000]
        [--pg-url postgresql://postgres@127.0.0.1:5432/test] [--repeat 3]

On a throwaway PostgreSQL database:

1. schema, one site, 10 campaigns in five time zones with 5 channels each, and
   ``--calls`` calls over the year to today (the generator of the metrics benchmark:
   300,000 skewed callers, 10% unattributed, 70% answered, call-backs); campaign 11
   gets ``--month-calls`` calls over the last 30 days, each with a visit (UTM fields,
   landing page). COPY, then ANALYZE; campaign 1's and 11's facts built (``rebuild_day``).
2. timed, best of ``--repeat``: ``run_report`` of campaign 1 over the last 365 days (the
   baseline); ``GET /api/v1/reports/channels`` for the same period through the whole app
   (aiohttp on 127.0.0.1, a real client, token auth, JSON); the same as ``format=xlsx``
   (the workbook with every sheet: 5 more queries, so it is reported, not held to 1.5x).
3. ``GET /api/v1/reports/calls?format=xlsx`` of campaign 11's month (every call, all 28
   columns), streamed to /dev/null: time, and the peak of Python memory while it runs
   (tracemalloc) against the peak for a tenth of the rows: bounded memory means the two
   are about the same.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
import tracemalloc
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._harness import asyncpg_dsn, throwaway_pg_database
from callpool.accounts import store as accounts_store
from callpool.app import create_app
from callpool.db import migrate
from callpool.db.engine import connection, create_engine
from callpool.metrics.campaigns import load_campaign
from callpool.metrics.definitions import days_between
from callpool.metrics.report_query import parse_report_query, run_report
from callpool.metrics.rollups import rebuild_day
from callpool.settings import load_settings

ZONES = ["Europe/Moscow", "Europe/Berlin", "America/New_York", "Asia/Yekaterinburg", "UTC"]
CAMPAIGNS = 10
MONTH_CAMPAIGN = 11
CHANNELS_PER = 5
CALLERS = 300_000
NOW = datetime.now(UTC).replace(microsecond=0)
CALL_COLUMNS = [
    "id",
    "pbx",
    "linkedid",
    "uniqueid",
    "direction",
    "caller_number",
    "called_number",
    "started_at",
    "answered_at",
    "ended_at",
    "wait_seconds",
    "talk_seconds",
    "disposition",
    "answered_by",
    "transfers",
    "campaign_id",
    "channel_id",
    "raw_cdrs",
    "created_at",
    "updated_at",
    "hangup_cause",
    "session_id",
    "end_estimated",
]
SESSION_COLUMNS = [
    "id",
    "visitor_id",
    "site_id",
    "campaign_id",
    "channel_id",
    "source",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "referrer",
    "landing_url",
    "click_ids",
    "started_at",
    "last_seen_at",
]


def generate(calls: int, seed: int = 13) -> Iterator[tuple[Any, ...]]:
    """The metrics benchmark's year of calls (CALL_COLUMNS order)."""
    rng = random.Random(seed)
    start = NOW - timedelta(days=365)
    span = int((NOW - start).total_seconds()) - 3600
    next_id = 1
    for _ in range(calls):
        campaign = rng.randrange(CAMPAIGNS) + 1
        channel = (
            None if rng.random() < 0.1 else (campaign - 1) * CHANNELS_PER + rng.randrange(5) + 1
        )
        caller = f"+7916{int(CALLERS * rng.random() ** 2):07d}"
        at = start + timedelta(seconds=rng.randrange(span))
        yield from _call(next_id, campaign, channel, caller, at, rng, None)
        next_id += 2


def generate_month(calls: int, first_id: int, seed: int = 14) -> Iterator[tuple[Any, ...]]:
    """Campaign 11's month: every call with a visit (session id ``m<id>``)."""
    rng = random.Random(seed)
    start = NOW - timedelta(days=30)
    span = int((NOW - start).total_seconds()) - 3600
    for n in range(calls):
        channel = CAMPAIGNS * CHANNELS_PER + rng.randrange(5) + 1
        caller = f"+7903{int(CALLERS * rng.random() ** 2):07d}"
        at = start + timedelta(seconds=rng.randrange(span))
        yield from _call(first_id + 2 * n, MONTH_CAMPAIGN, channel, caller, at, rng, f"m{n}")


def _call(
    id_: int, campaign: int, channel: int | None, caller: str, at: datetime,
    rng: random.Random, session: str | None,
) -> Iterator[tuple[Any, ...]]:  # fmt: skip
    r = rng.random()
    disposition = (
        "answered" if r < 0.7 else "no answer" if r < 0.82 else "busy" if r < 0.87
        else "failed" if r < 0.9 else "abandoned"
    )  # fmt: skip
    wait = rng.randrange(60)
    talk = rng.randrange(600) if disposition == "answered" else 0
    yield _row(id_, "inbound", caller, f"+7495000{campaign:04d}", at, wait, talk, disposition,
               campaign, channel, rng, session)  # fmt: skip
    if disposition != "answered" and rng.random() < 0.4:
        back = at + timedelta(seconds=wait + talk, minutes=rng.randrange(1, 120))
        reached = rng.random() < 0.6
        yield _row(id_ + 1, "outbound", "101", caller, back, 5,
                   rng.randrange(200) if reached else 0, "answered" if reached else "no answer",
                   None, None, rng, None)  # fmt: skip


def _row(
    id_: int, direction: str, caller: str, called: str, at: datetime, wait: int, talk: int,
    disposition: str, campaign: int | None, channel: int | None, rng: random.Random,
    session: str | None,
) -> tuple[Any, ...]:  # fmt: skip
    answered = disposition == "answered"
    ended = at + timedelta(seconds=wait + talk)
    return (
        id_, "pbx", f"l{id_}", f"u{id_}", direction, caller, called, at,
        at + timedelta(seconds=wait) if answered else None, ended, wait, talk, disposition,
        f"20{rng.randrange(10)}" if answered and direction == "inbound" else None, "[]",
        campaign, channel, "[]", ended, ended, 16 if answered else rng.choice([16, 17, 19, 34]),
        session, False,
    )  # fmt: skip


async def seed_catalog(url: str) -> None:
    engine = create_engine(url)
    try:
        await migrate.upgrade(engine)
        async with connection(engine) as conn:
            created = (NOW - timedelta(days=400)).isoformat()
            await conn.exec_driver_sql(
                "INSERT INTO sites (id, name, public_key, allowed_origins, own_numbers, "
                "blocked_cidrs, consent_required, mask_callers, created_at) VALUES "
                f"(1, 'shop', 'k', '[]', '[\"+74951234567\"]', '[]', false, false, '{created}')"
            )
            await conn.exec_driver_sql(
                "INSERT INTO visitors (id, site_id, first_seen_at, last_seen_at) VALUES "
                f"('v1', 1, '{created}', '{created}')"
            )
            for c in range(1, MONTH_CAMPAIGN + 1):
                await conn.exec_driver_sql(
                    "INSERT INTO campaigns (id, site_id, name, timezone, target_seconds, "
                    "hold_seconds, cooldown_seconds, attribution_grace_seconds, swap_numbers, "
                    "short_abandon_seconds, service_level_seconds, callback_window_days, "
                    "self_callback_same_day, outcomes, successful_outcomes, "
                    "telephony_cost_per_minute, created_at) VALUES "
                    f"({c}, 1, 'c{c}', '{ZONES[c % len(ZONES)]}', 10, 900, 60, 1800, '[]', "
                    f"5, 20, 7, true, '[]', '[\"sale\"]', 1.5, '{created}')"
                )
                for k in range(CHANNELS_PER):
                    ch = (c - 1) * CHANNELS_PER + k + 1
                    await conn.exec_driver_sql(
                        "INSERT INTO channels (id, campaign_id, name, kind, priority, "
                        f"ad_spend_per_day, created_at) VALUES ({ch}, {c}, 'ch{ch}', 'pool', "
                        f"10, 100, '{created}')"
                    )
        await accounts_store.add_user(engine, "bench", "bench-password", "admin")
    finally:
        await engine.dispose()


async def load(url: str, calls: int, month_calls: int) -> int:
    import asyncpg

    conn = await asyncpg.connect(asyncpg_dsn(url))
    count = 0
    try:
        sessions = [
            (f"m{n}", "v1", 1, MONTH_CAMPAIGN, None, "utm", "google", "cpc", f"autumn-{n % 50}",
             "https://www.google.com/", f"https://shop.example/landing?n={n}", "{}",
             NOW - timedelta(days=31), NOW - timedelta(days=31))
            for n in range(month_calls)
        ]  # fmt: skip
        await conn.copy_records_to_table("sessions", records=sessions, columns=SESSION_COLUMNS)
        batch: list[tuple[Any, ...]] = []
        for source in (generate(calls), generate_month(month_calls, 10 * calls + 10)):
            for row in source:
                batch.append(row)
                if len(batch) == 50_000:
                    await conn.copy_records_to_table("calls", records=batch, columns=CALL_COLUMNS)
                    count += len(batch)
                    batch = []
        if batch:
            await conn.copy_records_to_table("calls", records=batch, columns=CALL_COLUMNS)
            count += len(batch)
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    return count


async def build_facts(url: str) -> float:
    engine = create_engine(url)
    start = time.perf_counter()
    try:
        for campaign_id, days in ((1, 366), (MONTH_CAMPAIGN, 31)):
            async with connection(engine) as conn:
                today = (await load_campaign(conn, campaign_id)).today(NOW)
            for day in days_between(today - timedelta(days=days - 1), today):
                await rebuild_day(engine, campaign_id, day)
    finally:
        await engine.dispose()
    return time.perf_counter() - start


async def best_of(repeat: int, func: Callable[[], Awaitable[Any]]) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        await func()
        times.append(time.perf_counter() - start)
    return min(times)


async def measure(url: str, repeat: int) -> dict[str, Any]:
    import aiohttp
    from aiohttp.test_utils import TestServer

    engine = create_engine(url)
    settings = load_settings(database_url=url, scheduler_enabled=False)
    server = TestServer(create_app(settings), host="127.0.0.1")
    await server.start_server()
    token = (await accounts_store.create_token(engine, "bench", "bench")).token
    out: dict[str, Any] = {}
    try:
        async with connection(engine) as conn:
            today = (await load_campaign(conn, 1)).today(NOW)
        year = f"{today - timedelta(days=364)}..{today}"
        query = parse_report_query("shop", "c1", period=year)
        headers = {"Authorization": f"Bearer {token}"}
        base = f"http://127.0.0.1:{server.port}/api/v1/reports"
        timeout = aiohttp.ClientTimeout(total=None)
        async with aiohttp.ClientSession(headers=headers, timeout=timeout) as http:

            async def get(path: str, **params: Any) -> int:
                size = 0
                async with http.get(f"{base}/{path}", params=params) as response:
                    assert response.status == 200, await response.text()
                    async for chunk in response.content.iter_chunked(1 << 16):
                        size += len(chunk)
                return size

            out["query_s"] = await best_of(repeat, lambda: run_report(engine, query, NOW))
            out["api_json_s"] = await best_of(
                repeat, lambda: get("channels", site="shop", campaign="c1", period=year)
            )
            out["api_xlsx_s"] = await best_of(
                1, lambda: get("channels", site="shop", campaign="c1", period=year, format="xlsx")
            )
            result = await run_report(engine, query, NOW)
            out["year_calls"] = result.report.total["calls"]
            async with connection(engine) as conn:
                month_today = (await load_campaign(conn, MONTH_CAMPAIGN)).today(NOW)
            calls = {"site": "shop", "campaign": f"c{MONTH_CAMPAIGN}", "format": "xlsx"}
            for label, days in (("tenth", 3), ("month", 30)):
                period = f"{month_today - timedelta(days=days - 1)}..{month_today}"
                # Peak Python memory under tracemalloc (which slows Python down a lot) ...
                tracemalloc.start()
                size = await get("calls", period=period, **calls)
                out[f"calls_xlsx_{label}_peak_mb"] = tracemalloc.get_traced_memory()[1] / 1e6
                tracemalloc.stop()
                out[f"calls_xlsx_{label}_mb"] = size / 1e6
                out[f"calls_{label}"] = (
                    await run_report(engine, parse_report_query(
                        "shop", f"c{MONTH_CAMPAIGN}", period=period), NOW)
                ).report.total["calls"]  # fmt: skip
            # ... and the time without it.
            start = time.perf_counter()
            await get("calls", period=period, **calls)
            out["calls_xlsx_month_s"] = time.perf_counter() - start
    finally:
        await server.close()
        await engine.dispose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--month-calls", type=int, default=100_000)
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with throwaway_pg_database(args.pg_url) as url:
        if url is None:
            return
        asyncio.run(seed_catalog(url))
        start = time.perf_counter()
        rows = asyncio.run(load(url, args.calls, args.month_calls))
        print(f"postgresql: loaded {rows:,} call rows in {time.perf_counter() - start:.1f} s")
        built = asyncio.run(build_facts(url))
        print(f"facts of campaign 1 (year) and 11 (month) built in {built:.1f} s")
        r = asyncio.run(measure(url, args.repeat))
    ratio = r["api_json_s"] / r["query_s"]
    print(f"  year of campaign 1: {r['year_calls']:,} calls")
    print(f"  run_report (baseline)          {r['query_s'] * 1000:9.1f} ms")
    print(f"  API JSON                       {r['api_json_s'] * 1000:9.1f} ms  {ratio:5.2f} x "
          f"(target <= 1.5) {'PASS' if ratio <= 1.5 else 'FAIL'}")  # fmt: skip
    print(f"  API xlsx (7 sheets)            {r['api_xlsx_s'] * 1000:9.1f} ms  "
          f"{r['api_xlsx_s'] / r['query_s']:5.2f} x")  # fmt: skip
    for label in ("tenth", "month"):
        print(f"  calls xlsx, {label:<5} {r[f'calls_{label}']:>8,} calls  "
              f"{r[f'calls_xlsx_{label}_mb']:6.1f} MB file  "
              f"peak Python memory {r[f'calls_xlsx_{label}_peak_mb']:6.1f} MB")  # fmt: skip
    print(f"  calls xlsx of the month: {r['calls_xlsx_month_s']:.1f} s")
    print(json.dumps({"rows": rows, **r}))


if __name__ == "__main__":
    main()
