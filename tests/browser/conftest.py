"""Fixtures for the real-browser tests: callpool in-process, a customer site, Chromium.

Everything runs on the module's event loop (``loop_scope="module"``) so one Chromium can
serve the whole module; each test gets its own database (the parametrised
``database_url``), its own callpool server, its own site server and fresh contexts.

Chromium is Debian's (``/usr/bin/chromium``); Playwright never downloads a browser.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
import pytest_asyncio
from aiohttp import web
from playwright.async_api import Browser, BrowserContext, Page, async_playwright
from sqlalchemy.ext.asyncio import AsyncEngine

from callpool.app import create_app
from callpool.catalog import store as catalog_store
from callpool.catalog.spec import CampaignSpec, ChannelSpec, NumberSpec, SiteSpec
from callpool.db.engine import create_engine
from callpool.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]
PAGES = ROOT / "web_snippet" / "test" / "pages"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = os.environ.get("CALLPOOL_TEST_CHROMIUM", "/usr/bin/chromium")
HAVE_CHROMIUM = Path(CHROMIUM).exists()
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

RU = "+74951234567"
US = "+12125550199"
POOL = tuple(f"+749500000{i:02d}" for i in range(1, 6))
STATIC = "+74950000099"
FALLBACK = "+74957654321"
SITE_NAME = "e2e-shop"
CAMPAIGN = "main"

T = TypeVar("T")


def free_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def eventually(probe: Callable[[], Awaitable[T]], within: float = 5.0) -> T:
    """Poll ``probe`` until it returns something truthy; fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        value = await probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still {value!r} after {within} s")
        await asyncio.sleep(0.05)


# ------------------------------------------------------------------ catalog


@dataclass(frozen=True)
class Catalog:
    key: str
    origin: str
    site_id: int
    channels: dict[str, int]


async def make_site(engine: AsyncEngine, origin: str) -> Catalog:
    """One site on ``origin`` with both numbers of the test pages, a campaign and a pool."""
    site = await catalog_store.add_site(
        engine,
        SiteSpec(name=SITE_NAME, allowed_origins=(origin,), own_numbers=(RU, US)),
        "RU",
    )
    await catalog_store.add_campaign(
        engine,
        CampaignSpec(site=SITE_NAME, name=CAMPAIGN, hold_seconds=900, fallback_number=FALLBACK),
        "RU",
    )
    channels: dict[str, int] = {}
    for name, fields in [
        ("google-cpc", {"utm_source": "google", "utm_medium": "cpc", "priority": 10}),
        ("facebook", {"referrer_host": "facebook.com", "priority": 20}),
        ("radio", {"kind": "static", "utm_source": "radio", "priority": 5}),
    ]:
        channel = await catalog_store.add_channel(
            engine,
            ChannelSpec(site=SITE_NAME, campaign=CAMPAIGN, name=name, **fields),  # type: ignore[arg-type]
        )
        channels[name] = channel.id
    rows = [NumberSpec(number=n, site=SITE_NAME, campaign=CAMPAIGN) for n in POOL]
    rows.append(NumberSpec(number=STATIC, site=SITE_NAME, campaign=CAMPAIGN, channel="radio"))
    await catalog_store.import_numbers(engine, rows, "RU")
    return Catalog(key=site.public_key, origin=origin, site_id=site.id, channels=channels)


TWO_LINES_NAME = "e2e-two-lines"
TWO_LINES_POOL = tuple(f"+749500000{i:02d}" for i in range(11, 14))


async def make_two_line_site(engine: AsyncEngine, origin: str) -> str:
    """A second site on ``origin`` with both numbers, whose campaign swaps only ``RU``.

    ``RU`` is the sales line the ads are for; ``US`` stands for a service line that
    must keep reaching the service desk. Returns the site's key.
    """
    site = await catalog_store.add_site(
        engine,
        SiteSpec(name=TWO_LINES_NAME, allowed_origins=(origin,), own_numbers=(RU, US)),
        "RU",
    )
    await catalog_store.add_campaign(
        engine,
        CampaignSpec(site=TWO_LINES_NAME, name="sales", swap_numbers=("8 (495) 123-45-67",)),
        "RU",
    )
    rows = [NumberSpec(number=n, site=TWO_LINES_NAME, campaign="sales") for n in TWO_LINES_POOL]
    await catalog_store.import_numbers(engine, rows, "RU")
    return site.public_key


