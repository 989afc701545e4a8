"""`callpool site|campaign|channel|numbers`: the catalog, one transaction per command."""

from __future__ import annotations

import csv
import shlex
import sys
from pathlib import Path
from typing import Any

import click
from sqlalchemy.ext.asyncio import AsyncEngine

from callpool.catalog import store as catalog_store
from callpool.catalog.readiness import check_site
from callpool.catalog.readiness_sql import site_facts
from callpool.catalog.spec import (
    CampaignSpec,
    ChannelSpec,
    NumberSpec,
    SiteAdditions,
    SiteRecordings,
    SiteSpec,
    parse_spec,
)
from callpool.cli.common import Context, clear_errors, pass_context, print_rows, run_with_engine
from callpool.db.tables import Site
from callpool.errors import ValidationError
from callpool.settings import Settings
from callpool.tracking.embed import embed_tag, snippet_base
from callpool.tracking.pool_status import retire_numbers


@click.group()
def site() -> None:
    """Websites that embed the snippet."""


SWITCHES = {"--recordings": ("on", "off"), "--recordings-for-viewers": ("yes", "no")}


def _switch(option: str, value: str | None) -> bool | None:
    """``on``/``off`` (``yes``/``no``) as a bool; None when the option was not given."""
    if value is None:
        return None
    yes, no = SWITCHES[option]
    if value.lower() not in (yes, no):
        raise ValidationError(f"{option}: must be {yes} or {no}, not {value[:20]!r}")
    return value.lower() == yes


def _recording_days(value: str | None) -> str | None:
    """Days as given (the spec checks them); ``forever`` is null."""
    return None if value is None or value.lower() == "forever" else value


def _recordings(
    enabled: str | None, for_viewers: str | None, days: str | None, target_only: bool | None
) -> dict[str, Any]:
    """The recording options given, as SiteSpec/SiteRecordings fields (absent: not given)."""
    given = {
        "recordings_enabled": _switch("--recordings", enabled),
        "recordings_for_viewers": _switch("--recordings-for-viewers", for_viewers),
        "recording_keep_target_only": target_only,
    }
    fields: dict[str, Any] = {name: value for name, value in given.items() if value is not None}
    if days is not None:
        fields["recording_retention_days"] = _recording_days(days)
    return fields


