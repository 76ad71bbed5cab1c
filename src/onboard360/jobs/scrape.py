"""Serving the metrics: this process's counters, then gauges read from the database on scrape.

The web app answers ``GET /metrics`` (web/metrics_route.py); a worker serves ``metrics_app``
on ``--metrics-port``. Database-wide gauges (inbox lag, jobs by task and status, held and
undelivered events) are read once per scrape with a short timeout, so a slow or unreachable
database costs a scrape two seconds and ``onboard360_database_up 0``, never a hung scraper.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable, Iterable, Sequence

import uvicorn
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import Receive, Scope, Send

from onboard360.jobs.queue import job_counts
from onboard360.runtime.logging import get_logger

log = get_logger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
SCRAPE_TIMEOUT_SECONDS = 2.0

# ---- read on scrape ------------------------------------------------------------------------

_INBOX_LAG = text(
    "SELECT COALESCE(EXTRACT(EPOCH FROM now() - min(received_at)), 0) "
    "FROM inbox_events WHERE processed_at IS NULL"
)
_ENDPOINTS = text("SELECT product, disabled_at IS NOT NULL AS disabled FROM product_endpoints")
_UNDELIVERED = text(
    "SELECT product, CASE WHEN failed_at IS NULL THEN 'pending' ELSE 'failed' END AS status, "
    "count(*) AS n FROM product_events WHERE delivered_at IS NULL GROUP BY 1, 2"
)


async def database_families(engine: AsyncEngine) -> list[Metric]:
    """Gauges read from the database now; ``onboard360_database_up`` says if that worked."""
    up = GaugeMetricFamily(
        "onboard360_database_up", "Whether the last scrape could read the database."
    )
    lag = GaugeMetricFamily(
        "onboard360_inbox_lag_seconds",
        "Age of the oldest partner webhook stored but not yet processed (0: none waiting).",
    )
    jobs = GaugeMetricFamily(
        "onboard360_jobs",
        "Jobs in the queue by task and status (todo, doing, failed).",
        labels=["task", "status"],
    )
    endpoints = GaugeMetricFamily(
        "onboard360_product_endpoint_disabled",
        "1 while deliveries to the product's endpoint are disabled (events are held).",
        labels=["product"],
    )
    undelivered = GaugeMetricFamily(
        "onboard360_product_events_undelivered",
        "Events not delivered to the product: pending (retrying or held) or failed (dead).",
        labels=["product", "status"],
    )
    try:
        async with asyncio.timeout(SCRAPE_TIMEOUT_SECONDS), engine.begin() as conn:
            timeout_ms = int(SCRAPE_TIMEOUT_SECONDS * 1000)
            await conn.execute(text(f"SET LOCAL statement_timeout = {timeout_ms}"))
            lag.add_metric([], float(await conn.scalar(_INBOX_LAG) or 0))
            for count in await job_counts(conn):
                jobs.add_metric([count.task, count.status], count.count)
            for row in await conn.execute(_ENDPOINTS):
                endpoints.add_metric([row.product], int(row.disabled))
            for row in await conn.execute(_UNDELIVERED):
                undelivered.add_metric([row.product, row.status], row.n)
    except Exception as exc:  # a scrape must answer whatever the database does
        log.warning("metrics: database not readable", error=type(exc).__name__)
        up.add_metric([], 0)
        return [up]
    up.add_metric([], 1)
    return [up, lag, jobs, endpoints, undelivered]


class _Fixed(Collector):
    def __init__(self, families: Sequence[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterable[Metric]:
        return self.families


async def render(engine: AsyncEngine | None) -> bytes:
    """The text exposition: this process's metrics, then the database's."""
    body = generate_latest(REGISTRY)
    if engine is not None:
        scraped = CollectorRegistry(auto_describe=False)
        scraped.register(_Fixed(await database_families(engine)))
        body += generate_latest(scraped)
    return body


# ---- the worker's metrics endpoint ---------------------------------------------------------


def metrics_app(engine: AsyncEngine | None, ready: Callable[[], bool] = lambda: True) -> object:
    """A bare ASGI app answering ``GET /metrics`` and ``GET /readyz`` (503 while ``ready``
    says no: the worker is waiting for its database), 404 elsewhere, for workers."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if scope["path"] == "/readyz":
            up = ready()
            status, kind = (200 if up else 503), "text/plain"
            body = b"ready\n" if up else b"not ready: waiting for the database\n"
        elif scope["path"] != "/metrics":
            status, body, kind = 404, b"not found: try /metrics or /readyz\n", "text/plain"
        else:
            status, body, kind = 200, await render(engine), CONTENT_TYPE
        headers = [(b"content-type", kind.encode()), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


class MetricsPortUnavailable(OSError):
    """The worker's metrics port cannot be listened on."""


class _NoSignals(uvicorn.Server):
    # The worker owns SIGTERM/SIGINT (procrastinate drains on them); this server only
    # stops when the worker is done.
    @contextlib.contextmanager
    def capture_signals(self) -> Iterable[None]:  # type: ignore[override]
        yield


@contextlib.asynccontextmanager
async def serving_metrics(
    engine: AsyncEngine | None,
    host: str,
    port: int | None,
    ready: Callable[[], bool] = lambda: True,
) -> AsyncIterator[None]:
    """Serve ``metrics_app`` on ``host:port`` in this event loop while the block runs."""
    if port is None:
        yield
        return
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise MetricsPortUnavailable(
            f"cannot serve metrics on {host}:{port}: {exc.strerror}"
        ) from None
    config = uvicorn.Config(
        metrics_app(engine, ready),  # type: ignore[arg-type]
        log_config=None,
        log_level="warning",
        access_log=False,
        lifespan="off",
    )
    server = _NoSignals(config)
    task = asyncio.create_task(server.serve(sockets=[sock]), name="metrics endpoint")
    log.info("metrics endpoint listening", url=f"http://{host}:{port}/metrics")
    try:
        yield
    finally:
        server.should_exit = True
        await task
        sock.close()
