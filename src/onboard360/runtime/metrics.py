"""Prometheus metrics: what each process counts, and what is read from the database on scrape.

Counters and histograms live in prometheus_client's default registry (one set per process,
beside its ``process_*`` and ``python_*`` metrics); each process serves its own: the web
app at ``GET /metrics``, a worker on ``--metrics-port``. Database-wide gauges (inbox lag,
jobs by task and status) are read once per scrape with a short timeout, so a slow or
unreachable database costs a scrape two seconds and ``onboard360_database_up 0``, never
a hung scraper.

Labels are bounded: route templates, never raw paths; hub and product names from the
settings, never from a URL; no channel or client ids.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
from collections.abc import AsyncIterator, Callable, Iterable, Sequence

import uvicorn
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
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
UNKNOWN = "<unknown>"
_FAST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
_SLOW_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)

HTTP_REQUESTS = Counter(
    "onboard360_http_requests",
    "HTTP requests answered, by method, route template and status.",
    ["method", "route", "status"],
)
HTTP_DURATION = Histogram(
    "onboard360_http_request_duration_seconds",
    "Time to answer an HTTP request, by method and route template.",
    ["method", "route"],
    buckets=_FAST_BUCKETS,
)
PARTNER_WEBHOOKS = Counter(
    "onboard360_partner_webhooks",
    "Partner webhooks by hub and outcome: received (stored), duplicate, refused, unavailable.",
    ["hub", "outcome"],
)
KEY_PROVISIONING = Counter(
    "onboard360_key_provisioning",
    "API-key generations by hub and outcome: stored, refused (no permission), failed.",
    ["hub", "outcome"],
)
HUB_CALLS = Counter(
    "onboard360_hub_api_requests",
    "Calls to 360dialog (each attempt), by method, path template and status ('error': none).",
    ["method", "path", "status"],
)
HUB_ERRORS = Counter(
    "onboard360_hub_api_errors",
    "Failed calls to 360dialog (transport error, 4xx or 5xx), by method and path template.",
    ["method", "path", "kind"],
)
HUB_DURATION = Histogram(
    "onboard360_hub_api_request_duration_seconds",
    "Duration of one call to 360dialog, by method and path template.",
    ["method", "path"],
    buckets=_SLOW_BUCKETS,
)
PRODUCT_DELIVERIES = Counter(
    "onboard360_product_deliveries",
    "Signed event deliveries to the partner's product, by product and outcome.",
    ["product", "outcome"],
)
PRODUCT_ENDPOINTS_DISABLED = Counter(
    "onboard360_product_endpoint_auto_disabled",
    "Times a product's endpoint was disabled automatically (410 Gone, failing too long).",
    ["product"],
)
JOBS_RUN = Counter(
    "onboard360_jobs_run",
    "Jobs this worker ran, by task and outcome (succeeded, failed).",
    ["task", "outcome"],
)
JOB_DURATION = Histogram(
    "onboard360_job_duration_seconds",
    "Time one job took in this worker, by task.",
    ["task"],
    buckets=_SLOW_BUCKETS,
)

DATABASE_OUTAGES = Counter(
    "onboard360_worker_database_outages",
    "Times this worker lost the database (it waits for it and resumes; it does not exit).",
)
DATABASE_OUTAGE_SECONDS = Counter(
    "onboard360_worker_database_outage_seconds",
    "Seconds this worker spent waiting for the database, over every outage that ended.",
)
KEY_OUTCOME_UNKNOWN = Counter(
    "onboard360_key_generation_outcome_unknown",
    "Key requests with no clear answer (timeout or 5xx after sending): 360dialog may have "
    "made a key; the job's next attempt generates again (docs/decisions/0002).",
    ["hub"],
)
KEY_STORE_RETRIES = Counter(
    "onboard360_key_store_retries",
    "Times a key 360dialog made could not be committed at once (database error) and its "
    "store was retried, the key held in memory.",
    ["hub"],
)

# ---- path templates for 360dialog calls ----------------------------------------------------

# A path segment after one of these names is an id; other segments must look like words.
_ID_AFTER = frozenset({"partners", "channels", "clients", "api_keys", "waba_accounts"})
_STATIC_SEGMENT = re.compile(r"^(?:[a-z_]+|v\d+)$")


def path_template(path: str) -> str:
    """``/partners/AbC1PA/channels/Xy9CH/api_keys`` → ``/partners/{id}/channels/{id}/api_keys``.

    Ids never become label values, so the label set stays bounded whatever 360dialog adds.
    """
    out: list[str] = []
    previous = ""
    for segment in path.split("?", 1)[0].split("/"):
        if segment and (previous in _ID_AFTER or not _STATIC_SEGMENT.match(segment)):
            out.append("{id}")
        else:
            out.append(segment)
        previous = segment
    return "/".join(out)


def hub_call(method: str, path: str, status: int | None, seconds: float) -> None:
    """Count one attempt at a 360dialog call (``status`` None: no HTTP answer came)."""
    template = path_template(path)
    HUB_CALLS.labels(method, template, "error" if status is None else str(status)).inc()
    HUB_DURATION.labels(method, template).observe(seconds)
    if status is None:
        HUB_ERRORS.labels(method, template, "transport").inc()
    elif status >= 400:
        HUB_ERRORS.labels(method, template, "server" if status >= 500 else "client").inc()


def known(name: str, names: Iterable[str]) -> str:
    """``name`` when it is one of ``names`` (configured hubs, products), else ``<unknown>``."""
    return name if name in names else UNKNOWN


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
