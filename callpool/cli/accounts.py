"""`callpool user|token`: dashboard and API users."""

from __future__ import annotations

import sys

import click

from callpool.accounts import store as accounts_store
from callpool.cli.common import Context, clear_errors, pass_context, run_with_engine
from callpool.errors import ValidationError


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
@click.option(
    "--password",
    envvar="CALLPOOL_USER_PASSWORD",
    help="Or CALLPOOL_USER_PASSWORD; else prompted for on a terminal, read from a pipe.",
)
@click.option(
    "--password-stdin", is_flag=True, help="Read the password from the first line of stdin."
)
@pass_context
@clear_errors
def user_add(
    ctx: Context,
    username: str,
    role: str,
    sites: tuple[str, ...],
    password: str | None,
    password_stdin: bool,
) -> None:
    """Add a user (the password is hashed with Argon2id).

    \b
    From a script:
      printf '%s\\n' "$PASSWORD" | callpool user add ann --password-stdin
    """
    secret = _password(password, password_stdin)
    granted = list(sites) or None
    run_with_engine(
        lambda engine, _s: accounts_store.add_user(engine, username, secret, role, granted), ctx
    )
    click.echo(f"user {username!r} added with role {role}")


def _password(given: str | None, from_stdin: bool) -> str:
    """``--password``, else a hidden prompt on a terminal, else the first line of stdin.

    A pipe is read as data, not through the hidden prompt: that one warns "Password input
    may be echoed" when stdin is not a terminal.
    """
    if given is not None:
        if from_stdin:
            raise ValidationError("give --password or --password-stdin, not both")
        return given
    if not from_stdin and sys.stdin.isatty():
        return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise ValidationError("no password on the first line of stdin")
    return password


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