# ------------------------------------------------------------------ servers


@dataclass
class Server:
    runner: web.AppRunner
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def stop(self) -> None:
        await self.runner.cleanup()


async def serve(app: web.Application, port: int = 0) -> Server:
    runner = web.AppRunner(app, shutdown_timeout=2.0)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return Server(runner, int(runner.addresses[0][1]))


@dataclass
class SiteServer:
    """The customer's web site: the test pages, their snippet tag pointed at ``script_base``."""

    server: Server | None = None
    key: str = "SITE_KEY"
    script_base: str = ""

    @property
    def origin(self) -> str:
        assert self.server is not None
        return self.server.url

    def page(self, name: str, query: str = "") -> str:
        return f"{self.origin}/{name}{'?' + query if query else ''}"

    async def handle(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        path = PAGES / f"{name}.html"
        if "/" in name or not path.is_file():
            raise web.HTTPNotFound()
        html = path.read_text(encoding="utf-8")
        tag = 'src="/s/SITE_KEY.js"'
        assert tag in html, f"{path.name} has no snippet tag"
        html = html.replace(tag, f'src="{self.script_base}/s/{self.key}.js"')
        return web.Response(text=html, content_type="text/html", charset="utf-8")


class HangingServer:
    """Accepts connections, reads the request, and never answers (until closed)."""

    def __init__(self) -> None:
        self.requests = 0
        self._stop = asyncio.Event()
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        self.requests += 1
        with contextlib.suppress(ConnectionError):
            await self._stop.wait()
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()

    async def close(self) -> None:
        self._stop.set()
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
        await self._server.wait_closed()


# ------------------------------------------------------------------ fixtures


@pytest_asyncio.fixture(loop_scope="module")
async def db(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


@pytest_asyncio.fixture(loop_scope="module")
async def site_server() -> AsyncIterator[SiteServer]:
    site = SiteServer()
    app = web.Application()
    app.router.add_get("/{name}.html", site.handle)
    site.server = await serve(app)
    yield site
    await site.server.stop()


@pytest_asyncio.fixture(loop_scope="module")
async def catalog(db: AsyncEngine, site_server: SiteServer) -> Catalog:
    found = await make_site(db, site_server.origin)
    site_server.key = found.key
    return found


CallpoolFactory = Callable[..., Awaitable[Server]]


@pytest_asyncio.fixture(loop_scope="module")
async def start_callpool(database_url: str) -> AsyncIterator[CallpoolFactory]:
    """Start a callpool server (``create_app``) on a free loopback port; stopped at teardown."""
    started: list[Server] = []

    async def start(**settings: Any) -> Server:
        server = await serve(create_app(load_settings(database_url=database_url, **settings)))
        started.append(server)
        return server

    yield start
    for server in reversed(started):
        await server.stop()


@pytest_asyncio.fixture(loop_scope="module")
async def callpool(
    start_callpool: CallpoolFactory, catalog: Catalog, site_server: SiteServer
) -> Server:
    """The callpool server the site's pages load the snippet from."""
    server = await start_callpool()
    site_server.script_base = server.url
    return server


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    if not HAVE_CHROMIUM:
        # `make test` installs Debian's chromium as root; a non-root developer may not have
        # it. Under CI a missing browser is a failure, never a silent skip.
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"CI=true but Chromium is missing at {CHROMIUM}")
        pytest.skip(f"browser tests need Chromium at {CHROMIUM} (apt-get install chromium)")
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        await chromium.close()


@dataclass
class Visitor:
    """One browser context (one visitor) with a page whose uncaught errors are collected."""

    context: BrowserContext
    page: Page
    errors: list[str] = field(default_factory=list)


VisitorFactory = Callable[[], Awaitable[Visitor]]


@pytest_asyncio.fixture(loop_scope="module")
async def new_visitor(
    browser: Browser, site_server: SiteServer, start_callpool: CallpoolFactory
) -> AsyncIterator[VisitorFactory]:
    """Fresh contexts, closed before the servers they talk to stop."""
    contexts: list[BrowserContext] = []

    async def make() -> Visitor:
        context = await browser.new_context(viewport={"width": 900, "height": 1400})
        context.set_default_timeout(5_000)
        contexts.append(context)
        page = await context.new_page()
        visitor = Visitor(context, page)
        page.on("pageerror", lambda error: visitor.errors.append(str(error)))
        return visitor

    yield make
    for context in contexts:
        await context.close()
