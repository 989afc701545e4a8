"""The ``callpool`` command.

Every command prints one clear line and exits non-zero on bad input; catalog changes are
one transaction each, so nothing is half-written.
"""

from __future__ import annotations

import asyncio
import csv
import json
import logging
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click
from sqlalchemy.ext.asyncio import AsyncEngine

from callpool.catalog import CampaignSpec, ChannelSpec, NumberSpec, SiteSpec, parse_spec
from callpool.db import catalog_store, migrate
from callpool.db.engine import create_engine
from callpool.errors import CallpoolError, ValidationError
from callpool.settings import Settings, load_settings
from callpool.tracking.pool_status import pool_status, retire_numbers

T = TypeVar("T")


class Context:
    def __init__(self, config: Path | None, database_url: str | None) -> None:
        self.config = config
        self.database_url = database_url

    def settings(self, **overrides: Any) -> Settings:
        return load_settings(self.config, database_url=self.database_url, **overrides)


pass_context = click.make_pass_decorator(Context)


def run_with_engine(func: Callable[[AsyncEngine, Settings], Awaitable[T]], ctx: Context) -> T:
    settings = ctx.settings()

    async def runner() -> T:
        engine = create_engine(settings.database_url.get_secret_value())
        try:
            return await func(engine, settings)
        finally:
            await engine.dispose()

    return asyncio.run(runner())


