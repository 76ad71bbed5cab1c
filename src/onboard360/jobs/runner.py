"""Run a worker: the procrastinate loop with the service it needs, in this event loop."""

from __future__ import annotations

import asyncio
import contextlib

from onboard360.config import Settings
from onboard360.db.pooling import listen_conninfo
from onboard360.hub import RetryPolicy
from onboard360.jobs.observe import observe_job
from onboard360.jobs.stalled import keep_recovering, recover_stalled_jobs
from onboard360.jobs.worker import RetryTuning, build_app
from onboard360.metrics import serving_metrics
from onboard360.service import open_service

FETCH_POLL_SECONDS = 0.5


async def run_worker(
    settings: Settings,
    database_url: str,
    *,
    concurrency: int = 10,
    until_idle: bool = False,
    retry: RetryPolicy | None = None,
    tuning: RetryTuning | None = None,
    install_signal_handlers: bool = True,
    metrics_host: str = "127.0.0.1",
    metrics_port: int | None = None,
) -> None:
    """Process jobs until stopped (SIGTERM/SIGINT drain gracefully), or until the queue
    is empty when ``until_idle`` (tests and one-shot runs).

    Jobs left ``doing`` by a dead worker are put back in the queue first, and then every
    ``stalled_worker_seconds / 2`` while this worker runs (jobs/stalled.py).

    With ``metrics_port``, ``GET /metrics`` is served there while the worker runs.
    """
    stalled_after = settings.stalled_worker_seconds
    async with open_service(settings, database_url, retry=retry) as service:
        app = build_app(service, database_url, tuning)
        listens = listen_conninfo(settings, database_url) is not None
        async with (
            serving_metrics(service.engine, metrics_host, metrics_port),
            app.open_async(),
        ):
            await recover_stalled_jobs(app, stalled_after)
            recovering = (
                None
                if until_idle
                else asyncio.create_task(
                    keep_recovering(app, stalled_after), name="stalled-job recovery"
                )
            )
            try:
                await app.run_worker_async(
                    concurrency=concurrency,
                    wait=not until_idle,
                    install_signal_handlers=install_signal_handlers,
                    listen_notify=listens and not until_idle,
                    update_heartbeat_interval=settings.worker_heartbeat_seconds,
                    stalled_worker_timeout=stalled_after,
                    worker_middleware=[observe_job],
                    # procrastinate 3.10 can lose a NOTIFY that lands while it is fetching
                    # (it clears the event after the fetch); a short poll bounds that wait.
                    # It is also how a worker that cannot LISTEN (db/pooling.py) finds jobs.
                    fetch_job_polling_interval=FETCH_POLL_SECONDS,
                )
            finally:
                if recovering is not None:
                    recovering.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await recovering
