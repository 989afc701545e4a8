"""What every command shares: the settings context, the engine runner, one-line errors."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click
from sqlalchemy.ext.asyncio import AsyncEngine

from callpool.db.engine import create_engine
from callpool.db.problems import explained
from callpool.errors import CallpoolError
from callpool.settings import Settings, load_settings

T = TypeVar("T")


class Context:
    def __init__(self, config: Path | None, database_url: str | None) -> None:
        self.config = config
        self.database_url = database_url

    def settings(self, **overrides: Any) -> Settings:
        return load_settings(self.config, database_url=self.database_url, **overrides)


pass_context = click.make_pass_decorator(Context)


def run_with_engine(func: Callable[[AsyncEngine, Settings], Awaitable[T]], ctx: Context) -> T:
    """Run ``func`` on an engine; a database that cannot be used is one line (db.problems)."""
    settings = ctx.settings()
    url = settings.database_url.get_secret_value()

    async def runner() -> T:
        engine = create_engine(url)
        try:
            return await func(engine, settings)
        finally:
            await engine.dispose()

    with explained(url):
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


def print_rows(rows: list[dict[str, Any]], columns: tuple[str, ...], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    if not rows:
        click.echo("(none)")
        return
    for row in rows:
        click.echo("  ".join(f"{col}={cell(row.get(col))}" for col in columns))


def cell(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(str(v) for v in value) or "-"
    return "-" if value is None else str(value)
