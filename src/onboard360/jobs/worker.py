"""The procrastinate app: task names, retry policies and the worker loop.

Web processes only enqueue (jobs/defer.py, in their own transactions); workers run the
tasks registered here against one shared Service.
"""

from __future__ import annotations

from dataclasses import dataclass

import procrastinate
from procrastinate import RetryStrategy

from onboard360.db.embedded import to_libpq_uri
from onboard360.jobs import handoff_jobs, inbox, keys
from onboard360.jobs.effects import DELIVER_TASK, MESSAGING_TASK, PROVISION_TASK
from onboard360.jobs.reconcile import reconcile_hub
from onboard360.service import Service

# One job per group-committed batch of partner webhooks (web/ingest.py, jobs/inbox.py).
INBOX_TASK = "process_inbox_events"
RECONCILE_TASK = "reconcile"


@dataclass(frozen=True)
class RetryTuning:
    """Backoff per task family; tests pass zeros."""

    # exponential_wait ** (attempt + 1) seconds: 2 → 4, 8, 16, … (about 3 days over 17).
    exponential_wait: int = 2
    hub_attempts: int = 12
    delivery_attempts: int = 17


def build_app(
    service: Service, database_url: str, tuning: RetryTuning | None = None
) -> procrastinate.App:
    tuning = tuning or RetryTuning()
    app = procrastinate.App(
        connector=procrastinate.PsycopgConnector(conninfo=to_libpq_uri(database_url))
    )
    hub_retry = RetryStrategy(
        max_attempts=tuning.hub_attempts, exponential_wait=tuning.exponential_wait
    )

    @app.task(name=INBOX_TASK, retry=hub_retry)
    async def process_inbox_events(event_ids: list[int]) -> str:
        return await inbox.process_inbox_events(service, event_ids)

    @app.task(name=PROVISION_TASK, retry=hub_retry)
    async def provision_key(hub: str, channel_id: str, intent: int) -> str:
        return await keys.provision_key(service, hub, channel_id, intent)

    @app.task(
        name=DELIVER_TASK,
        retry=RetryStrategy(
            max_attempts=tuning.delivery_attempts, exponential_wait=tuning.exponential_wait
        ),
    )
    async def deliver_product_event(event_id: str) -> str:
        return await handoff_jobs.deliver_product_event(service, event_id)

    if service.settings.reconcile_cron:

        @app.periodic(cron=service.settings.reconcile_cron, periodic_id="reconcile")
        @app.task(name=RECONCILE_TASK, queueing_lock=RECONCILE_TASK, pass_context=False)
        async def reconcile(timestamp: int) -> str:
            reports = [await reconcile_hub(service, hub) for hub in service.settings.hubs]
            return ", ".join(f"{r.hub}: {r.channels_changed} changed" for r in reports)

    @app.task(name=MESSAGING_TASK, retry=hub_retry)
    async def configure_messaging(hub: str, channel_id: str) -> str:
        return await handoff_jobs.configure_messaging(service, hub, channel_id)

    return app
