"""`callpool user|token`: dashboard and API users."""

from __future__ import annotations

import click

from callpool.accounts import store as accounts_store
from callpool.cli.common import Context, clear_errors, pass_context, run_with_engine


@click.group()
def user() -> None:
    """Dashboard and API users."""


@user.command("add")
@click.argument("username")
@click.option("--role", type=click.Choice(["admin", "viewer"]), default="viewer", show_default=True)
@click.option(
    "--site",
    "sites",
    multiple=True,
    help="A site the user (and their API tokens) may see; repeatable. Default: every site.",
)
@click.password_option(
    help="Prompted for when not given; or CALLPOOL_USER_PASSWORD.", envvar="CALLPOOL_USER_PASSWORD"
)
@pass_context
@clear_errors
def user_add(ctx: Context, username: str, role: str, sites: tuple[str, ...], password: str) -> None:
    """Add a user (the password is hashed with Argon2id)."""
    granted = list(sites) or None
    run_with_engine(
        lambda engine, _s: accounts_store.add_user(engine, username, password, role, granted), ctx
    )
    click.echo(f"user {username!r} added with role {role}")


@click.group()
def token() -> None:
    """API tokens."""


@token.command("create")
@click.argument("username")
@click.option("--name", default="api", show_default=True, help="What the token is for.")
@pass_context
@clear_errors
def token_create(ctx: Context, username: str, name: str) -> None:
    """Create an API token for USERNAME; it is printed once and stored only as a hash."""
    new = run_with_engine(
        lambda engine, _s: accounts_store.create_token(engine, username, name), ctx
    )
    click.echo(new.token)
