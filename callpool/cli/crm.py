"""`callpool spend|outcome`: ad spend and call outcomes, as the API takes them from a CRM.

The command line runs on the server, as its operator: it may edit every site.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

import click
from sqlalchemy.ext.asyncio import AsyncEngine

from callpool.accounts.access import bootstrap_access
from callpool.cli.common import Context, clear_errors, pass_context, run_with_engine
from callpool.errors import ValidationError
from callpool.metrics import outcomes, spend
from callpool.settings import Settings


@click.group("spend")
def spend_group() -> None:
    """Advertising spend per channel and day."""


@spend_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@pass_context
@clear_errors
def spend_import(ctx: Context, file: Path) -> None:
    """Import FILE.csv (date,campaign,channel,amount[,currency][,site]); all or nothing;
    a campaign's day imported again replaces that day."""
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ValidationError(f"{file.name}: not UTF-8 text") from None
    rows = spend.parse_spend_csv(text)
    done = run_with_engine(
        lambda engine, _s: spend.import_spend(
            engine, bootstrap_access(), rows, datetime.now(UTC), f"file:{file.name}"
        ),
        ctx,
    )
    click.echo(
        f"imported {done.rows} rows for {done.days} campaign days "
        f"({done.replaced} earlier rows replaced)"
    )


@click.group("outcome")
def outcome_group() -> None:
    """Call outcomes (leads, sales) and their value."""


@outcome_group.command("set")
@click.option("--call", "call_id", type=int, help="callpool's call id.")
@click.option("--caller", help="Or the caller's number ...")
@click.option("--at", "at", help="... and when the call started (ISO time with offset).")
@click.option("--site", help="Only calls of this site (with --caller).")
@click.option("--outcome", required=True, help="One of the campaign's outcomes; '' clears it.")
@click.option("--value", help="The deal's value, e.g. 1500.00.")
@pass_context
@clear_errors
def outcome_set(
    ctx: Context,
    call_id: int | None,
    caller: str | None,
    at: str | None,
    site: str | None,
    outcome: str,
    value: str | None,
) -> None:
    """Set a call's outcome and value (idempotent)."""
    amount = _amount(value)
    if (call_id is None) == (caller is None):
        raise ValidationError("give --call, or --caller with --at")
    moment = _moment(at) if caller is not None else None
    access = bootstrap_access()

    async def run(engine: AsyncEngine, settings: Settings) -> outcomes.OutcomeSet:
        target = call_id
        if target is None:
            assert caller is not None and moment is not None
            region = settings.default_region
            target = await outcomes.find_call(engine, access, caller, moment, region, site)
        now = datetime.now(UTC)
        return await outcomes.set_outcome(engine, access, target, outcome or None, amount, now)

    done = run_with_engine(run, ctx)
    state = "set" if done.changed else "unchanged"
    click.echo(f"call {done.call_id} ({done.campaign}): outcome {done.outcome!r}, value "
               f"{done.value}: {state}")  # fmt: skip


def _amount(raw: str | None) -> Decimal | None:
    if raw is None or raw.strip() == "":
        return None
    try:
        amount = Decimal(raw.strip().replace(",", "."))
    except InvalidOperation:
        raise ValidationError("--value: must be an amount like 1500.00") from None
    if amount < 0 or amount >= Decimal("1e12"):
        raise ValidationError("--value: must be between 0 and 999,999,999,999.99")
    return amount


def _moment(raw: str | None) -> datetime:
    if raw is None:
        raise ValidationError("--at is required with --caller")
    try:
        return datetime.fromisoformat(raw)
    except ValueError:
        raise ValidationError("--at: an ISO time like 2026-12-01T10:00:00+03:00") from None
