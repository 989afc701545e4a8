"""The ``callpool`` command: the root group, ``serve``, and every room's command group.

Every command prints one clear line and exits non-zero on bad input; catalog changes are
one transaction each, so nothing is half-written.
"""

from __future__ import annotations

import logging
from pathlib import Path

import click

from callpool.cli import accounts, ami, catalog, crm, db, pool, report, retention
from callpool.cli.common import Context, clear_errors, pass_context
from callpool.cli.demo import demo
from callpool.cli.simulate import simulate
from callpool.db.problems import explained
from callpool.logs import configure_logging


@click.group()
@click.option("--config", type=click.Path(path_type=Path), help="TOML settings file.")
@click.option("--database-url", help="Overrides CALLPOOL_DATABASE_URL.")
@click.version_option(package_name="callpool")
@click.pass_context
def main(click_ctx: click.Context, config: Path | None, database_url: str | None) -> None:
    """callpool: call tracking for Asterisk."""
    click_ctx.obj = Context(config, database_url)
    # A command prints what matters itself, as one line; without this, Python's last-resort
    # handler would add the stores' log lines to it (`serve` configures real logging).
    root = logging.getLogger("callpool")
    if not any(isinstance(handler, logging.NullHandler) for handler in root.handlers):
        root.addHandler(logging.NullHandler())


@main.command()
@click.option("--host", help="Address to listen on (default 127.0.0.1).")
@click.option("--port", type=int, help="Port to listen on (default 8080).")
@pass_context
@clear_errors
def serve(ctx: Context, host: str | None, port: int | None) -> None:
    """Serve the API, the snippet and the dashboard (upgrades a SQLite database first)."""
    from callpool.app import run_server

    settings = ctx.settings(host=host, port=port)
    configure_logging(
        settings.log_level,
        settings.log_format,
        caller_numbers_at_debug=settings.log_caller_numbers,
    )
    if settings.log_level != "DEBUG":
        # Their INFO is bookkeeping (APScheduler's "Added job"/"Running job" with internal
        # job names every minute, alembic's "Context impl"); their warnings still show.
        for noisy in ("apscheduler", "alembic"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    with explained(settings.database_url.get_secret_value()):
        # The line for a person at a terminal; with JSON logs, stdout stays JSON lines.
        json_logs = settings.log_format == "json"
        run_server(
            settings, announce=logging.getLogger("callpool").info if json_logs else click.echo
        )


for command in (
    db.db,
    catalog.site,
    catalog.campaign,
    catalog.channel,
    catalog.numbers,
    pool.pool,
    retention.retention,
    accounts.user,
    accounts.token,
    ami.ami,
    ami.ami_sim,
    report.report,
    report.metrics,
    demo,
    simulate,
    crm.spend_group,
    crm.outcome_group,
):
    main.add_command(command)
