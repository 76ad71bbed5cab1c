"""Run a worker: the procrastinate loop with the service it needs, in this event loop."""

from __future__ import annotations

from onboard360.config import Settings
from onboard360.hub import RetryPolicy
from onboard360.jobs.worker import RetryTuning, build_app
from onboard360.service import open_service


async def run_worker(
    settings: Settings,
    database_url: str,
    *,
    concurrency: int = 10,
    until_idle: bool = False,
    retry: RetryPolicy | None = None,
    tuning: RetryTuning | None = None,
    install_signal_handlers: bool = True,
) -> None:
    """Process jobs until stopped (SIGTERM/SIGINT drain gracefully), or until the queue
    is empty when ``until_idle`` (tests and one-shot runs)."""
    async with open_service(settings, database_url, retry=retry) as service:
        app = build_app(service, database_url, tuning)
        async with app.open_async():
            await app.run_worker_async(
                concurrency=concurrency,
                wait=not until_idle,
                install_signal_handlers=install_signal_handlers,
                listen_notify=not until_idle,
            )
