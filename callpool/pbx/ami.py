"""The AMI connection: panoramisk, with its sharp edges guarded. The only panoramisk import.

``AmiConnection`` keeps one logged-in AMI session to one PBX and hands every event, in
order, to an async handler: ``await handler(msg, received_at)`` where ``msg`` is an
:class:`~callpool.pbx.assembly.events.AmiMessage` (parsed once, by the events module;
repeated headers kept) and ``received_at`` is ``time.time()`` when the event was read.

How each guard of STYLE.md is met (checked against panoramisk 1.4's source):

- *Reconnects are ours.* panoramisk's ``Manager.connect()`` schedules a reconnect with
  ``loop.call_later`` when the first connect fails and again from ``connection_lost``;
  ``close()`` cannot cancel either. So ``connect()`` is never called: we open the TCP
  connection ourselves (``loop.create_connection`` under ``wait_for``) and hand it to
  ``Manager.connection_made``; a ``Manager`` subclass overrides ``connection_lost`` to
  report to us instead of reconnecting. A fresh ``Manager`` is built for every attempt,
  inside the running loop, so nothing (responses, awaiting actions) leaks between them.
  The supervisor task reconnects with exponential backoff, a cap and jitter.
- *Login is awaited.* No ``username`` goes into the Manager's config, so it does not send
  its own Login (a future nobody awaits; Asterisk closes the link after a refusal and
  panoramisk would reconnect and retry every 2 s, forever); we send ``Login`` as an
  ordinary action under a timeout. A refusal sets state ``login_failed`` (kept through the
  backoff, logged at ERROR on every attempt) and ``wait_logged_in`` raises
  ``AmiLoginFailed``. The secret is only in that action; it is never logged by us, and a
  filter on the logger given to panoramisk masks it should panoramisk log the action.
- *Silent peers and actions without timeouts.* panoramisk's own pinger is disabled (its
  ``ping`` is a no-op here); a watchdog sends ``Ping`` every ``ping_interval`` and drops the
  connection when no answer comes within ``ping_timeout``. Every action runs under
  ``asyncio.wait_for``, and is failed at once when the connection is lost.
- *Callbacks.* The Manager's built-in ``FullyBooted`` callback (an async one, which would
  become an unreferenced task) is removed; ONE sync callback converts the message and puts
  ``(message, received_at)`` on an ``asyncio.Queue``, inside ``try`` so it never raises into
  panoramisk's read loop. One consumer task (kept, cancelled by ``close()``) awaits the
  handler per event, logging and counting its exceptions with the PBX and event name.
  The same queue carries *marks*, run by the consumer in stream order: ``on_session`` is
  called before the first event of each new session (after every event of the one
  before), and :meth:`AmiConnection.caught_up` returns once every event received before
  it was called has been handled (a login hook reading an action's answer uses both to
  tell the events from before the answer from the answer itself).
- *UTF-8 split across reads.* The Manager decodes with ``latin-1`` (one char per byte,
  never fails, nothing dropped); header names and values are re-encoded to bytes with
  latin-1 and decoded as UTF-8 by ``events.message_from_latin1``.
- ``panoramisk.testing`` is not used.

What panoramisk still does that the caller should know: its parser strips each message,
so a header with an empty value that is the *last* line of a message is lost (read it
with ``headers.get(name, "")``); its ``content`` pseudo-header is left out; ``Shutdown``
events close the connection (then we reconnect). The event queue is unbounded (its depth
is in :meth:`AmiConnection.health`).

The module is a little past 400 lines because this docstring maps each guard to the code.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Container, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from panoramisk import Manager
from panoramisk.ami_protocol import AMIProtocol
from pydantic import SecretStr

from callpool.errors import AmiError, AmiLoginFailed
from callpool.pbx.assembly.events import AmiMessage, decode_latin1, message_from_latin1

log = logging.getLogger("callpool.ami")

# What a handler receives and an action returns: one message, parsed once. (The name is
# kept from when it was a dict, for the callers that annotate with it.)
Headers = AmiMessage
EventHandler = Callable[[AmiMessage, float], Awaitable[None]]
SkipHook = Callable[[float], None]
LoginHook = Callable[[], Awaitable[None]]
SessionHook = Callable[[], None]
# On the event queue: an event, or a mark the consumer runs when it gets there.
_Queued = tuple[AmiMessage, float] | Callable[[], None]
State = Literal["connecting", "logged_in", "login_failed", "backoff", "closed"]


@dataclass(frozen=True)
class AmiConfig:
    """How to reach one PBX. ``repr`` masks the secret (``SecretStr('**********')``)."""

    name: str
    host: str
    port: int
    username: str
    secret: SecretStr
    ping_interval: float = 20.0
    ping_timeout: float = 5.0
    connect_timeout: float = 5.0
    login_timeout: float = 5.0
    action_timeout: float = 10.0
    backoff_initial: float = 1.0
    backoff_max: float = 60.0
    events: bool = True


@dataclass(frozen=True)
class AmiHealth:
    """What ``/healthz`` shows for one PBX link."""

    name: str
    state: State
    last_error: str | None
    connected_since: datetime | None
    events_received: int
    handler_errors: int
    reconnects: int  # connection attempts after the first one
    queue_depth: int


def wire_message(message: Mapping[str, Any]) -> AmiMessage:
    """A panoramisk Message as an :class:`AmiMessage`, parsed once by the events module.

    A panoramisk ``Message`` keeps its headers in ``_store``, ``{lower-cased name: (name,
    value)}``; its ``items()`` would walk that in Python with a ``lower()`` per header.
    """
    store = getattr(message, "_store", None)
    return message_from_latin1(store.values() if type(store) is dict else message.items())


def _event_name(message: Mapping[str, Any]) -> str:
    """The ``Event`` header of a panoramisk Message, read without converting the rest."""
    store = getattr(message, "_store", None)
    if type(store) is dict:
        entry = store.get("event")
        return decode_latin1(str(entry[1])) if entry is not None else ""
    return decode_latin1(str(message.get("Event", "")))


class _Protocol(AMIProtocol):  # type: ignore[misc]
    """panoramisk's protocol, telling us when the transport is really closed."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.transport_closed = asyncio.get_running_loop().create_future()

    def connection_lost(self, exc: Exception | None) -> None:
        try:
            super().connection_lost(exc)
        finally:
            if not self.transport_closed.done():
                self.transport_closed.set_result(None)


