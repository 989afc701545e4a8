"""What the request-id and Prometheus middlewares cost a request, without the network.

Calls a trivial handler ``--requests`` times through the error middleware alone (the
baseline: what every request paid before), then through the request-id, metrics and
error middlewares as ``create_app`` stacks them, on a request aiohttp's test utilities
build for a real route; prints microseconds a request and the difference. For scale:
a heartbeat costs about 270 µs end to end on the machine of bench/README.md.

    .venv/bin/python bench/middleware.py [--requests 200000]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from callpool.web.errors import error_middleware
from callpool.web.prometheus import OpsMetrics, http_metrics_middleware
from callpool.web.request_id import request_id_middleware

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def ok(_request: web.Request) -> web.StreamResponse:
    return web.Response(status=204)


def chain(middlewares: list[object], handler: Handler) -> Handler:
    for middleware in reversed(middlewares):

        def wrap(inner: Handler, mw: object = middleware) -> Handler:
            async def call(request: web.Request) -> web.StreamResponse:
                return await mw(request, inner)  # type: ignore[operator,no-any-return]

            return call

        handler = wrap(handler)
    return handler


async def run(requests: int) -> None:
    app = web.Application()
    app.router.add_post("/api/v1/t/{site_key}/heartbeat", ok)
    request = make_mocked_request("POST", "/api/v1/t/abc/heartbeat", app=app)
    match = await app.router.resolve(request)
    request._match_info = match  # what aiohttp sets before the middlewares run
    metrics = OpsMetrics()
    stacks = {
        "error middleware only": chain([error_middleware], ok),
        "request id + metrics + error": chain(
            [request_id_middleware, http_metrics_middleware(metrics), error_middleware], ok
        ),
    }
    results: dict[str, float] = {}
    for _ in range(3):  # alternate, keep the best of three: the machine is shared
        for name, handler in stacks.items():
            started = time.perf_counter()
            for _ in range(requests):
                await handler(request)
            per = (time.perf_counter() - started) / requests * 1e6
            results[name] = min(results.get(name, per), per)
    for name, per in results.items():
        print(f"{name:30} {per:6.1f} µs a request")
    base, full = results.values()
    print(f"{'added by the two middlewares':30} {full - base:6.1f} µs a request")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200_000)
    asyncio.run(run(parser.parse_args().requests))


if __name__ == "__main__":
    main()
