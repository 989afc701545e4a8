"""A database that cannot be used, explained in one line that says what to do.

The CLI and ``serve`` run their database work inside :func:`explained`: a failure to
connect, log in, find the database, write to it or find its tables becomes a
``StoreUnavailable`` (or its ``DatabaseUnusable``) naming the problem and the fix, and
the CLI prints that line and exits 2 instead of a driver's traceback. Anything not
recognised here passes unchanged: a bug should still show its traceback.

The messages are built from the URL's host, port, database and user and from fixed text,
never from the URL itself or the server's words about it, so a password cannot leak.
"""

from __future__ import annotations

import errno
import socket
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.engine import URL, make_url

from callpool.errors import CallpoolError, DatabaseUnusable, StoreUnavailable

__all__ = ["describe", "explained", "why_not_writable"]

URL_SETTING = "CALLPOOL_DATABASE_URL"

# SQLite's messages (sqlite3 gives no error codes before Python 3.11's sqlite_errorname,
# and aiosqlite passes the message through): the start of each, and what it means.
_SQLITE: tuple[tuple[str, str], ...] = (
    (
        "attempt to write a readonly database",
        "the SQLite database {path} is read-only: make the file and its directory "
        "writable by this user, or point {setting} elsewhere",
    ),
    (
        "unable to open database file",
        "cannot open the SQLite database {path}: check that it is a file in a directory "
        "this user can write to, or point {setting} elsewhere",
    ),
    (
        "database or disk is full",
        "the disk holding the SQLite database {path} is full: free some space",
    ),
    (
        "disk i/o error",
        "the disk failed while reading or writing the SQLite database {path}: check the disk",
    ),
    (
        "database is locked",
        "the SQLite database {path} is locked by another process: stop the other "
        "process, or use PostgreSQL for several processes",
    ),
    (
        "file is not a database",
        "{path} is not a SQLite database: point {setting} at a callpool database or a new file",
    ),
    ("no such table", "the database {path} has no callpool tables: run `callpool db upgrade`"),
)


@contextmanager
def explained(url: str) -> Iterator[None]:
    """Re-raise a recognised database failure as one clear ``StoreUnavailable``."""
    try:
        yield
    except StoreUnavailable as exc:
        problem = describe(exc.__cause__, url) if exc.__cause__ is not None else None
        if problem is None:
            raise
        raise problem from None
    except CallpoolError:
        raise  # already one clear line
    except Exception as exc:
        problem = describe(exc, url)
        if problem is None:
            raise
        raise problem from None


def describe(exc: BaseException, url: str) -> StoreUnavailable | None:
    """The one-line error for ``exc``, or None when it is not a database problem we know."""
    parsed = make_url(url)
    for link in _chain(exc):
        state = getattr(link, "sqlstate", None)
        if isinstance(state, str) and (found := _postgresql(state, parsed)):
            return found
        if isinstance(link, sqlite3.Error):
            return _sqlite(str(link), parsed)
        if isinstance(link, socket.gaierror):
            return StoreUnavailable(
                f"cannot find the database host {parsed.host!r}: check the host in {URL_SETTING}"
            )
        if isinstance(link, TimeoutError):
            return StoreUnavailable(
                f"PostgreSQL at {_where(parsed)} did not answer in time: check that it runs "
                "and that a firewall lets this machine in"
            )
        if isinstance(link, ConnectionRefusedError) or (
            isinstance(link, OSError) and link.errno == errno.ECONNREFUSED
        ):
            return StoreUnavailable(
                f"cannot connect to PostgreSQL at {_where(parsed)}: connection refused; "
                f"start PostgreSQL, or fix the host and port in {URL_SETTING}"
            )
        if isinstance(link, OSError) and link.strerror:
            if parsed.get_backend_name() == "sqlite":  # making its directory failed
                reason = why_not_writable(link, Path(parsed.database or "."))
                return DatabaseUnusable(
                    f"cannot create the SQLite database {parsed.database}: {reason}; "
                    f"point {URL_SETTING} at a writable place"
                )
            return StoreUnavailable(
                f"cannot connect to PostgreSQL at {_where(parsed)}: {link.strerror}"
            )
    return None


def why_not_writable(exc: OSError, path: Path) -> str:
    """Why a file or directory at ``path`` could not be made: the OS's reason, or which
    file stands where a directory must be (mkdir only says "File exists")."""
    if isinstance(exc, FileExistsError | NotADirectoryError):
        for place in (path, *path.parents):
            if place.exists() and not place.is_dir():
                return f"{place} is a file, not a directory"
    return exc.strerror or str(exc)


def _postgresql(state: str, url: URL) -> StoreUnavailable | None:
    user, database = url.username or "(none)", url.database or "(none)"
    where = _where(url)
    if state == "3D000":
        return DatabaseUnusable(
            f"PostgreSQL at {where} has no database {database!r}: create it "
            f"(createdb -h {url.host} -p {url.port or 5432} -U {user} {database}), "
            "then run `callpool db upgrade`"
        )
    if state == "28P01":
        return DatabaseUnusable(
            f"PostgreSQL at {where} refused the password of user {user!r}: check the "
            f"password in {URL_SETTING}"
        )
    if state.startswith("28"):
        return DatabaseUnusable(
            f"PostgreSQL at {where} refused user {user!r} (unknown role, or no pg_hba.conf "
            f"entry for it): check the user in {URL_SETTING}"
        )
    if state == "42P01":
        return DatabaseUnusable(
            f"the database {database!r} has no callpool tables: run `callpool db upgrade`"
        )
    if state == "42501":
        return DatabaseUnusable(
            f"user {user!r} may not use the callpool tables in {database!r}: grant it "
            "the rights, or connect as their owner"
        )
    if state in ("25006", "53100"):
        reason = "is read-only (a standby?)" if state == "25006" else "has a full disk"
        return DatabaseUnusable(f"PostgreSQL at {where} {reason}")
    if state in ("53300", "57P03"):
        reason = "has no free connection" if state == "53300" else "is starting up"
        return StoreUnavailable(f"PostgreSQL at {where} {reason}: try again shortly")
    return None


def _sqlite(message: str, url: URL) -> StoreUnavailable | None:
    path = url.database or ":memory:"
    lowered = message.lower()
    for start, text in _SQLITE:
        if lowered.startswith(start):
            return DatabaseUnusable(text.format(path=path, setting=URL_SETTING))
    return None


def _where(url: URL) -> str:
    return f"{url.host or 'localhost'}:{url.port or 5432}"


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc``, what it wraps (SQLAlchemy's ``orig``) and what caused it, each once."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        link = todo.pop(0)
        if id(link) in seen:
            continue
        seen.add(id(link))
        yield link
        context = None if link.__suppress_context__ else link.__context__
        orig = getattr(link, "orig", None)
        todo += [e for e in (orig, link.__cause__, context) if e is not None]
