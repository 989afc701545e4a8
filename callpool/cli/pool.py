"""`callpool pool`: pool status and sizing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import click

from callpool.cli.common import Context, clear_errors, pass_context, run_with_engine
from callpool.tracking.pool_status import pool_status


@click.group()
def pool() -> None:
    """Number pools."""


@pool.command("status")
@click.argument("site_name")
@click.argument("campaign_name")
@click.option("--days", type=float, default=7.0, show_default=True, help="Window of traffic.")
@click.option(
    "--target",
    type=float,
    default=0.01,
    show_default=True,
    help="Acceptable share of visitors shown the fallback at the peak hour.",
)
@click.option("--json", "as_json", is_flag=True)
@pass_context
@clear_errors
def pool_status_command(
    ctx: Context, site_name: str, campaign_name: str, days: float, target: float, as_json: bool
) -> None:
    """Size, live leases, peaks, exhaustions and the recommended pool size."""
    status = run_with_engine(
        lambda engine, _s: pool_status(
            engine, site_name, campaign_name, datetime.now(UTC), timedelta(days=days), target
        ),
        ctx,
    )
    if as_json:
        click.echo(json.dumps(status.as_dict(), indent=2))
        return
    click.echo(
        f"{status.site} / {status.campaign}: {status.size} numbers ({status.retiring} retiring), "
        f"{status.live_leases} leased now, peak {status.peak_concurrent} at once, "
        f"{status.exhaustions} exhaustions in {status.window_days:g} days\n"
        f"traffic: peak {status.peak_new_sessions_per_hour} new sessions/hour, mean visit "
        f"{status.mean_visit_seconds:.0f} s, {status.daily_visitors:g} visitors/day\n"
        f"recommended pool: {status.recommended_size} numbers (Erlang B, "
        f"{status.target_blocking:.1%} blocking at the peak hour); rule of thumb "
        f"(1 per 20 daily visitors): {status.rule_of_thumb_size}"
    )