def clear_errors(func: Callable[..., None]) -> Callable[..., None]:
    """Turn a CallpoolError into one line on stderr and exit code 2."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        try:
            func(*args, **kwargs)
        except CallpoolError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)

    return wrapper


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


@main.group()
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


@main.group()
def site() -> None:
    """Websites that embed the snippet."""


@site.command("add")
@click.argument("name")
@click.option(
    "--origin", "origins", multiple=True, help="Allowed origin, e.g. https://example.com."
)
@click.option("--number", "numbers", multiple=True, help="The site's own phone number to replace.")
@click.option("--block", "blocked", multiple=True, help="IP range (CIDR) that gets no lease.")
@click.option("--consent-required", is_flag=True, help="Wait for the visitor's consent.")
@click.option("--consent-cookie", help="Cookie whose presence means consent.")
@pass_context
@clear_errors
def site_add(
    ctx: Context,
    name: str,
    origins: tuple[str, ...],
    numbers: tuple[str, ...],
    blocked: tuple[str, ...],
    consent_required: bool,
    consent_cookie: str | None,
) -> None:
    """Add a site; prints its public key for the snippet."""
    spec = parse_spec(
        SiteSpec,
        {
            "name": name,
            "allowed_origins": origins,
            "own_numbers": numbers,
            "blocked_cidrs": blocked,
            "consent_required": consent_required,
            "consent_cookie": consent_cookie,
        },
    )
    found = run_with_engine(
        lambda engine, s: catalog_store.add_site(engine, spec, s.default_region), ctx
    )
    click.echo(f"site {found.name!r} added; snippet key {found.public_key}")


@site.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_context
@clear_errors
def site_list(ctx: Context, as_json: bool) -> None:
    """List sites."""
    sites = run_with_engine(lambda engine, _s: catalog_store.list_sites(engine), ctx)
    rows = [catalog_store.site_dict(s) for s in sites]
    _print_rows(rows, ("name", "public_key", "own_numbers", "allowed_origins"), as_json)


@main.group()
def campaign() -> None:
    """Advertising campaigns of a site."""


@campaign.command("add")
@click.argument("site_name")
@click.argument("name")
@click.option("--timezone", default="UTC", show_default=True)
@click.option("--target-seconds", type=int, default=10, show_default=True)
@click.option("--hold-seconds", type=int, default=900, show_default=True)
@click.option("--cooldown-seconds", type=int, default=60, show_default=True)
@click.option(
    "--grace-seconds",
    type=int,
    default=1800,
    show_default=True,
    help="How long after a lease ends a call is still credited to it.",
)
@click.option("--fallback-number", help="Shown when the pool is exhausted.")
@click.option(
    "--swap-number",
    "swap_numbers",
    multiple=True,
    help="One of the site's own numbers this campaign replaces (repeat; default: all).",
)
@pass_context
@clear_errors
def campaign_add(
    ctx: Context,
    site_name: str,
    name: str,
    timezone: str,
    target_seconds: int,
    hold_seconds: int,
    cooldown_seconds: int,
    grace_seconds: int,
    fallback_number: str | None,
    swap_numbers: tuple[str, ...],
) -> None:
    """Add a campaign to SITE_NAME."""
    spec = parse_spec(
        CampaignSpec,
        {
            "site": site_name,
            "name": name,
            "timezone": timezone,
            "target_seconds": target_seconds,
            "hold_seconds": hold_seconds,
            "cooldown_seconds": cooldown_seconds,
            "attribution_grace_seconds": grace_seconds,
            "fallback_number": fallback_number,
            "swap_numbers": swap_numbers,
        },
    )
    run_with_engine(
        lambda engine, s: catalog_store.add_campaign(engine, spec, s.default_region), ctx
    )
    click.echo(f"campaign {name!r} added to site {site_name!r}")


@campaign.command("list")
@click.option("--site", "site_name")
@click.option("--json", "as_json", is_flag=True)
@pass_context
@clear_errors
def campaign_list(ctx: Context, site_name: str | None, as_json: bool) -> None:
    """List campaigns."""
    rows = run_with_engine(lambda engine, _s: catalog_store.list_campaigns(engine, site_name), ctx)
    _print_rows(rows, ("site", "name", "timezone", "target_seconds", "hold_seconds"), as_json)


@main.group()
def channel() -> None:
    """Ad channels (traffic sources) of a campaign."""


@channel.command("add")
@click.argument("site_name")
@click.argument("campaign_name")
@click.argument("name")
@click.option("--kind", type=click.Choice(["pool", "static"]), default="pool", show_default=True)
@click.option("--utm-source")
@click.option("--utm-medium")
@click.option("--utm-campaign")
@click.option("--referrer-host")
@click.option("--click-id", "click_id_param", help="Click-id parameter, e.g. gclid.")
@click.option("--priority", type=int, default=100, show_default=True, help="Lower wins.")
@click.option("--ad-spend-per-day", default="0", show_default=True)
@pass_context
@clear_errors
def channel_add(ctx: Context, site_name: str, campaign_name: str, name: str, **fields: Any) -> None:
    """Add a channel NAME to CAMPAIGN_NAME of SITE_NAME."""
    spec = parse_spec(
        ChannelSpec, {"site": site_name, "campaign": campaign_name, "name": name, **fields}
    )
    run_with_engine(lambda engine, _s: catalog_store.add_channel(engine, spec), ctx)
    click.echo(f"channel {name!r} added to campaign {campaign_name!r}")


@channel.command("list")
@click.argument("site_name")
@click.argument("campaign_name")
@click.option("--json", "as_json", is_flag=True)
@pass_context
@clear_errors
def channel_list(ctx: Context, site_name: str, campaign_name: str, as_json: bool) -> None:
    """List the channels of a campaign."""
    channels = run_with_engine(
        lambda engine, _s: catalog_store.list_channels(engine, site_name, campaign_name), ctx
    )
    rows = [catalog_store.channel_dict(c) for c in channels]
    _print_rows(
        rows, ("name", "kind", "priority", "utm_source", "utm_medium", "referrer_host"), as_json
    )


@main.group()
def numbers() -> None:
    """Tracking numbers."""


@numbers.command("import")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@pass_context
@clear_errors
def numbers_import(ctx: Context, csv_file: Path) -> None:
    """Import numbers from a CSV with a header: number,site,campaign[,channel].

    An empty channel puts the number in the campaign's dynamic pool; a static channel's
    name makes it that channel's number. All rows land, or none.
    """
    specs = read_numbers_csv(csv_file)
    added = run_with_engine(
        lambda engine, s: catalog_store.import_numbers(engine, specs, s.default_region), ctx
    )
    click.echo(f"imported {len(added)} numbers")


@numbers.command("add")
@click.argument("site_name")
@click.argument("campaign_name")
@click.argument("phone_numbers", nargs=-1, required=True)
@click.option("--channel", help="A static channel's name; default: the campaign's pool.")
@pass_context
@clear_errors
def numbers_add(
    ctx: Context,
    site_name: str,
    campaign_name: str,
    phone_numbers: tuple[str, ...],
    channel: str | None,
) -> None:
    """Add numbers to a campaign's pool (or to a static channel)."""
    specs = [
        NumberSpec(number=n, site=site_name, campaign=campaign_name, channel=channel)
        for n in phone_numbers
    ]
    added = run_with_engine(
        lambda engine, s: catalog_store.import_numbers(engine, specs, s.default_region), ctx
    )
    click.echo(f"added {len(added)} numbers")


