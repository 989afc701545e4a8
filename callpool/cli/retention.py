"""`callpool retention`: how long each site keeps raw events, page views and sessions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import click

from callpool.catalog.spec import parse_spec
from callpool.cli.common import Context, clear_errors, pass_context, print_rows, run_with_engine
from callpool.retention import store
from callpool.retention.prune import prune

COLUMNS = ("site", *store.COLUMNS.values())


def _days(_ctx: click.Context, param: click.Parameter, value: str | None) -> int | str | None:
    """A number of days, or ``forever``."""
    if value is None or value.lower() == "forever":
        return value and "forever"
    try:
        return int(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is neither a number of days nor 'forever'") from None


@click.group()
def retention() -> None:
    """Data retention per site (calls and rollups are always kept)."""


@retention.command("show")
@click.option("--json", "as_json", is_flag=True)
@pass_context
@clear_errors
def show(ctx: Context, as_json: bool) -> None:
    """Each site's retention in days (- keeps forever)."""
    rows = run_with_engine(lambda engine, _s: store.list_retention(engine), ctx)
    print_rows(rows, COLUMNS, as_json)


@retention.command("set")
@click.argument("site_name")
@click.option("--raw-events-days", callback=_days, help="Raw AMI events of the site's calls.")
@click.option("--page-views-days", callback=_days)
@click.option(
    "--sessions-days", callback=_days, help="Sessions (with their page views and leases)."
)
@pass_context
@clear_errors
def set_days(ctx: Context, site_name: str, **days: Any) -> None:
    """Set how long SITE_NAME keeps each kind: a number of days, or forever."""
    given = {
        f"{kind.removesuffix('_days')}_retention_days": None if value == "forever" else value
        for kind, value in days.items()
        if value is not None
    }
    if not given:
        raise click.UsageError("give at least one of the --*-days options")
    spec = parse_spec(store.RetentionSpec, given)
    row = run_with_engine(lambda engine, _s: store.set_retention(engine, site_name, spec), ctx)
    print_rows([row], COLUMNS, False)


@retention.command("prune")
@pass_context
@clear_errors
def prune_now(ctx: Context) -> None:
    """Delete now what the retention lets go (the daily job does the same)."""
    report = run_with_engine(lambda engine, _s: prune(engine, datetime.now(UTC)), ctx)
    deleted = report.deleted
    click.echo(
        f"deleted {deleted['raw_events']} raw events, {deleted['page_views']} page views, "
        f"{deleted['sessions']} sessions in {report.batches} batches "
        f"(longest {report.longest_batch_seconds:.3f} s)"
    )
