"""`callpool db`: schema migrations, what takes the space, SQLite backups."""

from __future__ import annotations

import json
from pathlib import Path

import click

from callpool.cli.common import Context, clear_errors, pass_context, run_with_engine
from callpool.db import migrate
from callpool.db.backup import backup as backup_sqlite
from callpool.db.size import database_size


@click.group()
def db() -> None:
    """Database schema migrations, sizes and backups."""


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


@db.command()
@click.option("--json", "as_json", is_flag=True)
@pass_context
@clear_errors
def size(ctx: Context, as_json: bool) -> None:
    """Rows and bytes of each table (table and its indexes), biggest first."""
    found = run_with_engine(lambda engine, _s: database_size(engine), ctx)
    if as_json:
        rows = [{**vars(t), "total_bytes": t.total_bytes} for t in found.tables]
        click.echo(json.dumps({"tables": rows, "database_bytes": found.database_bytes}, indent=2))
        return
    click.echo(f"{'table':<18} {'rows':>12} {'table':>10} {'indexes':>10} {'total':>10}")
    for t in found.tables:
        click.echo(
            f"{t.table:<18} {t.rows:>12,} {_bytes(t.table_bytes):>10} "
            f"{_bytes(t.index_bytes):>10} {_bytes(t.total_bytes):>10}"
        )
    click.echo(f"database: {_bytes(found.database_bytes)}")


@db.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@pass_context
@clear_errors
def backup(ctx: Context, file: Path) -> None:
    """Copy a SQLite database to FILE while callpool runs (SQLite's online backup)."""
    written = backup_sqlite(ctx.settings().database_url.get_secret_value(), file)
    click.echo(f"backed up to {file} ({_bytes(written)})")


def _bytes(value: int | None) -> str:
    if value is None:
        return "?"
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")
