"""Prometheus metrics: what each process counts (jobs/scrape.py adds what is read on scrape).

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

import re
from collections.abc import Iterable

from prometheus_client import Counter, Histogram

from onboard360.runtime.logging import get_logger

log = get_logger(__name__)

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
KEY_CHECKS = Counter(
    "onboard360_key_checks",
    "Health checks of stored API keys by hub and outcome: working, not_working (401/403), "
    "unavailable (5xx, timeout: no verdict), rate_limited (429: the run stopped).",
    ["hub", "outcome"],
)

PRUNED_ROWS = Counter(
    "onboard360_pruned_rows",
    "Rows removed by the retention settings (jobs/prune.py), by table.",
    ["table"],
)
ABANDONED_ONBOARDINGS = Counter(
    "onboard360_abandoned_onboardings",
    "Onboarding attempts the sweep marked abandoned (jobs/abandon.py), by hub and whether "
    "the product was told (announced: true) or it was history (false).",
    ["hub", "announced"],
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
