"""``/metrics``: the process's operational figures in Prometheus text format.

Operational, not business: requests, visits, the pools, the AMI link, jobs (the business
metrics of ``metrics/`` are reports). Every series lives in one registry per app
(:class:`OpsMetrics`, built by ``create_app``), so tests can build many apps in one
process. Three kinds of figures:

- counted as things happen: HTTP requests (middleware here), visits (the visit handler
  calls :meth:`OpsMetrics.count_visit`), scheduled jobs (``scheduler._guarded``);
- read when scraped, from the database: each campaign's pool size and live leases, and
  an info series naming sites and campaigns (one grouped query over the numbers table);
- read when scraped, from each PBX listener's ``health()``: link state, reconnects,
  events and calls, journal backlog, write retries (:mod:`callpool.web.prometheus_ami`).

Labels are bounded: a route is its pattern (``/api/v1/t/{site_key}/visit``), never the
URL; sites and campaigns are ids from the catalog; no numbers, no session ids. A
campaign's names come from ``callpool_campaign_info`` (join on ``campaign_id``).

``/metrics`` answers only ``Authorization: Bearer <metrics_token>``; without that
setting it is off (404) and ``create_app`` leaves the HTTP middleware out. A token
rather than a second port: one listener to run and to put behind a proxy, and
Prometheus sends a bearer token from a file out of the box.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Literal

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from callpool.accounts.credentials import tokens_equal
from callpool.db.engine import connection
from callpool.db.tables import Campaign, Site, TrackingNumber
from callpool.errors import AuthError, NotFound
from callpool.web.keys import ENGINE, LISTENERS, SETTINGS
from callpool.web.prometheus_ami import ListenersCollector

log = logging.getLogger("callpool.web")

HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
JOB_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
VisitOutcome = Literal["pool", "exhausted", "static", "own", "refused"]


class PoolCollector(Collector):
    """Each campaign's pool as last read from the database (by ``refresh``, on a scrape)."""

    def __init__(self) -> None:
        self.rows: list[tuple[int, str, int, str, int, int]] = []
        self.database_up = 0

    async def refresh(self, engine: AsyncEngine, now: datetime) -> None:
        pool = TrackingNumber.channel_id.is_(None) & TrackingNumber.active
        live = pool & (TrackingNumber.leased_until > now)
        query = (
            select(
                Site.id,
                Site.name,
                Campaign.id,
                Campaign.name,
                func.sum(case((pool, 1), else_=0)),
                func.sum(case((live, 1), else_=0)),
            )
            .join(Site, Site.id == Campaign.site_id)
            .outerjoin(TrackingNumber, TrackingNumber.campaign_id == Campaign.id)
            .group_by(Site.id, Site.name, Campaign.id, Campaign.name)
        )
        try:
            async with connection(engine) as conn:
                result = (await conn.execute(query)).all()
        except Exception as exc:
            log.warning("metrics: cannot read the pools (%s)", type(exc).__name__)
            self.rows, self.database_up = [], 0
            return
        self.rows = [(r[0], r[1], r[2], r[3], int(r[4] or 0), int(r[5] or 0)) for r in result]
        self.database_up = 1

    def collect(self) -> Iterable[Metric]:
        up = GaugeMetricFamily(
            "callpool_database_up", "1 if the last scrape could read the database, else 0"
        )
        up.add_metric([], self.database_up)
        info = InfoMetricFamily(
            "callpool_campaign", "Names of each campaign and its site", labels=["campaign_id"]
        )
        size = GaugeMetricFamily(
            "callpool_pool_numbers",
            "Active numbers in each campaign's pool",
            labels=["site_id", "campaign_id"],
        )
        leased = GaugeMetricFamily(
            "callpool_pool_leases_live",
            "Numbers of each campaign's pool leased to a visit now",
            labels=["site_id", "campaign_id"],
        )
        for site_id, site, campaign_id, campaign, numbers, live in self.rows:
            info.add_metric(
                [str(campaign_id)], {"site_id": str(site_id), "site": site, "campaign": campaign}
            )
            size.add_metric([str(site_id), str(campaign_id)], numbers)
            leased.add_metric([str(site_id), str(campaign_id)], live)
        return [up, info, size, leased]