def _recording_options(func: Any) -> Any:
    options = [
        click.option(
            "--recordings",
            "recordings_enabled",
            metavar="on|off",
            help="Links to the calls' recordings at all (default on).",
        ),
        click.option(
            "--recordings-for-viewers",
            metavar="yes|no",
            help="Viewers may play recordings too (default yes); admins always may.",
        ),
        click.option(
            "--recording-retention-days",
            metavar="N|forever",
            help="Delete a call's recording N days after the call (default forever).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@site.command("add")
@click.argument("name")
@click.option(
    "--origin", "origins", multiple=True, help="Allowed origin, e.g. https://example.com."
)
@click.option("--number", "numbers", multiple=True, help="The site's own phone number to replace.")
@click.option("--block", "blocked", multiple=True, help="IP range (CIDR) that gets no lease.")
@click.option("--consent-required", is_flag=True, help="Wait for the visitor's consent.")
@click.option("--consent-cookie", help="Cookie whose presence means consent.")
@_recording_options
@click.option(
    "--recording-keep-target-only",
    is_flag=True,
    default=None,
    help="Delete the recordings of calls that are not target calls.",
)
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
    recordings_enabled: str | None,
    recordings_for_viewers: str | None,
    recording_retention_days: str | None,
    recording_keep_target_only: bool | None,
) -> None:
    """Add a site; prints its public key for the snippet."""
    recordings = _recordings(
        recordings_enabled,
        recordings_for_viewers,
        recording_retention_days,
        recording_keep_target_only,
    )
    spec = parse_spec(
        SiteSpec,
        {
            "name": name,
            "allowed_origins": origins,
            "own_numbers": numbers,
            "blocked_cidrs": blocked,
            "consent_required": consent_required,
            "consent_cookie": consent_cookie,
            **recordings,
        },
    )
    found = run_with_engine(
        lambda engine, s: catalog_store.add_site(engine, spec, s.default_region), ctx
    )
    click.echo(f"site {found.name!r} added; snippet key {found.public_key}")
    click.echo(f"embed on every page: {embed_tag(_snippet_base(ctx), found.public_key)}")
    if not found.allowed_origins:
        click.echo(
            "warning: no --origin: the server refuses the snippet's visits from every page "
            f"(403) until one is allowed: callpool site update {shlex.quote(name)} "
            "--add-origin https://www.example.com",
            err=True,
        )


@site.command("update")
@click.argument("name")
@click.option("--add-origin", "origins", multiple=True, help="Allow one more origin (repeat).")
@click.option(
    "--add-number", "numbers", multiple=True, help="One more own number to replace (repeat)."
)
@_recording_options
@click.option(
    "--recording-keep-target-only/--recording-keep-all",
    default=None,
    help="Delete the recordings of calls that are not target calls (or keep them all).",
)
@pass_context
@clear_errors
def site_update(
    ctx: Context,
    name: str,
    origins: tuple[str, ...],
    numbers: tuple[str, ...],
    recordings_enabled: str | None,
    recordings_for_viewers: str | None,
    recording_retention_days: str | None,
    recording_keep_target_only: bool | None,
) -> None:
    """Add allowed origins and own numbers to site NAME, or change its recording settings."""
    recordings = _recordings(
        recordings_enabled,
        recordings_for_viewers,
        recording_retention_days,
        recording_keep_target_only,
    )
    if not origins and not numbers and not recordings:
        raise ValidationError(
            "nothing to change: give --add-origin, --add-number or a recording option"
        )
    additions = parse_spec(
        SiteAdditions, {"name": name, "allowed_origins": origins, "own_numbers": numbers}
    )
    changes = parse_spec(SiteRecordings, recordings)

    async def update(engine: AsyncEngine, settings: Settings) -> Site:
        # Two transactions: the additions first, as only they can be refused (a number
        # in use); the recording settings were checked above and only set then.
        if origins or numbers:
            await catalog_store.extend_site(engine, additions, settings.default_region)
        return await catalog_store.set_site_recordings(engine, name, changes)

    found = run_with_engine(update, ctx)
    click.echo(
        f"site {found.name!r}: origins {', '.join(found.allowed_origins) or 'none'}; "
        f"own numbers {', '.join(found.own_numbers) or 'none'}"
    )
    if recordings:
        click.echo(f"  recordings: {describe_recordings(found)}")


def describe_recordings(site: Site) -> str:
    """A site's recording settings in words, as the options set them."""
    days = site.recording_retention_days
    return ", ".join(
        [
            "on" if site.recordings_enabled else "off",
            "viewers too" if site.recordings_for_viewers else "admins only",
            f"kept {days} days" if days else "kept forever",
            "target calls only" if site.recording_keep_target_only else "every call",
        ]
    )


@site.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_context
@clear_errors
def site_list(ctx: Context, as_json: bool) -> None:
    """List sites, each with the line its pages embed."""
    sites = run_with_engine(lambda engine, _s: catalog_store.list_sites(engine), ctx)
    base = _snippet_base(ctx)
    rows = [catalog_store.site_dict(s) | {"embed": embed_tag(base, s.public_key)} for s in sites]
    if as_json or not rows:
        print_rows(rows, (), as_json)
        return
    for row in rows:
        print_rows([row], ("name", "public_key", "own_numbers", "allowed_origins"), False)
        click.echo(f"  embed: {row['embed']}")


@site.command("check")
@click.argument("name")
@pass_context
@clear_errors
def site_check(ctx: Context, name: str) -> None:
    """List what site NAME still lacks before visits get tracking numbers (exit 1 if any)."""
    facts = run_with_engine(lambda engine, _s: site_facts(engine, name), ctx)
    embed = embed_tag(_snippet_base(ctx), facts.key)
    findings = check_site(facts, embed, public_url_set=bool(ctx.settings().public_url))
    click.echo(f"site {facts.name!r} (snippet key {facts.key}):")
    for finding in findings:
        label = "MISSING" if finding.level == "missing" else finding.level
        click.echo(f"  {label:8} {finding.text}")
        if finding.fix:
            click.echo(f"  {'':8} fix: {finding.fix}")
    missing = sum(finding.level == "missing" for finding in findings)
    if missing:
        click.echo(f"{missing} {'thing' if missing == 1 else 'things'} missing")
        sys.exit(1)
    click.echo("ready: nothing missing")


def _snippet_base(ctx: Context) -> str:
    settings = ctx.settings()
    return snippet_base(settings.public_url, settings.host, settings.port)


@click.group()
def campaign() -> None:
    """Advertising campaigns of a site."""


@campaign.command("add")
@click.argument("site_name")
@click.argument("name")
@click.option("--timezone", default="UTC", show_default=True)
@click.option("--target-seconds", type=int, default=10, show_default=True)
@click.option(
    "--hold-seconds",
    type=int,
    default=900,
    show_default=True,
    help="Seconds a visitor keeps a pool number after the page's last heartbeat; at least 30.",
)
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
    print_rows(rows, ("site", "name", "timezone", "target_seconds", "hold_seconds"), as_json)


@click.group()
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
    print_rows(
        rows, ("name", "kind", "priority", "utm_source", "utm_medium", "referrer_host"), as_json
    )


@click.group()
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


NUMBER_COLUMNS = ("number", "site", "campaign", "channel")


def read_numbers_csv(path: Path) -> list[NumberSpec]:
    """The rows of a numbers CSV; an error names the row (the header not counted) and column."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            header = reader.fieldnames or []
            if not {"number", "site", "campaign"} <= set(header) or set(header) - set(
                NUMBER_COLUMNS
            ):
                raise ValidationError(
                    f"{path.name}: the first line must be the header number,site,campaign"
                    f" (and optionally channel); it is {','.join(header) or 'empty'}"
                )
            rows = list(reader)
    except UnicodeDecodeError:
        raise ValidationError(f"{path.name}: not a UTF-8 CSV file") from None
    except csv.Error as exc:
        raise ValidationError(f"{path.name}: not a readable CSV file ({exc})") from None
    if not rows:
        raise ValidationError(f"{path.name}: no rows after the header")
    return [_number_row(row, line, len(header)) for line, row in enumerate(rows, start=1)]


def _number_row(row: dict[str | None, Any], line: int, columns: int) -> NumberSpec:
    if None in row:  # DictReader files the cells past the header's under None
        cells = columns + len(row[None])
        raise ValidationError(f"row {line}: {cells} cells, but the header has {columns} columns")
    # A short row's missing cells are None; an empty cell is as good as a missing one.
    values = {key: value for key, value in row.items() if key is not None and value}
    return parse_spec(NumberSpec, values, row=line)
