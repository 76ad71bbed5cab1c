"""Stalled-job recovery: a job whose worker died mid-run is put back in the queue.

procrastinate (v3) marks a job ``doing`` when a worker takes it, and each worker
refreshes a heartbeat row every ``worker_heartbeat_seconds``. A worker killed at any line
(``kill -9``, an OOM, a lost host) leaves its jobs ``doing`` for ever, and every later job
sharing their ``lock`` (all key jobs of a channel) waits behind them. procrastinate's
recipe, done here: find the ``doing`` jobs of workers whose heartbeat is older than
``stalled_worker_seconds`` (``JobManager.get_stalled_jobs``) and ``retry_job`` them —
when a worker starts, then periodically while it runs.

Retrying is safe because every task is idempotent: the key job, for one, re-checks its
``key_generations`` row under a row lock, so a retried job for a key already stored does
nothing, and one whose 360dialog call was cut off generates exactly once more
(docs/decisions/0002-exactly-once-keys.md).
"""

from __future__ import annotations

import asyncio

import procrastinate
from procrastinate import exceptions

from onboard360.logging import get_logger

log = get_logger(__name__)


async def recover_stalled_jobs(app: procrastinate.App, stalled_after_seconds: float) -> list[int]:
    """Retry now every job held by a worker silent for ``stalled_after_seconds``; their ids."""
    stalled = await app.job_manager.get_stalled_jobs(seconds_since_heartbeat=stalled_after_seconds)
    retried: list[int] = []
    for job in stalled:
        if job.id is None:  # pragma: no cover - rows always carry an id
            continue
        try:
            await app.job_manager.retry_job(job)
        except exceptions.ConnectorException:
            # Another worker recovered it first (it is no longer ``doing``).
            continue
        retried.append(job.id)
        log.warning(
            "stalled job retried",
            job_id=job.id,
            task=job.task_name,
            stalled_worker_id=job.worker_id,
        )
    return retried


async def keep_recovering(app: procrastinate.App, stalled_after_seconds: float) -> None:
    """``recover_stalled_jobs`` every half threshold, until cancelled."""
    while True:
        await asyncio.sleep(stalled_after_seconds / 2)
        try:
            await recover_stalled_jobs(app, stalled_after_seconds)
        except exceptions.ConnectorException as exc:
            # The database blinked; the worker's own loop reports that. Try next round.
            log.warning("stalled-job check failed", error=type(exc).__name__)