class OpsMetrics:
    """Every series of one app, in its own registry."""

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        self.http_requests = Counter(
            "callpool_http_requests",
            "HTTP requests answered, by route pattern and status",
            ["method", "route", "status"],
            registry=registry,
        )
        self.http_duration = Histogram(
            "callpool_http_request_duration_seconds",
            "Time to answer an HTTP request, by route pattern",
            ["method", "route"],
            buckets=HTTP_BUCKETS,
            registry=registry,
        )
        self.visits = Counter(
            "callpool_visits",
            "Visits by outcome: pool (a pool number), exhausted (the fallback: nothing free), "
            "static, own (the site's numbers), refused (bot, blocked, no consent, rate limit)",
            ["site_id", "campaign_id", "outcome"],
            registry=registry,
        )
        self.allocations = Counter(
            "callpool_pool_allocations",
            "Visits given a number from their campaign's pool (a new lease or their own)",
            ["site_id", "campaign_id"],
            registry=registry,
        )
        self.exhaustions = Counter(
            "callpool_pool_exhaustions",
            "Visits shown the fallback number because the pool had nothing free",
            ["site_id", "campaign_id"],
            registry=registry,
        )
        self.job_runs = Counter(
            "callpool_job_runs", "Scheduled job runs", ["job"], registry=registry
        )
        self.job_failures = Counter(
            "callpool_job_failures", "Scheduled job runs that failed", ["job"], registry=registry
        )
        self.job_duration = Histogram(
            "callpool_job_duration_seconds",
            "Time a scheduled job run took",
            ["job"],
            buckets=JOB_BUCKETS,
            registry=registry,
        )
        self.job_last_success = Gauge(
            "callpool_job_last_success_timestamp_seconds",
            "When each scheduled job last finished without error (Unix time): how fresh "
            "what it maintains is",
            ["job"],
            registry=registry,
        )
        self.pools = PoolCollector()
        registry.register(self.pools)
        self._http: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    def watch_listeners(self, app: web.Application) -> None:
        """Read the PBX listeners' figures at each scrape (call once the app has them)."""
        self.registry.register(ListenersCollector(lambda: app.get(LISTENERS, ())))

    def observe_http(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        children = self._http.get(key)
        if children is None:  # labels() takes a lock and checks; once per key is enough
            children = (
                self.http_requests.labels(method, route, str(status)),
                self.http_duration.labels(method, route),
            )
            self._http[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def count_visit(self, site_id: int, campaign_id: int | None, outcome: VisitOutcome) -> None:
        site, campaign = str(site_id), "none" if campaign_id is None else str(campaign_id)
        self.visits.labels(site, campaign, outcome).inc()
        if outcome == "pool":
            self.allocations.labels(site, campaign).inc()
        elif outcome == "exhausted":
            self.exhaustions.labels(site, campaign).inc()

    def job_finished(self, job: str, seconds: float, ok: bool) -> None:
        self.job_runs.labels(job).inc()
        self.job_duration.labels(job).observe(seconds)
        if ok:
            self.job_last_success.labels(job).set(time.time())
        else:
            self.job_failures.labels(job).inc()


OPS_METRICS = web.AppKey("ops_metrics", OpsMetrics)


def route_of(request: web.Request) -> str:
    """The route's pattern, never the raw path: a bounded label."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


def http_metrics_middleware(metrics: OpsMetrics) -> Middleware:
    @web.middleware
    async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            method = request.method if request.method in METHODS else "other"
            metrics.observe_http(method, route_of(request), status, time.perf_counter() - started)

    return observe


routes = web.RouteTableDef()


@routes.get("/metrics")
async def scrape(request: web.Request) -> web.Response:
    token = request.app[SETTINGS].metrics_token
    if token is None:
        raise NotFound("metrics are off: set CALLPOOL_METRICS_TOKEN")
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not tokens_equal(given.strip(), token.get_secret_value()):
        raise AuthError("an 'Authorization: Bearer <metrics token>' header is required")
    metrics = request.app[OPS_METRICS]
    await metrics.pools.refresh(request.app[ENGINE], datetime.now(UTC))
    return web.Response(
        body=generate_latest(metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
    )
