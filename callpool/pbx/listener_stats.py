"""What a PBX listener counts (for ``/healthz`` and logs), and how it words an error."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.exc import OperationalError

from callpool.errors import StoreUnavailable

# Errors after which a write is retried (the database is down or busy), not dropped.
TRANSIENT = (StoreUnavailable, OperationalError, OSError, TimeoutError)


@dataclass
class ListenerStats:
    """Counters of one listener, shared by its parts (each counts what it does)."""

    events: int = 0  # received from the link
    ignored: int = 0  # events the assembly does not use (not journalled)
    journalled: int = 0
    replayed: int = 0  # journal records fed again at start
    events_written: int = 0
    calls_written: int = 0
    rejected: int = 0  # rows the database refused for good (logged, dropped)
    write_failures: int = 0  # writes that failed and will be retried
    recovered_hangups: int = 0  # channels found gone after a reconnect
    recovered_cdrs: int = 0  # CDR rows read after a start or reconnect
    recovered_calls: int = 0  # calls seen only in the CDRs, stored from them
    recoveries: int = 0  # gaps recovered (at start and after reconnects)
    sweeps: int = 0  # reconciliation sweeps run
    swept_missing: int = 0  # calls the sweeps stored from the CDRs
    swept_corrected: int = 0  # estimated ends the sweeps corrected
    database: str = "ok"  # or "unavailable"
    last_write_error: str | None = None


def brief(exc: BaseException) -> str:
    """An error in one line, without the URL or password a driver may put in it."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    for marker in ("postgresql://", "postgresql+asyncpg://", "password="):
        if marker in text:
            text = text.split(marker)[0] + "…"
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__
