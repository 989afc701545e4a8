"""``callpool demo``: callpool with a simulated PBX and simulated customers, in one command."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import click

from callpool.cli.common import Context, clear_errors, pass_context


@click.command()
@click.option("--host", help="Address to listen on (default 127.0.0.1).")
@click.option("--port", type=int, help="Port to listen on (default 8080).")
@click.option("--duration", type=click.FloatRange(min=1), help="Stop after this many seconds.")
@click.option("--no-history", is_flag=True, help="Skip the 90 days of simulated history.")
@click.option("--seed", type=int, default=1, show_default=True, help="Seed of the traffic.")
@click.option("--truth", type=click.Path(path_type=Path), hidden=True)
@pass_context
@clear_errors
def demo(
    ctx: Context,
    host: str | None,
    port: int | None,
    duration: float | None,
    no_history: bool,
    seed: int,
    truth: Path | None,
) -> None:
    """Run callpool with a simulated PBX, a demo site and simulated visitors and calls."""
    from callpool.demo.runtime import run_demo

    settings = ctx.settings(host=host, port=port)
    logging.basicConfig(level="WARNING", format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # Stopping cancels a running job; APScheduler logs that as an error with a traceback.
    logging.getLogger("apscheduler").setLevel(logging.CRITICAL)
    # The daily CDR sweep has no CDR source to read for the simulator: nothing to report.
    logging.getLogger("callpool.ami").setLevel(logging.ERROR)
    asyncio.run(
        run_demo(
            settings,
            duration=duration,
            with_history=not no_history,
            seed=seed,
            echo=lambda line: click.echo(line),
            truth_file=truth,
        )
    )
