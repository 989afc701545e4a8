"""``callpool ami check`` and ``callpool ami-sim``: test the AMI link; a PBX without Asterisk.

``ami check`` logs in to each configured PBX with the listener's own connection code,
prints the Asterisk version (``CoreSettings``), listens for a few seconds and counts the
events by name, then says whether the events callpool assembles calls from arrived and
what to change in ``manager.conf``/``cdr_manager.conf`` if not.

``ami-sim`` serves the AMI simulator (:mod:`callpool.pbx.sim.server`): a recorded capture
replayed at a chosen speed, or generated calls.

"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import click

from callpool.cli.common import Context, clear_errors
from callpool.errors import AmiError, AmiLoginFailed, ValidationError
from callpool.pbx.ami import AmiConfig, AmiConnection, Headers
from callpool.pbx.assembly import names as n
from callpool.pbx.assembly.folds import FOLDS
from callpool.pbx.sim.scenarios import SCENARIOS
from callpool.settings import PbxSettings

__all__ = ["CheckResult", "ami", "ami_sim", "check_pbx", "describe_check"]

# The AMI class (manager.conf read=) of each event the call assembly folds, as the
# captures' Privilege headers show; the rest are class call.
EVENT_CLASS: dict[str, str] = {name: "call" for name in FOLDS} | {
    n.QUEUE_CALLER_JOIN: "agent",
    n.QUEUE_CALLER_LEAVE: "agent",
    n.CDR: "cdr",
}
# Folded events that only come with some calls: queue calls and transfers.
OCCASIONAL = frozenset({n.QUEUE_CALLER_JOIN, n.QUEUE_CALLER_LEAVE, n.BLIND_TRANSFER})
DIALPLAN_EVENTS = frozenset({n.NEWEXTEN, n.VARSET})


@click.group()
def ami() -> None:
    """The link to Asterisk (AMI)."""


@ami.command("check")
@click.option("--pbx", "pbx_name", help="Check only this PBX (its name in the settings).")
@click.option(
    "--listen",
    type=click.FloatRange(min=0),
    default=5.0,
    show_default=True,
    help="Seconds to listen and count events.",
)
@click.pass_obj
@clear_errors
def check(ctx: Context, pbx_name: str | None, listen: float) -> None:
    """Log in to each PBX, print its Asterisk version and the events that arrive."""
    settings = ctx.settings()
    targets = [p for p in settings.pbx if pbx_name in (None, p.name)]
    if not settings.pbx:
        raise ValidationError("no PBX configured: add a [[pbx]] table or set CALLPOOL_PBX")
    if not targets:
        names = ", ".join(p.name for p in settings.pbx)
        raise ValidationError(f"no PBX named {pbx_name!r} (configured: {names})")
    # The connection logs every state change; here the result is printed instead.
    logging.getLogger("callpool.ami").addHandler(logging.NullHandler())
    failed = 0
    for pbx in targets:
        try:
            result = asyncio.run(check_pbx(pbx, listen))
        except AmiError as exc:
            click.echo(f"error: {exc}", err=True)
            failed += 1
            continue
        for line in describe_check(pbx, result):
            click.echo(line)
    if failed:
        sys.exit(2)


@dataclass
class CheckResult:
    listened: float
    version: str | None = None  # AsteriskVersion from CoreSettings
    ami_version: str | None = None
    cdr_enabled: str | None = None  # CoreCDRenabled: Yes/No
    refused: str | None = None  # why CoreSettings got no version
    counts: Counter[str] = field(default_factory=Counter)
    reconnects: int = 0


def ami_config(pbx: PbxSettings) -> AmiConfig:
    return AmiConfig(
        pbx.name, pbx.host, pbx.port, pbx.username, pbx.secret, ping_interval=pbx.ping_interval
    )


async def check_pbx(pbx: PbxSettings, listen: float) -> CheckResult:
    """Log in, ask ``CoreSettings`` and count events for ``listen`` seconds.

    Raises ``AmiLoginFailed`` on a refused login, ``AmiError`` when the PBX cannot be reached.
    """
    result = CheckResult(listened=listen)

    async def count(headers: Headers, received_at: float) -> None:
        result.counts[str(headers.get(n.EVENT, "?"))] += 1

    config = ami_config(pbx)
    connection = AmiConnection(config, count)
    await connection.start()
    try:
        await _logged_in(connection, config.connect_timeout + config.login_timeout + 1)
        try:
            reply = (await connection.send_action({"Action": "CoreSettings"}))[0]
        except AmiError as exc:
            result.refused = str(exc)
        else:
            if reply.get(n.RESPONSE) == "Success":
                result.version = str(reply.get("AsteriskVersion", "")) or None
                result.ami_version = str(reply.get("AMIversion", "")) or None
                result.cdr_enabled = str(reply.get("CoreCDRenabled", "")) or None
            else:
                result.refused = str(reply.get(n.MESSAGE) or reply.get(n.RESPONSE) or "?")
        await asyncio.sleep(listen)
        result.reconnects = connection.health().reconnects
    finally:
        await connection.close(drain_timeout=1.0)
    return result


async def _logged_in(connection: AmiConnection, within: float) -> None:
    """Wait for the login; fail at the first refused login or failed connection."""
    config = connection.config
    where = f"{config.name}: {config.host}:{config.port}"
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        try:
            await connection.wait_logged_in(0.1)
            return
        except AmiLoginFailed as exc:
            raise AmiLoginFailed(
                f"{exc} (check username and secret in the [[pbx]] settings and manager.conf)"
            ) from None
        except TimeoutError:
            error = connection.health().last_error
            if connection.state == "backoff":
                raise AmiError(f"{where} cannot be reached: {error}") from None
            if loop.time() >= deadline:
                reason = error or "no answer"
                raise AmiError(f"{where}: no login within {within:g}s ({reason})") from None


def describe_check(pbx: PbxSettings, result: CheckResult) -> list[str]:
    """What ``ami check`` prints for one PBX that logged in."""
    counts = result.counts
    lines = [f"{pbx.name}: logged in to {pbx.host}:{pbx.port} as {pbx.username!r}"]
    if result.version:
        cdr = f", CDR {'enabled' if result.cdr_enabled == 'Yes' else 'disabled'}"
        lines.append(
            f"  Asterisk {result.version} (AMI {result.ami_version or '?'})"
            f"{cdr if result.cdr_enabled else ''}"
        )
    else:
        lines.append(
            f"  Asterisk version unknown: CoreSettings refused ({result.refused});"
            " give the user write = reporting in manager.conf"
        )
    total = sum(counts.values())
    lines.append(f"  {total} events in {result.listened:g} s:")
    lines += [f"    {name} {count}" for name, count in counts.most_common()]
    needed = sorted(set(FOLDS) - OCCASIONAL - {n.CDR})
    seen = [name for name in needed if counts[name]]
    lines.append(f"  call events callpool uses: {len(seen)} of {len(needed)} seen")
    if missing := [f"{name} ({EVENT_CLASS[name]})" for name in needed if not counts[name]]:
        lines.append(f"    not seen: {', '.join(missing)}")
    lines.append(f"  Cdr events: {counts[n.CDR]}")
    lines += [f"  hint: {hint}" for hint in _hints(result, bool(seen))]
    if result.reconnects:
        lines.append(f"  warning: the link dropped {result.reconnects} times while listening")
    return lines


def _hints(result: CheckResult, saw_calls: bool) -> list[str]:
    counts = result.counts
    hints = []
    if not sum(counts.values()) - counts[n.FULLY_BOOTED]:
        hints.append(
            f"no events in {result.listened:g} s: place a test call during the check "
            "(--listen 60); if it still shows nothing, check read = call,cdr,agent in "
            "manager.conf"
        )
    elif not saw_calls:
        hints.append("no call events: add call to read = in manager.conf")
    if counts[n.HANGUP] and not counts[n.CDR]:
        hints.append(
            "calls ended but no Cdr event came: enable cdr_manager.conf ([general] "
            "enabled = yes), add cdr to read = in manager.conf, and set unanswered = yes "
            "in cdr.conf"
        )
    if result.cdr_enabled == "No":
        hints.append("CDRs are disabled in Asterisk: set enable = yes in cdr.conf [general]")
    noise = sum(counts[name] for name in DIALPLAN_EVENTS)
    if noise:
        hints.append(
            f"{noise} Newexten/VarSet events (class dialplan) that callpool ignores: "
            "drop dialplan from read = in manager.conf"
        )
    return hints


@click.command("ami-sim")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=5038,
    show_default=True,
    help="Port to listen on (0: any free port).",
)
@click.option(
    "--capture",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Replay a recorded AMI capture (*.ami).",
)
@click.option(
    "--scenario",
    type=click.Choice(["random", *SCENARIOS]),
    help="Generate calls instead (default: random, endless).",
)
@click.option(
    "--speed",
    type=click.FloatRange(min=0),
    default=1.0,
    show_default=True,
    help="1 = real time, 10 = ten times faster, 0 = as fast as possible.",
)
@click.option("--loop", is_flag=True, help="Start over (with fresh ids) when the source ends.")
@click.option("--seed", type=int, help="Seed of the random scenario.")
@click.option("--username", default="callpool", show_default=True)
@click.option("--secret", default="secret", show_default=True, envvar="CALLPOOL_AMI_SIM_SECRET")
@click.option(
    "--cdr-csv",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Append the CDRs of the calls played to this Master.csv, as Asterisk's cdr_csv does.",
)
@click.option(
    "--recordings-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write the recorded calls' audio here, as MixMonitor does (the PBX's monitor "
    "directory); random answered calls are recorded. Needs espeak-ng and sox.",
)
@clear_errors
def ami_sim(
    host: str,
    port: int,
    capture: Path | None,
    scenario: str | None,
    speed: float,
    loop: bool,
    seed: int | None,
    username: str,
    secret: str,
    cdr_csv: Path | None = None,
    recordings_dir: Path | None = None,
) -> None:
    """Serve a simulated Asterisk Manager Interface until Ctrl-C."""
    from callpool.pbx.sim.recorder import missing_tools
    from callpool.pbx.sim.server import run_simulator

    if capture is not None and scenario is not None:
        raise ValidationError("give --capture or --scenario, not both")
    if recordings_dir is not None and missing_tools():
        needed = " and ".join(missing_tools())
        raise ValidationError(f"--recordings-dir needs {needed} (apt-get install {needed})")
    if capture is not None and capture.suffix != ".ami":
        raise ValidationError(f"{capture.name}: a capture is a .ami file")
    source: Path | str = capture if capture is not None else (scenario or "random")
    # run_simulator logs the address it listens on (the real port, also for --port 0).
    sim_log = logging.getLogger("callpool.ami.sim")
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(message)s"))
    sim_log.addHandler(handler)
    level = sim_log.level
    sim_log.setLevel(logging.INFO)
    click.echo(f"AMI simulator for user {username!r}; Ctrl-C to stop")
    if recordings_dir is not None:
        click.echo(f"recordings written to {recordings_dir}")

    async def serve() -> None:
        # SIGTERM stops it like Ctrl-C does (asyncio.run handles SIGINT itself).
        task = asyncio.current_task()
        assert task is not None
        with contextlib.suppress(NotImplementedError):  # no signal handlers on Windows
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await run_simulator(
                host, port, username, secret, source, speed, loop, seed, cdr_csv, recordings_dir
            )

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        raise AmiError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    finally:
        sim_log.removeHandler(handler)
        sim_log.setLevel(level)
    click.echo("AMI simulator stopped")