@numbers.command("retire")
@click.argument("phone_numbers", nargs=-1, required=True)
@pass_context
@clear_errors
def numbers_retire(ctx: Context, phone_numbers: tuple[str, ...]) -> None:
    """Retire numbers: each finishes its live lease, then leaves the pool."""
    count = run_with_engine(
        lambda engine, s: retire_numbers(engine, list(phone_numbers), s.default_region), ctx
    )
    click.echo(f"{count} numbers retiring")


@main.group()
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


def read_numbers_csv(path: Path) -> list[NumberSpec]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            header = set(reader.fieldnames or ())
            if not {"number", "site", "campaign"} <= header or header - {
                "number",
                "site",
                "campaign",
                "channel",
            }:
                raise ValidationError(f"{path.name}: header must be number,site,campaign[,channel]")
            rows = list(reader)
    except UnicodeDecodeError:
        raise ValidationError(f"{path.name}: not a UTF-8 CSV file") from None
    if not rows:
        raise ValidationError(f"{path.name}: no rows")
    return [
        parse_spec(
            NumberSpec,
            {k: v for k, v in row.items() if k is not None and v != ""},
            where=f"row {line}",
        )
        for line, row in enumerate(rows, start=1)
    ]


@main.group()
def user() -> None:
    """Dashboard and API users."""


@user.command("add")
@click.argument("username")
@click.option("--role", type=click.Choice(["admin", "viewer"]), default="viewer", show_default=True)
@click.password_option(
    help="Prompted for when not given; or CALLPOOL_USER_PASSWORD.", envvar="CALLPOOL_USER_PASSWORD"
)
@pass_context
@clear_errors
def user_add(ctx: Context, username: str, role: str, password: str) -> None:
    """Add a user (the password is hashed with Argon2id)."""
    run_with_engine(
        lambda engine, _s: catalog_store.add_user(engine, username, password, role), ctx
    )
    click.echo(f"user {username!r} added with role {role}")


@main.group()
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
        lambda engine, _s: catalog_store.create_token(engine, username, name), ctx
    )
    click.echo(new.token)


def _print_rows(rows: list[dict[str, Any]], columns: tuple[str, ...], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    if not rows:
        click.echo("(none)")
        return
    for row in rows:
        click.echo("  ".join(f"{col}={_cell(row.get(col))}" for col in columns))


def _cell(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(str(v) for v in value) or "-"
    return "-" if value is None else str(value)


# The AMI commands live in cli_ami; registered before the __main__ guard so that
# `python -m callpool.cli ami-sim` sees them too.
from callpool.cli_ami import ami, ami_sim  # noqa: E402

main.add_command(ami)
main.add_command(ami_sim)

from callpool.cli_report import metrics, report  # noqa: E402

main.add_command(report)
main.add_command(metrics)


if __name__ == "__main__":
    main()
