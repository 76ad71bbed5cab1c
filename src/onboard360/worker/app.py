"""The procrastinate app: its tasks (names in jobs/queue.py), retry policies, the worker.

Web processes only enqueue (jobs/queue.py, in their own transactions); workers run the
tasks registered here against one shared Service.
"""

from __future__ import annotations

from dataclasses import dataclass

import procrastinate
from procrastinate import JobContext, RetryStrategy

from onboard360.jobs import abandon, handoff_jobs, inbox, key_health, keys
from onboard360.jobs.backoff import DeliveryBackoff
from onboard360.jobs.checkpoints import SyncAlreadyRunning
from onboard360.jobs.connector import connector_for
from onboard360.jobs.prune import prune as prune_rows
from onboard360.jobs.prune import summary
from onboard360.jobs.queue import (
    ABANDON_TASK,
    DELIVER_TASK,
    INBOX_TASK,
    KEY_HEALTH_TASK,
    MESSAGING_TASK,
    PROVISION_TASK,
    PRUNE_TASK,
    RECONCILE_TASK,
    VERIFY_TASK,
)
from onboard360.jobs.reconcile import reconcile_hub
from onboard360.services import redirects
from onboard360.wiring.service import Service


@dataclass(frozen=True)
class RetryTuning:
    """Backoff per task family; tests pass zeros."""

    # exponential_wait ** (attempt + 1) seconds: 2 → 4, 8, 16, … for calls to 360dialog.
    exponential_wait: int = 2
    hub_attempts: int = 12
    # Handing an event to the product: see jobs/backoff.py (~3 days, then dead).
    delivery_attempts: int = 24
    delivery_first_wait: float = 5.0
    delivery_max_wait: float = 6 * 3600.0

    def delivery_backoff(self) -> DeliveryBackoff:
        return DeliveryBackoff(
            self.delivery_attempts, self.delivery_first_wait, self.delivery_max_wait
        )


def build_app(
    service: Service, database_url: str, tuning: RetryTuning | None = None
) -> procrastinate.App:
    tuning = tuning or RetryTuning()
    app = procrastinate.App(connector=connector_for(service.settings, database_url))
    hub_retry = RetryStrategy(
        max_attempts=tuning.hub_attempts, exponential_wait=tuning.exponential_wait
    )

    @app.task(name=INBOX_TASK, retry=hub_retry)
    async def process_inbox_events(event_ids: list[int]) -> str:
        return await inbox.process_inbox_events(service, event_ids)

    @app.task(name=PROVISION_TASK, retry=hub_retry)
    async def provision_key(hub: str, channel_id: str, intent: int) -> str:
        return await keys.provision_key(service, hub, channel_id, intent)

    backoff = tuning.delivery_backoff()

    @app.task(name=DELIVER_TASK, retry=backoff, pass_context=True)
    async def deliver_product_event(context: JobContext, event_id: str) -> str:
        last = backoff.is_last(context.job.attempts)
        return await handoff_jobs.deliver_product_event(service, event_id, last_attempt=last)

    if service.settings.reconcile_cron:

        @app.periodic(cron=service.settings.reconcile_cron, periodic_id="reconcile")
        @app.task(name=RECONCILE_TASK, queueing_lock=RECONCILE_TASK, pass_context=False)
        async def reconcile(timestamp: int) -> str:
            done = []
            for hub in service.settings.hubs:
                try:
                    report = await reconcile_hub(service, hub)
                except SyncAlreadyRunning:
                    done.append(f"{hub.name}: skipped, another sync is running")
                    continue
                done.append(f"{hub.name}: {report.channels_changed} changed")
            return ", ".join(done)

    # Not retried: a run that fails leaves its channels first in line for the next one.
    @app.task(
        name=KEY_HEALTH_TASK,
        lock=KEY_HEALTH_TASK,
        queueing_lock=KEY_HEALTH_TASK,
        pass_context=False,
    )
    async def check_keys(timestamp: int | None = None) -> str:
        report = await key_health.check_keys(service)
        return report.summary()

    if service.settings.key_check_cron:
        app.periodic(cron=service.settings.key_check_cron, periodic_id=KEY_HEALTH_TASK)(check_keys)

    if service.settings.prune_cron:  # retention (jobs/prune.py)

        @app.periodic(cron=service.settings.prune_cron, periodic_id="prune")
        @app.task(name=PRUNE_TASK, queueing_lock=PRUNE_TASK, pass_context=False)
        async def prune(timestamp: int) -> str:
            return summary(await prune_rows(service.engine, service.settings))

    if service.settings.abandon_cron:  # abandoned onboardings (jobs/abandon.py)

        @app.periodic(cron=service.settings.abandon_cron, periodic_id=ABANDON_TASK)
        @app.task(name=ABANDON_TASK, queueing_lock=ABANDON_TASK, pass_context=False)
        async def abandon_onboardings(timestamp: int) -> str:
            return (await abandon.sweep(service)).summary()

    @app.task(name=VERIFY_TASK, retry=hub_retry)
    async def verify_redirect(hub: str, onboarding_id: str | None, query: str) -> str:
        return await redirects.verify_pending(service, hub, onboarding_id, query)

    @app.task(name=MESSAGING_TASK, retry=hub_retry)
    async def configure_messaging(hub: str, channel_id: str) -> str:
        return await handoff_jobs.configure_messaging(service, hub, channel_id)

    return app
