"""The ``callpool`` command: the root group, ``serve``, and every room's command group.

Every command prints one clear line and exits non-zero on bad input; catalog changes are
one transaction each, so nothing is half-written.
"""

from __future__ import annotations

import logging
from pathlib import Path

import click

from callpool.cli import accounts, ami, catalog, crm, db, pool, report
from callpool.cli.common import Context, clear_errors, pass_context


@click.group()
@click.option("--config", type=click.Path(path_type=Path), help="TOML settings file.")
@click.option("--database-url", help="Overrides CALLPOOL_DATABASE_URL.")
@click.version_option(package_name="callpool")
@click.pass_context
def main(click_ctx: click.Context, config: Path | None, database_url: str | None) -> None:
    """callpool: call tracking for Asterisk."""
    click_ctx.obj = Context(config, database_url)


@main.command()
@click.option("--host", help="Address to listen on (default 127.0.0.1).")
@click.option("--port", type=int, help="Port to listen on (default 8080).")
@pass_context
@clear_errors
def serve(ctx: Context, host: str | None, port: int | None) -> None:
    """Serve the API, the snippet and the dashboard (upgrades a SQLite database first)."""
    from callpool.app import run_server

    settings = ctx.settings(host=host, port=port)
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    run_server(settings)


for command in (
    db.db,
    catalog.site,
    catalog.campaign,
    catalog.channel,
    catalog.numbers,
    pool.pool,
    accounts.user,
    accounts.token,
    ami.ami,
    ami.ami_sim,
    report.report,
    report.metrics,
    crm.spend_group,
    crm.outcome_group,
):
    main.add_command(command)
