"""``callpool simulate``: attribution accuracy for a pool size, hold time and traffic.

Plans synthetic traffic (``demo.traffic``), plays it against a pool with the pool's own
rules and credits the calls with the same pure attribution the call store uses (a test
holds the two equal on both databases; ``callpool demo`` writes such a history through
the call store). Prints the share of calls credited to the right session
and channel, unattributed and wrong, and the pool exhaustions. Deterministic with a seed.
``callpool demo`` drives the real tracking API and the AMI path in real time.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import click

from callpool.cli.common import Context, clear_errors, pass_context


@click.command()
@click.option("--days", type=click.IntRange(1, 365), default=14, show_default=True)
@click.option("--visitors", type=click.FloatRange(min=1), default=400, show_default=True,
              help="Visitors a day.")  # fmt: skip
@click.option("--shape", type=click.Choice(["steady", "evening"]), default="steady",
              show_default=True)  # fmt: skip
@click.option(
    "--pool", "pool_size", type=click.IntRange(1, 10000), help="Numbers (default: Erlang-B)."
)
@click.option("--hold", type=click.IntRange(30, 86400), default=900, show_default=True)
@click.option("--grace", type=click.IntRange(0, 7 * 86400), default=1800, show_default=True)
@click.option("--seed", type=int, default=1, show_default=True)
@pass_context
@clear_errors
def simulate(
    ctx: Context,
    days: int,
    visitors: float,
    shape: str,
    pool_size: int | None,
    hold: int,
    grace: int,
    seed: int,
) -> None:
    """Simulate traffic and calls; print how accurately calls are attributed."""
    from callpool.demo import traffic
    from callpool.demo.pool_run import PoolConfig, simulate_in_memory
    from callpool.demo.sizing import recommended_for

    chosen = traffic.steady_b2c(visitors) if shape == "steady" else traffic.evening_peak(visitors)
    recommended, rule = recommended_for(chosen, hold)
    size = pool_size or recommended
    start = datetime(2026, 1, 5, tzinfo=UTC)
    plan = traffic.plan_traffic(chosen, start, start + timedelta(days=days), seed)
    numbers = tuple(f"+7495555{n:04d}" for n in range(1, size + 1))
    config = PoolConfig(numbers, hold=timedelta(seconds=hold), grace=timedelta(seconds=grace))
    accuracy = simulate_in_memory(plan, config)
    click.echo(
        f"{chosen.name}, {visitors:g} visitors/day, {days} days, pool {size} "
        f"(Erlang-B {recommended}, rule of thumb {rule}), hold {hold} s, grace {grace} s"
    )
    click.echo(accuracy.summary())
    click.echo("credited by: " + ", ".join(f"{m} {n}" for m, n in accuracy.methods))