class _Manager(Manager):  # type: ignore[misc]
    """A Manager that never reconnects or pings by itself; losses go to ``on_lost``."""

    on_lost: Callable[[Exception | None], None] = staticmethod(lambda exc: None)
    pinger: asyncio.TimerHandle | None

    def ping(self) -> None:
        """panoramisk's pinger has no timeout; our watchdog pings instead."""

    def connection_lost(self, exc: Exception | None) -> None:
        self._connected = False
        if self.pinger:
            self.pinger.cancel()
            self.pinger = None
        self.on_lost(exc)


class _MaskSecret(logging.Filter):
    def __init__(self, secret: str) -> None:
        super().__init__()
        self.secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secret and self.secret in record.getMessage():
            record.msg = record.getMessage().replace(self.secret, "**********")
            record.args = None
        return True


class AmiConnection:
    """One supervised AMI session. ``await start()`` in the running loop; ``await close()``."""

    def __init__(
        self,
        config: AmiConfig,
        handler: EventHandler,
        *,
        on_login: LoginHook | None = None,
        wanted: Container[str] | None = None,
        on_skipped: SkipHook | None = None,
        on_session: SessionHook | None = None,
    ) -> None:
        self.config = config
        self._handler = handler
        # Event names the handler wants (None: all). The others (most of a PBX's stream
        # is VarSet and Newexten) are not converted or queued: ``on_skipped(received_at)``
        # is called for each instead, in panoramisk's read loop (it must not raise).
        self._wanted = wanted
        self._on_skipped = on_skipped
        # Run as a task after every successful login (e.g. to recover what the gap lost).
        self._on_login = on_login
        # Called by the consumer, in stream order, before the events of each new session.
        self._on_session = on_session
        self._hooks: set[asyncio.Task[None]] = set()
        self._state: State = "closed"
        self._state_changed = asyncio.Event()
        self._last_error: str | None = None
        self._connected_since: datetime | None = None
        self._events_received = 0
        self._handler_errors = 0
        self._reconnects = 0
        # time.time() of the last sign of life of the PBX (an event, a Ping answered):
        # after a loss, the best estimate of when the link went down.
        self.last_alive: float | None = None
        # last_alive when the latest session ended (a new session's events move the other).
        self.alive_at_loss: float | None = None
        self._queue: asyncio.Queue[_Queued] = asyncio.Queue()
        self._manager: _Manager | None = None
        self._lost = asyncio.Event()
        self._pending: set[asyncio.Future[Any]] = set()
        self._supervisor: asyncio.Task[None] | None = None
        self._closing = False
        self._consumer: asyncio.Task[None] | None = None
        self._pm_log = logging.getLogger(f"callpool.ami.panoramisk.{config.name}")
        self._mask = _MaskSecret(config.secret.get_secret_value())

    # --- public API --------------------------------------------------------------------
    async def start(self) -> None:
        if self._supervisor is not None:
            return
        self._pm_log.addFilter(self._mask)
        name = self.config.name
        self._consumer = asyncio.create_task(self._consume(), name=f"ami-{name}-consumer")
        self._supervisor = asyncio.create_task(self._run(), name=f"ami-{name}-supervisor")

    async def close(self, drain_timeout: float = 0.0) -> None:
        """Stop reconnecting, close the connection, then stop the consumer.

        With ``drain_timeout`` the consumer first gets that long to hand over the events
        already queued.
        """
        if self._supervisor is None:
            return
        self._closing = True
        # Python 3.11's wait_for can swallow a cancel that races with its result; the
        # _closing flag ends the loop anyway, and we cancel until the task is done.
        while not self._supervisor.done():
            self._supervisor.cancel()
            await asyncio.wait({self._supervisor}, timeout=1.0)
        await self._teardown()
        for hook in list(self._hooks):
            hook.cancel()
        if self._hooks:
            await asyncio.wait(self._hooks, timeout=1.0)
        if drain_timeout > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._queue.join(), drain_timeout)
        if self._consumer is not None:
            self._consumer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._consumer
        self._pm_log.removeFilter(self._mask)
        self._set_state("closed")

    async def __aenter__(self) -> AmiConnection:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def state(self) -> State:
        return self._state

    def health(self) -> AmiHealth:
        return AmiHealth(
            name=self.config.name,
            state=self._state,
            last_error=self._last_error,
            connected_since=self._connected_since,
            events_received=self._events_received,
            handler_errors=self._handler_errors,
            reconnects=self._reconnects,
            queue_depth=self._queue.qsize(),
        )

    async def wait_logged_in(self, within: float) -> None:
        """Return once logged in; raise ``AmiLoginFailed`` on a refused login, or ``AmiError``."""
        async with asyncio.timeout(within):
            while self._state != "logged_in":
                if self._state == "login_failed":
                    raise AmiLoginFailed(self._last_error or "login failed")
                if self._state == "closed" and self._supervisor is None:
                    raise AmiError(f"{self.config.name}: connection is not started")
                self._state_changed.clear()
                await self._state_changed.wait()

    async def caught_up(self) -> None:
        """Return once the handler has been given every event received before this call."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def reached() -> None:
            if not done.done():
                done.set_result(None)

        self._queue.put_nowait(reached)
        await done

    async def send_action(
        self, action: Mapping[str, str], *, within: float | None = None
    ) -> list[AmiMessage]:
        """Send an action; its response(s) (several for event-list actions)."""
        if self._state != "logged_in":
            raise AmiError(f"{self.config.name}: not logged in ({self._state})")
        return await self._action(dict(action), within or self.config.action_timeout)

    # --- the supervisor ----------------------------------------------------------------
    async def _run(self) -> None:
        attempt = 0
        while not self._closing:
            self._set_state("connecting")
            try:
                await self._session()
            except AmiLoginFailed as exc:
                self._last_error = str(exc)
                self._set_state("login_failed", self._last_error, logging.ERROR)
            except (OSError, TimeoutError, AmiError) as exc:
                self._last_error = _describe(exc)
            except Exception as exc:  # a bug must not end the reconnect loop
                log.exception("AMI %s: unexpected error in the session", self.config.name)
                self._last_error = _describe(exc)
            finally:
                await self._teardown()
                self.alive_at_loss = self.last_alive
            if self._connected_since is not None:
                attempt = 0  # the last attempt logged in: start the backoff over
                self._connected_since = None
            delay = min(self.config.backoff_max, self.config.backoff_initial * 2**attempt)
            delay *= 1 - 0.25 * random.random()  # jitter, never above the cap
            attempt += 1
            if self._state != "login_failed":
                self._set_state("backoff", f"{self._last_error}; retry in {delay:.1f}s")
            await asyncio.sleep(delay)
            self._reconnects += 1

    async def _session(self) -> None:
        cfg = self.config
        loop = asyncio.get_running_loop()
        manager = _Manager(
            host=cfg.host,
            port=cfg.port,
            encoding="latin-1",
            loop=loop,
            ping_delay=3600,
            log=self._pm_log,
        )
        manager.callbacks.clear()
        manager.patterns.clear()  # drops panoramisk's own (async) FullyBooted callback
        manager.register_event("*", self._on_event)
        self._lost = lost = asyncio.Event()
        manager.on_lost = self._on_lost
        if self._on_session is not None:  # before any byte of the new session is read
            self._queue.put_nowait(self._on_session)
        connecting = loop.create_connection(_Protocol, cfg.host, cfg.port)
        try:
            transport, protocol = await asyncio.wait_for(connecting, cfg.connect_timeout)
        except TimeoutError:
            raise AmiError(f"connect to {cfg.host}:{cfg.port} timed out") from None
        self._manager = manager
        done: asyncio.Future[tuple[Any, Any]] = loop.create_future()
        done.set_result((transport, protocol))
        manager.connection_made(done)
        login = {
            "Action": "Login",
            "Username": cfg.username,
            "Secret": cfg.secret.get_secret_value(),
            "Events": "on" if cfg.events else "off",
        }
        try:
            reply = (await self._action(login, cfg.login_timeout))[0]
        except AmiError as exc:
            raise AmiError(f"login: {exc}") from None
        if reply.get("Response") != "Success":
            message = reply.get("Message") or reply.get("Response") or "no reason given"
            raise AmiLoginFailed(
                f"{cfg.name}: {cfg.host}:{cfg.port} refused the login "
                f"of user {cfg.username!r}: {message}"
            )
        self._connected_since = datetime.now(UTC)
        self._last_error = None
        self._set_state("logged_in", f"{cfg.host}:{cfg.port}")
        if self._on_login is not None:
            hook = asyncio.create_task(self._run_hook(self._on_login), name=f"ami-{cfg.name}-login")
            self._hooks.add(hook)
            hook.add_done_callback(self._hooks.discard)
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(lost.wait(), cfg.ping_interval)
            if lost.is_set():
                raise AmiError("connection lost")
            try:
                await self._action({"Action": "Ping"}, cfg.ping_timeout)
            except AmiError as exc:
                raise AmiError(f"watchdog: {exc}") from None
            self.last_alive = time.time()

    async def _run_hook(self, hook: LoginHook) -> None:
        try:
            await hook()
        except Exception:
            log.exception("AMI %s: the login hook failed", self.config.name)

    async def _action(self, action: dict[str, str], within: float) -> list[AmiMessage]:
        manager = self._manager
        if manager is None or self._lost.is_set():
            raise AmiError("not connected")
        name = action.get("Action", "?")
        future = manager.send_action(action)
        self._pending.add(future)
        try:
            reply = await asyncio.wait_for(future, within)
        except TimeoutError:
            raise AmiError(f"no answer to {name} within {within:g}s") from None
        finally:
            self._pending.discard(future)
        replies = reply if isinstance(reply, list) else [reply]
        return [wire_message(r) for r in replies]

    def _on_lost(self, exc: Exception | None) -> None:
        self._lost.set()
        for future in self._pending:
            if not future.done():
                future.set_exception(AmiError("connection lost"))

    async def _teardown(self) -> None:
        manager, self._manager = self._manager, None
        if manager is None:
            return
        self._lost.set()
        protocol = manager.protocol
        manager.close()
        if protocol is not None:
            await asyncio.wait({protocol.transport_closed}, timeout=1.0)

    # --- events ------------------------------------------------------------------------
    def _on_event(self, manager: Any, message: Any) -> None:
        """panoramisk's only callback: queue the event, never raise."""
        try:
            self._events_received += 1
            self.last_alive = now = time.time()
            if self._wanted is not None and _event_name(message) not in self._wanted:
                if self._on_skipped is not None:
                    self._on_skipped(now)
                return
            self._queue.put_nowait((wire_message(message), now))
        except Exception:
            log.exception("AMI %s: could not queue an event", self.config.name)

    async def _consume(self) -> None:
        queue = self._queue
        taken = 0
        while True:
            if taken >= 512:
                # A burst must not starve the journal's flusher and the writer (yield
                # before taking an event, so a cancel here never drops one).
                taken = 0
                await asyncio.sleep(0)
            # Take what is queued without a coroutine per event; wait only when empty.
            if queue.qsize():
                item = queue.get_nowait()
                taken += 1
            else:
                taken = 0
                item = await queue.get()
            try:
                if isinstance(item, tuple):
                    await self._handler(*item)
                else:
                    item()  # a mark: a new session begins, or someone waits for this point
            except Exception:
                self._handler_errors += 1
                log.exception(
                    "AMI %s: handler failed on %s",
                    self.config.name,
                    f"{item[0].get('Event', '?')} event" if isinstance(item, tuple) else "a mark",
                )
            finally:
                self._queue.task_done()

    def _set_state(
        self, state: State, detail: str | None = None, level: int = logging.INFO
    ) -> None:
        if state != self._state or level >= logging.WARNING:
            suffix = f" ({detail})" if detail else ""
            log.log(level, "AMI %s: %s -> %s%s", self.config.name, self._state, state, suffix)
        self._state = state
        self._state_changed.set()


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
