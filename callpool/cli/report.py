"""``callpool report`` and ``callpool metrics rebuild``: a campaign's metrics from the shell.

``report`` first brings the roll-ups up to date (waiting for a roll-up another process
is running), so it prints the figures as of the moment it runs, then renders
``run_report``'s result as a table, JSON or CSV. ``metrics rebuild`` recomputes a
campaign's history with today's settings.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import click
from sqlalchemy.ext.asyncio import AsyncEngine

from callpool.cli.common import Context, clear_errors, run_with_engine
from callpool.metrics.report_query import GROUPINGS, NAMED_PERIODS, parse_period
from callpool.settings import Settings

__all__ = ["metrics", "report"]


@click.command()
@click.option("--site", required=True, help="The site's name.")
@click.option("--campaign", required=True, help="The campaign's name.")
@click.option("--from", "start", help="First local day, e.g. 2026-12-01.")
@click.option("--to", "end", help="Last local day (default: --from).")
@click.option("--period", type=click.Choice(NAMED_PERIODS), help="A named period instead.")
@click.option("--by", type=click.Choice(GROUPINGS), default="channel", show_default=True)
@click.option("--compare-to", help="Another period: D..D or a named period.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "csv"]),
    default="table",
    show_default=True,
)
@click.pass_obj
@clear_errors
def report(
    ctx: Context,
    site: str,
    campaign: str,
    start: str | None,
    end: str | None,
    period: str | None,
    by: str,
    compare_to: str | None,
    fmt: str,
) -> None:
    """Print a campaign's metrics, up to date at the moment it runs."""
    from callpool.metrics.jobs import roll_up
    from callpool.metrics.render import report_csv, report_json, report_table
    from callpool.metrics.report_query import parse_report_query, run_report

    query = parse_report_query(
        site, campaign, period=period, start=start, end=end, by=by, compare_to=compare_to
    )

    async def run(engine: AsyncEngine, _settings: Settings) -> Any:
        now = datetime.now(UTC)
        await roll_up(engine, now, wait=True)
        return await run_report(engine, query, now)

    result = run_with_engine(run, ctx)
    if fmt == "json":
        click.echo(json.dumps(report_json(result), indent=2, ensure_ascii=False))
    elif fmt == "csv":
        click.echo(report_csv(result), nl=False)
    else:
        click.echo(report_table(result))


@click.group()
def metrics() -> None:
    """The metrics roll-ups."""


@metrics.command("rebuild")
@click.option("--site", required=True, help="The site's name.")
@click.option("--campaign", required=True, help="The campaign's name.")
@click.option("--from", "since", help="First local day to rebuild (default: the first call).")
@click.pass_obj
@clear_errors
def rebuild(ctx: Context, site: str, campaign: str, since: str | None) -> None:
    """Recompute a campaign's facts and roll-ups with today's settings."""
    from callpool.db.engine import connection
    from callpool.metrics.campaigns import find_campaign
    from callpool.metrics.jobs import metrics_lock
    from callpool.metrics.rollups import rebuild_campaign

    first = parse_period(since, "--from").start if since else None

    async def run(engine: AsyncEngine, _settings: Settings) -> int:
        async with connection(engine) as conn:
            found = await find_campaign(conn, site, campaign)
        async with metrics_lock(engine, wait=True):
            days = await rebuild_campaign(engine, found.id, datetime.now(UTC), first)
        return len(days)

    count = run_with_engine(run, ctx)
    click.echo(f"rebuilt {count} days of {site}/{campaign}")
