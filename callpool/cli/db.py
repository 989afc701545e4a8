"""`callpool db`: schema migrations."""

from __future__ import annotations

import click

from callpool.cli.common import Context, clear_errors, pass_context, run_with_engine
from callpool.db import migrate


@click.group()
def db() -> None:
    """Database schema migrations."""


@db.command()
@click.argument("revision", default="head")
@pass_context
@clear_errors
def upgrade(ctx: Context, revision: str) -> None:
    """Upgrade the schema (to head by default)."""
    run_with_engine(lambda engine, _s: migrate.upgrade(engine, revision), ctx)
    click.echo(f"database upgraded to {revision}")


@db.command()
@click.argument("revision")
@pass_context
@clear_errors
def downgrade(ctx: Context, revision: str) -> None:
    """Downgrade the schema to REVISION (``base`` drops everything)."""
    run_with_engine(lambda engine, _s: migrate.downgrade(engine, revision), ctx)
    click.echo(f"database downgraded to {revision}")


@db.command()
@pass_context
@clear_errors
def current(ctx: Context) -> None:
    """Print the schema revision of the database."""
    revision = run_with_engine(lambda engine, _s: migrate.current_revision(engine), ctx)
    head = migrate.head_revision()
    click.echo(f"{revision or 'none'} (head: {head})")
